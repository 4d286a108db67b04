"""What every platform adapter offers, and the one error type they raise.

An adapter turns one delivery into the platform's real HTTP calls and classifies every failure
into the taxonomy of shared/platforms.md (:class:`siar_contracts.ErrorClass`), with a reason a
librarian understands and, when the platform says so, the time to try again."""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from siar_contracts import ErrorClass, MediaItem

from ..redact import redact, redact_text


@dataclass(frozen=True)
class Account:
    account_id: str
    platform: str
    handle: str
    base_url: str
    credentials: dict[str, Any] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Outgoing:
    target_id: str
    text: str
    media: tuple[MediaItem, ...] = ()
    title: str | None = None
    idempotency_key: str = ""
    first_attempt_at: datetime | None = None
    # What earlier attempts of this delivery kept with ``save`` (a container id, an upload…), and
    # the function that keeps more; None where the caller keeps nothing (adapters then reconcile
    # by listing the account's recent posts).
    progress: Mapping[str, Any] = field(default_factory=dict)
    checkpoint: Callable[[dict[str, Any]], Awaitable[None]] | None = field(
        default=None, repr=False, compare=False
    )

    async def save(self, **values: Any) -> None:
        """Keep ``values`` for later attempts of this delivery (merged into ``progress``)."""
        if self.checkpoint is not None:
            await self.checkpoint(values)


@dataclass(frozen=True)
class Published:
    platform_post_id: str
    url: str | None
    notice: str | None = None
    """Something the library should know about a post that did go out (YouTube made the video
    private): carried by post.published and shown with the target."""


@dataclass(frozen=True)
class Verified:
    """What registration learns from the platform about an account."""

    handle: str
    display_name: str | None = None
    limits: dict[str, int] = field(default_factory=dict)
    token_expires_at: datetime | None = None
    credentials: dict[str, Any] | None = field(default=None, repr=False)
    """Credentials renewed while verifying, kept instead of those given (None: keep those)."""


@dataclass(frozen=True)
class Refreshed:
    """New credentials from a token refresh, and when they end."""

    credentials: dict[str, Any] = field(repr=False)
    expires_at: datetime | None = None


class PlatformError(Exception):
    """A classified failure. ``reason`` is written for a delivery (what happens to the post);
    ``connect_reason``, when given, is what to tell a person connecting the account instead of
    the wording :mod:`siar_publisher.accounts` derives from the class (for failures whose class
    alone does not say what to fix, such as a wrong OAuth client secret)."""

    def __init__(
        self,
        error_class: ErrorClass,
        reason: str,
        *,
        detail: str | None = None,
        retry_at: datetime | None = None,
        status: int | None = None,
        connect_reason: str | None = None,
    ) -> None:
        # Every error passes here: whatever an adapter quoted (an error page repeating the request
        # line, a URL with a bot token or an access_token) leaves without its credentials.
        reason = redact_text(reason)
        super().__init__(reason)
        self.error_class = error_class
        self.reason = reason
        self.detail = redact(detail)
        self.retry_at = retry_at
        self.status = status
        self.connect_reason = connect_reason


class StillProcessing(PlatformError):
    """Not a failure: the platform is still processing what this attempt sent (an Instagram or
    Threads container), kept in the delivery's progress. The delivery looks again at ``retry_at``
    without counting an attempt, until ``give_up_at`` (None: 24 hours after its first attempt);
    a caller that does not know this class sees a transient error."""

    def __init__(self, reason: str, *, retry_at: datetime, give_up_at: datetime | None = None,
                 detail: str | None = None) -> None:  # fmt: skip
        super().__init__(ErrorClass.TRANSIENT, reason, detail=detail, retry_at=retry_at)
        self.give_up_at = give_up_at


class Adapter(Protocol):
    platform: str
    required_credentials: tuple[str, ...]
    required_settings: tuple[str, ...]
    idempotent_publish: bool
    """True when sending the same post again can never make a second one (Mastodon's
    Idempotency-Key, Bluesky's fixed record key). Otherwise the worker marks the moment the call
    starts, so that a worker that died before calling is told apart from one whose answer was lost."""

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified: ...

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published: ...

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        """After a call whose outcome is unknown: the post if it is live, None if it is safe to
        send again; raises PlatformError(OUTCOME_UNKNOWN) when the platform cannot tell."""
        ...


def retry_after(headers: httpx.Headers, body_seconds: float | None = None) -> datetime | None:
    """When to try again, from the first signal present, in the order platforms.md gives:
    Retry-After, a body retry_after, x-rate-limit-reset, RateLimit-Reset / X-RateLimit-Reset."""
    now = datetime.now(UTC)
    value = headers.get("retry-after")
    if value:
        try:
            return now + timedelta(seconds=float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed is not None:
                return parsed.astimezone(UTC)
    if body_seconds is not None:
        return now + timedelta(seconds=body_seconds)
    for name in ("x-rate-limit-reset", "ratelimit-reset", "x-ratelimit-reset"):
        value = headers.get(name)
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                continue
        # Epoch seconds (X, Bluesky) or seconds from now (IETF draft) — tell them apart by size.
        return datetime.fromtimestamp(number, UTC) if number > 10**9 else now + timedelta(seconds=number)
    return None


def exception_detail(exc: BaseException) -> str:
    """``exc`` as a delivery detail: its type and message, with any credential a quoted URL
    carried (a bot token in the path, an access_token in the query) masked."""
    from ..redact import redact_text

    return redact_text(f"{type(exc).__name__}: {exc}")


def transport_error(exc: httpx.HTTPError, platform: str) -> PlatformError:
    """A failure below HTTP. Whether the platform acted on the request decides the class. A write
    that timed out never finished sending the request (a large upload on a slow line), so the
    platform cannot have acted on it: sent again, not checked for (nothing could be found)."""
    sent = isinstance(exc, httpx.ReadTimeout | httpx.RemoteProtocolError | httpx.ReadError)
    if sent:
        return PlatformError(
            ErrorClass.OUTCOME_UNKNOWN,
            f"{platform} did not answer in time after receiving the post; Siar checks before sending again",
            detail=exception_detail(exc),
        )
    return PlatformError(
        ErrorClass.TRANSIENT,
        f"could not reach {platform}; Siar will try again",
        detail=exception_detail(exc),
    )
