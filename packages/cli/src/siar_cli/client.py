"""Talking to Siar's HTTP APIs: one client per command, the token on every request, and errors
turned into :class:`ApiError` (an RFC 9457 problem) or :class:`CliError` (Siar not reachable)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from siar_runtime import zones

DEFAULT_SCHEDULER = "http://127.0.0.1:8001"
DEFAULT_PUBLISHER = "http://127.0.0.1:8002"
DEFAULT_METRICS = "http://127.0.0.1:8003"
DEFAULT_FEEDBACK = "http://127.0.0.1:8004"


def segment(value: str) -> str:
    """Something typed on the command line (a survey's slug, a post's id) as one segment of an
    API path: a ? or # in it stays in it instead of starting the query."""
    return quote(value, safe="")


class CliError(Exception):
    """Something the person at the terminal can fix; printed without a traceback."""


class ApiError(Exception):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.status = status
        self.problem = problem


@dataclass
class Config:
    token: str | None = None
    scheduler_url: str = DEFAULT_SCHEDULER
    publisher_url: str = DEFAULT_PUBLISHER
    metrics_url: str = DEFAULT_METRICS
    feedback_url: str = DEFAULT_FEEDBACK
    timezone: str = "Asia/Jakarta"
    timeout: float = 60.0
    make_client: Callable[[str], httpx.Client] | None = field(default=None, repr=False)  # (service) -> client: tests
    """Tests hand in their own client (a transport or an ASGI test client)."""

    @classmethod
    def from_env(cls, **overrides: Any) -> Config:
        values = {
            "token": os.environ.get("SIAR_API_TOKEN"),
            "scheduler_url": os.environ.get("SIAR_SCHEDULER_URL", DEFAULT_SCHEDULER),
            "publisher_url": os.environ.get("SIAR_PUBLISHER_URL", DEFAULT_PUBLISHER),
            "metrics_url": os.environ.get("SIAR_METRICS_URL", DEFAULT_METRICS),
            "feedback_url": os.environ.get("SIAR_FEEDBACK_URL", DEFAULT_FEEDBACK),
            "timezone": os.environ.get("SIAR_TIMEZONE", "Asia/Jakarta"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["timezone"] = zones.canonical(values["timezone"]) or values["timezone"]  # --timezone WIB
        return cls(**values)


class Api:
    """One service's API: ``Api(config, "scheduler").get("/v1/posts")``."""

    def __init__(self, config: Config, service: str = "scheduler") -> None:
        self.config = config
        self.service = service
        urls = {"scheduler": config.scheduler_url, "publisher": config.publisher_url, "metrics": config.metrics_url,
                "feedback": config.feedback_url}
        self.base = urls[service].rstrip("/")
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = (self.config.make_client(self.service) if self.config.make_client
                            else httpx.Client(timeout=self.config.timeout))
        return self._client

    def close(self) -> None:
        if self._client is not None and self.config.make_client is None:
            self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self.config.token:
            raise CliError("no API token: set SIAR_API_TOKEN or give --token before the command (siar --token … list)")
        headers = {"Authorization": f"Bearer {self.config.token}"} | kwargs.pop("headers", {})
        url = self.base + path
        try:
            response = self.client.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise CliError(f"the {self.service} at {self.base} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise CliError(
                f"cannot reach the {self.service} at {self.base} ({exc or type(exc).__name__}); "
                f"is Siar running (make run)? Set SIAR_{self.service.upper()}_URL if it runs elsewhere"
            ) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs).json()


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        return body
    text = response.text.strip()[:300]
    return {"title": response.reason_phrase or f"HTTP {response.status_code}", "status": response.status_code,
            **({"detail": text} if text else {})}
