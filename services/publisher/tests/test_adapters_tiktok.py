"""The TikTok adapter against the real sandbox: creator_info, init, FILE_UPLOAD chunks (resumed
from ``uploaded_bytes`` after a cut), PULL_FROM_URL, the publish status until PUBLISH_COMPLETE,
the kept publish_id (reconcile and later attempts never start a second post), every error class,
rotating refresh tokens and counts that grow with time. No mocks."""

# ruff: noqa: F811 - pytest fixtures imported from upload_kit are redefined as parameters

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters.tiktok import TikTokAdapter, chunk_plan
from siar_publisher.transport import http_client
from siar_sandbox.settings import Settings

from services.publisher.tests.upload_kit import (  # noqa: F401 - fixtures
    HOST,
    MEDIA,
    SANDBOX,
    big_video,
    close_to,
    disk,
    image,
    live,
    live_server,
    memory_capped,
    mp4_digest,
    outgoing,
    refused,
    sandbox,
    settings,
    video,
)

TOKEN = "perpuskota.act-access"
REFRESH = "perpuskota.rft-refresh"
MIB = 1024 * 1024


@pytest.fixture
def tt() -> TikTokAdapter:
    return TikTokAdapter(chunk_bytes=5 * MIB, publish_wait_seconds=10, poll_seconds=0.1)


def account(token: str = TOKEN, base: str = SANDBOX, refresh: str = REFRESH, **settings) -> Account:
    return Account(account_id="acc-tt", platform="tiktok", handle="perpuskota", base_url=f"{base}/tiktok",
                   credentials={"access_token": token, "refresh_token": refresh, "client_key": "sbawkey",
                                "client_secret": "ttsecret"}, settings=settings)  # fmt: skip


def clip_post(*media: MediaItem, **extra):
    return outgoing("Cuplikan dongeng #perpustakaan", *(media or (video(),)), **extra)


def test_registered_and_chunk_plan():
    assert isinstance(ADAPTERS["tiktok"], TikTokAdapter)
    assert chunk_plan(1999, 10 * MIB) == (1999, 1)  # under 5 MB: one chunk
    assert chunk_plan(12 * MIB, 5 * MIB) == (5 * MIB, 2)  # the last chunk takes the rest
    assert chunk_plan(200 * MIB, 100 * MIB) == (64 * MIB, 3)
    assert chunk_plan(6 * MIB, 1 * MIB) == (5 * MIB, 1)


# --------------------------------------------------------------------------- account


async def test_verify(sandbox, tt):
    verified = await tt.verify(sandbox.client, account())
    assert verified.handle == "perpuskota" and verified.display_name == "Perpuskota"
    assert verified.limits == {"max_video_post_duration_sec": 600}
    assert close_to(verified.token_expires_at, datetime.now(UTC))  # refreshable, expiry unknown: renew now
    error = await refused(tt.verify(sandbox.client, account("noscope.act")), ErrorClass.PERMISSION_DENIED)
    assert "scope_not_authorized" in (error.detail or "")


async def test_refresh_rotates(sandbox, tt):
    refreshed = await tt.refresh(sandbox.client, account())
    creds = refreshed.credentials
    assert creds["access_token"].startswith("perpuskota.act.") and creds["refresh_token"] != REFRESH
    assert creds["open_id"] and close_to(refreshed.expires_at, datetime.now(UTC) + timedelta(hours=2))
    assert close_to(datetime.fromisoformat(creds["refresh_expires_at"]), datetime.now(UTC) + timedelta(days=180))
    await tt.verify(sandbox.client, account(creds["access_token"]))
    error = await refused(tt.refresh(sandbox.client, account()), ErrorClass.AUTH_REVOKED)  # spent
    assert "invalid_grant" in (error.detail or "")
    await tt.refresh(sandbox.client, account(refresh=creds["refresh_token"]))


# --------------------------------------------------------------------------- publishing


async def test_publishes_a_video_by_file_upload(sandbox, tt):
    progress: dict = {}
    published = await tt.publish(sandbox.client, account(), clip_post(progress=progress))
    assert published.url == f"https://www.tiktok.com/@perpuskota/video/{published.platform_post_id}"
    [recorded] = await sandbox.posts("tiktok")
    assert recorded["id"] == published.platform_post_id and recorded["text"] == "Cuplikan dongeng #perpustakaan"
    assert recorded["media"][0]["publish_id"] == progress["tiktok"]["publish_id"]
    assert recorded["media"][0]["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert [c.path.rsplit("/v2/", 1)[-1] for c in sandbox.to("/tiktok/v2/")][:2] == [
        "post/publish/creator_info/query/", "post/publish/video/init/"]
    [upload] = sandbox.to("/upload/video/", "PUT")
    assert upload.status == 201 and upload.content_range == "bytes 0-1998/1999"
    assert len(sandbox.to("/status/fetch/")) >= 2  # PROCESSING_UPLOAD, then PUBLISH_COMPLETE


async def test_uploads_big_videos_in_chunks(sandbox, tt):
    await tt.publish(sandbox.client, account(), clip_post(big_video(12 * MIB)))
    uploads = sandbox.to("/upload/video/", "PUT")
    assert [(c.content_range, c.status) for c in uploads] == [
        (f"bytes 0-{5 * MIB - 1}/{12 * MIB}", 206), (f"bytes {5 * MIB}-{12 * MIB - 1}/{12 * MIB}", 201)]
    assert len(await sandbox.posts("tiktok")) == 1


async def test_a_video_larger_than_memory_takes_goes_from_disk_whole(sandbox, tt, memory_capped, disk):
    await tt.publish(sandbox.client, account(), clip_post(big_video(12 * MIB)))
    [recorded] = await sandbox.posts("tiktok")
    assert recorded["media"][0]["size"] == 12 * MIB and recorded["media"][0]["sha256"] == mp4_digest(12 * MIB)
    assert memory_capped.held == 0 and disk.held == 0


async def test_resumes_a_cut_upload_from_uploaded_bytes(sandbox, tt):
    # init ok, chunk 0 ok, chunk 1 cut off (TikTok keeps whole chunks only).
    await sandbox.faults("tiktok", "ok", "ok", "interrupt")
    await tt.publish(sandbox.client, account(), clip_post(big_video(12 * MIB)))
    uploads = sandbox.to("/upload/video/", "PUT")
    assert [c.content_range.split("/")[0] for c in uploads] == ["bytes 0-5242879", "bytes 5242880-12582911"]
    assert sum(c.sent for c in uploads) == 12 * MIB  # chunk 0 was not sent again
    assert len(await sandbox.posts("tiktok")) == 1


async def test_a_later_attempt_continues_the_kept_publish(sandbox, tt):
    progress: dict = {}
    impatient = TikTokAdapter(chunk_bytes=5 * MIB, max_resumes=0, poll_seconds=0.1)
    await sandbox.faults("tiktok", "ok", "ok", "interrupt")
    await refused(impatient.publish(sandbox.client, account(), clip_post(big_video(12 * MIB), progress=progress)),
                  ErrorClass.TRANSIENT)  # fmt: skip
    kept = progress["tiktok"]
    assert kept["publish_id"].startswith("v_pub_file~") and kept["count"] == 2
    published = await tt.publish(sandbox.client, account(), clip_post(big_video(12 * MIB), progress=progress))
    assert len(sandbox.to("/video/init/")) == 1  # the same publish, not a second post
    assert [c.content_range.split("/")[0] for c in sandbox.to("/upload/video/", "PUT")] == [
        "bytes 0-5242879", "bytes 5242880-12582911"]
    assert [p["id"] for p in await sandbox.posts("tiktok")] == [published.platform_post_id]
    assert await tt.publish(sandbox.client, account(), clip_post(big_video(12 * MIB), progress=progress)) == published


async def test_pull_from_url(sandbox, tt):
    acc = account(source="PULL_FROM_URL")
    published = await tt.publish(sandbox.client, acc, clip_post())
    [recorded] = await sandbox.posts("tiktok")
    assert recorded["id"] == published.platform_post_id and recorded["media"][0]["source"] == "PULL_FROM_URL"
    assert sandbox.to("/upload/video/") == [] and sandbox.to("/_sandbox/media/") == []  # TikTok fetched it
    # A media host whose domain is not verified with TikTok: the operator's to fix, and this
    # post's alone - not a reason to disconnect the account and fail its other posts.
    error = await refused(tt.publish(sandbox.client, acc, clip_post(big_video(MIB))), ErrorClass.INVALID_CONTENT)
    assert "url_ownership_unverified" in (error.detail or "") and error.status == 403
    assert "verify the media host's domain in TikTok's developer portal" in error.reason


async def test_processing_failure(sandbox, tt):
    not_a_video = MediaItem(url=f"{HOST}/4096.bin", kind="video")
    error = await refused(tt.publish(sandbox.client, account(), clip_post(not_a_video)), ErrorClass.INVALID_CONTENT)
    assert "file_format_check_failed" in error.reason and await sandbox.posts("tiktok") == []


async def test_photos_are_not_supported(sandbox, tt):
    error = await refused(tt.publish(sandbox.client, account(), clip_post(image())), ErrorClass.INVALID_CONTENT)
    assert "photo" in error.reason and sandbox.calls == []


async def test_privacy_and_interaction_settings(sandbox, tt):
    await tt.publish(sandbox.client, account("noduet.act", privacy_level="SELF_ONLY", disable_comment=True),
                     clip_post())  # fmt: skip
    [recorded] = await sandbox.posts("tiktok")
    assert recorded["media"][0]["privacy_level"] == "SELF_ONLY"
    error = await refused(tt.publish(sandbox.client, account(privacy_level="FRIENDS"), clip_post()),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "privacy level" in error.reason


async def test_still_processing_when_the_wait_ends(sandbox):
    slow = TikTokAdapter(publish_wait_seconds=0.1, poll_seconds=0.05)
    await refused(slow.publish(sandbox.client, account(), clip_post()), ErrorClass.OUTCOME_UNKNOWN)  # nothing kept
    progress: dict = {}
    await refused(slow.publish(sandbox.client, account(), clip_post(target="t-2", progress=progress)),
                  ErrorClass.TRANSIENT)  # kept: the next attempt checks on it  # fmt: skip
    patient = TikTokAdapter(publish_wait_seconds=10, poll_seconds=0.1)
    published = await patient.publish(sandbox.client, account(), clip_post(target="t-2", progress=progress))
    assert len(sandbox.to("/video/init/")) == 2
    assert published.platform_post_id in [p["id"] for p in await sandbox.posts("tiktok")]


# --------------------------------------------------------------------------- errors


async def test_expired_token_then_refresh(sandbox, tt):
    await sandbox.token("expire", "tiktok", TOKEN)
    error = await refused(tt.publish(sandbox.client, account(), clip_post()), ErrorClass.AUTH_EXPIRED)
    assert error.status == 401 and "access_token_invalid" in (error.detail or "")
    refreshed = await tt.refresh(sandbox.client, account())
    await tt.publish(sandbox.client, account(refreshed.credentials["access_token"]), clip_post())
    assert len(await sandbox.posts("tiktok")) == 1


async def test_permission_problems(sandbox, tt):
    error = await refused(tt.publish(sandbox.client, account("noscope.act"), clip_post()), ErrorClass.PERMISSION_DENIED)
    assert error.status == 401
    error = await refused(tt.publish(sandbox.client, account("unaudited.act"), clip_post()),
                          ErrorClass.PERMISSION_DENIED)  # fmt: skip
    assert "SELF_ONLY" in error.reason
    await tt.publish(sandbox.client, account("unaudited.act", privacy_level="SELF_ONLY"), clip_post())


async def test_policy_rejection(sandbox, tt):
    error = await refused(tt.publish(sandbox.client, account("banned.act"), clip_post()), ErrorClass.POLICY_REJECTED)
    assert "spam_risk_user_banned_from_posting" in error.reason


def test_any_other_403_fails_the_post_alone(tt):
    """Token and scope problems are TikTok's 401s; a 403 with another code is TikTok refusing
    this post, with its own words (never a reason to disconnect the account)."""
    body = {"data": {}, "error": {"code": "video_violates_policy", "message": "The video cannot be posted.",
                                  "log_id": "202612050000"}}  # fmt: skip
    response = httpx.Response(403, json=body, request=httpx.Request("POST", f"{SANDBOX}/tiktok/v2/post/publish/video/init/"))
    error = tt._error(response, body["error"])
    assert error.error_class == ErrorClass.POLICY_REJECTED and error.status == 403
    assert "The video cannot be posted." in error.reason and "video_violates_policy" in error.reason


async def test_rate_limited_refresh_is_not_a_revoked_token(sandbox, tt):
    await sandbox.faults("tiktok", "429", calls="reads", retry_after_seconds=25)
    error = await refused(tt.refresh(sandbox.client, account()), ErrorClass.RATE_LIMITED)
    assert error.status == 429 and close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=25))
    assert (await tt.refresh(sandbox.client, account())).credentials["refresh_token"] != REFRESH  # still good


def test_status_polling_stays_well_inside_the_status_limit():
    """status/fetch is limited to 30 a minute per token, shared by the account's deliveries:
    the registered adapter polls every 10 s or more, within the same two-minute wait."""
    adapter = ADAPTERS["tiktok"]
    assert adapter.poll_seconds >= 10 and adapter.publish_wait_seconds == 120
    assert 60 / adapter.poll_seconds <= 6


async def test_init_rate_limit(sandbox, tt):
    await sandbox.limit("tiktok", "token", 1, 60)
    await tt.publish(sandbox.client, account(), clip_post())
    error = await refused(tt.publish(sandbox.client, account(), clip_post()), ErrorClass.RATE_LIMITED)
    assert error.status == 429 and "rate_limit_exceeded" in (error.detail or "")
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(minutes=1))


async def test_rate_limit_fault_uses_retry_after(sandbox, tt):
    await sandbox.faults("tiktok", "429", retry_after_seconds=20)
    error = await refused(tt.publish(sandbox.client, account(), clip_post()), ErrorClass.RATE_LIMITED)
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=20))


async def test_daily_post_cap(sandbox, tt):
    await sandbox.limit("tiktok", "posts", 1, 86_400)
    await tt.publish(sandbox.client, account(), clip_post())
    error = await refused(tt.publish(sandbox.client, account(), clip_post()), ErrorClass.QUOTA_EXHAUSTED)
    assert "spam_risk_too_many_posts" in (error.detail or "")
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(hours=24))


@pytest.mark.parametrize("settings", [Settings(media_processing_seconds=60)])
async def test_too_many_pending_shares(sandbox, settings):
    quick = TikTokAdapter(publish_wait_seconds=0.05, poll_seconds=0.05)
    for n in range(5):
        await refused(quick.publish(sandbox.client, account(), clip_post(target=f"t-{n}", progress={})),
                      ErrorClass.TRANSIENT)  # fmt: skip
    error = await refused(quick.publish(sandbox.client, account(), clip_post(target="t-5")), ErrorClass.RATE_LIMITED)
    assert "spam_risk_too_many_pending_share" in (error.detail or "")


@pytest.mark.parametrize("code", ["500", "502", "503", "504"])
async def test_server_errors_are_transient(sandbox, tt, code):
    await sandbox.faults("tiktok", code)
    error = await refused(tt.publish(sandbox.client, account(), clip_post()), ErrorClass.TRANSIENT)
    assert error.status == int(code) and await sandbox.posts("tiktok") == []


async def test_lost_init_answer_with_file_upload_is_transient(live, tt):
    acc = account(base=live.base)
    clip = MediaItem(url=f"{live.base}/_sandbox/media/clip.mp4", kind="video")
    await live.faults("tiktok", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(tt.publish(impatient, acc, clip_post(clip)), ErrorClass.TRANSIENT)
    # Nothing is posted until the bytes are sent: trying again is safe and makes one post.
    await tt.publish(live.client, acc, clip_post(clip))
    assert len(await live.posts("tiktok")) == 1


# --------------------------------------------------------------------------- reconcile


async def test_reconcile_asks_the_kept_publish(sandbox, tt):
    progress: dict = {}
    assert await tt.reconcile(sandbox.client, account(), clip_post(progress=progress)) is None
    published = await tt.publish(sandbox.client, account(), clip_post(progress=progress))
    assert await tt.reconcile(sandbox.client, account(), clip_post(progress=progress)) == published


async def test_reconcile_without_a_publish_id_looks_at_the_videos(sandbox, tt):
    published = await tt.publish(sandbox.client, account(), clip_post())
    assert await tt.reconcile(sandbox.client, account(), clip_post()) == published
    assert await tt.reconcile(sandbox.client, account(), clip_post(first_attempt_at=datetime.now(UTC)
                                                                    + timedelta(hours=1))) is None  # fmt: skip
    other = outgoing("Video lain", video())
    assert await tt.reconcile(sandbox.client, account(), other) is None
    await refused(tt.reconcile(sandbox.client, account(source="PULL_FROM_URL"), other), ErrorClass.OUTCOME_UNKNOWN)


# --------------------------------------------------------------------------- metrics


async def test_counts_grow_with_time(sandbox, tt):
    published = await tt.publish(sandbox.client, account(), clip_post())
    fresh = await tt.insights(sandbox.client, account(), published.platform_post_id)
    assert set(fresh) == {"like_count", "comment_count", "share_count", "view_count"}
    await sandbox.advance(2 * 86_400)
    later = account("perpuskota.act-later")
    grown = await tt.insights(sandbox.client, later, published.platform_post_id)
    assert grown["view_count"] > fresh["view_count"]
    audience = await tt.audience(sandbox.client, later)
    assert set(audience) == {"follower_count", "following_count", "likes_count", "video_count"}
    assert audience["video_count"] == 1
    await refused(tt.insights(sandbox.client, later, "7000"), ErrorClass.TARGET_GONE)


async def test_metrics_reads_can_fail_like_posts(sandbox, tt):
    published = await tt.publish(sandbox.client, account(), clip_post())
    await sandbox.faults("tiktok", "500", "429", calls="reads")
    await refused(tt.insights(sandbox.client, account(), published.platform_post_id), ErrorClass.TRANSIENT)
    await refused(tt.audience(sandbox.client, account()), ErrorClass.RATE_LIMITED)
    assert await tt.insights(sandbox.client, account(), published.platform_post_id)
