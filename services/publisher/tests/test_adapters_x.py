"""The X adapter against the real sandbox (in-process over ASGI; a real socket for lost answers):
tweets, the chunked media upload with processing, every error class, duplicates, reconcile,
OAuth 2.0 refresh and metrics that grow with time. No mocks."""

# ruff: noqa: F811 - pytest fixtures imported from upload_kit are redefined as parameters

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters.x import XAdapter, canonical, expanded_text
from siar_publisher.transport import http_client
from siar_sandbox.app import create_app

from services.publisher.tests.upload_kit import (  # noqa: F401 - fixtures
    HOST,
    MEDIA,
    SANDBOX,
    Sandbox,
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

TOKEN = "perpuskota.x-access"


@pytest.fixture
def x() -> XAdapter:
    return XAdapter(chunk_bytes=512, min_poll_seconds=0.2)


def account(token: str = TOKEN, base: str = SANDBOX, handle: str = "perpuskota", **credentials) -> Account:
    return Account(account_id="acc-x", platform="x", handle=handle, base_url=f"{base}/x",
                   credentials={"access_token": token, **credentials})  # fmt: skip


def test_registered():
    assert isinstance(ADAPTERS["x"], XAdapter)
    assert ADAPTERS["x"].required_credentials == ("access_token",)


# --------------------------------------------------------------------------- account


async def test_verify_reads_the_user(sandbox, x):
    verified = await x.verify(sandbox.client, account())
    assert verified.handle == "perpuskota" and verified.display_name == "Perpuskota"
    assert verified.limits == {}
    assert verified.token_expires_at is None  # no refresh token, no expiry given
    premium = await x.verify(sandbox.client, account("premiumlib.tok"))
    assert premium.limits == {"max_text_length": 25_000}
    later = datetime.now(UTC) + timedelta(hours=2)
    known = await x.verify(sandbox.client, account(expires_at=later.isoformat()))
    assert known.token_expires_at == later
    # A refresh token without a known expiry: renew at once and learn the expiry from X.
    unknown = await x.verify(sandbox.client, account(refresh_token="perpuskota.rt", client_id="app"))
    assert close_to(unknown.token_expires_at, datetime.now(UTC))


async def test_refresh_rotates_the_refresh_token(sandbox, x):
    acc = account(refresh_token="perpuskota.rt-1", client_id="siar-app")
    refreshed = await x.refresh(sandbox.client, acc)
    creds = refreshed.credentials
    assert creds["access_token"] != TOKEN and creds["access_token"].startswith("perpuskota.")
    assert creds["refresh_token"] != "perpuskota.rt-1"
    assert close_to(refreshed.expires_at, datetime.now(UTC) + timedelta(hours=2))
    assert creds["expires_at"] == refreshed.expires_at.isoformat()
    token_calls = sandbox.to("/2/oauth2/token")
    assert token_calls[-1].status == 200
    # The new token works; the spent refresh token does not.
    renewed = account(creds["access_token"])
    await x.publish(sandbox.client, renewed, outgoing("Token baru"))
    error = await refused(x.refresh(sandbox.client, acc), ErrorClass.AUTH_REVOKED)
    assert "token was invalid" in (error.detail or "")
    # With a client secret, HTTP Basic authentication (a confidential client).
    secret = account(refresh_token=creds["refresh_token"], client_id="siar-app", client_secret="s3cret")
    assert (await x.refresh(sandbox.client, secret)).credentials["refresh_token"]
    await refused(x.refresh(sandbox.client, account()), ErrorClass.AUTH_REVOKED)  # nothing to refresh with


# --------------------------------------------------------------------------- publishing


async def test_publishes_text(sandbox, x):
    post = outgoing("Lomba baca puisi & dongeng <anak> di https://perpus.go.id/acara?x=1 #literasi")
    published = await x.publish(sandbox.client, account(), post)
    assert published.url == f"https://x.com/perpuskota/status/{published.platform_post_id}"
    [recorded] = await sandbox.posts("x")
    assert recorded["id"] == published.platform_post_id and recorded["text"] == post.text
    assert recorded["url"] == published.url
    create = sandbox.to("/2/tweets", "POST")[0]
    assert create.status == 201 and create.headers["x-rate-limit-remaining"].isdigit()
    assert int(create.headers["x-rate-limit-reset"]) > datetime.now(UTC).timestamp()


async def test_publishes_images_with_alt_text(sandbox, x):
    post = outgoing("Dua poster", image(), image("photo.jpg", alt=None))
    published = await x.publish(sandbox.client, account(), post)
    [recorded] = await sandbox.posts("x")
    assert recorded["id"] == published.platform_post_id
    assert [(m["type"], m["mime_type"], m["alt_text"]) for m in recorded["media"]] == [
        ("photo", "image/png", "Poster lomba membaca"), ("photo", "image/jpeg", None)]
    # 854- and 901-byte images in 512-byte segments: two appends each; images need no STATUS.
    assert len(sandbox.to("/initialize")) == 2 and len(sandbox.to("/append")) == 4
    assert len(sandbox.to("/finalize")) == 2 and sandbox.to("/2/media/upload", "GET") == []
    assert len(sandbox.to("/2/media/metadata")) == 1  # only the image with alt text


async def test_video_waits_for_processing(sandbox, x):
    published = await x.publish(sandbox.client, account(), outgoing("Video acara", video()))
    [recorded] = await sandbox.posts("x")
    assert recorded["id"] == published.platform_post_id and recorded["media"][0]["type"] == "video"
    assert len(sandbox.to("/append")) == 4  # 1,999 bytes in 512-byte segments
    polls = sandbox.to("/2/media/upload", "GET")
    assert polls and all(c.status == 200 for c in polls)
    tweet = sandbox.to("/2/tweets", "POST")[0]
    assert sandbox.calls.index(tweet) > sandbox.calls.index(polls[-1])


async def test_a_video_larger_than_memory_takes_goes_from_disk_in_segments(sandbox, memory_capped, disk):
    x = XAdapter(chunk_bytes=1024**2, min_poll_seconds=0.2)
    size = 3 * 1024**2 + 5
    await x.publish(sandbox.client, account(), outgoing("Video panjang", big_video(size)))
    [recorded] = await sandbox.posts("x")
    assert recorded["media"][0]["size"] == size and recorded["media"][0]["sha256"] == mp4_digest(size)
    assert len(sandbox.to("/append")) == 4  # 1 MiB segments, the last 5 bytes
    assert memory_capped.held == 0 and disk.held == 0


async def test_a_file_over_xs_own_limit_is_refused_before_it_is_sent(sandbox, x, disk):
    big = MediaItem(url=f"{HOST}/{5 * 1024**2 + 1}.bin", kind="image", mime_type="image/png")
    error = await refused(x.publish(sandbox.client, account(), outgoing("Poster besar", big)), ErrorClass.INVALID_CONTENT)
    assert error.reason == f"X takes images of up to 5,242,880 bytes; the file at {big.url} is larger: link a smaller one"
    assert sandbox.to("/initialize") == [] and disk.held == 0


async def test_video_processing_failure_is_invalid_content(sandbox, x):
    not_a_video = MediaItem(url=f"{MEDIA}/poster.png", kind="video", mime_type="video/mp4")
    error = await refused(x.publish(sandbox.client, account(), outgoing("x", not_a_video)),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "Unsupported" in error.reason
    assert sandbox.to("/2/tweets", "POST") == [] and await sandbox.posts("x") == []


async def test_uploaded_media_is_reused_by_the_next_attempt(sandbox, x):
    progress: dict = {}
    post = outgoing("Poster", image(), progress=progress)
    # initialize, append, append, finalize, then the tweet fails with a 503 (which leaves its
    # outcome unknown: the next attempt looks on the timeline before sending again).
    await sandbox.faults("x", "ok", "ok", "ok", "ok", "503")
    await refused(x.publish(sandbox.client, account(), post), ErrorClass.OUTCOME_UNKNOWN)
    assert list(progress["x_media"].values())[0]["id"]
    uploads = len(sandbox.to("/initialize"))
    again = outgoing("Poster", image(), progress=progress)
    assert await x.reconcile(sandbox.client, account(), again) is None
    published = await x.publish(sandbox.client, account(), again)
    assert len(sandbox.to("/initialize")) == uploads  # nothing uploaded again
    assert [p["id"] for p in await sandbox.posts("x")] == [published.platform_post_id]


async def test_media_that_cannot_be_fetched(sandbox, x):
    error = await refused(x.publish(sandbox.client, account(), outgoing("x", image("gone.png"))),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "404" in error.reason and sandbox.to("/initialize") == []


async def test_text_too_long_is_invalid_content(sandbox, x):
    error = await refused(x.publish(sandbox.client, account(), outgoing("a" * 281)), ErrorClass.INVALID_CONTENT)
    assert error.status == 403 and "too long" in error.reason
    await x.publish(sandbox.client, account(), outgoing("a" * 280))
    await x.publish(sandbox.client, account("premiumlib.tok"), outgoing("b" * 1000))


# --------------------------------------------------------------------------- errors


async def test_rate_limit_uses_x_rate_limit_reset(sandbox, x):
    await sandbox.faults("x", "429", retry_after_seconds=40)
    error = await refused(x.publish(sandbox.client, account(), outgoing()), ErrorClass.RATE_LIMITED)
    throttled = sandbox.to("/2/tweets", "POST")[-1]
    assert throttled.status == 429 and throttled.headers["x-rate-limit-remaining"] == "0"
    assert error.retry_at == datetime.fromtimestamp(int(throttled.headers["x-rate-limit-reset"]), UTC)
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=40))
    assert '"code":88' in (error.detail or "") or "Rate limit exceeded" in (error.detail or "")


async def test_configured_window_limits_posting(sandbox, x):
    await sandbox.limit("x", "user", 1, 900)
    await x.publish(sandbox.client, account(), outgoing("satu"))
    error = await refused(x.publish(sandbox.client, account(), outgoing("dua")), ErrorClass.RATE_LIMITED)
    assert datetime.now(UTC) < error.retry_at <= datetime.now(UTC) + timedelta(seconds=901)
    # Another account is not held up.
    await x.publish(sandbox.client, account("lain.tok", handle="lain"), outgoing("tiga"))


async def test_daily_cap_is_quota_exhausted(sandbox, x):
    await sandbox.limit("x", "user_24h", 1, 86_400)
    await x.publish(sandbox.client, account(), outgoing("satu"))
    error = await refused(x.publish(sandbox.client, account(), outgoing("dua")), ErrorClass.QUOTA_EXHAUSTED)
    capped = sandbox.to("/2/tweets", "POST")[-1]
    assert capped.headers["x-user-limit-24hour-remaining"] == "0"
    assert error.retry_at == datetime.fromtimestamp(int(capped.headers["x-user-limit-24hour-reset"]), UTC)


async def test_app_wide_daily_cap_waits_for_its_reset(sandbox, x):
    await sandbox.limit("x", "app_24h", 1, 86_400)
    await x.publish(sandbox.client, account(), outgoing("satu"))
    # Another account of the same app: X's app-wide cap, not this account's own.
    error = await refused(x.publish(sandbox.client, account("lain.tok", handle="lain"), outgoing("dua")),
                          ErrorClass.QUOTA_EXHAUSTED)  # fmt: skip
    capped = sandbox.to("/2/tweets", "POST")[-1]
    assert capped.headers["x-app-limit-24hour-remaining"] == "0"
    assert error.retry_at == datetime.fromtimestamp(int(capped.headers["x-app-limit-24hour-reset"]), UTC)
    assert error.retry_at != datetime.fromtimestamp(int(capped.headers["x-rate-limit-reset"]), UTC)
    assert "app" in error.reason and error.status == 429


@pytest.mark.parametrize("code", ["500", "502", "503", "504", "interrupt"])
async def test_a_server_error_or_cut_connection_on_the_tweet_leaves_its_outcome_unknown(sandbox, x, code):
    # X (or a gateway in front of it) may have made the tweet: the next attempt checks first.
    await sandbox.faults("x", code)
    error = await refused(x.publish(sandbox.client, account(), outgoing()), ErrorClass.OUTCOME_UNKNOWN)
    assert error.status == (None if code == "interrupt" else int(code)) and await sandbox.posts("x") == []
    assert "checks" in error.reason
    assert await x.reconcile(sandbox.client, account(), outgoing()) is None  # not made: safe to send


@pytest.mark.parametrize("step", [0, 1, 3])  # initialize, the first append, finalize
async def test_server_errors_while_uploading_media_are_transient(sandbox, x, step):
    await sandbox.faults("x", *["ok"] * step, "503")
    error = await refused(x.publish(sandbox.client, account(), outgoing("x", image())), ErrorClass.TRANSIENT)
    assert error.status == 503 and sandbox.to("/2/tweets", "POST") == []


class Gateway(httpx.AsyncBaseTransport):
    """A gateway in front of the real sandbox that passes the next ``lose`` tweet creations on
    (X makes them) and answers 503 instead of X's answer, as X's front end can."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lose = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.lose and request.method == "POST" and request.url.path.endswith("/2/tweets"):
            self.lose -= 1
            await response.aread()
            return httpx.Response(503, text="<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                                  headers={"content-type": "text/html"}, request=request)  # fmt: skip
        return response


async def test_a_tweet_made_but_answered_503_is_found_not_sent_twice(settings, x):
    gateway = Gateway(httpx.ASGITransport(app=create_app(settings)))
    async with httpx.AsyncClient(transport=gateway) as client:
        kit = Sandbox(client)
        progress: dict = {}
        post = outgoing("Dibuat, tetapi gerbang menjawab 503", progress=progress)
        gateway.lose = 1
        error = await refused(x.publish(client, account(), post), ErrorClass.OUTCOME_UNKNOWN)
        assert error.status == 503 and "503" in (error.detail or "")
        [recorded] = await kit.posts("x")  # it WAS posted
        # The delivery's next attempt reconciles before sending (delivery.py): the tweet is found.
        found = await x.reconcile(client, account(), outgoing(post.text, progress=progress))
        assert found is not None and found.platform_post_id == recorded["id"]
        assert len(await kit.posts("x")) == 1


async def test_media_upload_errors_never_say_outcome_unknown(sandbox, x):
    await sandbox.faults("x", "ok", "interrupt")  # initialize ok, the first append cut off
    error = await refused(x.publish(sandbox.client, account(), outgoing("x", image())), ErrorClass.TRANSIENT)
    assert "RemoteProtocolError" in (error.detail or "")


async def test_expired_token_then_refresh(sandbox, x):
    await sandbox.token("expire", "x", TOKEN)
    error = await refused(x.publish(sandbox.client, account(), outgoing()), ErrorClass.AUTH_EXPIRED)
    assert error.status == 401
    refreshed = await x.refresh(sandbox.client, account(refresh_token="perpuskota.rt", client_id="app"))
    published = await x.publish(sandbox.client, account(refreshed.credentials["access_token"]), outgoing())
    assert [p["id"] for p in await sandbox.posts("x")] == [published.platform_post_id]


async def test_revoked_refresh_token_needs_reconnecting(sandbox, x):
    await sandbox.token("revoke", "x", "perpuskota.rt")
    await refused(x.refresh(sandbox.client, account(refresh_token="perpuskota.rt", client_id="app")),
                  ErrorClass.AUTH_REVOKED)  # fmt: skip


async def test_token_without_write_scope(sandbox, x):
    error = await refused(x.publish(sandbox.client, account("readonly.tok"), outgoing()),
                          ErrorClass.PERMISSION_DENIED)  # fmt: skip
    assert error.status == 403


def _forbidden(detail: str, **extra) -> httpx.Response:
    body = {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": detail, **extra}
    return httpx.Response(403, json=body, request=httpx.Request("POST", f"{SANDBOX}/x/2/tweets"))


@pytest.mark.parametrize("detail, klass", [
    ("You attempted to reply to a Tweet that is deleted or not visible to you.", ErrorClass.INVALID_CONTENT),
    ("This request looks like it might be automated. To protect our users from spam and other malicious "
     "activity, we can't complete this action right now.", ErrorClass.POLICY_REJECTED),
    ("You are not permitted to perform this action.", ErrorClass.PERMISSION_DENIED),
])  # fmt: skip
def test_a_403_about_the_post_fails_that_post_alone(x, detail, klass):
    """X's wording decides: only a token or app without the right to post is the account's
    problem (PERMISSION_DENIED disconnects it and fails all its posts); a post X forbids fails alone."""
    error = x._error(_forbidden(detail))
    assert error.error_class == klass and error.status == 403
    if klass != ErrorClass.PERMISSION_DENIED:
        assert detail in error.reason
    client_forbidden = x._error(_forbidden("When authenticating requests ...", title="Client Forbidden",
                                           type="https://api.twitter.com/2/problems/client-forbidden",
                                           reason="client-not-enrolled"))  # fmt: skip
    assert client_forbidden.error_class == ErrorClass.PERMISSION_DENIED


async def test_duplicate_text_is_a_duplicate(sandbox, x):
    await x.publish(sandbox.client, account(), outgoing("Sama persis", target="t-1", progress={}))
    # Another delivery with the same words: X refuses it; this delivery never sent it before.
    error = await refused(x.publish(sandbox.client, account(), outgoing("Sama persis", target="t-2", progress={})),
                          ErrorClass.DUPLICATE)  # fmt: skip
    assert "duplicate" in (error.detail or "") and error.status == 403
    assert len(await sandbox.posts("x")) == 1


async def test_duplicate_of_its_own_earlier_attempt_is_published(sandbox, x):
    progress: dict = {}
    first = await x.publish(sandbox.client, account(), outgoing("Jawaban hilang", progress=progress))
    # The same delivery tries again (its first answer was lost): the duplicate is this post.
    again = await x.publish(sandbox.client, account(), outgoing("Jawaban hilang", progress=progress))
    assert again == first and len(await sandbox.posts("x")) == 1


# --------------------------------------------------------------------------- reconcile


def test_canonical_text_matching():
    tweet = {"text": "Acara &amp; lomba di https://t.co/abc123", "entities": {"urls": [
        {"url": "https://t.co/abc123", "expanded_url": "http://www.perpus.go.id/acara"}]}}  # fmt: skip
    assert canonical(expanded_text(tweet)) == canonical("Acara & lomba di www.perpus.go.id/acara")
    assert canonical("a  b\n") == canonical("a b")


async def test_reconcile_finds_the_post_by_its_text(sandbox, x):
    text = "Jam buka & acara: https://perpus.go.id/jadwal dan www.perpus.go.id/acara"
    post = outgoing(text)
    assert await x.reconcile(sandbox.client, account(), post) is None
    published = await x.publish(sandbox.client, account(), post)
    assert await x.reconcile(sandbox.client, account(), post) == published
    # Posted before this delivery began: not this post.
    later = outgoing(text, first_attempt_at=datetime.now(UTC) + timedelta(minutes=5))
    assert await x.reconcile(sandbox.client, account(), later) is None


async def test_reconcile_finds_a_long_premium_post_by_its_whole_text(sandbox, x):
    # X cuts a long post's ``text`` short; its whole text is in ``note_tweet``.
    premium = account("premiumlib.tok", handle="premiumlib")
    words = " ".join(f"Kegiatan {n} di perpustakaan" for n in range(40))
    post = outgoing(f"Agenda bulan ini & lainnya: https://perpus.go.id/agenda {words} https://perpus.go.id/akhir",
                    progress={})  # fmt: skip
    published = await x.publish(sandbox.client, premium, post)
    assert await x.reconcile(sandbox.client, premium, post) == published
    timeline = [c for c in sandbox.to("/tweets", "GET") if "/users/" in c.path][-1]
    assert "note_tweet" in timeline.query
    # The same delivery sending it again (its answer lost) meets the duplicate: it is this post.
    again = await x.publish(sandbox.client, premium, outgoing(post.text, progress={"x_sent": True}))
    assert again == published and len(await sandbox.posts("x")) == 1
    # Only the start of it is not this post.
    assert await x.reconcile(sandbox.client, premium, outgoing(post.text[:200])) is None


def test_expanded_text_of_a_long_post_reads_note_tweet():
    tweet = {"text": "Awal teks", "note_tweet": {"text": "Awal teks dan sisanya https://t.co/zz", "entities": {
        "urls": [{"url": "https://t.co/zz", "expanded_url": "https://perpus.go.id/"}]}}}  # fmt: skip
    assert canonical(expanded_text(tweet)) == canonical("Awal teks dan sisanya https://perpus.go.id/")


async def test_reconcile_of_a_media_only_post(sandbox, x):
    await refused(x.reconcile(sandbox.client, account(), outgoing("", image())), ErrorClass.OUTCOME_UNKNOWN)
    progress: dict = {}
    published = await x.publish(sandbox.client, account(), outgoing("", image(), progress=progress))
    assert await x.reconcile(sandbox.client, account(), outgoing("", image(), progress=progress)) == published


async def test_answer_lost_after_commit_then_reconcile(live, x):
    acc = account(base=live.base)
    post = outgoing("Terkirim, jawabannya hilang")
    await live.faults("x", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(x.publish(impatient, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    assert "ReadTimeout" in (error.detail or "")
    [recorded] = await live.posts("x")  # it WAS posted
    found = await x.reconcile(live.client, acc, post)
    assert found is not None and found.platform_post_id == recorded["id"]
    assert len(await live.posts("x")) == 1


async def test_a_timeline_the_app_may_not_read_leaves_the_outcome_unknown(live, x):
    # An app on X's Free tier may post but not read timelines (403 client-not-enrolled): a tweet
    # whose answer was lost cannot be looked for - that is not a reason to disconnect the account.
    acc = account("freetier.x-access", base=live.base, handle="freetier")
    post = outgoing("Terkirim, jawabannya hilang, linimasa tertutup")
    await live.faults("x", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(x.publish(impatient, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    error = await refused(x.reconcile(live.client, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    assert error.status == 403 and "client-not-enrolled" not in error.reason and "timeline" in error.reason
    # The same delivery sending again meets the duplicate; looking for it is refused the same way.
    progress = {"x_sent": True}
    await refused(x.publish(live.client, acc, outgoing(post.text, progress=progress)), ErrorClass.OUTCOME_UNKNOWN)
    assert len(await live.posts("x")) == 1


# --------------------------------------------------------------------------- metrics


async def test_insights_grow_with_time(sandbox, x):
    published = await x.publish(sandbox.client, account(), outgoing("Metrik"))
    fresh = await x.insights(sandbox.client, account(), published.platform_post_id)
    assert set(fresh) == {"retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count",
                          "impression_count"}  # fmt: skip
    await sandbox.advance(86_400)
    later = account("perpuskota.next-day")  # the first token expired in the meantime
    await refused(x.insights(sandbox.client, account(), published.platform_post_id), ErrorClass.AUTH_EXPIRED)
    day = await x.insights(sandbox.client, later, published.platform_post_id)
    assert all(day[k] >= fresh[k] for k in fresh) and day["impression_count"] > fresh["impression_count"]
    assert day == await x.insights(sandbox.client, later, published.platform_post_id)  # deterministic
    await refused(x.insights(sandbox.client, later, "1"), ErrorClass.TARGET_GONE)


async def test_audience(sandbox, x):
    before = await x.audience(sandbox.client, account())
    assert before["followers_count"] > 0 and before["tweet_count"] == 0
    await x.publish(sandbox.client, account(), outgoing("Satu"))
    await sandbox.advance(30 * 86_400)
    after = await x.audience(sandbox.client, account("perpuskota.next-month"))
    assert after["followers_count"] > before["followers_count"] and after["tweet_count"] == 1


async def test_metrics_reads_can_fail_like_posts(sandbox, x):
    published = await x.publish(sandbox.client, account(), outgoing("Metrik"))
    await sandbox.faults("x", "503", "429", calls="reads")
    await refused(x.insights(sandbox.client, account(), published.platform_post_id), ErrorClass.TRANSIENT)
    await refused(x.audience(sandbox.client, account()), ErrorClass.RATE_LIMITED)
    assert await x.insights(sandbox.client, account(), published.platform_post_id)


async def test_reconcile_reads_further_pages(sandbox, x):
    first = outgoing("Yang pertama")
    published = await x.publish(sandbox.client, account(), first)
    for n in range(105):
        await x.publish(sandbox.client, account(), outgoing(f"Pengumuman {n}", target=f"t-{n}"))
    assert await x.reconcile(sandbox.client, account(), first) == published
    pages = [c for c in sandbox.to("/tweets", "GET") if "/users/" in c.path]
    assert len(pages) == 2 and "pagination_token" in pages[1].query
