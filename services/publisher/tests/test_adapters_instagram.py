"""The Instagram adapter against the real sandbox (in-process over ASGI; a real socket for lost
answers): containers, processing, carousels and Reels, every error class, reconcile, token
refresh and insights that grow with time. No mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from siar_contracts import ErrorClass
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters.instagram import InstagramAdapter
from siar_publisher.transport import http_client
from siar_sandbox import instagram as ig_sandbox

from services.publisher.tests import sandbox_kit
from services.publisher.tests.sandbox_kit import (
    SANDBOX,
    close_to,
    image,
    outgoing,
    refused,
    video,
)

# The kit's fixtures, registered in this module.
live = sandbox_kit.live
live_server = sandbox_kit.live_server
sandbox = sandbox_kit.sandbox
settings = sandbox_kit.settings

TOKEN = "perpuskota.secret"
IG_ID = ig_sandbox.user_id("perpuskota")


@pytest.fixture
def ig() -> InstagramAdapter:
    adapter = InstagramAdapter()
    adapter.poll_first_delay = 0.05
    return adapter


def account(token: str = TOKEN, ig_id: str = IG_ID, base: str = SANDBOX, **settings) -> Account:
    return Account(account_id="acc-ig", platform="instagram", handle="perpuskota",
                   base_url=f"{base}/instagram/v21.0", credentials={"access_token": token},
                   settings={"ig_user_id": ig_id, **settings})  # fmt: skip


def test_registered():
    assert isinstance(ADAPTERS["instagram"], InstagramAdapter)
    assert ADAPTERS["instagram"].required_settings == ("ig_user_id",)


async def test_verify_reads_the_account_its_quota_and_token_expiry(sandbox, ig):
    verified = await ig.verify(sandbox.client, account())
    assert verified.handle == "perpuskota" and verified.display_name == "Perpuskota"
    assert verified.limits == {"quota_total": 100, "quota_duration": 86400}
    assert close_to(verified.token_expires_at, datetime.now(UTC) + timedelta(seconds=5_183_944), 10)


async def test_publishes_an_image(sandbox, ig):
    post = outgoing("Lomba membaca #perpustakaan", image())
    published = await ig.publish(sandbox.client, account(), post)
    [recorded] = await sandbox.posts("instagram")
    assert recorded["id"] == published.platform_post_id and recorded["account"] == IG_ID
    assert recorded["text"] == post.text and recorded["url"] == published.url
    assert published.url.startswith("https://www.instagram.com/p/")
    assert [m["mime_type"] for m in recorded["media"]] == ["image/jpeg"]
    steps = [(c.method, c.path.rsplit("/", 1)[-1]) for c in sandbox.calls if "/_sandbox" not in c.path]
    assert steps[0] == ("POST", "media") and ("POST", "media_publish") in steps
    assert steps[-1] == ("GET", published.platform_post_id)  # the permalink, after publishing


async def test_waits_for_a_reel_to_be_processed(sandbox, ig):
    # meta_video_processing_seconds is 0.5: the container is IN_PROGRESS, then FINISHED.
    published = await ig.publish(sandbox.client, account(), outgoing("Cuplikan acara", video()))
    [recorded] = await sandbox.posts("instagram")
    assert recorded["id"] == published.platform_post_id and "/reel/" in published.url
    [create] = sandbox.ends("/media", "POST")
    assert "media_type" not in create.query  # the form body carried it
    polls = [c for c in sandbox.calls if c.method == "GET" and "status_code" in c.query]
    assert len(polls) >= 2
    publish_call = sandbox.to("/media_publish")[0]
    assert sandbox.calls.index(publish_call) > sandbox.calls.index(polls[-1])


async def test_publishes_a_carousel_of_an_image_and_a_video(sandbox, ig):
    post = outgoing("Dua media", image(), video())
    published = await ig.publish(sandbox.client, account(), post)
    [recorded] = await sandbox.posts("instagram")
    assert recorded["id"] == published.platform_post_id
    assert [m["type"] for m in recorded["media"]] == ["image", "video"]
    assert len(sandbox.ends("/media", "POST")) == 3  # two items, then the carousel
    media = await sandbox.client.get(f"{SANDBOX}/instagram/{published.platform_post_id}",
                                     params={"access_token": TOKEN, "fields": "media_type,caption"})  # fmt: skip
    assert media.json()["media_type"] == "CAROUSEL_ALBUM" and media.json()["caption"] == "Dua media"


async def test_a_container_in_error_is_invalid_content(sandbox, ig):
    error = await refused(ig.publish(sandbox.client, account(), outgoing("x", video("gone.mp4"))),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "2207077" in error.reason
    error = await refused(ig.publish(sandbox.client, account(), outgoing("x", image(), video("gone.mp4"))),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert sandbox.to("/media_publish") == [] and await sandbox.posts("instagram") == []


async def test_an_image_that_cannot_be_downloaded_is_retried(sandbox, ig):
    error = await refused(ig.publish(sandbox.client, account(), outgoing("x", image("gone.jpg"))),
                          ErrorClass.TRANSIENT)  # fmt: skip
    assert "2207052" in (error.detail or "")


async def test_still_processing_ends_the_attempt_and_the_next_resumes_the_container(sandbox, ig):
    ig.processing_wait_seconds = 0.2
    kept: dict = {}
    post = outgoing("Video panjang", video(), progress=kept)
    await refused(ig.publish(sandbox.client, account(), post), ErrorClass.TRANSIENT)
    assert kept["container"] and sandbox.to("/media_publish") == []
    await sandbox.advance(5)
    fresh = InstagramAdapter()  # another process: only the kept progress is known
    published = await fresh.publish(sandbox.client, account(), post)
    assert len(sandbox.ends("/media", "POST")) == 1  # the same container, published
    assert [p["id"] for p in await sandbox.posts("instagram")] == [published.platform_post_id]


async def test_an_expired_container_is_made_again(sandbox, ig):
    ig.processing_wait_seconds = 0.1
    kept: dict = {}
    post = outgoing("Video kemarin", video(), progress=kept)
    await refused(ig.publish(sandbox.client, account(), post), ErrorClass.TRANSIENT)
    old = kept["container"]
    await sandbox.advance(25 * 3600)
    status = await sandbox.client.get(f"{SANDBOX}/instagram/{old}",
                                      params={"access_token": TOKEN, "fields": "status_code"})  # fmt: skip
    assert status.json()["status_code"] == "EXPIRED"
    ig.processing_wait_seconds = 3
    published = await ig.publish(sandbox.client, account(), post)
    assert kept["container"] != old and len(sandbox.ends("/media", "POST")) == 2
    assert [p["id"] for p in await sandbox.posts("instagram")] == [published.platform_post_id]


async def test_rate_limit_waits_for_the_business_use_case_estimate(sandbox, ig):
    await sandbox.faults("instagram", "429", retry_after_seconds=150)
    error = await refused(ig.publish(sandbox.client, account(), outgoing("x", image())), ErrorClass.RATE_LIMITED)
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(minutes=3))
    assert "code 4" in (error.detail or "") and error.status == 400
    assert await sandbox.posts("instagram") == []


async def test_calls_limit_is_a_rate_limit(sandbox, ig):
    await sandbox.limit("instagram", "calls", 2, 3600)
    error = await refused(ig.publish(sandbox.client, account(), outgoing("x", image())), ErrorClass.RATE_LIMITED)
    assert error.retry_at is not None and error.retry_at > datetime.now(UTC) + timedelta(seconds=30)


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
async def test_server_errors_are_transient(sandbox, ig, kind):
    await sandbox.faults("instagram", kind)
    await refused(ig.publish(sandbox.client, account(), outgoing("x", image())), ErrorClass.TRANSIENT)
    await ig.publish(sandbox.client, account(), outgoing("x", image()))  # the next attempt goes


async def test_server_error_on_media_publish_leaves_the_outcome_unknown(sandbox, ig):
    # A server error answering the publish may come while the post is live: the next attempt
    # reconciles (the kept container says) before publishing again.
    await sandbox.faults("instagram", "ok", "503")  # the container, then the publish
    kept: dict = {}
    post = outgoing("x", image(), progress=kept)
    await refused(ig.publish(sandbox.client, account(), post), ErrorClass.OUTCOME_UNKNOWN)
    assert await ig.reconcile(sandbox.client, account(), post) is None  # FINISHED, not published
    published = await ig.publish(sandbox.client, account(), post)
    assert len(sandbox.ends("/media", "POST")) == 1  # the kept container was published
    assert [p["id"] for p in await sandbox.posts("instagram")] == [published.platform_post_id]


async def test_daily_publishing_limit_is_quota_exhausted(sandbox, ig):
    await sandbox.limit("instagram", "publishing", 1, 86400)
    await ig.publish(sandbox.client, account(), outgoing("satu", image()))
    error = await refused(ig.publish(sandbox.client, account(), outgoing("dua", image(), target="t2")),
                          ErrorClass.QUOTA_EXHAUSTED)  # fmt: skip
    assert "2207042" in (error.detail or "")
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(hours=1))
    usage = await sandbox.client.get(f"{SANDBOX}/instagram/{IG_ID}/content_publishing_limit",
                                     params={"access_token": TOKEN, "fields": "quota_usage,config"})  # fmt: skip
    assert usage.json()["data"] == [{"quota_usage": 1, "config": {"quota_total": 1, "quota_duration": 86400}}]


async def test_token_errors(sandbox, ig):
    await sandbox.revoke("instagram", TOKEN)
    error = await refused(ig.publish(sandbox.client, account(), outgoing("x", image())), ErrorClass.AUTH_REVOKED)
    assert "460" in (error.detail or "")
    await refused(ig.verify(sandbox.client, account()), ErrorClass.AUTH_REVOKED)
    error = await refused(ig.publish(sandbox.client, account("expired.token"), outgoing("x", image())),
                          ErrorClass.AUTH_EXPIRED)  # fmt: skip
    assert "463" in (error.detail or "")


async def test_permission_and_missing_account(sandbox, ig):
    error = await refused(ig.publish(sandbox.client, account("noperm.token"), outgoing("x", image())),
                          ErrorClass.PERMISSION_DENIED)  # fmt: skip
    assert "code 10" in (error.detail or "")
    await refused(ig.publish(sandbox.client, account(ig_id="0178"), outgoing("x", image())), ErrorClass.TARGET_GONE)
    await refused(ig.verify(sandbox.client, account(ig_id="0178")), ErrorClass.TARGET_GONE)


async def test_refused_content(sandbox, ig):
    error = await refused(ig.publish(sandbox.client, account(), outgoing("a" * 2201, image())),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "2200" in error.reason and "2207010" in (error.detail or "")
    error = await refused(ig.publish(sandbox.client, account(), outgoing("x", image("poster.png"))),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "JPEG" in error.reason
    error = await refused(ig.publish(sandbox.client, account(), outgoing("Promo SANDBOX_SPAM", image())),
                          ErrorClass.POLICY_REJECTED)  # fmt: skip
    assert "2207051" in (error.detail or "")
    assert await sandbox.posts("instagram") == []


async def test_reconcile_finds_nothing_when_nothing_was_published(sandbox, ig):
    post = outgoing("Belum terbit", image())
    assert await ig.reconcile(sandbox.client, account(), post) is None
    await ig.publish(sandbox.client, account(), outgoing("Lain", image(), target="other"))
    assert await ig.reconcile(sandbox.client, account(), post) is None


async def test_reconcile_does_not_take_an_older_post_with_the_same_caption(sandbox, ig):
    await ig.publish(sandbox.client, account(), outgoing("Setiap minggu", image(), target="last-week"))
    await sandbox.advance(-3600)  # the sandbox clock is an hour behind: that post is "older"
    later = outgoing("Setiap minggu", image(), first_attempt_at=datetime.now(UTC) + timedelta(hours=1))
    await sandbox.advance(3600)
    assert await ig.reconcile(sandbox.client, account(), later) is None


# --------------------------------------------------------------------------- lost answers


def live_account(live, **settings) -> Account:
    return account(base=live.base, **settings)


async def test_answer_lost_on_media_publish_then_reconcile_by_container(live, ig):
    kept: dict = {}
    post = outgoing("Terbit, jawabannya hilang", image(base=f"{live.base}/_sandbox/media"), progress=kept)
    await live.faults("instagram", "ok", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(ig.publish(impatient, live_account(live), post), ErrorClass.OUTCOME_UNKNOWN)
    assert "ReadTimeout" in (error.detail or "")
    [recorded] = await live.posts("instagram")  # it WAS published
    fresh = InstagramAdapter()  # a retry in another replica: only the kept container is known
    found = await fresh.reconcile(live.client, live_account(live), post)
    assert found is not None and found.platform_post_id == recorded["id"] and found.url == recorded["url"]
    assert len(await live.posts("instagram")) == 1


async def test_a_published_container_not_among_the_recent_posts_says_what_is_known(live, ig):
    kept: dict = {}
    post = outgoing("Terbit, lalu tenggelam", image(base=f"{live.base}/_sandbox/media"), progress=kept)
    await live.faults("instagram", "ok", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(ig.publish(impatient, live_account(live), post), ErrorClass.OUTCOME_UNKNOWN)
    for n in range(50):  # the account's recent posts (one page of 50) no longer reach back to it
        await ig.publish(live.client, live_account(live), outgoing(f"Pos {n}", image(base=f"{live.base}/_sandbox/media"),
                                                                 target=f"t-{n}"))  # fmt: skip
    found = await InstagramAdapter().reconcile(live.client, live_account(live), post)
    assert found is not None and found.platform_post_id == kept["container"]  # live for certain: not sent again
    assert "could not find it among the account's recent posts" in (found.notice or "")
    assert "engagement will not be measured" in found.notice and found.url == "https://www.instagram.com/perpuskota/"


async def test_answer_lost_then_reconcile_by_recent_posts(live, ig):
    post = outgoing("Tanpa catatan kontainer", image(base=f"{live.base}/_sandbox/media"))
    await live.faults("instagram", "ok", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(ig.publish(impatient, live_account(live), post), ErrorClass.OUTCOME_UNKNOWN)
    [recorded] = await live.posts("instagram")
    found = await InstagramAdapter().reconcile(live.client, live_account(live), post)
    assert found is not None and found.platform_post_id == recorded["id"]


async def test_answer_lost_on_the_container_is_just_retried(live, ig):
    post = outgoing("Kontainer hilang", image(base=f"{live.base}/_sandbox/media"))
    await live.faults("instagram", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(ig.publish(impatient, live_account(live), post), ErrorClass.TRANSIENT)
    assert "ReadTimeout" in (error.detail or "")
    published = await ig.publish(live.client, live_account(live), post)
    assert [p["id"] for p in await live.posts("instagram")] == [published.platform_post_id]


async def test_connection_refused_is_transient(ig):
    async with http_client(timeout_seconds=1) as client:
        error = await refused(ig.publish(client, account(base="http://127.0.0.1:9"), outgoing("x", image())),
                              ErrorClass.TRANSIENT)  # fmt: skip
    assert "ConnectError" in (error.detail or "")


# --------------------------------------------------------------------------- tokens and metrics


async def test_refresh_renews_an_instagram_login_token(sandbox, ig):
    refreshed = await ig.refresh(sandbox.client, account())
    token = refreshed.credentials["access_token"]
    assert token != TOKEN and token.startswith("perpuskota.")
    assert close_to(refreshed.expires_at, datetime.now(UTC) + timedelta(seconds=5_183_944), 10)
    await ig.publish(sandbox.client, account(token), outgoing("Token baru", image()))
    debug = await sandbox.client.get(f"{SANDBOX}/instagram/debug_token",
                                     params={"access_token": token, "input_token": token})  # fmt: skip
    assert debug.json()["data"]["is_valid"] is True
    await sandbox.revoke("instagram", token)
    await refused(ig.refresh(sandbox.client, account(token)), ErrorClass.AUTH_REVOKED)


async def test_a_refreshed_token_that_ends_is_expired(sandbox, ig):
    refreshed = await ig.refresh(sandbox.client, account())
    await sandbox.advance(61 * 86400)
    token = refreshed.credentials["access_token"]
    await refused(ig.publish(sandbox.client, account(token), outgoing("x", image())), ErrorClass.AUTH_EXPIRED)


async def test_facebook_login_tokens_are_not_refreshed_here(sandbox, ig):
    await refused(ig.refresh(sandbox.client, account(login="facebook")), ErrorClass.AUTH_REVOKED)


async def test_insights_grow_with_time_since_publication(sandbox, ig):
    published = await ig.publish(sandbox.client, account(), outgoing("Diukur", image()))
    now = await ig.insights(sandbox.client, account(), published.platform_post_id)
    assert set(now) == {"views", "reach", "saved", "likes", "comments", "shares", "total_interactions"}
    assert all(v <= 5 for v in now.values())
    await sandbox.advance(6 * 3600)
    later = await ig.insights(sandbox.client, account(), published.platform_post_id)
    low = ig_sandbox.media_insights(published.platform_post_id, 6 * 3600)
    high = ig_sandbox.media_insights(published.platform_post_id, 6 * 3600 + 10)
    for name, value in later.items():
        assert low[name] <= value <= high[name], name
    assert later["views"] > now["views"] and later["total_interactions"] == (
        later["likes"] + later["comments"] + later["saved"] + later["shares"])


async def test_insights_with_not_enough_viewers_are_no_readings_yet(sandbox, ig):
    # (#10) Not enough viewers is normal for a small account (platforms.md): no data yet, never a
    # missing permission that would have the librarian connect the account again.
    published = await ig.publish(sandbox.client, account(), outgoing("Sepi SANDBOX_FEW_VIEWERS", image()))
    assert await ig.insights(sandbox.client, account(), published.platform_post_id) == {}
    [read] = sandbox.ends(f"/{published.platform_post_id}/insights", "GET")
    assert read.status == 400
    # Elsewhere the same answer is not a permission problem either.
    error = await refused(ig._call(sandbox.client, account(), "GET", published.platform_post_id, "insights",
                                   params={"metric": "views"}), ErrorClass.TRANSIENT)  # fmt: skip
    assert "connect" not in error.reason and "Not enough viewers" in (error.detail or "")


async def test_audience_counts_followers(sandbox, ig):
    before = await ig.audience(sandbox.client, account())
    assert before["followers_count"] == ig_sandbox.followers_count(IG_ID, 0)
    await ig.publish(sandbox.client, account(), outgoing("x", image()))
    after = await ig.audience(sandbox.client, account())
    assert after["followers_count"] == ig_sandbox.followers_count(IG_ID, 1)
    assert set(after) == {"followers_count", "follows_count", "media_count"}



async def test_reconcile_cannot_tell_a_post_without_text(sandbox, ig):
    await refused(ig.reconcile(sandbox.client, account(), outgoing("", image())), ErrorClass.OUTCOME_UNKNOWN)
    # With its container kept, a post without text is still recognised: the container says.
    kept: dict = {}
    post = outgoing("", image(), progress=kept)
    await sandbox.faults("instagram", "ok", "503")
    await refused(ig.publish(sandbox.client, account(), post), ErrorClass.OUTCOME_UNKNOWN)
    assert await InstagramAdapter().reconcile(sandbox.client, account(), post) is None  # FINISHED: resume
    published = await InstagramAdapter().publish(sandbox.client, account(), post)
    found = await InstagramAdapter().reconcile(sandbox.client, account(), post)
    assert found is not None and found.platform_post_id == published.platform_post_id


async def test_carousel_items_still_processing_are_resumed(sandbox, ig):
    ig.processing_wait_seconds = 0.1
    kept: dict = {}
    post = outgoing("Karusel", image(), video(), progress=kept)
    await refused(ig.publish(sandbox.client, account(), post), ErrorClass.TRANSIENT)
    assert len(kept["children"]) == 2 and "container" not in kept
    await sandbox.advance(5)
    published = await InstagramAdapter().publish(sandbox.client, account(), post)
    assert len(sandbox.ends("/media", "POST")) == 3  # the two items once, then the carousel
    assert [p["id"] for p in await sandbox.posts("instagram")] == [published.platform_post_id]
