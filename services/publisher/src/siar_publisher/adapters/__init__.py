"""Platform adapters, one module each, looked up by platform id."""

from __future__ import annotations

from .base import Account, Adapter, Outgoing, PlatformError, Published, Refreshed, Verified
from .bluesky import BlueskyAdapter
from .facebook import FacebookAdapter
from .instagram import InstagramAdapter
from .linkedin import LinkedInAdapter
from .mastodon import MastodonAdapter
from .telegram import TelegramAdapter
from .threads import ThreadsAdapter
from .tiktok import TikTokAdapter
from .x import XAdapter
from .youtube import YouTubeAdapter

ADAPTERS: dict[str, Adapter] = {
    a.platform: a for a in (
        MastodonAdapter(),
        TelegramAdapter(),
        FacebookAdapter(),
        InstagramAdapter(),
        ThreadsAdapter(),
        LinkedInAdapter(),
        XAdapter(),
        YouTubeAdapter(),
        TikTokAdapter(),
        BlueskyAdapter(),
    )
}



def reads_limited_apart(platform: str) -> bool:
    """Whether the platform limits its read endpoints apart from posting (X, TikTok: an adapter's
    ``separate_read_limits``): a 429 on a read then says nothing about posting."""
    return bool(getattr(ADAPTERS.get(platform), "separate_read_limits", False))


__all__ = ["ADAPTERS", "Account", "Adapter", "Outgoing", "PlatformError", "Published", "Refreshed", "Verified",
           "reads_limited_apart"]
