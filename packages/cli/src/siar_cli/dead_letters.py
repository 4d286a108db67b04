"""``siar dead-letters``: what could not be handled, with its reason, and sending it back.

Talks to RabbitMQ directly (``SIAR_AMQP_URL``): dead letters wait in ``siar.<queue>.dead``;
``replay`` publishes each back to the queue it died in, confirmed, before removing it."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from siar_runtime.deadletters import peek, replay, services

from .app import app

dead_app = typer.Typer(help="Messages that could not be handled: list them, replay one or all.",
                       no_args_is_help=True)
app.add_typer(dead_app, name="dead-letters")
console = Console()

AmqpUrl = Annotated[str, typer.Option("--amqp-url", envvar="SIAR_AMQP_URL", show_envvar=True,
                                      help="RabbitMQ")]
Service = Annotated[list[str] | None, typer.Option("--service", "-s",
                                                   help=f"A queue: one of {', '.join(services())} (default: all)")]


def _services(chosen: list[str] | None) -> list[str]:
    known = services()
    for name in chosen or []:
        if name not in known:
            raise typer.BadParameter(f"unknown service {name!r}; known: {', '.join(known)}", param_hint="--service")
    return list(chosen or known)


def masked(url: str) -> str:
    """The URL without its password, for messages: ``amqp://siar:***@rabbitmq:5672/``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    except ValueError:  # not even a URL: show none of it
        return "(an unreadable URL)"


async def _connect(url: str) -> aio_pika.abc.AbstractConnection:
    try:
        return await aio_pika.connect(url, timeout=10)
    except Exception as exc:
        # The error itself may quote the URL too.
        reason = str(exc).replace(url, masked(url))
        password = _password(url)
        if password and len(password) >= 4:  # (a one-letter password would blank out the text)
            reason = reason.replace(password, "***")
        console.print(f"[red]cannot reach RabbitMQ at {escape(masked(url))}: {escape(reason)}[/red]", highlight=False)
        raise typer.Exit(2) from exc


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


@dead_app.command("list")
def list_(
    service: Service = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many per service")] = 100,
    amqp_url: AmqpUrl = "amqp://guest:guest@127.0.0.1:5672/",
) -> None:
    """Show dead letters without removing them."""

    async def go() -> int:
        connection = await _connect(amqp_url)
        table = Table("queue", "event", "reason", "detail", "dead at", title="Dead letters")
        # The id is what `replay --id` takes: never shortened, whatever the terminal's width.
        table.add_column("message id", no_wrap=True, min_width=36)
        total = 0
        more: list[str] = []
        try:
            for name in _services(service):
                letters = await peek(connection, name, limit + 1)  # one more: to know there are more
                if len(letters) > limit:
                    more.append(name)
                for letter in letters[:limit]:
                    total += 1
                    table.add_row(name, letter.routing_key, letter.reason, letter.detail[:120], letter.dead_at or "–",
                                  letter.message_id or "–")
        finally:
            await connection.close()
        if total:
            console.print(table)
            for name in more:
                console.print(f"… more dead letters of {name} than the {limit} shown; use --limit")
        else:
            console.print("No dead letters.")
        return total

    asyncio.run(go())


@dead_app.command("replay")
def replay_(
    service: Service = None,
    message_id: Annotated[str | None, typer.Option("--id", help="Replay only this message")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter of the service(s)")] = False,
    amqp_url: AmqpUrl = "amqp://guest:guest@127.0.0.1:5672/",
) -> None:
    """Send dead letters back to the queue they died in, to be handled again. One event reaches
    several services, so one message id can be dead in several queues: --id replays it from
    every dead-letter queue that holds it (or those of --service)."""
    if not message_id and not all_:
        console.print("[red]say which: --id MESSAGE_ID, or --all[/red]")
        raise typer.Exit(2)

    async def go() -> tuple[dict[str, int], list]:
        connection = await _connect(amqp_url)
        moved: dict[str, int] = {}
        kept: list = []
        try:
            for name in _services(service):
                done = await replay(connection, name, message_id=message_id)
                if done.moved:
                    moved[name] = done.moved
                kept += done.kept
        finally:
            await connection.close()
        return moved, kept

    moved, kept = asyncio.run(go())
    total = sum(moved.values())
    if message_id and not total and not kept:
        console.print(f"[red]no dead letter with id {message_id}[/red]")
        raise typer.Exit(1)
    where = f" ({', '.join(f'{name} {n}' for name, n in moved.items())})" if moved else ""
    console.print(f"Replayed {total} message{'s' if total != 1 else ''}{where}.", highlight=False)
    for letter, why in kept:
        console.print(f"[red]kept {letter.message_id or '(no id)'} ({letter.service}) as a dead letter: "
                      f"its queue cannot take it — {why}[/red]")
    if kept:
        raise typer.Exit(1)
