"""Platform adapters, one module each, looked up by platform id."""

from __future__ import annotations

from .base import Account, Adapter, Outgoing, PlatformError, Published, Refreshed, Verified
from .mastodon import MastodonAdapter
from .telegram import TelegramAdapter

ADAPTERS: dict[str, Adapter] = {
    a.platform: a for a in (MastodonAdapter(), TelegramAdapter())
}

__all__ = ["ADAPTERS", "Account", "Adapter", "Outgoing", "PlatformError", "Published", "Refreshed", "Verified"]
