"""The Facebook Pages adapter against the real sandbox: text, photos, a video, every error
class, duplicates, reconcile and insights. No mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from siar_contracts import ErrorClass
from siar_metrics.vocabulary import normalise
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters.facebook import FacebookAdapter
from siar_publisher.transport import http_client
from siar_sandbox import facebook as fb_sandbox

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

TOKEN = "perpuskota.page-token"
PAGE = fb_sandbox.page_id("perpuskota")


@pytest.fixture
def fb() -> FacebookAdapter:
    adapter = FacebookAdapter()
    adapter.poll_first_delay = 0.05
    return adapter


def account(token: str = TOKEN, page: str = PAGE, base: str = SANDBOX) -> Account:
    return Account(account_id="acc-fb", platform="facebook", handle="perpuskota",
                   base_url=f"{base}/facebook/v21.0", credentials={"access_token": token},
                   settings={"page_id": page})  # fmt: skip


def test_registered():
    assert isinstance(ADAPTERS["facebook"], FacebookAdapter)


async def test_verify_reads_the_page_and_a_token_that_never_expires(sandbox, fb):
    verified = await fb.verify(sandbox.client, account())
    assert verified.handle == "perpuskota" and verified.display_name == "Perpuskota"
    assert verified.token_expires_at is None


async def test_publishes_text_with_its_permalink(sandbox, fb):
    published = await fb.publish(sandbox.client, account(), outgoing("Jam buka baru"))
    [recorded] = await sandbox.posts("facebook")
    assert recorded["id"] == published.platform_post_id and published.platform_post_id.startswith(f"{PAGE}_")
    assert published.url == recorded["url"] == f"https://www.facebook.com/{PAGE}/posts/{published.platform_post_id.split('_')[1]}"
    [feed] = sandbox.ends("/feed", "POST")
    assert "fields=id%2Cpermalink_url" in feed.query or "fields=id,permalink_url" in feed.query


async def test_publishes_photos_as_unpublished_uploads_attached_to_one_post(sandbox, fb):
    published = await fb.publish(sandbox.client, account(), outgoing("Dua foto", image(), image("poster.png")))
    assert len(sandbox.ends("/photos", "POST")) == 2 and len(sandbox.ends("/feed", "POST")) == 1
    [recorded] = await sandbox.posts("facebook")  # one post, not three
    assert recorded["id"] == published.platform_post_id
    assert [m["mime_type"] for m in recorded["media"]] == ["image/jpeg", "image/png"]


async def test_publishes_a_video_and_waits_for_processing(sandbox, fb):
    published = await fb.publish(sandbox.client, account(), outgoing("Video acara", video()))
    [recorded] = await sandbox.posts("facebook")
    assert recorded["id"] == published.platform_post_id
    assert published.url == f"https://www.facebook.com/perpuskota/videos/{published.platform_post_id}/"
    polls = [c for c in sandbox.calls if c.method == "GET" and "status" in c.query]
    assert len(polls) >= 2


async def test_a_video_still_processing_is_published_anyway(sandbox, fb):
    fb.processing_wait_seconds = 0.1
    published = await fb.publish(sandbox.client, account(), outgoing("Video panjang", video()))
    assert [p["id"] for p in await sandbox.posts("facebook")] == [published.platform_post_id]


async def test_a_video_facebook_cannot_process_is_invalid_content(sandbox, fb):
    await refused(fb.publish(sandbox.client, account(), outgoing("x", video("gone.mp4"))), ErrorClass.INVALID_CONTENT)
    assert await sandbox.posts("facebook") == []


async def test_a_photo_facebook_cannot_fetch_is_invalid_content(sandbox, fb):
    error = await refused(fb.publish(sandbox.client, account(), outgoing("x", image("gone.jpg"))),
                          ErrorClass.INVALID_CONTENT)  # fmt: skip
    assert "324" in (error.detail or "")
    assert sandbox.ends("/feed", "POST") == []


async def test_rate_limit_uses_the_business_use_case_header(sandbox, fb):
    await sandbox.faults("facebook", "429", retry_after_seconds=300)
    error = await refused(fb.publish(sandbox.client, account(), outgoing()), ErrorClass.RATE_LIMITED)
    assert "code 32" in (error.detail or "")
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(minutes=5))


async def test_calls_limit(sandbox, fb):
    await sandbox.limit("facebook", "calls", 1, 600)
    await fb.publish(sandbox.client, account(), outgoing("satu"))  # feed (+ no permalink GET)
    error = await refused(fb.publish(sandbox.client, account(), outgoing("dua", target="t2")), ErrorClass.RATE_LIMITED)
    assert error.retry_at is not None and error.retry_at <= datetime.now(UTC) + timedelta(minutes=11)


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
async def test_server_errors_on_the_post_leave_the_outcome_unknown(sandbox, fb, kind):
    # Facebook answers code 2 / HTTP 500 while the post may already be live (arsduo/koala#699):
    # never re-sent blindly; the next attempt looks among the Page's posts first.
    await sandbox.faults("facebook", kind)
    post = outgoing()
    error = await refused(fb.publish(sandbox.client, account(), post), ErrorClass.OUTCOME_UNKNOWN)
    assert f"HTTP {kind}" in (error.detail or "")
    assert await fb.reconcile(sandbox.client, account(), post) is None  # not live: safe to send again
    published = await fb.publish(sandbox.client, account(), post)
    assert [p["id"] for p in await sandbox.posts("facebook")] == [published.platform_post_id]


async def test_a_server_error_on_the_video_leaves_the_outcome_unknown(sandbox, fb):
    await sandbox.faults("facebook", "500")
    await refused(fb.publish(sandbox.client, account(), outgoing("Video", video())), ErrorClass.OUTCOME_UNKNOWN)


async def test_a_server_error_on_an_unpublished_photo_is_transient(sandbox, fb):
    await sandbox.faults("facebook", "503")  # the unpublished photo upload: nothing public yet
    await refused(fb.publish(sandbox.client, account(), outgoing("Foto", image())), ErrorClass.TRANSIENT)
    assert await sandbox.posts("facebook") == []


async def test_duplicate_of_the_previous_post(sandbox, fb):
    await fb.publish(sandbox.client, account(), outgoing("Sama", target="yesterday",
                                                         first_attempt_at=datetime.now(UTC)))  # fmt: skip
    await sandbox.advance(-3600)  # make that post older than the next delivery's first attempt
    later = outgoing("Sama", target="today", first_attempt_at=datetime.now(UTC) + timedelta(minutes=30))
    await sandbox.advance(3600)
    error = await refused(fb.publish(sandbox.client, account(), later), ErrorClass.DUPLICATE)
    assert "506" in (error.detail or "")


async def test_duplicate_that_is_our_own_lost_post_is_published(sandbox, fb):
    post = outgoing("Sekali saja")
    first = await fb.publish(sandbox.client, account(), post)
    again = await fb.publish(sandbox.client, account(), post)  # 506, and it is ours
    assert again == first and len(await sandbox.posts("facebook")) == 1


async def test_token_permission_policy_and_target_errors(sandbox, fb):
    await sandbox.revoke("facebook", TOKEN)
    await refused(fb.publish(sandbox.client, account(), outgoing()), ErrorClass.AUTH_REVOKED)
    await refused(fb.verify(sandbox.client, account()), ErrorClass.AUTH_REVOKED)
    await refused(fb.publish(sandbox.client, account("expired.x"), outgoing()), ErrorClass.AUTH_EXPIRED)
    error = await refused(fb.publish(sandbox.client, account("noperm.x"), outgoing()), ErrorClass.PERMISSION_DENIED)
    assert "code 200" in (error.detail or "")
    await refused(fb.publish(sandbox.client, account("other.x", page="0123"), outgoing()), ErrorClass.TARGET_GONE)
    # 368 is a temporary block (platforms.md): retried after a long wait, not a policy refusal.
    error = await refused(fb.publish(sandbox.client, account("other.x"), outgoing("SANDBOX_SPAM")),
                          ErrorClass.RATE_LIMITED)  # fmt: skip
    assert "368" in (error.detail or "") and "temporarily blocked" in error.reason
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(hours=1))


async def test_reconcile_finds_a_post_whose_answer_was_lost(live, fb):
    post = outgoing("Terbit tanpa jawaban")
    acc = account(base=live.base)
    await live.faults("facebook", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(fb.publish(impatient, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    assert "ReadTimeout" in (error.detail or "")
    [recorded] = await live.posts("facebook")
    found = await fb.reconcile(live.client, acc, post)
    assert found is not None and found.platform_post_id == recorded["id"] and found.url == recorded["url"]
    assert await fb.reconcile(live.client, acc, outgoing("Lain")) is None


async def test_reconcile_finds_a_video(live, fb):
    post = outgoing("Video tanpa jawaban", video(base=f"{live.base}/_sandbox/media"))
    acc = account(base=live.base)
    await live.faults("facebook", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(fb.publish(impatient, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    [recorded] = await live.posts("facebook")
    found = await fb.reconcile(live.client, acc, post)
    assert found is not None and found.platform_post_id == recorded["id"]


async def test_answer_lost_on_a_photo_upload_is_retried(live, fb):
    post = outgoing("Foto", image(base=f"{live.base}/_sandbox/media"))
    acc = account(base=live.base)
    await live.faults("facebook", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(fb.publish(impatient, acc, post), ErrorClass.TRANSIENT)
    assert await live.posts("facebook") == []


async def test_insights_and_audience(sandbox, fb):
    # A post's peaks are drawn from its (random) id and 1 post in ~30 is never shared: publish
    # until one that will be shared and commented on, or the counts below show nothing.
    for i in range(20):
        published = await fb.publish(sandbox.client, account(), outgoing(f"Diukur ({i + 1})"))
        if min(fb_sandbox.post_counts(published.platform_post_id, 12 * 3600).values()) > 0:
            break
    await sandbox.advance(12 * 3600)
    values = await fb.insights(sandbox.client, account(), published.platform_post_id)
    low = fb_sandbox.post_insights(published.platform_post_id, 12 * 3600)
    high = fb_sandbox.post_insights(published.platform_post_id, 12 * 3600 + 10)
    assert set(values) == {"post_total_media_view_unique", "post_media_view", "post_reactions_by_type_total",
                           "post_clicks", "comments", "shares"}  # fmt: skip
    # Comments and shares are fields of the post, not insights (services/metrics' vocabulary).
    counts_low = fb_sandbox.post_counts(published.platform_post_id, 12 * 3600)
    counts_high = fb_sandbox.post_counts(published.platform_post_id, 12 * 3600 + 10)
    assert counts_low["comments"] <= values["comments"] <= counts_high["comments"] and values["comments"] > 0
    assert counts_low["shares"] <= values["shares"] <= counts_high["shares"] and values["shares"] > 0
    [read] = sandbox.ends(f"/{published.platform_post_id}", "GET")
    assert read.status == 200 and "shares" in read.query and "summary%28true%29" in read.query
    assert sum(low["post_reactions_by_type_total"].values()) <= values["post_reactions_by_type_total"] <= sum(
        high["post_reactions_by_type_total"].values())
    assert low["post_clicks"] <= values["post_clicks"] <= high["post_clicks"]
    assert values["post_total_media_view_unique"] > 0
    audience = await fb.audience(sandbox.client, account())
    assert audience["followers_count"] == fb_sandbox.followers_count(PAGE, i + 1)  # the page's posts so far
    assert set(audience) == {"followers_count", "fan_count"}


async def test_insights_of_a_post_nobody_shared_or_commented_yet(sandbox, fb):
    published = await fb.publish(sandbox.client, account(), outgoing("Baru saja"))
    values = await fb.insights(sandbox.client, account(), published.platform_post_id)
    assert values["comments"] == 0 and values["shares"] == 0  # "shares" is absent from Graph's answer


async def test_insights_of_a_video_count_its_comments(sandbox, fb):
    published = await fb.publish(sandbox.client, account(), outgoing("Video diukur", video()))
    await sandbox.advance(12 * 3600)
    values = await fb.insights(sandbox.client, account(), published.platform_post_id)
    low = fb_sandbox.post_counts(published.platform_post_id, 12 * 3600)["comments"]
    assert low <= values["comments"] <= fb_sandbox.post_counts(published.platform_post_id, 12 * 3600 + 10)["comments"]
    assert "shares" not in values  # a video has no shares field


async def test_insights_of_a_video_come_from_video_insights(sandbox, fb):
    video_id = (await fb.publish(sandbox.client, account(), outgoing("Video ditonton", video()))).platform_post_id
    await sandbox.advance(12 * 3600)
    values = await fb.insights(sandbox.client, account(), video_id)
    assert set(values) == {"total_video_views", "total_video_views_unique", "total_video_reactions_by_type_total",
                           "comments"}  # fmt: skip
    low = fb_sandbox.video_insights(video_id, 12 * 3600)
    high = fb_sandbox.video_insights(video_id, 12 * 3600 + 10)
    assert low["total_video_views_unique"] <= values["total_video_views_unique"] <= high["total_video_views_unique"]
    assert low["total_video_views"] <= values["total_video_views"] <= high["total_video_views"]
    assert values["total_video_views"] > 0 and values["total_video_reactions_by_type_total"] > 0
    [read] = sandbox.ends(f"/{video_id}/video_insights", "GET")
    assert read.status == 200 and sandbox.ends(f"/{video_id}/insights") == []
    # The names are in the metrics service's vocabulary: the video's numbers count.
    assert set(normalise("post", "facebook", values)) == {"views", "reach", "likes", "comments"}


async def test_reconcile_cannot_tell_a_post_without_text(sandbox, fb):
    await refused(fb.reconcile(sandbox.client, account(), outgoing("", image())), ErrorClass.OUTCOME_UNKNOWN)
