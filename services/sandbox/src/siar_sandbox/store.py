"""Everything the sandbox remembers, in memory only: accepted posts, idempotency keys, media,
per-token rate windows, chats and message counters. Nothing here is durable; ``reset()`` forgets
it all. One ``Store`` belongs to one app instance, so apps never share state."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .settings import Settings


def iso_micro(ts: float) -> str:
    """ISO 8601 UTC with microseconds: ``2025-01-31T08:00:00.123456Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_millis(ts: float) -> str:
    """ISO 8601 UTC with milliseconds, as Mastodon renders ``created_at``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def stable_number(text: str, modulo: int) -> int:
    """A number derived from ``text`` that is the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % modulo


class SnowflakeIds:
    """Increasing ids shaped like Mastodon's: milliseconds since the epoch shifted left 16 bits,
    plus a sequence, so they sort by time and are 18 digits long."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def next(self, now: float) -> int:
        candidate = int(now * 1000) << 16
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate


@dataclass(slots=True)
class Limit:
    limit: int
    window_seconds: int


class RateWindows:
    """Fixed windows aligned to the epoch, counted per key, as Rack::Attack counts them."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, ...], list[int]] = {}

    def hit(self, key: tuple[str, ...], limit: Limit, now: float) -> tuple[int, float]:
        """Count one request; return the count in the current window and when it resets."""
        period = limit.window_seconds
        window = int(now) // period
        entry = self._counts.get(key)
        if entry is None or entry[0] != window:
            entry = [window, 0]
            self._counts[key] = entry
        entry[1] += 1
        return entry[1], now + (period - int(now) % period)

    def count(self, key: tuple[str, ...], limit: Limit, now: float) -> tuple[int, float]:
        """The count so far in the current window, without counting."""
        period = limit.window_seconds
        window = int(now) // period
        entry = self._counts.get(key)
        used = entry[1] if entry is not None and entry[0] == window else 0
        return used, now + (period - int(now) % period)

    def undo(self, key: tuple[str, ...]) -> None:
        entry = self._counts.get(key)
        if entry is not None and entry[1] > 0:
            entry[1] -= 1


@dataclass(slots=True)
class Post:
    """One accepted post as the control API lists it."""

    platform: str
    account: str
    id: str
    text: str
    media: list[dict[str, Any]]
    idempotency_key: str | None
    received_at: float
    url: str | None
    deleted_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "account": self.account,
            "id": self.id,
            "text": self.text,
            "media": self.media,
            "idempotency_key": self.idempotency_key,
            "received_at": iso_micro(self.received_at),
            "url": self.url,
            "deleted": self.deleted_at is not None,
        }


# --------------------------------------------------------------------------- Mastodon


@dataclass(slots=True)
class MastodonAccount:
    id: int
    username: str
    created_at: float
    followers_count: int
    following_count: int
    status_ids: list[int] = field(default_factory=list)
    statuses_count: int = 0
    last_status_at: float | None = None
    seen_at: float = field(default_factory=time.time)  # followers grow from here (engagement.py)


@dataclass(slots=True)
class MastodonMedia:
    id: int
    account: str
    type: str
    mime: str
    size: int
    file_name: str
    description: str | None
    focus: tuple[float, float] | None
    width: int | None
    height: int | None
    created_at: float
    ready_at: float
    base_url: str
    status_id: int | None = None


@dataclass(slots=True)
class MastodonStatus:
    id: int
    account: str
    text: str
    spoiler_text: str
    visibility: str
    sensitive: bool
    language: str | None
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    media_ids: list[int]
    created_at: float
    base_url: str
    content: str
    mentions: list[str]
    tags: list[str]
    idempotency_key: str | None
    deleted_at: float | None = None
    replies_count: int = 0


class MastodonState:
    def __init__(self, settings: Settings) -> None:
        self.instance: dict[str, Any] = {
            "max_characters": settings.mastodon_max_characters,
            "max_media_attachments": 4,
            "characters_reserved_per_url": 23,
            "image_size_limit": 10_485_760,
            "video_size_limit": 41_943_040,
            "description_limit": 1_500,
            "media_processing_seconds": settings.media_processing_seconds,
        }
        self.accounts: dict[str, MastodonAccount] = {}
        self.accounts_by_id: dict[int, MastodonAccount] = {}
        self.statuses: dict[int, MastodonStatus] = {}
        self.media: dict[int, MastodonMedia] = {}
        # (account, Idempotency-Key) -> (status id, expires at); Mastodon keys them per account.
        self.idempotency: dict[tuple[str, str], tuple[int, float]] = {}
        self.ids = SnowflakeIds()

    def account(self, username: str) -> MastodonAccount:
        found = self.accounts.get(username)
        if found is None:
            account_id = 100_000_000_000_000_000 + stable_number("mastodon:" + username, 10**17)
            while account_id in self.accounts_by_id:  # pragma: no cover - astronomically rare
                account_id += 1
            found = MastodonAccount(
                id=account_id,
                username=username,
                created_at=1_704_067_200.0,  # 2024-01-01T00:00:00Z
                followers_count=100 + stable_number("followers:" + username, 4_900),
                following_count=10 + stable_number("following:" + username, 290),
            )
            self.accounts[username] = found
            self.accounts_by_id[account_id] = found
        return found


# --------------------------------------------------------------------------- Telegram


@dataclass(slots=True)
class TelegramChat:
    id: int
    username: str | None
    title: str
    type: str
    account: str
    member_count: int
    last_message_id: int = 0
    seen_at: float = field(default_factory=time.time)  # members grow from here (engagement.py)


@dataclass(slots=True)
class TelegramFile:
    kind: str  # photo | video | document | audio
    file_id: str
    unique_id: str
    size: int | None
    width: int
    height: int
    duration: int = 0
    mime: str | None = None
    file_name: str | None = None
    sizes: list[dict[str, Any]] = field(default_factory=list)
    thumbnail: dict[str, Any] | None = None


class TelegramState:
    def __init__(self) -> None:
        self.chats_by_name: dict[str, TelegramChat] = {}
        self.chats_by_id: dict[int, TelegramChat] = {}
        self.files: dict[str, TelegramFile] = {}
        self.file_seq = 0
        self.media_group_seq = 0

    def chat_for_name(self, username: str) -> TelegramChat:
        key = username.lower()
        chat = self.chats_by_name.get(key)
        if chat is None:
            chat_id = -(1_000_000_000_000 + 1_000_000_000 + stable_number("tg:" + key, 9 * 10**9))
            while chat_id in self.chats_by_id:  # pragma: no cover - astronomically rare
                chat_id -= 1
            chat = TelegramChat(
                id=chat_id,
                username=username,
                title=username.replace("_", " ").title(),
                type="channel",
                account="@" + username,
                member_count=50 + stable_number("members:" + key, 9_950),
            )
            self.chats_by_name[key] = chat
            self.chats_by_id[chat_id] = chat
        return chat

    def chat_for_id(self, chat_id: int) -> TelegramChat:
        chat = self.chats_by_id.get(chat_id)
        if chat is None:
            text = str(chat_id)
            if text.startswith("-100"):
                kind, title = "channel", f"Sandbox channel {text[4:]}"
            elif chat_id < 0:
                kind, title = "group", f"Sandbox group {-chat_id}"
            else:
                kind, title = "private", "Sandbox user"
            chat = TelegramChat(
                id=chat_id,
                username=None,
                title=title,
                type=kind,
                account=text,
                member_count=1
                if kind == "private"
                else 50 + stable_number("members:" + text, 9_950),
            )
            self.chats_by_id[chat_id] = chat
        return chat


# --------------------------------------------------------------------------- the store


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        settings = self.settings
        self.posts: list[Post] = []
        self.posts_by_platform: dict[str, int] = defaultdict(int)
        self.posts_by_account: dict[tuple[str, str], int] = defaultdict(int)
        self.texts_by_account: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.faults_injected: dict[tuple[str, str], int] = defaultdict(int)
        self.revoked: dict[str, set[str]] = defaultdict(set)
        # Tokens made to have expired through POST /_sandbox/tokens/expire, by platform.
        self.expired: dict[str, set[str]] = defaultdict(set)
        self.default_limit = Limit(settings.rate_limit, settings.rate_window_seconds)
        self.limits: dict[tuple[str, str], Limit] = {}
        self.windows = RateWindows()
        self.mastodon = MastodonState(settings)
        self.telegram = TelegramState()
        # Seconds added to the wall clock through PUT /_sandbox/clock; read by store.now().
        self.clock_offset = 0.0
        # The state of platform modules that keep their own, by platform (see state_of).
        self.platforms: dict[str, Any] = {}

    def now(self) -> float:
        """The sandbox's clock: the wall clock plus the offset set through the control API."""
        return time.time() + self.clock_offset

    def state_of(self, platform: str, factory: Any) -> Any:
        """A platform module's own state, created with ``factory(settings)`` on first use and
        forgotten by ``reset()``."""
        found = self.platforms.get(platform)
        if found is None:
            found = self.platforms[platform] = factory(self.settings)
        return found

    # -- posts

    def record_post(self, post: Post) -> None:
        self.posts.append(post)
        self.posts_by_platform[post.platform] += 1
        key = (post.platform, post.account)
        self.posts_by_account[key] += 1
        texts = self.texts_by_account[key]
        texts[post.text] = texts.get(post.text, 0) + 1

    # -- tokens

    def is_revoked(self, platform: str, token: str) -> bool:
        revoked = self.revoked.get(platform)
        return bool(revoked) and token in revoked  # type: ignore[operator]

    # -- limits

    PRIMARY_SCOPES = {"mastodon": "token", "telegram": "chat", "x": "user", "tiktok": "token",
                      "bluesky": "account"}
    SCOPES = {
        "mastodon": ("token", "statuses"),
        "telegram": ("chat", "bot"),
        "facebook": ("calls",),
        "instagram": ("publishing", "calls"),
        "threads": ("publishing", "calls"),
        "linkedin": ("posts", "calls"),
        "x": ("user", "user_24h", "app_24h"),  # POST /2/tweets per 15-min window; 24-hour user and app caps
        "youtube": ("quota", "uploads"),  # videos.insert calls a day; uploads per channel a day
        "tiktok": ("token", "posts"),  # calls per token a minute; direct posts per user a day
        "bluesky": ("account", "session"),  # writes per DID; createSession per account
    }
    # The platforms' own published quotas, in force unless the control API sets others.
    DEFAULT_LIMITS = {
        ("instagram", "publishing"): Limit(100, 86_400),  # content_publishing_limit
        ("threads", "publishing"): Limit(250, 86_400),  # threads_publishing_limit
    }

    def limit_for(self, platform: str, scope: str) -> Limit | None:
        """The limit in force; the primary scope always has one (the high default)."""
        found = self.limits.get((platform, scope))
        if found is None and self.PRIMARY_SCOPES.get(platform) == scope:
            return self.default_limit
        if found is None:
            return self.DEFAULT_LIMITS.get((platform, scope))
        return found
