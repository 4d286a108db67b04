"""The Threads adapter against the real sandbox: text, image, video and carousel containers,
polling, every error class, reconcile, token refresh and insights. No mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from siar_contracts import ErrorClass
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters.threads import ThreadsAdapter
from siar_publisher.transport import http_client
from siar_sandbox import threads as th_sandbox

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
USER_ID = th_sandbox.user_id("perpuskota")


@pytest.fixture
def th() -> ThreadsAdapter:
    adapter = ThreadsAdapter()
    adapter.poll_first_delay = 0.05
    return adapter


def account(token: str = TOKEN, user_id: str = USER_ID, base: str = SANDBOX) -> Account:
    return Account(account_id="acc-threads", platform="threads", handle="perpuskota",
                   base_url=f"{base}/threads/v1.0", credentials={"access_token": token},
                   settings={"threads_user_id": user_id})  # fmt: skip


def test_registered():
    assert isinstance(ADAPTERS["threads"], ThreadsAdapter)


async def test_verify(sandbox, th):
    verified = await th.verify(sandbox.client, account())
    assert verified.handle == "perpuskota"
    assert verified.limits == {"quota_total": 250, "quota_duration": 86400}
    assert close_to(verified.token_expires_at, datetime.now(UTC) + timedelta(seconds=5_183_944), 10)


async def test_publishes_text(sandbox, th):
    post = outgoing("Halo dari perpustakaan 📚")
    published = await th.publish(sandbox.client, account(), post)
    [recorded] = await sandbox.posts("threads")
    assert recorded["id"] == published.platform_post_id and recorded["text"] == post.text
    assert published.url == recorded["url"] and published.url.startswith("https://www.threads.net/@perpuskota/post/")
    [create] = sandbox.ends("/threads", "POST")
    assert create.status == 200 and sandbox.ends("/threads_publish", "POST")[0].status == 200


async def test_publishes_an_image_and_waits_for_a_video(sandbox, th):
    await th.publish(sandbox.client, account(), outgoing("Foto", image()))
    published = await th.publish(sandbox.client, account(), outgoing("Video", video(), target="t2"))
    polls = [c for c in sandbox.calls if c.method == "GET" and "status" in c.query]
    assert len(polls) >= 3  # the video container was IN_PROGRESS for a while
    posts = await sandbox.posts("threads")
    assert [p["media"][0]["type"] for p in posts] == ["image", "video"]
    assert posts[1]["id"] == published.platform_post_id


async def test_publishes_a_carousel(sandbox, th):
    published = await th.publish(sandbox.client, account(), outgoing("Tiga", image(), image(), video()))
    [recorded] = await sandbox.posts("threads")
    assert recorded["id"] == published.platform_post_id and len(recorded["media"]) == 3
    assert len(sandbox.ends("/threads", "POST")) == 4


async def test_container_errors(sandbox, th):
    error = await refused(th.publish(sandbox.client, account(), outgoing("x", video("gone.mp4"))),
                          ErrorClass.TRANSIENT)  # fmt: skip
    assert "FAILED_DOWNLOADING_VIDEO" in error.reason
    as_video = video("photo.jpg")
    error = await refused(th.publish(sandbox.client, account(), outgoing("x", as_video)), ErrorClass.INVALID_CONTENT)
    assert "FAILED_PROCESSING_VIDEO" in error.reason
    assert await sandbox.posts("threads") == []


async def test_expired_container_and_processing_wait(sandbox, th):
    th.processing_wait_seconds = 0.1
    kept: dict = {}
    post = outgoing("Video", video(), progress=kept)
    error = await refused(th.publish(sandbox.client, account(), post), ErrorClass.TRANSIENT)
    assert "still processing" in error.reason
    old = kept["container"]
    await sandbox.advance(24 * 3600 + 1)
    status = await sandbox.client.get(f"{SANDBOX}/threads/{old}", params={"access_token": TOKEN, "fields": "status"})
    assert status.json()["status"] == "EXPIRED"
    th.processing_wait_seconds = 3
    published = await ThreadsAdapter().publish(sandbox.client, account(), post)
    assert kept["container"] != old
    assert [p["id"] for p in await sandbox.posts("threads")] == [published.platform_post_id]


async def test_text_too_long_is_invalid_content(sandbox, th):
    await refused(th.publish(sandbox.client, account(), outgoing("a" * 501)), ErrorClass.INVALID_CONTENT)
    # Emoji count as their UTF-8 bytes: 125 four-byte emoji are 500, one more is over.
    await th.publish(sandbox.client, account(), outgoing("📚" * 125))
    await refused(th.publish(sandbox.client, account(), outgoing("📚" * 126, target="t2")), ErrorClass.INVALID_CONTENT)


async def test_rate_limit_and_server_errors(sandbox, th):
    await sandbox.faults("threads", "429", "500", "503", "502")
    error = await refused(th.publish(sandbox.client, account(), outgoing()), ErrorClass.RATE_LIMITED)
    assert error.retry_at is not None and error.retry_at > datetime.now(UTC)
    for _ in range(3):
        await refused(th.publish(sandbox.client, account(), outgoing()), ErrorClass.TRANSIENT)
    await th.publish(sandbox.client, account(), outgoing())
    assert len(await sandbox.posts("threads")) == 1


async def test_publishing_quota(sandbox, th):
    await sandbox.limit("threads", "publishing", 2, 86400)
    await th.publish(sandbox.client, account(), outgoing("1", target="a"))
    await th.publish(sandbox.client, account(), outgoing("2", target="b"))
    error = await refused(th.publish(sandbox.client, account(), outgoing("3", target="c")), ErrorClass.QUOTA_EXHAUSTED)
    assert error.retry_at is not None
    await sandbox.advance(86400)
    await th.publish(sandbox.client, account(), outgoing("3", target="c"))


async def test_token_permission_and_target_errors(sandbox, th):
    await refused(th.publish(sandbox.client, account("revoked.x"), outgoing()), ErrorClass.AUTH_REVOKED)
    await refused(th.publish(sandbox.client, account("expired.x"), outgoing()), ErrorClass.AUTH_EXPIRED)
    await refused(th.publish(sandbox.client, account("noperm.x"), outgoing()), ErrorClass.PERMISSION_DENIED)
    await refused(th.publish(sandbox.client, account(user_id="0999"), outgoing()), ErrorClass.TARGET_GONE)
    await sandbox.revoke("threads", TOKEN)
    await refused(th.verify(sandbox.client, account()), ErrorClass.AUTH_REVOKED)


async def test_reconcile(sandbox, th):
    post = outgoing("Dicari lagi")
    assert await th.reconcile(sandbox.client, account(), post) is None
    published = await th.publish(sandbox.client, account(), post)
    found = await ThreadsAdapter().reconcile(sandbox.client, account(), post)
    assert found == published


async def test_answer_lost_on_threads_publish(live, th):
    kept: dict = {}
    post = outgoing("Jawaban hilang", progress=kept)
    acc = account(base=live.base)
    await live.faults("threads", "ok", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(th.publish(impatient, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    [recorded] = await live.posts("threads")
    found = await ThreadsAdapter().reconcile(live.client, acc, post)
    assert found is not None and found.platform_post_id == recorded["id"]
    # publish() on a kept PUBLISHED container also finds the post instead of posting again.
    again = await ThreadsAdapter().publish(live.client, acc, post)
    assert again.platform_post_id == recorded["id"] and len(await live.posts("threads")) == 1


async def test_refresh(sandbox, th):
    refreshed = await th.refresh(sandbox.client, account())
    assert refreshed.credentials["access_token"] != TOKEN
    assert close_to(refreshed.expires_at, datetime.now(UTC) + timedelta(seconds=5_183_944), 10)
    await th.publish(sandbox.client, account(refreshed.credentials["access_token"]), outgoing())
    await refused(th.refresh(sandbox.client, account("revoked.y")), ErrorClass.AUTH_REVOKED)


async def test_insights_and_audience(sandbox, th):
    published = await th.publish(sandbox.client, account(), outgoing("Diukur"))
    await sandbox.advance(2 * 3600)
    values = await th.insights(sandbox.client, account(), published.platform_post_id)
    low = th_sandbox.media_insights(published.platform_post_id, 2 * 3600)
    high = th_sandbox.media_insights(published.platform_post_id, 2 * 3600 + 10)
    assert set(values) == {"views", "likes", "replies", "reposts", "quotes", "shares"}
    assert all(low[k] <= v <= high[k] for k, v in values.items())
    assert values["views"] > 0
    audience = await th.audience(sandbox.client, account())
    assert audience == {"followers_count": th_sandbox.followers_count(USER_ID, 1)}
