"""The YouTube adapter against the real sandbox: the resumable upload that resumes (within an
attempt and across attempts, after a cut connection or a 5xx, sending only the bytes YouTube
does not have), processing, every error class, reconcile, Google token refresh and statistics
that grow with time. No mocks."""

# ruff: noqa: F811 - pytest fixtures imported from upload_kit are redefined as parameters

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters.youtube import CHUNK_UNIT, YouTubeAdapter, next_pacific_midnight
from siar_publisher.transport import http_client
from structlog.testing import capture_logs

from services.publisher.tests.upload_kit import (  # noqa: F401 - fixtures
    MEDIA,
    SANDBOX,
    big_video,
    close_to,
    disk,
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

TOKEN = "perpuskota.ya29-access"
REFRESH = "perpuskota.1//refresh"
MIB = 1024 * 1024


@pytest.fixture
def yt() -> YouTubeAdapter:
    return YouTubeAdapter(chunk_bytes=CHUNK_UNIT, processing_wait_seconds=5, poll_seconds=0.2)


def account(token: str = TOKEN, base: str = SANDBOX, refresh: str = REFRESH, secret: str = "gsecret",
            **settings) -> Account:  # fmt: skip
    return Account(account_id="acc-yt", platform="youtube", handle="@perpuskota", base_url=f"{base}/youtube",
                   credentials={"access_token": token, "refresh_token": refresh, "client_id": "1234.apps",
                                "client_secret": secret}, settings=settings)  # fmt: skip


def post(*media: MediaItem, title: str = "Dongeng Sabtu Pagi", text: str = "Dongeng untuk anak-anak.",
         **extra) -> object:  # fmt: skip
    return outgoing(text, *(media or (video(),)), title=title, **extra)


def data_puts(sandbox) -> list:
    """The PUTs that carried bytes (not the ``bytes */N`` questions)."""
    return [c for c in sandbox.to("/upload/youtube/v3/videos", "PUT") if c.content_range and "*" not in c.content_range]


def questions(sandbox) -> list:
    return [c for c in sandbox.to("/upload/youtube/v3/videos", "PUT") if c.content_range and "*/" in c.content_range]


def test_registered_and_chunk_size():
    assert isinstance(ADAPTERS["youtube"], YouTubeAdapter)
    with pytest.raises(ValueError):
        YouTubeAdapter(chunk_bytes=1000)


# --------------------------------------------------------------------------- account


async def test_verify_reads_the_channel_and_the_token_expiry(sandbox, yt):
    verified = await yt.verify(sandbox.client, account())
    assert verified.handle == "@perpuskota" and verified.display_name == "Perpuskota"
    assert verified.limits == {}
    assert close_to(verified.token_expires_at, datetime.now(UTC) + timedelta(seconds=3599))
    long = await yt.verify(sandbox.client, account("verifiedlib.ya29"))
    assert long.limits == {"max_video_seconds": 12 * 3600}
    error = await refused(yt.verify(sandbox.client, account("nochannel.ya29")), ErrorClass.PERMISSION_DENIED)
    assert "no YouTube channel" in error.reason


async def test_verify_renews_the_token_once_so_wrong_oauth_credentials_show_at_once(sandbox, yt):
    # The channel reads fine with the access token; only the renewal an hour later would fail.
    error = await refused(yt.verify(sandbox.client, account(secret="wrong-secret")), ErrorClass.AUTH_REVOKED)
    assert error.status == 401 and error.detail == "HTTP 401: invalid_client: Unauthorized"
    assert "client_secret" in error.connect_reason and "try again" in error.connect_reason
    assert [c.status for c in sandbox.to("/youtube/token", "POST")] == [401]
    await sandbox.token("revoke", "youtube", REFRESH)
    error = await refused(yt.verify(sandbox.client, account()), ErrorClass.AUTH_REVOKED)
    assert "invalid_grant" in error.detail and "refresh token" in error.connect_reason


async def test_verify_with_an_expired_access_token_keeps_the_renewed_one(sandbox, yt):
    await sandbox.token("expire", "youtube", TOKEN)
    verified = await yt.verify(sandbox.client, account())
    assert verified.handle == "@perpuskota"
    assert verified.credentials is not None and verified.credentials["access_token"].startswith("perpuskota.ya29.")
    assert verified.credentials["refresh_token"] == REFRESH
    assert close_to(verified.token_expires_at, datetime.now(UTC) + timedelta(seconds=3599))
    # A valid access token is kept as given.
    assert (await yt.verify(sandbox.client, account("fresh.ya29"))).credentials is None


async def test_refresh_keeps_the_refresh_token(sandbox, yt):
    refreshed = await yt.refresh(sandbox.client, account())
    creds = refreshed.credentials
    assert creds["access_token"].startswith("perpuskota.ya29.") and creds["refresh_token"] == REFRESH
    assert close_to(refreshed.expires_at, datetime.now(UTC) + timedelta(seconds=3599))
    again = await yt.refresh(sandbox.client, account())  # Google refresh tokens are reusable
    assert again.credentials["access_token"] != creds["access_token"]
    await yt.verify(sandbox.client, account(creds["access_token"]))


async def test_refresh_invalid_grant_and_bad_client(sandbox, yt):
    await sandbox.token("revoke", "youtube", REFRESH)
    error = await refused(yt.refresh(sandbox.client, account()), ErrorClass.AUTH_REVOKED)
    assert "invalid_grant" in error.reason and "expired or revoked" in (error.detail or "")
    error = await refused(yt.refresh(sandbox.client, account(refresh="other.rt", secret="wrong")),
                          ErrorClass.AUTH_REVOKED)  # fmt: skip
    assert "invalid_client" in (error.detail or "")


# --------------------------------------------------------------------------- uploading


async def test_publishes_a_video_and_waits_for_processing(sandbox, yt):
    published = await yt.publish(sandbox.client, account(), post(progress={}))
    assert published.url == f"https://www.youtube.com/watch?v={published.platform_post_id}"
    [recorded] = await sandbox.posts("youtube")
    assert recorded["id"] == published.platform_post_id and recorded["text"] == "Dongeng untuk anak-anak."
    assert recorded["media"][0]["title"] == "Dongeng Sabtu Pagi"
    start = sandbox.to("/upload/youtube/v3/videos", "POST")[0]
    assert start.status == 200 and "uploadType=resumable" in start.query and start.headers["location"]
    assert [c.status for c in data_puts(sandbox)] == [201]
    polls = sandbox.to("/youtube/v3/videos", "GET")
    assert polls and all(c.status == 200 for c in polls)
    status = await sandbox.client.get(f"{SANDBOX}/youtube/youtube/v3/videos",
                                      params={"part": "status", "id": published.platform_post_id},
                                      headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert status.json()["items"][0]["status"]["uploadStatus"] == "processed"


async def test_a_video_youtube_made_private_is_published_with_a_warning(sandbox, yt):
    # An unverified API project uploads private only: the video exists (published), and the
    # privacy YouTube gave instead of the one asked for is said clearly.
    unverified = account("unverifiedlib.ya29")
    with capture_logs() as logs:
        published = await yt.publish(sandbox.client, unverified, post(progress={}))
    assert published.url == f"https://www.youtube.com/watch?v={published.platform_post_id}"
    [warning] = [e for e in logs if e["event"] == "youtube video privacy differs"]
    assert warning["log_level"] == "warning" and warning["video_id"] == published.platform_post_id
    assert warning["requested_privacy"] == "public" and warning["privacy"] == "private"
    assert "private" in warning["reason"] and "unverified" in warning["reason"]
    assert published.notice == warning["reason"]  # goes with post.published to the library
    # Found again by reconcile: the same warning (the delivery then records it as published).
    with capture_logs() as logs:
        assert await yt.reconcile(sandbox.client, unverified, post()) == published
    assert [e["privacy"] for e in logs if e["event"] == "youtube video privacy differs"] == ["private"]
    # Asked for private, or a verified project: nothing to say.
    with capture_logs() as logs:
        quiet = [await yt.publish(sandbox.client, account("unverifiedlib.ya29", privacy_status="private"),
                                  post(title="Pribadi", progress={})),
                 await yt.publish(sandbox.client, account(privacy_status="unlisted"),
                                  post(title="Terbatas", progress={}))]  # fmt: skip
    assert [e for e in logs if e["event"] == "youtube video privacy differs"] == []
    assert [p.notice for p in quiet] == [None, None]


async def test_uploads_in_chunks(sandbox, yt):
    await yt.publish(sandbox.client, account(), post(big_video(MIB)))
    puts = data_puts(sandbox)
    assert [c.content_range for c in puts] == [
        f"bytes {i * CHUNK_UNIT}-{(i + 1) * CHUNK_UNIT - 1}/{MIB}" for i in range(4)]
    assert [c.status for c in puts] == [308, 308, 308, 201]
    assert [c.headers.get("range") for c in puts[:3]] == [f"bytes=0-{(i + 1) * CHUNK_UNIT - 1}" for i in range(3)]


async def test_a_video_larger_than_memory_takes_goes_from_disk_whole(sandbox, yt, memory_capped, disk):
    # 1 MiB against a 64 KiB memory cap here (200 MiB in the service): a long recording is
    # downloaded to disk and sent a chunk at a time, never held whole.
    await yt.publish(sandbox.client, account(), post(big_video(MIB)))
    [recorded] = await sandbox.posts("youtube")
    assert recorded["media"][0]["size"] == MIB and recorded["media"][0]["sha256"] == mp4_digest(MIB)
    assert len(data_puts(sandbox)) == 4 and memory_capped.held == 0 and disk.held == 0


async def test_resumes_after_a_cut_connection_sending_only_the_rest(sandbox, yt):
    # Session: ok; chunk 0: ok; chunk 1: the connection drops after half of it arrived.
    await sandbox.faults("youtube", "ok", "ok", "interrupt")
    published = await yt.publish(sandbox.client, account(), post(big_video(MIB)))
    received_before_cut = CHUNK_UNIT + CHUNK_UNIT // 2
    [question] = questions(sandbox)
    assert question.status == 308 and question.headers["range"] == f"bytes=0-{received_before_cut - 1}"
    puts = data_puts(sandbox)  # the cut PUT got no answer, so the recorder never saw it
    resumed = puts[1:]
    assert resumed[0].content_range.startswith(f"bytes {received_before_cut}-")
    assert sum(c.sent for c in resumed) == MIB - received_before_cut  # only the rest
    [recorded] = await sandbox.posts("youtube")
    assert recorded["id"] == published.platform_post_id and recorded["media"][0]["size"] == MIB


async def test_resumes_after_a_server_error(sandbox, yt):
    await sandbox.faults("youtube", "ok", "503")
    await yt.publish(sandbox.client, account(), post(big_video(MIB // 2)))
    [question] = questions(sandbox)
    assert question.status == 308 and "range" not in question.headers  # nothing had arrived
    assert [c.status for c in data_puts(sandbox)] == [503, 308, 201]


async def test_resumes_in_a_later_attempt_with_the_kept_session(sandbox, yt):
    progress: dict = {}
    impatient = YouTubeAdapter(chunk_bytes=CHUNK_UNIT, processing_wait_seconds=5, poll_seconds=0.2, max_resumes=0)
    await sandbox.faults("youtube", "ok", "ok", "interrupt")
    await refused(impatient.publish(sandbox.client, account(), post(big_video(MIB), progress=progress)),
                  ErrorClass.TRANSIENT)  # fmt: skip
    assert progress["youtube_session"]["size"] == MIB and await sandbox.posts("youtube") == []
    sent_before = sum(c.sent for c in data_puts(sandbox))
    # The next attempt (after a crash, a retry...) asks the kept session and continues.
    published = await yt.publish(sandbox.client, account(), post(big_video(MIB), progress=progress))
    assert len(sandbox.to("/upload/youtube/v3/videos", "POST")) == 1  # no second session
    resent = sum(c.sent for c in data_puts(sandbox)) - sent_before
    assert resent == MIB - (CHUNK_UNIT + CHUNK_UNIT // 2)
    assert [p["id"] for p in await sandbox.posts("youtube")] == [published.platform_post_id]
    # Once complete, the kept session answers with the video: no second upload, ever.
    again = await yt.publish(sandbox.client, account(), post(big_video(MIB), progress=progress))
    assert again == published and len(await sandbox.posts("youtube")) == 1


async def test_an_expired_session_starts_a_new_upload(sandbox, yt):
    progress: dict = {}
    impatient = YouTubeAdapter(chunk_bytes=CHUNK_UNIT, max_resumes=0)
    await sandbox.faults("youtube", "ok", "interrupt")
    await refused(impatient.publish(sandbox.client, account(), post(big_video(MIB), progress=progress)),
                  ErrorClass.TRANSIENT)  # fmt: skip
    await sandbox.advance(8 * 86_400)  # sessions live a week
    await yt.publish(sandbox.client, account("perpuskota.ya29-new"), post(big_video(MIB), progress=progress))
    assert len(sandbox.to("/upload/youtube/v3/videos", "POST")) == 2
    assert len(await sandbox.posts("youtube")) == 1


async def test_a_real_dropped_connection_is_resumed(live, yt):
    # uvicorn closes the socket part-way through the answer; half of the clip had arrived.
    await live.faults("youtube", "ok", "interrupt")
    clip = MediaItem(url=f"{live.base}/_sandbox/media/clip.mp4", kind="video", mime_type="video/mp4")
    published = await yt.publish(live.client, account(base=live.base), post(clip))
    [asked] = [c for c in live.calls if c.content_range and "*/" in c.content_range]
    assert asked.status == 308 and asked.headers["range"] == "bytes=0-998"  # 1,999 bytes, half kept
    [resumed] = [c for c in live.calls if c.content_range and c.content_range.startswith("bytes 999-")]
    assert resumed.sent == 1000 and resumed.status == 201
    assert [p["id"] for p in await live.posts("youtube")] == [published.platform_post_id]


async def test_lost_final_answer_is_recovered_by_asking_the_session(live, yt):
    acc = account(base=live.base)
    clip = MediaItem(url=f"{live.base}/_sandbox/media/clip.mp4", kind="video", mime_type="video/mp4")
    progress: dict = {}
    await live.faults("youtube", "ok", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        published = await yt.publish(impatient, acc, post(clip, progress=progress))
    assert [p["id"] for p in await live.posts("youtube")] == [published.platform_post_id]
    # Reconcile, with the kept session, says the same.
    assert await yt.reconcile(live.client, acc, post(clip, progress=progress)) == published


# --------------------------------------------------------------------------- errors


async def test_quota_exceeded_waits_for_pacific_midnight(sandbox, yt):
    await sandbox.limit("youtube", "quota", 1, 86_400)
    await yt.publish(sandbox.client, account(), post())
    error = await refused(yt.publish(sandbox.client, account(), post(title="Kedua")), ErrorClass.QUOTA_EXHAUSTED)
    assert error.status == 403 and "quotaExceeded" in (error.detail or "")
    assert error.retry_at == next_pacific_midnight()


def test_pacific_midnight():
    summer = datetime(2026, 7, 1, 18, 30, tzinfo=UTC)  # 11:30 PDT
    assert next_pacific_midnight(summer) == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 01:00 PST
    assert next_pacific_midnight(winter) == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


async def test_upload_limit_waits_a_day(sandbox, yt):
    await sandbox.limit("youtube", "uploads", 1, 86_400)
    await yt.publish(sandbox.client, account(), post())
    error = await refused(yt.publish(sandbox.client, account(), post()), ErrorClass.QUOTA_EXHAUSTED)
    assert error.status == 400 and "uploadLimitExceeded" in (error.detail or "")
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(hours=24))


async def test_rate_limited(sandbox, yt):
    await sandbox.faults("youtube", "429", retry_after_seconds=30)
    error = await refused(yt.publish(sandbox.client, account(), post()), ErrorClass.RATE_LIMITED)
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=30))


@pytest.mark.parametrize("code", ["500", "502", "503", "504"])
async def test_server_errors_starting_a_session_are_transient(sandbox, yt, code):
    await sandbox.faults("youtube", code)
    error = await refused(yt.publish(sandbox.client, account(), post()), ErrorClass.TRANSIENT)
    assert error.status == int(code)


async def test_expired_token_then_refresh(sandbox, yt):
    await sandbox.token("expire", "youtube", TOKEN)
    error = await refused(yt.publish(sandbox.client, account(), post()), ErrorClass.AUTH_EXPIRED)
    assert error.status == 401 and "authError" in (error.detail or "")
    refreshed = await yt.refresh(sandbox.client, account())
    await yt.publish(sandbox.client, account(refreshed.credentials["access_token"]), post())
    assert len(await sandbox.posts("youtube")) == 1


async def test_permission_problems(sandbox, yt):
    error = await refused(yt.publish(sandbox.client, account("readonly.ya29"), post()), ErrorClass.PERMISSION_DENIED)
    assert "insufficientPermissions" in (error.detail or "")
    error = await refused(yt.publish(sandbox.client, account("nochannel.ya29"), post()), ErrorClass.PERMISSION_DENIED)
    assert "youtubeSignupRequired" in (error.detail or "")


async def test_invalid_metadata_is_invalid_content(sandbox, yt):
    error = await refused(yt.publish(sandbox.client, account(), post(title="x" * 101)), ErrorClass.INVALID_CONTENT)
    assert "invalidTitle" in (error.detail or "")
    error = await refused(yt.publish(sandbox.client, account(), post(text="a <b>")), ErrorClass.INVALID_CONTENT)
    assert "invalidDescription" in (error.detail or "")
    error = await refused(yt.publish(sandbox.client, account(category_id="999"), post()), ErrorClass.INVALID_CONTENT)
    assert "invalidCategoryId" in (error.detail or "")
    assert await sandbox.posts("youtube") == []


async def test_a_refused_upload_closes_its_file_at_once(sandbox, yt, disk):
    # The failure's traceback keeps the adapter's frame alive (the delivery keeps the error): the
    # downloaded file must not wait for a garbage collection to go (the collector is off here).
    error = await refused(yt.publish(sandbox.client, account(), post(big_video(MIB), title="x" * 101)),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert error.__traceback__ is not None and disk.held == 0


async def test_processing_failure_is_invalid_content(sandbox, yt):
    not_a_video = MediaItem(url=f"{MEDIA}/poster.png", kind="video")
    error = await refused(yt.publish(sandbox.client, account(), post(not_a_video)), ErrorClass.INVALID_CONTENT)
    assert "invalidFile" in error.reason


# --------------------------------------------------------------------------- reconcile


async def test_reconcile_looks_in_the_uploads_playlist(sandbox, yt):
    assert await yt.reconcile(sandbox.client, account(), post()) is None
    published = await yt.publish(sandbox.client, account(), post())
    assert await yt.reconcile(sandbox.client, account(), post()) == published
    assert await yt.reconcile(sandbox.client, account(), post(title="Judul lain")) is None
    later = post(first_attempt_at=datetime.now(UTC) + timedelta(hours=1))
    assert await yt.reconcile(sandbox.client, account(), later) is None


async def test_reconcile_with_an_unfinished_session_lets_publish_continue(sandbox, yt):
    progress: dict = {}
    impatient = YouTubeAdapter(chunk_bytes=CHUNK_UNIT, max_resumes=0)
    await sandbox.faults("youtube", "ok", "interrupt")
    await refused(impatient.publish(sandbox.client, account(), post(big_video(MIB), progress=progress)),
                  ErrorClass.TRANSIENT)  # fmt: skip
    assert await yt.reconcile(sandbox.client, account(), post(big_video(MIB), progress=progress)) is None


# --------------------------------------------------------------------------- metrics


async def test_statistics_grow_with_time(sandbox, yt):
    published = await yt.publish(sandbox.client, account(), post())
    fresh = await yt.insights(sandbox.client, account(), published.platform_post_id)
    assert set(fresh) == {"viewCount", "likeCount", "favoriteCount", "commentCount"}
    await sandbox.advance(3 * 86_400)
    later = account("perpuskota.ya29-later")
    grown = await yt.insights(sandbox.client, later, published.platform_post_id)
    assert grown["viewCount"] > fresh["viewCount"] and grown["likeCount"] >= fresh["likeCount"]
    await refused(yt.insights(sandbox.client, later, "nope"), ErrorClass.TARGET_GONE)
    audience = await yt.audience(sandbox.client, later)
    assert set(audience) == {"viewCount", "subscriberCount", "videoCount"} and audience["videoCount"] == 1


async def test_metrics_reads_can_fail_like_uploads(sandbox, yt):
    published = await yt.publish(sandbox.client, account(), post())
    await sandbox.faults("youtube", "500", "429", calls="reads")
    await refused(yt.insights(sandbox.client, account(), published.platform_post_id), ErrorClass.TRANSIENT)
    await refused(yt.audience(sandbox.client, account()), ErrorClass.RATE_LIMITED)
    assert await yt.insights(sandbox.client, account(), published.platform_post_id)


async def test_reconcile_reads_further_pages_of_uploads(sandbox):
    quick = YouTubeAdapter(chunk_bytes=CHUNK_UNIT, processing_wait_seconds=0)
    first = post(title="Yang pertama")
    published = await quick.publish(sandbox.client, account(), first)
    for n in range(52):
        await quick.publish(sandbox.client, account(), post(title=f"Video {n}"))
    assert await quick.reconcile(sandbox.client, account(), first) == published
    assert len(sandbox.to("/playlistItems", "GET")) == 2
