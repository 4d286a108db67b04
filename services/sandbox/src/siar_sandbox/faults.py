"""Fault injection: what the control API may configure, and the decision for one write request.

A fault configuration applies to one platform (or all, ``platform: null``) and optionally one
account. For each write request (a status, a media upload, a ``send*`` call) the most specific
configuration decides: its ``sequence`` entries are consumed first, one per request, then the
random rates apply (reproducible with ``seed``). Reads (a post's counts, an account's followers)
are faulted only by a configuration with ``"calls": "reads"`` (or ``"all"``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

PLATFORMS = ("mastodon", "telegram", "facebook", "instagram", "threads", "linkedin",
             "x", "youtube", "tiktok", "bluesky")
ERROR_CODES = ("429", "500", "502", "503", "504")
CALLS = ("writes", "reads", "all")
# "interrupt": the connection drops part-way through the request; an upload keeps what arrived.
SEQUENCE_KINDS = (*ERROR_CODES, "timeout", "timeout_after_commit", "interrupt", "ok")


class ControlInputError(ValueError):
    """Control input that cannot be used; ``errors`` lists each problem as pointer + message."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['pointer']}: {e['detail']}" for e in errors))
        self.errors = errors


@dataclass(slots=True)
class Decision:
    """What to do with one write request. ``kind`` is ``ok``, an HTTP status code as text,
    ``timeout`` (hold, then 504, nothing recorded) or ``timeout_after_commit`` (record, then
    hold the response longer than the client waits)."""

    kind: str
    latency: float
    retry_after: int
    timeout_seconds: float


@dataclass(slots=True)
class FaultConfig:
    platform: str | None
    account: str | None
    error_rates: dict[str, float]
    retry_after_seconds: int
    latency_ms: float
    latency_jitter_ms: float
    timeout_after_commit_rate: float
    timeout_rate: float
    timeout_seconds: float
    sequence: list[str]
    seed: int | None
    calls: str = "writes"  # which calls it faults: writes (the default), reads (insights) or all
    cursor: int = 0
    decided: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "account": self.account,
            "error_rates": dict(self.error_rates),
            "retry_after_seconds": self.retry_after_seconds,
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "timeout_after_commit_rate": self.timeout_after_commit_rate,
            "timeout_rate": self.timeout_rate,
            "timeout_seconds": self.timeout_seconds,
            "sequence": list(self.sequence),
            "sequence_remaining": self.sequence[self.cursor :],
            "seed": self.seed,
            "calls": self.calls,
            "requests_decided": self.decided,
        }

    def decide(self) -> Decision:
        self.decided += 1
        latency = self.latency_ms / 1000.0
        if self.latency_jitter_ms:
            latency += self.rng.uniform(0.0, self.latency_jitter_ms) / 1000.0
        if self.cursor < len(self.sequence):
            kind = self.sequence[self.cursor]
            self.cursor += 1
        else:
            kind = "ok"
            draw = self.rng.random()
            acc = 0.0
            for code in ERROR_CODES:
                acc += self.error_rates.get(code, 0.0)
                if draw < acc:
                    kind = code
                    break
            else:
                acc += self.timeout_rate
                if draw < acc:
                    kind = "timeout"
                elif draw < acc + self.timeout_after_commit_rate:
                    kind = "timeout_after_commit"
        return Decision(kind, latency, self.retry_after_seconds, self.timeout_seconds)


class Faults:
    """Every fault configuration in force, keyed by (platform, account)."""

    def __init__(self) -> None:
        self.configs: dict[tuple[str | None, str | None], FaultConfig] = {}

    def put(self, config: FaultConfig) -> None:
        self.configs[(config.platform, config.account)] = config

    def clear(self) -> None:
        self.configs.clear()

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.configs.values()]

    def decide(self, platform: str, account: str | None, *, read: bool = False) -> Decision | None:
        """The decision for one write request (or, with ``read``, one read such as a post's or
        an account's counts), or ``None`` when no fault applies (fast path). The most specific
        configuration that covers this kind of call decides."""
        configs = self.configs
        if not configs:
            return None
        wanted = ("reads", "all") if read else ("writes", "all")
        for key in ((platform, account), (platform, None), (None, account), (None, None)):
            config = configs.get(key)
            if config is not None and config.calls in wanted:
                return config.decide()
        return None


# --------------------------------------------------------------------------- parsing

_FIELDS = {
    "platform",
    "account",
    "error_rates",
    "retry_after_seconds",
    "latency_ms",
    "latency_jitter_ms",
    "timeout_after_commit_rate",
    "timeout_rate",
    "timeout_seconds",
    "sequence",
    "seed",
    "calls",
}


def parse_fault_config(body: Any) -> FaultConfig:
    """Validate a ``PUT /_sandbox/faults`` body; raise ControlInputError listing every problem."""
    errors: list[dict[str, str]] = []

    def err(pointer: str, detail: str) -> None:
        errors.append({"pointer": pointer, "detail": detail})

    if not isinstance(body, dict):
        raise ControlInputError([{"pointer": "", "detail": "the body must be a JSON object"}])
    for key in body:
        if key not in _FIELDS:
            err(f"/{key}", f"unknown field; allowed: {', '.join(sorted(_FIELDS))}")

    platform = body.get("platform")
    if platform is not None and platform not in PLATFORMS:
        err("/platform", f"must be one of {', '.join(PLATFORMS)} or null (all platforms)")
    account = body.get("account")
    if account is not None and (not isinstance(account, str) or not account):
        err("/account", "must be a non-empty string (Mastodon username or Telegram @chat) or null")

    def number(name: str, default: float, low: float = 0.0, high: float = math.inf) -> float:
        value = body.get(name, default)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            err(f"/{name}", "must be a number")
            return default
        if value < low or value > high:
            err(f"/{name}", f"must be between {low:g} and {high:g}")
            return default
        return float(value)

    rates: dict[str, float] = {}
    raw_rates = body.get("error_rates", {})
    if raw_rates is None:
        raw_rates = {}
    if not isinstance(raw_rates, dict):
        err("/error_rates", 'must be an object like {"429": 0.2, "500": 0.1}')
    else:
        for code, rate in raw_rates.items():
            if code not in ERROR_CODES:
                err(f"/error_rates/{code}", f"unknown status; allowed: {', '.join(ERROR_CODES)}")
            elif isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
                err(f"/error_rates/{code}", "must be a probability between 0 and 1")
            elif rate:
                rates[code] = float(rate)

    timeout_after_commit_rate = number("timeout_after_commit_rate", 0.0, 0.0, 1.0)
    timeout_rate = number("timeout_rate", 0.0, 0.0, 1.0)
    if sum(rates.values()) + timeout_after_commit_rate + timeout_rate > 1.0 + 1e-9:
        err("/error_rates", "error rates plus timeout rates must add up to at most 1")

    retry_after = number("retry_after_seconds", 2, 0, 86_400)
    if retry_after != int(retry_after):
        err("/retry_after_seconds", "must be a whole number of seconds")
    latency_ms = number("latency_ms", 0.0, 0.0, 600_000)
    jitter_ms = number("latency_jitter_ms", 0.0, 0.0, 600_000)
    timeout_seconds = number("timeout_seconds", 30.0, 0.0, 3_600)

    sequence: list[str] = []
    raw_sequence = body.get("sequence", [])
    if raw_sequence is None:
        raw_sequence = []
    if not isinstance(raw_sequence, list):
        err("/sequence", "must be a list")
    else:
        for i, entry in enumerate(raw_sequence):
            text = str(entry) if isinstance(entry, int) and not isinstance(entry, bool) else entry
            if text not in SEQUENCE_KINDS:
                err(f"/sequence/{i}", f"must be one of {', '.join(SEQUENCE_KINDS)}")
            else:
                sequence.append(text)

    calls = body.get("calls", "writes")
    if calls not in CALLS:
        err("/calls", f"must be one of {', '.join(CALLS)}")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        err("/seed", "must be an integer or null")

    if errors:
        raise ControlInputError(errors)
    return FaultConfig(
        platform=platform,
        account=account,
        error_rates=rates,
        retry_after_seconds=int(retry_after),
        latency_ms=latency_ms,
        latency_jitter_ms=jitter_ms,
        timeout_after_commit_rate=timeout_after_commit_rate,
        timeout_rate=timeout_rate,
        timeout_seconds=timeout_seconds,
        sequence=sequence,
        seed=seed,
        calls=calls,
        rng=random.Random(seed),
    )
