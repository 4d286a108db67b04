"""Settings from environment variables with the ``SIAR_`` prefix.

The sandbox keeps its own small reader (plain ``os.environ``) so it starts with nothing but its
own dependencies: it is the default target of a fresh install and of every test and benchmark.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """An environment variable holds a value the sandbox cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    http_host: str = "127.0.0.1"
    http_port: int = 8010
    log_level: str = "info"
    # Default rate-limit window, per Mastodon token / Telegram chat. High enough for benchmarks
    # (20,000 posts) while the X-RateLimit-* headers stay truthful; the control API sets real ones.
    rate_limit: int = 1_000_000
    rate_window_seconds: int = 300
    # How long an uploaded Mastodon video stays "processing" (202, then 206 on GET); also how long
    # X video/GIF media, YouTube videos and TikTok posts are processed.
    media_processing_seconds: float = 1.0
    mastodon_max_characters: int = 500
    # How long Instagram/Threads containers and Facebook videos stay IN_PROGRESS after creation.
    meta_video_processing_seconds: float = 1.0
    meta_image_processing_seconds: float = 0.0
    # Seconds uvicorn waits for in-flight requests (e.g. held timeout faults) on shutdown.
    graceful_shutdown_seconds: float = 3.0
    # Seconds between moving what the sandbox keeps out of the garbage collector's sight (0: never).
    freeze_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        d = cls()
        return cls(
            http_host=env.get("SIAR_HTTP_HOST", d.http_host),
            http_port=_int(env, "SIAR_HTTP_PORT", d.http_port, low=0, high=65535),
            log_level=env.get("SIAR_LOG_LEVEL", d.log_level).lower(),
            rate_limit=_int(env, "SIAR_SANDBOX_RATE_LIMIT", d.rate_limit, low=1),
            rate_window_seconds=_int(
                env, "SIAR_SANDBOX_RATE_WINDOW_SECONDS", d.rate_window_seconds, low=1
            ),
            media_processing_seconds=_float(
                env, "SIAR_SANDBOX_MEDIA_PROCESSING_SECONDS", d.media_processing_seconds
            ),
            mastodon_max_characters=_int(
                env, "SIAR_SANDBOX_MASTODON_MAX_CHARACTERS", d.mastodon_max_characters, low=1
            ),
            meta_video_processing_seconds=_float(
                env, "SIAR_SANDBOX_META_VIDEO_PROCESSING_SECONDS", d.meta_video_processing_seconds
            ),
            meta_image_processing_seconds=_float(
                env, "SIAR_SANDBOX_META_IMAGE_PROCESSING_SECONDS", d.meta_image_processing_seconds
            ),
            graceful_shutdown_seconds=_float(
                env, "SIAR_SANDBOX_GRACEFUL_SHUTDOWN_SECONDS", d.graceful_shutdown_seconds
            ),
            freeze_seconds=_float(env, "SIAR_SANDBOX_FREEZE_SECONDS", d.freeze_seconds),
        )


def _int(
    env: Mapping[str, str], name: str, default: int, low: int = 0, high: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise SettingsError(f"{name} must be {bounds}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must be >= 0, got {value}")
    return value
