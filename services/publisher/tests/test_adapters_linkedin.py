"""The LinkedIn adapter against the real sandbox: the Posts API with image upload
(initializeUpload -> PUT -> post), the URN in x-restli-id, every error class, duplicates,
reconcile, programmatic token refresh and organization statistics. No mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from siar_contracts import ErrorClass
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters import linkedin as linkedin_adapter
from siar_publisher.adapters.linkedin import LinkedInAdapter, little_text
from siar_publisher.settings import PublisherSettings
from siar_publisher.transport import http_client
from siar_sandbox import linkedin as li_sandbox

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
PERSON = f"urn:li:person:{li_sandbox.person_id('perpuskota')}"
ORG = "urn:li:organization:2414183"
CLIENT = {"client_id": "86abc", "client_secret": "s3cret"}


@pytest.fixture
def li() -> LinkedInAdapter:
    adapter = LinkedInAdapter()
    adapter.poll_first_delay = 0.05
    return adapter


def account(token: str = TOKEN, author: str = PERSON, base: str = SANDBOX, **credentials) -> Account:
    return Account(account_id="acc-li", platform="linkedin", handle="perpuskota", base_url=f"{base}/linkedin",
                   credentials={"access_token": token, **credentials}, settings={"author": author})  # fmt: skip


def test_registered():
    assert isinstance(ADAPTERS["linkedin"], LinkedInAdapter)


def test_little_text():
    assert little_text("Lomba (anak) #BacaBuku @perpus_kota!") == "Lomba \\(anak\\) #BacaBuku \\@perpus\\_kota!"
    url = "https://perpus.example/acara_2026(1)?a=b#daftar"
    assert little_text(f"Daftar: {url} *segera*") == f"Daftar: {url} \\*segera\\*"
    assert li_sandbox.unescape(little_text("a_b [c] #Tag_x <d>")) == "a_b [c] #Tag_x <d>"
    assert li_sandbox.unescape("{hashtag|\\#|BacaBuku}") == "#BacaBuku"


async def test_verify_a_member_and_an_organization(sandbox, li):
    member = await li.verify(sandbox.client, account(**CLIENT))
    assert member.handle == li_sandbox.person_id("perpuskota") and member.display_name == "Perpuskota Library"
    assert close_to(member.token_expires_at, datetime.now(UTC) + timedelta(days=60), 10)
    org = await li.verify(sandbox.client, account(author=ORG))
    assert org.handle == "perpustakaan-4183" and org.display_name == "Perpustakaan 4183"
    assert org.token_expires_at is None  # no client credentials to introspect with
    other = f"urn:li:person:{li_sandbox.person_id('someone')}"
    await refused(li.verify(sandbox.client, account(author=other)), ErrorClass.PERMISSION_DENIED)


async def test_publishes_text(sandbox, li):
    post = outgoing("Jam buka (baru) #perpustakaan")
    published = await li.publish(sandbox.client, account(), post)
    [recorded] = await sandbox.posts("linkedin")
    assert published.platform_post_id.startswith("urn:li:share:") and recorded["id"] == published.platform_post_id
    assert published.url == f"https://www.linkedin.com/feed/update/{published.platform_post_id}" == recorded["url"]
    assert recorded["text"] == post.text  # the escaped commentary reads as written
    [create] = sandbox.ends("/rest/posts", "POST")
    assert create.status == 201 and create.headers["x-restli-id"] == published.platform_post_id


async def test_publishes_an_image_through_initialize_upload_and_put(sandbox, li):
    published = await li.publish(sandbox.client, account(author=ORG), outgoing("Poster", image()))
    [recorded] = await sandbox.posts("linkedin")
    assert recorded["id"] == published.platform_post_id and recorded["account"] == ORG
    assert [m["mime_type"] for m in recorded["media"]] == ["image/jpeg"]
    steps = [(c.method, c.path.split("/linkedin", 1)[-1].split("/")[1]) for c in sandbox.calls
             if "/linkedin/" in c.path]  # fmt: skip
    assert steps[0] == ("POST", "rest") and steps[1] == ("PUT", "dms-uploads")
    assert sandbox.ends("/rest/posts", "POST")[0].status == 201


async def test_an_image_is_fetched_within_siars_memory_cap(sandbox, li, monkeypatch):
    # A link to a huge file must not take the publisher down: the download stops at the cap.
    from siar_publisher.adapters import mediafetch

    monkeypatch.setattr(mediafetch, "MAX_MEDIA_BYTES", 500)
    error = await refused(li.publish(sandbox.client, account(), outgoing("Poster", image())), ErrorClass.INVALID_CONTENT)
    assert "larger than Siar uploads (500 bytes)" in error.reason
    assert sandbox.to("/rest/images") == [] and await sandbox.posts("linkedin") == []


async def test_publishes_several_images_as_multi_image(sandbox, li):
    await li.publish(sandbox.client, account(), outgoing("Dua", image(), image("poster.png")))
    [recorded] = await sandbox.posts("linkedin")
    assert [m["mime_type"] for m in recorded["media"]] == ["image/jpeg", "image/png"]
    element = await sandbox.client.get(
        f"{SANDBOX}/linkedin/rest/posts/{recorded['id']}",
        headers={"Authorization": f"Bearer {TOKEN}", "LinkedIn-Version": "202510"},
    )
    assert len(element.json()["content"]["multiImage"]["images"]) == 2


async def test_waits_for_an_image_to_be_processed(settings, li):
    from siar_sandbox.app import create_app
    from siar_sandbox.settings import Settings

    app = create_app(Settings(meta_image_processing_seconds=0.5))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        await li.publish(client, account(), outgoing("Diproses", image()))
        posts = (await client.get(f"{SANDBOX}/_sandbox/posts")).json()["posts"]
    assert len(posts) == 1


async def test_videos_are_not_sent(sandbox, li):
    await refused(li.publish(sandbox.client, account(), outgoing("x", video())), ErrorClass.INVALID_CONTENT)
    assert sandbox.calls == []


async def test_media_that_is_not_an_image_fails_processing(sandbox, li):
    not_image = image("clip.mp4")
    error = await refused(li.publish(sandbox.client, account(), outgoing("x", not_image)), ErrorClass.INVALID_CONTENT)
    assert "could not process the image" in error.reason
    await refused(li.publish(sandbox.client, account(), outgoing("x", image("gone.jpg"))), ErrorClass.INVALID_CONTENT)


async def test_token_errors(sandbox, li):
    await sandbox.revoke("linkedin", TOKEN)
    error = await refused(li.publish(sandbox.client, account(), outgoing()), ErrorClass.AUTH_REVOKED)
    assert "REVOKED_ACCESS_TOKEN (65601)" in (error.detail or "")
    error = await refused(li.publish(sandbox.client, account("expired.x"), outgoing()), ErrorClass.AUTH_EXPIRED)
    assert "65602" in (error.detail or "")
    await refused(li.publish(sandbox.client, account("noperm.x", author=ORG), outgoing()),
                  ErrorClass.PERMISSION_DENIED)  # fmt: skip
    await refused(li.publish(sandbox.client, account("x.y", author="urn:li:organization:0999"), outgoing()),
                  ErrorClass.TARGET_GONE)  # fmt: skip


async def test_commentary_too_long_is_invalid_content(sandbox, li):
    await refused(li.publish(sandbox.client, account(), outgoing("a" * 3001)), ErrorClass.INVALID_CONTENT)


async def test_rate_limits_have_no_headers(sandbox, li):
    await sandbox.faults("linkedin", "429")
    error = await refused(li.publish(sandbox.client, account(), outgoing()), ErrorClass.RATE_LIMITED)
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=60))
    assert "retry-after" not in sandbox.ends("/rest/posts")[-1].headers


async def test_daily_limit_waits_for_midnight_utc(sandbox, li):
    await sandbox.limit("linkedin", "posts", 1, 86400)
    await li.publish(sandbox.client, account(), outgoing("satu"))
    error = await refused(li.publish(sandbox.client, account(), outgoing("dua", target="t2")),
                          ErrorClass.QUOTA_EXHAUSTED)  # fmt: skip
    now = datetime.now(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    assert midnight <= error.retry_at <= midnight + timedelta(minutes=2)


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
async def test_server_errors_on_the_post_leave_the_outcome_unknown(sandbox, li, kind):
    # A 5xx answering POST /rest/posts may come while the post is live: never re-sent blindly,
    # the next attempt looks among the author's posts first.
    await sandbox.faults("linkedin", kind)
    post = outgoing()
    error = await refused(li.publish(sandbox.client, account(), post), ErrorClass.OUTCOME_UNKNOWN)
    assert f"HTTP {kind}" in (error.detail or "")
    assert await li.reconcile(sandbox.client, account(), post) is None  # not live: safe to send again
    published = await li.publish(sandbox.client, account(), post)
    assert [p["id"] for p in await sandbox.posts("linkedin")] == [published.platform_post_id]


async def test_a_server_error_on_the_image_upload_is_transient(sandbox, li):
    await sandbox.faults("linkedin", "503")  # initializeUpload: nothing public yet
    await refused(li.publish(sandbox.client, account(), outgoing("Foto", image())), ErrorClass.TRANSIENT)
    assert await sandbox.posts("linkedin") == []


def versioned(version: str | None = None, author: str = PERSON) -> Account:
    settings = {"author": author, **({"linkedin_version": version} if version else {})}
    return Account(account_id="acc-li", platform="linkedin", handle="perpuskota", base_url=f"{SANDBOX}/linkedin",
                   credentials={"access_token": TOKEN}, settings=settings)  # fmt: skip


async def test_an_inactive_linkedin_version_is_a_configuration_error(sandbox, li):
    # 426: the version Siar sends is retired; the post is fine, an operator must act.
    error = await refused(li.publish(sandbox.client, versioned("2025"), outgoing()), ErrorClass.INTERNAL)
    assert "no longer supports the API version" in error.reason and "LinkedIn-Version 2025" in error.reason
    assert "SIAR_LINKEDIN_VERSION" in error.reason and "refused the post" not in error.reason
    assert error.status == 426 and "NONEXISTENT_VERSION" in (error.detail or "")
    error = await refused(li.verify(sandbox.client, versioned("2025", author=ORG)), ErrorClass.INTERNAL)
    assert error.connect_reason and "SIAR_LINKEDIN_VERSION" in error.connect_reason


async def test_the_linkedin_version_is_recent_and_an_operator_may_set_it(sandbox, li, monkeypatch):
    assert linkedin_adapter.DEFAULT_VERSION >= "202611"
    sent: list[str] = []

    async def keep_version(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/rest/posts"):
            sent.append(request.headers["linkedin-version"])

    sandbox.client.event_hooks = {**sandbox.client.event_hooks,
                                  "request": [*sandbox.client.event_hooks["request"], keep_version]}  # fmt: skip
    monkeypatch.delenv("SIAR_LINKEDIN_VERSION", raising=False)
    await li.publish(sandbox.client, versioned(), outgoing("satu", target="t1"))
    monkeypatch.setenv("SIAR_LINKEDIN_VERSION", "202612")
    await li.publish(sandbox.client, versioned(), outgoing("dua", target="t2"))
    await li.publish(sandbox.client, versioned("202609"), outgoing("tiga", target="t3"))  # the account's own
    assert sent == [linkedin_adapter.DEFAULT_VERSION, "202612", "202609"]
    assert PublisherSettings(linkedin_version="202612").linkedin_version == "202612"
    with pytest.raises(ValueError):
        PublisherSettings(linkedin_version="2026-12")


async def test_duplicate_of_an_older_post_is_duplicate(sandbox, li):
    await li.publish(sandbox.client, account(), outgoing("Sama persis", target="earlier"))
    await sandbox.advance(-3600)
    later = outgoing("Sama persis", target="later", first_attempt_at=datetime.now(UTC) + timedelta(minutes=30))
    await sandbox.advance(3600)
    # LinkedIn names the duplicate in errorDetails.inputErrors, with no top-level code.
    error = await refused(li.publish(sandbox.client, account(), later), ErrorClass.DUPLICATE)
    assert "urn:li:share:" in (error.detail or "") and "DUPLICATE_POST" in (error.detail or "")


async def test_duplicate_of_our_own_lost_post_is_published(sandbox, li):
    post = outgoing("Sekali saja")
    first = await li.publish(sandbox.client, account(), post)
    again = await li.publish(sandbox.client, account(), post)
    assert again == first and len(await sandbox.posts("linkedin")) == 1


async def test_answer_lost_then_reconcile_by_the_author_s_posts(live, li):
    post = outgoing("Terbit, jawabannya hilang #perpustakaan")
    acc = account(base=live.base)
    await live.faults("linkedin", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(li.publish(impatient, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    assert "ReadTimeout" in (error.detail or "")
    [recorded] = await live.posts("linkedin")
    found = await li.reconcile(live.client, acc, post)
    assert found is not None and found.platform_post_id == recorded["id"]
    assert await li.reconcile(live.client, acc, outgoing("lain")) is None


async def test_answer_lost_on_the_image_upload_is_retried(live, li):
    post = outgoing("Foto", image(base=f"{live.base}/_sandbox/media"))
    acc = account(base=live.base)
    await live.faults("linkedin", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        await refused(li.publish(impatient, acc, post), ErrorClass.TRANSIENT)
    published = await li.publish(live.client, acc, post)
    assert [p["id"] for p in await live.posts("linkedin")] == [published.platform_post_id]


async def test_refresh_with_a_programmatic_refresh_token(sandbox, li):
    acc = account(refresh_token="perpuskota.refresh", **CLIENT)
    refreshed = await li.refresh(sandbox.client, acc)
    token = refreshed.credentials["access_token"]
    assert token != TOKEN and refreshed.credentials["refresh_token"] == "perpuskota.refresh"
    assert close_to(refreshed.expires_at, datetime.now(UTC) + timedelta(days=60), 10)
    await li.publish(sandbox.client, account(token), outgoing("token baru"))
    await refused(li.refresh(sandbox.client, account()), ErrorClass.AUTH_REVOKED)  # no refresh token
    await sandbox.revoke("linkedin", "perpuskota.refresh")
    error = await refused(li.refresh(sandbox.client, acc), ErrorClass.AUTH_REVOKED)
    assert "invalid_grant" in (error.detail or "")


async def test_a_refreshed_token_ends_after_sixty_days(sandbox, li):
    refreshed = await li.refresh(sandbox.client, account(refresh_token="perpuskota.refresh", **CLIENT))
    await sandbox.advance(61 * 86400)
    await refused(li.publish(sandbox.client, account(refreshed.credentials["access_token"]), outgoing()),
                  ErrorClass.AUTH_EXPIRED)  # fmt: skip


async def test_organization_statistics_grow_and_followers(sandbox, li):
    acc = account(author=ORG)
    published = await li.publish(sandbox.client, acc, outgoing("Diukur"))
    await sandbox.advance(3 * 3600)
    stats = await li.insights(sandbox.client, acc, published.platform_post_id)
    low = li_sandbox.share_statistics(published.platform_post_id, 3 * 3600)
    high = li_sandbox.share_statistics(published.platform_post_id, 3 * 3600 + 10)
    assert set(stats) == {"impressionCount", "uniqueImpressionsCount", "clickCount", "likeCount",
                          "commentCount", "shareCount", "engagement"}  # fmt: skip
    for name in ("impressionCount", "clickCount", "likeCount"):
        assert low[name] <= stats[name] <= high[name]
    assert stats["impressionCount"] > 0 and isinstance(stats["engagement"], float)
    assert await li.audience(sandbox.client, acc) == {"firstDegreeSize": li_sandbox.follower_count(ORG, 1)}
    # A member's posts have no statistics in the Posts API.
    assert await li.insights(sandbox.client, account(), published.platform_post_id) == {}
    assert await li.audience(sandbox.client, account()) == {}
