"""The Mastodon and Telegram adapters against the real sandbox app (no mocks).

Most tests run the sandbox in-process over ``httpx.ASGITransport``: an account's base URL is
``http://sandbox/mastodon`` or ``http://sandbox/telegram`` and the same client drives the control
API at ``http://sandbox/_sandbox/…``. Timeouts and refused connections need real sockets, so the
last tests start ``python -m siar_sandbox`` as a process on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_platforms import Content, Media, validate
from siar_publisher.adapters import Account, Outgoing, PlatformError, Published
from siar_publisher.adapters.mastodon import IDEMPOTENCY_WINDOW, MastodonAdapter
from siar_publisher.adapters.telegram import TelegramAdapter
from siar_publisher.transport import http_client
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings

SANDBOX = "http://sandbox"
MEDIA = f"{SANDBOX}/_sandbox/media"
MASTODON_TOKEN = "library.secret"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
CHANNEL = "@perpuskota"

mastodon = MastodonAdapter()
telegram = TelegramAdapter()


# --------------------------------------------------------------------------- helpers


@dataclass
class Call:
    method: str
    path: str
    status: int
    headers: httpx.Headers


@dataclass
class Sandbox:
    """The in-process sandbox: the client adapters use, and every exchange it carried."""

    client: httpx.AsyncClient
    calls: list[Call] = field(default_factory=list)

    async def control(self, method: str, path: str, body: dict | None = None) -> dict:
        r = await self.client.request(method, f"{SANDBOX}/_sandbox{path}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    async def posts(self, platform: str) -> list[dict]:
        r = await self.client.get(f"{SANDBOX}/_sandbox/posts", params={"platform": platform})
        return r.json()["posts"]

    async def faults(self, platform: str, *sequence: str, **extra) -> None:
        await self.control(
            "PUT", "/faults", {"platform": platform, "sequence": list(sequence), **extra}
        )

    def to(self, path_part: str) -> list[Call]:
        return [c for c in self.calls if path_part in c.path]


@pytest.fixture
def settings() -> Settings:
    return Settings(media_processing_seconds=1.2)


@pytest.fixture
async def sandbox(settings: Settings) -> AsyncIterator[Sandbox]:
    calls: list[Call] = []

    async def record(response: httpx.Response) -> None:
        request = response.request
        calls.append(Call(request.method, request.url.path, response.status_code, response.headers))

    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, event_hooks={"response": [record]}) as client:
        yield Sandbox(client, calls)


def mastodon_account(
    token: str = MASTODON_TOKEN, base_url: str = f"{SANDBOX}/mastodon", **settings
) -> Account:
    return Account(
        account_id="acc-mastodon",
        platform="mastodon",
        handle="library",
        base_url=base_url,
        credentials={"access_token": token},
        settings=settings,
    )


def telegram_account(
    chat_id: str = CHANNEL, token: str = TELEGRAM_TOKEN, base_url: str = f"{SANDBOX}/telegram"
) -> Account:
    return Account(
        account_id="acc-telegram",
        platform="telegram",
        handle=chat_id,
        base_url=base_url,
        credentials={"bot_token": token},
        settings={"chat_id": chat_id},
    )


def outgoing(
    text: str = "Jam buka perpustakaan minggu ini: 08.00–16.00",
    *media: MediaItem,
    key: str = "siar-target-1",
    first_attempt_at: datetime | None = None,
    progress: dict | None = None,
) -> Outgoing:
    """One delivery's post. ``progress`` given (a dict): what attempts keep is kept there, as
    the delivery worker keeps it in the database; None: nothing is kept between attempts."""
    kept = progress if progress is not None else {}

    async def checkpoint(values: dict) -> None:
        kept.update(values)

    return Outgoing(
        target_id="target-1",
        text=text,
        media=media,
        idempotency_key=key,
        first_attempt_at=first_attempt_at,
        progress=kept,
        checkpoint=checkpoint if progress is not None else None,
    )


def image(name: str = "poster.png", alt: str | None = "Poster lomba membaca") -> MediaItem:
    return MediaItem(url=f"{MEDIA}/{name}", kind="image", alt_text=alt)


def video(name: str = "clip.mp4") -> MediaItem:
    return MediaItem(url=f"{MEDIA}/{name}", kind="video", alt_text="Cuplikan acara")


async def refused(coro, error_class: ErrorClass) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        await coro
    assert caught.value.error_class == error_class, (caught.value.reason, caught.value.detail)
    assert caught.value.reason
    return caught.value


def close_to(moment: datetime | None, expected: datetime, seconds: float = 2.0) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < seconds


def assert_recorded(published: Published, posts: list[dict], text: str) -> dict:
    assert len(posts) == 1
    post = posts[0]
    assert post["id"] == published.platform_post_id
    assert post["url"] == published.url
    assert post["text"] == text
    return post


# =========================================================================== Mastodon


async def test_mastodon_verify_reads_the_account_and_the_instance_limits(sandbox):
    await sandbox.control(
        "PUT", "/mastodon/instance", {"max_characters": 1000, "max_media_attachments": 6}
    )
    verified = await mastodon.verify(sandbox.client, mastodon_account())
    assert verified.handle == "library"
    assert verified.display_name == "Library"
    assert verified.limits == {
        "max_characters": 1000,
        "characters_reserved_per_url": 23,
        "max_media_attachments": 6,
        "image_size_limit": 10_485_760,
        "video_size_limit": 41_943_040,
        "description_limit": 1_500,
    }


async def test_mastodon_verify_reads_the_instance_media_limits(sandbox):
    # An instance that allows bigger uploads than the 10 MB / 40 MB defaults: the account's
    # limits (kept at connect time, used by the scheduler and the delivery) let them through.
    await sandbox.control(
        "PUT", "/mastodon/instance", {"image_size_limit": 16 * 2**20, "video_size_limit": 100 * 2**20}
    )
    roomy = (await mastodon.verify(sandbox.client, mastodon_account())).limits
    assert roomy["image_size_limit"] == 16 * 2**20 and roomy["video_size_limit"] == 100 * 2**20
    picture = Content("Poster", (Media(kind="image", url=f"{MEDIA}/poster.png", size_bytes=15 * 2**20),))
    film = Content("Video", (Media(kind="video", url=f"{MEDIA}/clip.mp4", size_bytes=90 * 2**20),))
    assert validate("mastodon", picture) and validate("mastodon", film)  # over the defaults
    assert validate("mastodon", picture, limits=roomy) == []
    assert validate("mastodon", film, limits=roomy) == []
    # An instance that allows less than the defaults.
    await sandbox.control("PUT", "/mastodon/instance", {"image_size_limit": 2 * 2**20})
    tight = (await mastodon.verify(sandbox.client, mastodon_account())).limits
    small = Content("Poster", (Media(kind="image", url=f"{MEDIA}/poster.png", size_bytes=3 * 2**20),))
    assert validate("mastodon", small) == []
    [violation] = validate("mastodon", small, limits=tight)
    assert violation.limit == 2 * 2**20 and violation.media_index == 0


async def test_mastodon_publishes_text(sandbox):
    account = mastodon_account(visibility="unlisted", language="id")
    post = outgoing()
    published = await mastodon.publish(sandbox.client, account, post)
    recorded = assert_recorded(published, await sandbox.posts("mastodon"), post.text)
    assert published.url == f"{SANDBOX}/mastodon/@library/{published.platform_post_id}"
    assert recorded["idempotency_key"] == "siar-target-1" and recorded["media"] == []
    status = await sandbox.client.get(
        f"{SANDBOX}/mastodon/api/v1/statuses/{published.platform_post_id}",
        headers={"Authorization": f"Bearer {MASTODON_TOKEN}"},
    )
    assert status.json()["visibility"] == "unlisted" and status.json()["language"] == "id"


async def test_mastodon_publishes_an_image_downloaded_from_its_url(sandbox):
    post = outgoing("Poster lomba", image())
    published = await mastodon.publish(sandbox.client, mastodon_account(), post)
    recorded = assert_recorded(published, await sandbox.posts("mastodon"), "Poster lomba")
    assert recorded["media"] == [
        {
            "type": "image",
            "id": recorded["media"][0]["id"],
            "description": "Poster lomba membaca",
            "mime_type": "image/png",
        }
    ]
    assert [(c.method, c.status) for c in sandbox.to("/_sandbox/media/")] == [("GET", 200)]
    assert [c.status for c in sandbox.to("/api/v2/media")] == [200]  # images are ready at once


async def test_mastodon_publishes_a_jpeg_and_a_png_together(sandbox):
    post = outgoing("Dua foto", image("photo.jpg", alt=None), image())
    published = await mastodon.publish(sandbox.client, mastodon_account(), post)
    recorded = assert_recorded(published, await sandbox.posts("mastodon"), "Dua foto")
    assert [m["mime_type"] for m in recorded["media"]] == ["image/jpeg", "image/png"]
    assert recorded["media"][0]["description"] is None


async def test_mastodon_waits_for_a_video_to_be_processed(sandbox):
    # media_processing_seconds is 1.2: upload 202, polls 206 until ready, then 200.
    post = outgoing("Video acara", video())
    published = await mastodon.publish(sandbox.client, mastodon_account(), post)
    recorded = assert_recorded(published, await sandbox.posts("mastodon"), "Video acara")
    assert recorded["media"][0]["type"] == "video"
    assert recorded["media"][0]["mime_type"] == "video/mp4"
    upload = sandbox.to("/api/v2/media")
    assert [c.status for c in upload] == [202]
    polls = [c.status for c in sandbox.to("/api/v1/media/")]
    assert polls[-1] == 200 and set(polls[:-1]) == {206} and len(polls) >= 2
    statuses = sandbox.to("/api/v1/statuses")
    assert [c.status for c in statuses] == [200]
    assert sandbox.calls.index(statuses[0]) > sandbox.calls.index(sandbox.to("/api/v1/media/")[-1])


async def test_mastodon_idempotency_key_gives_one_post(sandbox):
    account = mastodon_account()
    first = await mastodon.publish(sandbox.client, account, outgoing("Sekali saja"))
    again = await mastodon.publish(sandbox.client, account, outgoing("Sekali saja"))
    assert again == first
    assert len(await sandbox.posts("mastodon")) == 1
    other = await mastodon.publish(sandbox.client, account, outgoing("Sekali saja", key="siar-2"))
    assert other.platform_post_id != first.platform_post_id
    assert len(await sandbox.posts("mastodon")) == 2


async def test_mastodon_rate_limit_uses_x_ratelimit_reset(sandbox):
    await sandbox.faults("mastodon", "429", retry_after_seconds=42)
    error = await refused(
        mastodon.publish(sandbox.client, mastodon_account(), outgoing()), ErrorClass.RATE_LIMITED
    )
    throttled = sandbox.to("/api/v1/statuses")[-1]
    assert throttled.status == 429 and "retry-after" not in throttled.headers
    reset = datetime.fromisoformat(throttled.headers["x-ratelimit-reset"].replace("Z", "+00:00"))
    assert error.retry_at == reset
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=42))
    assert error.status == 429
    assert await sandbox.posts("mastodon") == []


async def test_mastodon_statuses_limit_waits_for_the_window(sandbox):
    await sandbox.control(
        "PUT",
        "/limits",
        {"platform": "mastodon", "scope": "statuses", "limit": 1, "window_seconds": 3600},
    )
    account = mastodon_account()
    await mastodon.publish(sandbox.client, account, outgoing(key="a"))
    error = await refused(
        mastodon.publish(sandbox.client, account, outgoing(key="b")), ErrorClass.RATE_LIMITED
    )
    reset = sandbox.to("/api/v1/statuses")[-1].headers["x-ratelimit-reset"]
    assert error.retry_at == datetime.fromisoformat(reset.replace("Z", "+00:00"))
    assert datetime.now(UTC) < error.retry_at <= datetime.now(UTC) + timedelta(seconds=3600)


async def test_mastodon_rate_limit_on_a_media_upload(sandbox):
    await sandbox.faults("mastodon", "429", retry_after_seconds=30)
    error = await refused(
        mastodon.publish(sandbox.client, mastodon_account(), outgoing("x", image())),
        ErrorClass.RATE_LIMITED,
    )
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=30))
    assert sandbox.to("/api/v1/statuses") == []


@pytest.mark.parametrize("code", ["500", "503"])
async def test_mastodon_server_errors_are_transient(sandbox, code):
    await sandbox.faults("mastodon", code)
    error = await refused(
        mastodon.publish(sandbox.client, mastodon_account(), outgoing()), ErrorClass.TRANSIENT
    )
    assert error.status == int(code)
    assert await sandbox.posts("mastodon") == []
    # The next attempt goes through (the fault sequence is used up).
    await mastodon.publish(sandbox.client, mastodon_account(), outgoing())


@pytest.mark.parametrize("code", ["502", "504"])
async def test_mastodon_gateway_error_on_a_status_is_outcome_unknown_and_waits(sandbox, code):
    # The proxy gave up while Mastodon may still be creating the status (it writes the
    # Idempotency-Key only when done): not a transient error to send again at once.
    patient = MastodonAdapter(settle_seconds=0.6)
    progress: dict = {}
    await sandbox.faults("mastodon", code)
    error = await refused(
        patient.publish(sandbox.client, mastodon_account(), outgoing(progress=progress)),
        ErrorClass.OUTCOME_UNKNOWN,
    )
    assert error.status == int(code) and close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=0.6))
    sent = progress["mastodon_statuses"]
    assert close_to(datetime.fromtimestamp(sent["first"], UTC), datetime.now(UTC))
    # What delivery does next: reconcile (inside the window: send again), and the resend waits
    # until the lost call has had time to finish.
    assert await patient.reconcile(sandbox.client, mastodon_account(), outgoing(progress=progress)) is None
    started = asyncio.get_running_loop().time()
    await patient.publish(sandbox.client, mastodon_account(), outgoing(progress=progress))
    assert asyncio.get_running_loop().time() - started >= 0.4
    assert len(await sandbox.posts("mastodon")) == 1


async def test_mastodon_idempotency_window_runs_from_the_lost_status_call(sandbox):
    # The delivery began two hours ago (a long rate-limit wait, a failed upload) but its first
    # POST /statuses, whose answer was lost, is recent: the key is alive, sending again is safe.
    account = mastodon_account()
    began = datetime.now(UTC) - timedelta(hours=2)
    progress: dict = {}
    await sandbox.faults("mastodon", "429", retry_after_seconds=5)
    await refused(mastodon.publish(sandbox.client, account, outgoing(first_attempt_at=began, progress=progress)),
                  ErrorClass.RATE_LIMITED)  # fmt: skip
    # A 429 created nothing: nothing remembered, and nothing written before the call either (a
    # write per post on the hot path cost the burst a quarter more publisher CPU).
    assert "mastodon_statuses" not in progress
    # A process that died mid-call kept nothing: the delivery's start bounds the window then.
    await refused(mastodon.reconcile(sandbox.client, account, outgoing(first_attempt_at=began, progress=progress)),
                  ErrorClass.OUTCOME_UNKNOWN)  # fmt: skip
    lost = datetime.now(UTC) - timedelta(minutes=50)
    progress["mastodon_statuses"] = {"first": lost.timestamp(), "last": lost.timestamp()}
    post = outgoing(first_attempt_at=began, progress=progress)
    assert await mastodon.reconcile(sandbox.client, account, post) is None
    published = await mastodon.publish(sandbox.client, account, post)
    # The window is the earliest lost call's: later resends do not extend Mastodon's key.
    assert progress["mastodon_statuses"]["first"] == lost.timestamp()
    assert [p["id"] for p in await sandbox.posts("mastodon")] == [published.platform_post_id]
    expired = datetime.now(UTC) - timedelta(minutes=56)
    old = {"mastodon_statuses": {"first": expired.timestamp(), "last": lost.timestamp()}}
    await refused(mastodon.reconcile(sandbox.client, account, outgoing(progress=dict(old))), ErrorClass.OUTCOME_UNKNOWN)
    await refused(mastodon.publish(sandbox.client, account, outgoing(key="siar-2", progress=dict(old))),
                  ErrorClass.OUTCOME_UNKNOWN)  # fmt: skip
    assert len(sandbox.to("/api/v1/statuses")) == 2  # the 429 and the one post; nothing sent after


async def test_mastodon_video_still_processing_is_resumed_not_uploaded_again(sandbox):
    # media_processing_seconds is 1.2; an attempt that waits only 0.3 s keeps the media id.
    hasty = MastodonAdapter(processing_wait_seconds=0.3)
    progress: dict = {}
    error = await refused(
        hasty.publish(sandbox.client, mastodon_account(), outgoing("Video", video(), progress=progress)),
        ErrorClass.TRANSIENT,
    )
    assert "same upload" in error.reason
    [kept] = progress["mastodon_media"].values()
    published = await mastodon.publish(sandbox.client, mastodon_account(), outgoing("Video", video(), progress=progress))
    assert [c.status for c in sandbox.to("/api/v2/media")] == [202]  # uploaded once
    assert {c.path for c in sandbox.to("/api/v1/media/")} == {f"/mastodon/api/v1/media/{kept}"}
    recorded = assert_recorded(published, await sandbox.posts("mastodon"), "Video")
    assert recorded["media"][0]["id"] == kept


async def test_mastodon_server_error_on_a_media_upload_is_transient(sandbox):
    await sandbox.faults("mastodon", "503")
    error = await refused(
        mastodon.publish(sandbox.client, mastodon_account(), outgoing("x", image())),
        ErrorClass.TRANSIENT,
    )
    assert error.status == 503


async def test_mastodon_revoked_token(sandbox):
    await sandbox.control(
        "POST", "/tokens/revoke", {"platform": "mastodon", "token": MASTODON_TOKEN}
    )
    account = mastodon_account()
    error = await refused(
        mastodon.publish(sandbox.client, account, outgoing()), ErrorClass.AUTH_REVOKED
    )
    assert error.status == 401 and "revoked" in (error.detail or "")
    await refused(mastodon.verify(sandbox.client, account), ErrorClass.AUTH_REVOKED)
    await refused(
        mastodon.publish(sandbox.client, mastodon_account("revoked.x"), outgoing()),
        ErrorClass.AUTH_REVOKED,
    )


async def test_mastodon_forbidden(sandbox):
    # A token without the write scope, and a disabled login: 403.
    readonly = mastodon_account("readonly.secret")
    assert (await mastodon.verify(sandbox.client, readonly)).handle == "readonly"
    error = await refused(
        mastodon.publish(sandbox.client, readonly, outgoing()), ErrorClass.PERMISSION_DENIED
    )
    assert error.status == 403
    await refused(
        mastodon.publish(sandbox.client, readonly, outgoing("x", image())),
        ErrorClass.PERMISSION_DENIED,
    )
    disabled = mastodon_account("disabled.secret")
    await refused(mastodon.verify(sandbox.client, disabled), ErrorClass.PERMISSION_DENIED)
    assert await sandbox.posts("mastodon") == []


async def test_mastodon_instance_that_is_not_there(sandbox):
    account = mastodon_account(base_url=f"{SANDBOX}/no-such-instance")
    error = await refused(
        mastodon.publish(sandbox.client, account, outgoing()), ErrorClass.TARGET_GONE
    )
    assert error.status == 404
    await refused(mastodon.verify(sandbox.client, account), ErrorClass.TARGET_GONE)


async def test_mastodon_text_too_long_is_invalid_content(sandbox):
    error = await refused(
        mastodon.publish(sandbox.client, mastodon_account(), outgoing("a" * 501)),
        ErrorClass.INVALID_CONTENT,
    )
    assert error.status == 422 and "character limit of 500" in error.reason
    await sandbox.control("PUT", "/mastodon/instance", {"max_characters": 600})
    await mastodon.publish(sandbox.client, mastodon_account(), outgoing("a" * 501))


async def test_mastodon_refused_media_is_invalid_content(sandbox):
    account = mastodon_account()
    # A URL that 404s: nothing is uploaded.
    error = await refused(
        mastodon.publish(sandbox.client, account, outgoing("x", image("gone.png"))),
        ErrorClass.INVALID_CONTENT,
    )
    assert "404" in error.reason and sandbox.to("/api/v2/media") == []
    # Something that is not media (the sandbox's Prometheus text): Mastodon's 422.
    not_media = MediaItem(url=f"{SANDBOX}/metrics", kind="image")
    error = await refused(
        mastodon.publish(sandbox.client, account, outgoing("x", not_media)),
        ErrorClass.INVALID_CONTENT,
    )
    assert error.status == 422 and "content type is invalid" in error.reason
    # Too many attachments for the instance.
    five = [image() for _ in range(5)]
    error = await refused(
        mastodon.publish(sandbox.client, account, outgoing("x", *five)), ErrorClass.INVALID_CONTENT
    )
    assert error.status == 422 and "more than 4" in error.reason
    assert await sandbox.posts("mastodon") == []


async def test_mastodon_media_is_fetched_within_the_instances_limits_and_siars(sandbox, monkeypatch):
    # The instance's own limit, read when the account was connected: refused in its words, before
    # anything is uploaded (the sandbox's poster is 854 bytes).
    small = Account(**{**mastodon_account().__dict__, "limits": {"image_size_limit": 500}})
    error = await refused(mastodon.publish(sandbox.client, small, outgoing("x", image())), ErrorClass.INVALID_CONTENT)
    assert error.reason == "this Mastodon server takes images of up to 500 bytes; link a smaller file"
    roomy = Account(**{**mastodon_account().__dict__, "limits": {"video_size_limit": 99_000_000}})
    assert (await mastodon.publish(sandbox.client, roomy, outgoing("y", image()))).platform_post_id
    # Siar's memory cap holds for Mastodon too (a link to a huge file must not take the publisher down).
    from siar_publisher.adapters import mediafetch

    monkeypatch.setattr(mediafetch, "MAX_MEDIA_BYTES", 500)
    error = await refused(mastodon.publish(sandbox.client, roomy, outgoing("z", image())), ErrorClass.INVALID_CONTENT)
    assert "larger than Siar uploads (500 bytes)" in error.reason
    # A signed media URL's signature stays out of the reason.
    error = await refused(mastodon.publish(sandbox.client, mastodon_account(),
                                           outgoing("x", image("gone.png?X-Amz-Signature=s3cr3t"))),  # fmt: skip
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "404" in error.reason and "s3cr3t" not in error.reason + (error.detail or "")
    assert len(sandbox.to("/api/v2/media")) == 1  # the one that fitted


async def test_mastodon_reconcile_trusts_the_idempotency_window(sandbox):
    account = mastodon_account()
    now = datetime.now(UTC)
    assert await mastodon.reconcile(sandbox.client, account, outgoing()) is None
    recent = outgoing(first_attempt_at=now - IDEMPOTENCY_WINDOW + timedelta(minutes=1))
    assert await mastodon.reconcile(sandbox.client, account, recent) is None
    old = outgoing(first_attempt_at=now - timedelta(hours=2))
    await refused(mastodon.reconcile(sandbox.client, account, old), ErrorClass.OUTCOME_UNKNOWN)
    just_past = outgoing(first_attempt_at=now - IDEMPOTENCY_WINDOW - timedelta(seconds=1))
    await refused(
        mastodon.reconcile(sandbox.client, account, just_past), ErrorClass.OUTCOME_UNKNOWN
    )


# =========================================================================== Telegram


async def test_telegram_verify_reads_the_channel(sandbox):
    verified = await telegram.verify(sandbox.client, telegram_account())
    assert verified.handle == CHANNEL
    assert verified.display_name == "Perpuskota"
    assert verified.limits == {"max_characters": 4096, "max_caption": 1024}
    private = await telegram.verify(sandbox.client, telegram_account("-1001234567890"))
    assert private.handle == "-1001234567890"
    assert private.display_name == "Sandbox channel 1234567890"


async def test_telegram_publishes_text(sandbox):
    post = outgoing()
    published = await telegram.publish(sandbox.client, telegram_account(), post)
    assert published == Published(platform_post_id="1", url="https://t.me/perpuskota/1")
    assert_recorded(published, await sandbox.posts("telegram"), post.text)
    second = await telegram.publish(sandbox.client, telegram_account(), outgoing("Kedua"))
    assert second.platform_post_id == "2"


async def test_telegram_private_channel_url(sandbox):
    published = await telegram.publish(
        sandbox.client, telegram_account("-1001234567890"), outgoing()
    )
    assert published.url == "https://t.me/c/1234567890/1"
    assert_recorded(published, await sandbox.posts("telegram"), outgoing().text)


async def test_telegram_uploads_a_photo_it_downloaded(sandbox):
    # Uploaded, not passed as a URL: Telegram's servers cannot reach a library's internal media
    # host, and by URL take only 5 MB photos and 20 MB other files.
    published = await telegram.publish(
        sandbox.client, telegram_account(), outgoing("Poster", image())
    )
    recorded = assert_recorded(published, await sandbox.posts("telegram"), "Poster")
    assert [(m["type"], m["source"], m["file_name"]) for m in recorded["media"]] == [
        ("photo", "upload", "poster.png")
    ]
    assert [c.path.rsplit("/", 1)[-1] for c in sandbox.to("/telegram/")] == ["sendPhoto"]
    assert [(c.method, c.status) for c in sandbox.to("/_sandbox/media/")] == [("GET", 200)]


async def test_telegram_uploads_a_video(sandbox):
    published = await telegram.publish(
        sandbox.client, telegram_account(), outgoing("Video", video())
    )
    recorded = assert_recorded(published, await sandbox.posts("telegram"), "Video")
    assert [(m["type"], m["source"]) for m in recorded["media"]] == [("video", "upload")]
    assert [c.path.rsplit("/", 1)[-1] for c in sandbox.to("/telegram/")] == ["sendVideo"]


async def test_telegram_publishes_a_gif_as_an_animation_not_a_still(sandbox):
    gif = MediaItem(url=f"{MEDIA}/loop.gif", kind="gif", alt_text="Jam buka berkedip")
    published = await telegram.publish(sandbox.client, telegram_account(), outgoing("Buka!", gif))
    recorded = assert_recorded(published, await sandbox.posts("telegram"), "Buka!")
    assert [(m["type"], m["source"], m["file_name"]) for m in recorded["media"]] == [
        ("animation", "upload", "loop.gif")
    ]
    assert [c.path.rsplit("/", 1)[-1] for c in sandbox.to("/telegram/")] == ["sendAnimation"]


@pytest.mark.parametrize("count", [2, 10])
async def test_telegram_publishes_a_media_group(sandbox, count):
    media = [image("photo.jpg" if i % 2 else "poster.png") for i in range(count - 1)] + [video()]
    published = await telegram.publish(
        sandbox.client, telegram_account(), outgoing("Album", *media)
    )
    recorded = assert_recorded(published, await sandbox.posts("telegram"), "Album")
    assert published.platform_post_id == "1"  # the album's first message
    assert [m["type"] for m in recorded["media"]] == ["photo"] * (count - 1) + ["video"]
    assert {m["source"] for m in recorded["media"]} == {"upload"}
    assert [c.path.rsplit("/", 1)[-1] for c in sandbox.to("/telegram/")] == ["sendMediaGroup"]
    after = await telegram.publish(sandbox.client, telegram_account(), outgoing("Sesudah"))
    assert after.platform_post_id == str(count + 1)  # one message per album item


async def test_telegram_media_group_over_ten_is_invalid_content(sandbox):
    error = await refused(
        telegram.publish(sandbox.client, telegram_account(), outgoing("x", *[image()] * 11)),
        ErrorClass.INVALID_CONTENT,
    )
    assert error.status == 400 and "too many messages" in error.reason


async def test_telegram_rate_limit_uses_retry_after(sandbox):
    await sandbox.faults("telegram", "429", retry_after_seconds=37)
    error = await refused(
        telegram.publish(sandbox.client, telegram_account(), outgoing()), ErrorClass.RATE_LIMITED
    )
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=37))
    assert error.status == 429 and "retry after 37" in (error.detail or "")
    assert await sandbox.posts("telegram") == []


async def test_telegram_flood_limit_per_chat(sandbox):
    await sandbox.control(
        "PUT",
        "/limits",
        {"platform": "telegram", "scope": "chat", "limit": 1, "window_seconds": 600},
    )
    account = telegram_account()
    await telegram.publish(sandbox.client, account, outgoing("satu"))
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing("dua")), ErrorClass.RATE_LIMITED
    )
    seconds = int(sandbox.to("/sendMessage")[-1].headers["retry-after"])
    assert 0 < seconds <= 600
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=seconds))
    # Another channel of the same bot is not limited.
    await telegram.publish(sandbox.client, telegram_account("@kanal_lain"), outgoing("tiga"))


@pytest.mark.parametrize("code", ["500", "502", "503", "504"])
async def test_telegram_server_errors_are_transient(sandbox, code):
    await sandbox.faults("telegram", code)
    error = await refused(
        telegram.publish(sandbox.client, telegram_account(), outgoing("x", image())),
        ErrorClass.TRANSIENT,
    )
    assert error.status == int(code)
    assert await sandbox.posts("telegram") == []


async def test_telegram_revoked_token(sandbox):
    await sandbox.control(
        "POST", "/tokens/revoke", {"platform": "telegram", "token": TELEGRAM_TOKEN}
    )
    account = telegram_account()
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing()), ErrorClass.AUTH_REVOKED
    )
    assert error.status == 401
    await refused(telegram.verify(sandbox.client, account), ErrorClass.AUTH_REVOKED)
    revoked = telegram_account(token="123456789:revokedAAHdqTcvCH1vGWJxfSeofSAs0K5")
    await refused(telegram.publish(sandbox.client, revoked, outgoing()), ErrorClass.AUTH_REVOKED)


async def test_telegram_bot_not_allowed_to_post(sandbox):
    error = await refused(
        telegram.publish(sandbox.client, telegram_account("@notmember_kanal"), outgoing()),
        ErrorClass.PERMISSION_DENIED,
    )
    assert error.status == 403 and "not a member" in (error.detail or "")
    # A member that is not an administrator: 400 from Telegram, but a permission problem.
    error = await refused(
        telegram.publish(sandbox.client, telegram_account("@noadmin_kanal"), outgoing()),
        ErrorClass.PERMISSION_DENIED,
    )
    assert error.status == 400 and "administrator rights" in (error.detail or "")
    assert await sandbox.posts("telegram") == []


async def test_telegram_verify_refuses_a_chat_the_bot_may_not_post_in(sandbox):
    # getMe and getChat succeed for all three; only getChatMember shows the bot cannot post.
    bot = "@siar_sandbox_123456789_bot"
    for chat, status, said in (
        ("@notmember_kanal", "left", f"{bot} is not a member of @notmember_kanal"),
        ("@noadmin_kanal", "member", f"{bot} is not an administrator of @noadmin_kanal"),
        ("@nopost_kanal", "administrator", f"{bot} is an administrator of @nopost_kanal but may not post"),
    ):
        error = await refused(telegram.verify(sandbox.client, telegram_account(chat)), ErrorClass.PERMISSION_DENIED)
        assert error.reason.startswith(said) and "connect again" in error.reason, error.reason
        assert error.detail.startswith(f"getChatMember: status {status}")
        # ...and the first post would indeed have failed.
        await refused(telegram.publish(sandbox.client, telegram_account(chat), outgoing()), ErrorClass.PERMISSION_DENIED)
    asked = [c for c in sandbox.to("/getChatMember") if c.status == 200]
    assert len(asked) == 3
    # The bot administers the demo channel and posts in a group as a plain member.
    assert (await telegram.verify(sandbox.client, telegram_account("@perpustakaan_demo"))).handle == "@perpustakaan_demo"
    assert (await telegram.verify(sandbox.client, telegram_account("-4242"))).handle == "-4242"
    assert await sandbox.posts("telegram") == []


async def test_telegram_channel_not_found(sandbox):
    account = telegram_account("@notfound_kanal")
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing()), ErrorClass.TARGET_GONE
    )
    assert error.status == 400 and "chat not found" in (error.detail or "")
    await refused(telegram.verify(sandbox.client, account), ErrorClass.TARGET_GONE)


async def test_telegram_too_long_is_invalid_content(sandbox):
    account = telegram_account()
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing("a" * 4097)), ErrorClass.INVALID_CONTENT
    )
    assert "message is too long" in error.reason
    await telegram.publish(sandbox.client, account, outgoing("a" * 4096))
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing("a" * 1025, image())),
        ErrorClass.INVALID_CONTENT,
    )
    assert "caption is too long" in error.reason
    assert len(await sandbox.posts("telegram")) == 1


async def test_telegram_media_url_that_404s_is_invalid_content(sandbox):
    account = telegram_account()
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing("x", image("gone.png"))),
        ErrorClass.INVALID_CONTENT,
    )
    assert "could not fetch the media" in error.reason and "404" in error.reason
    await refused(
        telegram.publish(sandbox.client, account, outgoing("x", video("gone.mp4"))),
        ErrorClass.INVALID_CONTENT,
    )
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing("x", image(), image("gone.png"))),
        ErrorClass.INVALID_CONTENT,
    )
    assert "gone.png" in error.reason
    assert sandbox.to("/telegram/") == []  # nothing was sent
    # A video given as a photo: Telegram cannot read it as an image.
    as_photo = MediaItem(url=f"{MEDIA}/clip.mp4", kind="image")
    error = await refused(
        telegram.publish(sandbox.client, account, outgoing("x", as_photo)),
        ErrorClass.INVALID_CONTENT,
    )
    assert "IMAGE_PROCESS_FAILED" in error.reason
    assert await sandbox.posts("telegram") == []


async def test_telegram_reconcile_cannot_tell(sandbox):
    account = telegram_account()
    await refused(
        telegram.reconcile(sandbox.client, account, outgoing()), ErrorClass.OUTCOME_UNKNOWN
    )
    recent = outgoing(first_attempt_at=datetime.now(UTC))
    await refused(telegram.reconcile(sandbox.client, account, recent), ErrorClass.OUTCOME_UNKNOWN)


# =========================================================================== real sockets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    url: str
    control: httpx.AsyncClient


@pytest.fixture(scope="module")
async def sandbox_process(tmp_path_factory) -> AsyncIterator[Process]:
    """``python -m siar_sandbox`` on a free port, as a separate process."""
    port = free_port()
    log = (tmp_path_factory.mktemp("sandbox") / "sandbox.log").open("wb")
    env = {
        **os.environ,
        "SIAR_HTTP_HOST": "127.0.0.1",
        "SIAR_HTTP_PORT": str(port),
        "SIAR_LOG_LEVEL": "warning",
        "SIAR_SANDBOX_MEDIA_PROCESSING_SECONDS": "0",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "siar_sandbox", env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with http_client(timeout_seconds=5, base_url=url) as control:
            for _ in range(200):
                assert process.returncode is None, f"the sandbox exited with {process.returncode}"
                with contextlib.suppress(httpx.TransportError):
                    if (await control.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the sandbox never became ready")
            yield Process(url, control)
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


@pytest.fixture
async def live(sandbox_process: Process) -> Process:
    r = await sandbox_process.control.post("/_sandbox/reset")
    assert r.status_code == 200
    return sandbox_process


async def live_posts(live: Process, platform: str) -> list[dict]:
    r = await live.control.get("/_sandbox/posts", params={"platform": platform})
    return r.json()["posts"]


async def live_faults(live: Process, platform: str, kind: str) -> None:
    r = await live.control.put(
        "/_sandbox/faults", json={"platform": platform, "sequence": [kind], "timeout_seconds": 2}
    )
    assert r.status_code == 200, r.text


async def test_mastodon_answer_lost_after_commit_is_outcome_unknown(live):
    account = mastodon_account(base_url=f"{live.url}/mastodon")
    post = outgoing(
        "Terkirim, tapi jawabannya hilang", key="siar-lost-1", first_attempt_at=datetime.now(UTC)
    )
    await live_faults(live, "mastodon", "timeout_after_commit")
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(
            mastodon.publish(impatient, account, post), ErrorClass.OUTCOME_UNKNOWN
        )
    assert "ReadTimeout" in (error.detail or "")
    posts = await live_posts(live, "mastodon")
    assert len(posts) == 1 and posts[0]["idempotency_key"] == "siar-lost-1"  # it WAS posted
    # What delivery does next: reconcile (None inside the window), then send again, same key.
    async with http_client(timeout_seconds=5) as client:
        assert await mastodon.reconcile(client, account, post) is None
        published = await mastodon.publish(client, account, post)
    assert published.platform_post_id == posts[0]["id"]
    assert len(await live_posts(live, "mastodon")) == 1


async def test_mastodon_timeout_before_commit_is_also_outcome_unknown(live):
    # The client cannot tell a held request from a lost answer; the key makes the retry safe.
    account = mastodon_account(base_url=f"{live.url}/mastodon")
    post = outgoing("Belum tersimpan", key="siar-held-1")
    await live_faults(live, "mastodon", "timeout")
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(mastodon.publish(impatient, account, post), ErrorClass.OUTCOME_UNKNOWN)
    assert await live_posts(live, "mastodon") == []
    async with http_client(timeout_seconds=5) as client:
        published = await mastodon.publish(client, account, post)
    assert [p["id"] for p in await live_posts(live, "mastodon")] == [published.platform_post_id]


async def test_telegram_answer_lost_after_commit_is_outcome_unknown(live):
    account = telegram_account(base_url=f"{live.url}/telegram")
    post = outgoing("Terkirim ke kanal")
    await live_faults(live, "telegram", "timeout_after_commit")
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(
            telegram.publish(impatient, account, post), ErrorClass.OUTCOME_UNKNOWN
        )
        assert "ReadTimeout" in (error.detail or "")
        await refused(telegram.reconcile(impatient, account, post), ErrorClass.OUTCOME_UNKNOWN)
    posts = await live_posts(live, "telegram")
    assert len(posts) == 1 and posts[0]["text"] == "Terkirim ke kanal"


async def test_media_over_real_http(live):
    async with http_client(timeout_seconds=5) as client:
        account = mastodon_account(base_url=f"{live.url}/mastodon")
        media = MediaItem(url=f"{live.url}/_sandbox/media/clip.mp4", kind="video")
        published = await mastodon.publish(client, account, outgoing("video", media))
        tg = telegram_account(base_url=f"{live.url}/telegram")
        photo = MediaItem(url=f"{live.url}/_sandbox/media/photo.jpg", kind="image")
        sent = await telegram.publish(client, tg, outgoing("foto", photo))
    assert [p["id"] for p in await live_posts(live, "mastodon")] == [published.platform_post_id]
    assert [p["id"] for p in await live_posts(live, "telegram")] == [sent.platform_post_id]


async def test_connection_refused_is_transient():
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with http_client(timeout_seconds=2) as client:
        for coro in (
            mastodon.publish(client, mastodon_account(base_url=f"{nowhere}/mastodon"), outgoing()),
            mastodon.verify(client, mastodon_account(base_url=f"{nowhere}/mastodon")),
            telegram.publish(client, telegram_account(base_url=f"{nowhere}/telegram"), outgoing()),
            telegram.verify(client, telegram_account(base_url=f"{nowhere}/telegram")),
        ):
            error = await refused(coro, ErrorClass.TRANSIENT)
            assert "ConnectError" in (error.detail or "")


@contextlib.asynccontextmanager
async def media_host(answer: bytes | None) -> AsyncIterator[str]:
    """A bare HTTP server standing for a library's media host: it sends ``answer`` to every
    request, or never answers when ``answer`` is None."""

    done = asyncio.Event()
    handlers: set[asyncio.Task] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            if answer is None:
                await done.wait()
            else:
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/poster.png"
    finally:
        done.set()
        server.close()
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)
        await server.wait_closed()


async def test_telegram_uploads_a_photo_too_big_to_send_by_url(live, sandbox):
    # 6 MB: over what Telegram fetches by URL (5 MB), within what a bot may upload (10 MB).
    poster = (await sandbox.client.get(f"{MEDIA}/poster.png")).content
    big = poster + b"\x00" * (6_000_000 - len(poster))
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
              % len(big)) + big  # fmt: skip
    account = telegram_account(base_url=f"{live.url}/telegram")
    async with media_host(answer) as url, http_client(timeout_seconds=5) as client:
        published = await telegram.publish(client, account, outgoing("Poster besar", MediaItem(url=url, kind="image")))
    [recorded] = await live_posts(live, "telegram")
    assert recorded["id"] == published.platform_post_id
    assert [(m["source"], m["size"]) for m in recorded["media"]] == [("upload", 6_000_000)]


async def test_telegram_refuses_a_photo_over_the_upload_limit_before_sending(live):
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 10000001\r\n"
              b"Connection: close\r\n\r\n\x89PNG" + b"\x00" * 9_999_997)  # fmt: skip
    account = telegram_account(base_url=f"{live.url}/telegram")
    async with media_host(answer) as url, http_client(timeout_seconds=5) as client:
        error = await refused(telegram.publish(client, account, outgoing("x", MediaItem(url=url, kind="image"))),
                              ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "Telegram takes photos of up to 10 MB" in error.reason and url in error.reason
    assert await live_posts(live, "telegram") == []


async def test_mastodon_media_host_timeout_is_transient_not_outcome_unknown(live):
    # Nothing reached Mastodon: the status was never sent, so its outcome is not in doubt.
    account = mastodon_account(base_url=f"{live.url}/mastodon")
    async with media_host(None) as url, http_client(timeout_seconds=0.5) as client:
        error = await refused(
            mastodon.publish(client, account, outgoing("x", MediaItem(url=url))),
            ErrorClass.TRANSIENT,
        )
    assert "ReadTimeout" in (error.detail or "")
    assert await live_posts(live, "mastodon") == []


async def test_mastodon_media_host_server_error_is_transient(live):
    account = mastodon_account(base_url=f"{live.url}/mastodon")
    answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with media_host(answer) as url, http_client(timeout_seconds=2) as client:
        error = await refused(
            mastodon.publish(client, account, outgoing("x", MediaItem(url=url))),
            ErrorClass.TRANSIENT,
        )
    assert "503" in (error.detail or error.reason)
    assert await live_posts(live, "mastodon") == []
