"""structlog configured once: JSON off a terminal, context variables merged first, so the
correlation id, event id and post/target ids bound per message appear on every line."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(service: str, level: str = "info", fmt: str = "json") -> None:
    renderer: structlog.types.Processor
    if fmt == "console" and sys.stderr.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries that use the standard logging module (aio-pika, uvicorn) go to stderr as text.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def bind_message(**values: object) -> None:
    """Clear the per-message context and bind the ids of the message being handled."""
    service = structlog.contextvars.get_contextvars().get("service")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        service=service, **{k: v for k, v in values.items() if v is not None}
    )


def describe(exc: BaseException) -> str:
    """An exception for a log line: its message, or its type where it has none (a timeout's
    ``str()`` is empty, which left "could not publish; will retry" with no reason at all)."""
    text = str(exc)
    return text if text else type(exc).__name__
