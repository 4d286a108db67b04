"""The Bluesky adapter against the real sandbox PDS: sessions kept and refreshed, blobs, facets
with UTF-8 byte offsets, the record key fixed per delivery (a retry reuses it, getRecord checks),
every error class and counts that grow with time. No mocks."""

# ruff: noqa: F811 - pytest fixtures imported from upload_kit are redefined as parameters

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import ADAPTERS, Account
from siar_publisher.adapters.bluesky import (
    BlueskyAdapter,
    jwt_expiry,
    link_and_tag_facets,
    record_key,
)
from siar_publisher.transport import http_client

from services.publisher.tests.upload_kit import (  # noqa: F401 - fixtures
    HOST,
    SANDBOX,
    big_video,
    close_to,
    disk,
    image,
    live,
    live_server,
    memory_capped,
    mp4_bytes,
    outgoing,
    refused,
    sandbox,
    settings,
    video,
)

HANDLE = "perpuskota.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")

bsky = BlueskyAdapter()


def account(identifier: str = "perpuskota", password: str = PASSWORD, base: str = SANDBOX, **kept) -> Account:
    return Account(account_id="acc-bsky", platform="bluesky", handle=HANDLE, base_url=f"{base}/bluesky",
                   credentials={"identifier": identifier, "app_password": password, **kept})  # fmt: skip


async def connected(sandbox) -> Account:
    """An account whose session is kept in its credentials, as the token refresher keeps it."""
    refreshed = await bsky.refresh(sandbox.client, account(base=sandbox.base))
    return account(base=sandbox.base, **{k: v for k, v in refreshed.credentials.items()
                                         if k not in ("identifier", "app_password")})  # fmt: skip


async def record_of(sandbox, uri: str) -> dict:
    did, _, rkey = uri.removeprefix("at://").partition("/app.bsky.feed.post/")
    r = await sandbox.client.get(f"{sandbox.base}/bluesky/xrpc/com.atproto.repo.getRecord",
                                 params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["value"]


def test_registered():
    assert isinstance(ADAPTERS["bluesky"], BlueskyAdapter)
    assert ADAPTERS["bluesky"].required_credentials == ("identifier", "app_password")


# --------------------------------------------------------------------------- record keys and facets


def test_record_key_is_a_tid_fixed_by_the_delivery():
    first = datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=UTC)
    key = record_key("siar-target-1", first)
    assert TID.match(key) and key == record_key("siar-target-1", first)
    assert key != record_key("siar-target-2", first)
    assert key != record_key("siar-target-1", first + timedelta(microseconds=1))
    # The time part sorts with the first attempt, as a TID should.
    assert record_key("k", first) < record_key("k", first + timedelta(seconds=1))
    no_time = record_key("siar-target-1", None)
    assert TID.match(no_time) and no_time == record_key("siar-target-1", None)


def test_facets_use_utf8_byte_offsets():
    text = "Acara 📚 di perpus.go.id/acara & https://example.org/x. #BacaBuku ya"
    facets = link_and_tag_facets(text)
    encoded = text.encode()
    spans = [(encoded[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(), f["features"][0]) for f in facets]
    assert spans == [
        ("perpus.go.id/acara", {"$type": "app.bsky.richtext.facet#link", "uri": "https://perpus.go.id/acara"}),
        ("https://example.org/x", {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/x"}),
        ("#BacaBuku", {"$type": "app.bsky.richtext.facet#tag", "tag": "BacaBuku"}),
    ]
    assert facets[0]["index"]["byteStart"] == len("Acara 📚 di ".encode())  # not the character index
    assert link_and_tag_facets("https://x.org/#bukan-tag") == [
        {"index": {"byteStart": 0, "byteEnd": 24},
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://x.org/#bukan-tag"}]}]


# --------------------------------------------------------------------------- sessions


async def test_verify_and_keep_a_session(sandbox):
    verified = await bsky.verify(sandbox.client, account())
    assert verified.handle == HANDLE and verified.display_name == "Perpuskota"
    assert close_to(verified.token_expires_at, datetime.now(UTC))  # no session kept yet: make one now
    acc = await connected(sandbox)
    creds = acc.credentials
    assert creds["did"].startswith("did:plc:") and creds["access_jwt"] and creds["refresh_jwt"]
    assert close_to(jwt_expiry(creds["access_jwt"]), datetime.now(UTC) + timedelta(hours=2))
    kept = await bsky.verify(sandbox.client, acc)
    assert kept.token_expires_at == jwt_expiry(creds["access_jwt"])


async def test_refresh_session_rotates_and_falls_back_to_the_app_password(sandbox):
    acc = await connected(sandbox)
    refreshed = await bsky.refresh(sandbox.client, acc)
    assert refreshed.credentials["refresh_jwt"] != acc.credentials["refresh_jwt"]
    assert sandbox.to("refreshSession")[-1].status == 200
    # The old refresh token is spent: the adapter makes a new session from the app password.
    again = await bsky.refresh(sandbox.client, acc)
    assert sandbox.to("refreshSession")[-1].status == 400 and again.credentials["access_jwt"]
    # Without a usable app password either, a person must reconnect the account.
    await sandbox.token("revoke", "bluesky", PASSWORD)
    error = await refused(bsky.refresh(sandbox.client, acc), ErrorClass.AUTH_REVOKED)
    assert "AuthenticationRequired" in (error.detail or "")


async def test_wrong_password_and_taken_down_account(sandbox):
    await refused(bsky.verify(sandbox.client, account(password="wrong-pass")), ErrorClass.AUTH_REVOKED)
    await refused(bsky.publish(sandbox.client, account(password="wrong-pass"), outgoing()), ErrorClass.AUTH_REVOKED)
    error = await refused(bsky.verify(sandbox.client, account("takendown")), ErrorClass.PERMISSION_DENIED)
    assert "AccountTakedown" in (error.detail or "")


# --------------------------------------------------------------------------- publishing


async def test_publishes_text_with_facets(sandbox):
    acc = await connected(sandbox)
    text = "Halo @teman.bsky.social! Jadwal 🗓️ di perpus.go.id/jadwal #literasi"
    post = outgoing(text)
    published = await bsky.publish(sandbox.client, acc, post)
    rkey = record_key(post.idempotency_key, post.first_attempt_at)
    assert published.platform_post_id == f"at://{acc.credentials['did']}/app.bsky.feed.post/{rkey}"
    assert published.url == f"https://bsky.app/profile/{HANDLE}/post/{rkey}"
    [recorded] = await sandbox.posts("bluesky")
    assert recorded["id"] == published.platform_post_id and recorded["text"] == text
    assert recorded["idempotency_key"] == rkey and recorded["url"] == published.url
    value = await record_of(sandbox, published.platform_post_id)
    encoded = text.encode()
    kinds = [(encoded[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(), f["features"][0]["$type"])
             for f in value["facets"]]  # fmt: skip
    assert kinds == [("@teman.bsky.social", "app.bsky.richtext.facet#mention"),
                     ("perpus.go.id/jadwal", "app.bsky.richtext.facet#link"),
                     ("#literasi", "app.bsky.richtext.facet#tag")]  # fmt: skip
    assert value["facets"][0]["features"][0]["did"].startswith("did:plc:")
    assert value["createdAt"].endswith("Z")


async def test_unknown_mentions_stay_plain_text(sandbox):
    acc = await connected(sandbox)
    published = await bsky.publish(sandbox.client, acc, outgoing("Kirim ke @unknown.example.com"))
    assert "facets" not in await record_of(sandbox, published.platform_post_id)


async def test_publishes_images_and_a_video(sandbox):
    acc = await connected(sandbox)
    published = await bsky.publish(sandbox.client, acc, outgoing("Dua foto", image(), image("photo.jpg", alt=None)))
    embed = (await record_of(sandbox, published.platform_post_id))["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [(i["alt"], i["image"]["mimeType"]) for i in embed["images"]] == [
        ("Poster lomba membaca", "image/png"), ("", "image/jpeg")]
    clip = await bsky.publish(sandbox.client, acc, outgoing("Video", video(), target="t-2"))
    embed = (await record_of(sandbox, clip.platform_post_id))["embed"]
    assert embed["$type"] == "app.bsky.embed.video" and embed["video"]["mimeType"] == "video/mp4"
    assert embed["alt"] == "Cuplikan acara"
    assert len(sandbox.to("uploadBlob")) == 3


async def test_an_image_over_the_blob_limit_is_refused_before_uploading(sandbox):
    # Its size was not given with the post, so only the download tells: 2,000,001 bytes is over
    # app.bsky.embed.images' 2,000,000 (the PDS would keep the blob and refuse the record).
    acc = await connected(sandbox)
    big = MediaItem(url=f"{HOST}/2000001.bin", kind="image", mime_type="image/png")
    error = await refused(bsky.publish(sandbox.client, acc, outgoing("Poster besar", big)), ErrorClass.INVALID_CONTENT)
    assert "up to 2,000,000 bytes" in error.reason and big.url in error.reason
    assert sandbox.to("uploadBlob") == [] and sandbox.to("createRecord") == []
    # Far over: the download itself stops at the limit.
    huge = MediaItem(url=f"{HOST}/50000000.bin", kind="image", mime_type="image/png")
    error = await refused(bsky.publish(sandbox.client, acc, outgoing("Poster raksasa", huge)), ErrorClass.INVALID_CONTENT)
    assert "up to 2,000,000 bytes" in error.reason and sandbox.to("uploadBlob") == []
    exactly = MediaItem(url=f"{HOST}/2000000.mp4", kind="video")  # a video may be far larger
    await bsky.publish(sandbox.client, acc, outgoing("Video", exactly, target="t-2"))


async def test_a_video_goes_from_disk_as_it_is_read(sandbox, memory_capped, disk):
    # 3 MiB against a 64 KiB memory cap here (200 MiB in the service; Bluesky takes 300 MB).
    acc = await connected(sandbox)
    size = 3 * 1024**2 + 7
    clip = await bsky.publish(sandbox.client, acc, outgoing("Video", big_video(size)))
    embed = (await record_of(sandbox, clip.platform_post_id))["embed"]
    digest = base64.b32encode(hashlib.sha256(mp4_bytes(size)).digest()).decode().lower().rstrip("=")
    assert embed["video"]["size"] == size and embed["video"]["ref"]["$link"] == "bafkrei" + digest  # every byte
    assert memory_capped.held == 0 and disk.held == 0


async def test_a_retry_reuses_the_record_key(sandbox):
    acc = await connected(sandbox)
    post = outgoing("Sekali saja")
    first = await bsky.publish(sandbox.client, acc, post)
    again = await bsky.publish(sandbox.client, acc, post)  # the same delivery, another attempt
    assert again == first
    assert sandbox.to("createRecord")[-1].status == 500  # the key is taken...
    assert sandbox.to("getRecord")[-1].status == 200  # ...by this very post
    assert len(await sandbox.posts("bluesky")) == 1
    other = await bsky.publish(sandbox.client, acc, outgoing("Sekali saja", target="t-2"))
    assert other.platform_post_id != first.platform_post_id


async def test_a_server_error_before_the_record_exists_is_transient(sandbox):
    acc = await connected(sandbox)
    await sandbox.faults("bluesky", "500")
    error = await refused(bsky.publish(sandbox.client, acc, outgoing()), ErrorClass.TRANSIENT)
    assert error.status == 500 and sandbox.to("getRecord")[-1].status == 400  # RecordNotFound
    await bsky.publish(sandbox.client, acc, outgoing())
    assert len(await sandbox.posts("bluesky")) == 1


async def test_publishes_without_a_kept_session(sandbox):
    published = await bsky.publish(sandbox.client, account(), outgoing())
    assert len(sandbox.to("createSession")) == 1
    assert [p["id"] for p in await sandbox.posts("bluesky")] == [published.platform_post_id]


# --------------------------------------------------------------------------- errors


async def test_expired_session_then_refresh(sandbox):
    acc = await connected(sandbox)
    await sandbox.advance(2 * 3600 + 5)
    error = await refused(bsky.publish(sandbox.client, acc, outgoing()), ErrorClass.AUTH_EXPIRED)
    assert error.status == 400 and "ExpiredToken" in (error.detail or "")
    refreshed = await bsky.refresh(sandbox.client, acc)
    renewed = account(**{k: v for k, v in refreshed.credentials.items() if k not in ("identifier", "app_password")})
    await bsky.publish(sandbox.client, renewed, outgoing())
    assert len(await sandbox.posts("bluesky")) == 1


async def test_token_expired_through_control(sandbox):
    acc = await connected(sandbox)
    await sandbox.token("expire", "bluesky", acc.credentials["access_jwt"])
    await refused(bsky.publish(sandbox.client, acc, outgoing()), ErrorClass.AUTH_EXPIRED)


async def test_rate_limit_headers(sandbox):
    acc = await connected(sandbox)
    await sandbox.limit("bluesky", "account", 1, 300)
    await bsky.publish(sandbox.client, acc, outgoing("satu"))
    ok = sandbox.to("createRecord")[-1]
    assert ok.headers["ratelimit-remaining"] == "0" and ok.headers["ratelimit-policy"] == "1;w=300"
    error = await refused(bsky.publish(sandbox.client, acc, outgoing("dua", target="t-2")), ErrorClass.RATE_LIMITED)
    throttled = sandbox.to("createRecord")[-1]
    assert throttled.status == 429 and "RateLimitExceeded" in (error.detail or "")
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=int(throttled.headers["retry-after"])))
    assert error.retry_at <= datetime.fromtimestamp(int(throttled.headers["ratelimit-reset"]), UTC) + timedelta(seconds=1)


async def test_rate_limit_fault(sandbox):
    acc = await connected(sandbox)
    await sandbox.faults("bluesky", "429", retry_after_seconds=25)
    error = await refused(bsky.publish(sandbox.client, acc, outgoing()), ErrorClass.RATE_LIMITED)
    assert close_to(error.retry_at, datetime.now(UTC) + timedelta(seconds=25))


@pytest.mark.parametrize("code", ["502", "503", "504"])
async def test_other_server_errors_are_transient(sandbox, code):
    acc = await connected(sandbox)
    await sandbox.faults("bluesky", code)
    error = await refused(bsky.publish(sandbox.client, acc, outgoing()), ErrorClass.TRANSIENT)
    assert error.status == int(code) and await sandbox.posts("bluesky") == []


async def test_invalid_record_is_invalid_content(sandbox):
    acc = await connected(sandbox)
    error = await refused(bsky.publish(sandbox.client, acc, outgoing("a" * 301)), ErrorClass.INVALID_CONTENT)
    assert "300 graphemes" in error.reason
    await bsky.publish(sandbox.client, acc, outgoing("é" * 300, target="t-2"))  # 300 graphemes, 600 bytes


# --------------------------------------------------------------------------- reconcile


async def test_reconcile_asks_for_the_record_key(sandbox):
    acc = await connected(sandbox)
    post = outgoing("Periksa dulu")
    assert await bsky.reconcile(sandbox.client, acc, post) is None
    published = await bsky.publish(sandbox.client, acc, post)
    assert await bsky.reconcile(sandbox.client, acc, post) == published
    assert await bsky.reconcile(sandbox.client, account(), post) == published  # without a kept session


async def test_answer_lost_after_commit_then_reconcile(live):
    acc = await connected(live)
    post = outgoing("Terkirim, jawabannya hilang")
    await live.faults("bluesky", "timeout_after_commit", timeout_seconds=2)
    async with http_client(timeout_seconds=0.5) as impatient:
        error = await refused(bsky.publish(impatient, acc, post), ErrorClass.OUTCOME_UNKNOWN)
    assert "ReadTimeout" in (error.detail or "")
    [recorded] = await live.posts("bluesky")
    found = await bsky.reconcile(live.client, acc, post)
    assert found is not None and found.platform_post_id == recorded["id"]


# --------------------------------------------------------------------------- metrics


async def test_counts_grow_with_time(sandbox):
    acc = await connected(sandbox)
    published = await bsky.publish(sandbox.client, acc, outgoing("Metrik"))
    fresh = await bsky.insights(sandbox.client, acc, published.platform_post_id)
    assert set(fresh) == {"likeCount", "repostCount", "replyCount", "quoteCount", "bookmarkCount"}
    await sandbox.advance(86_400)
    later = await connected(sandbox)  # the first session expired meanwhile
    grown = await bsky.insights(sandbox.client, later, published.platform_post_id)
    assert grown["likeCount"] > fresh["likeCount"]
    audience = await bsky.audience(sandbox.client, later)
    assert set(audience) == {"followersCount", "followsCount", "postsCount"} and audience["postsCount"] == 1
    missing = published.platform_post_id.rsplit("/", 1)[0] + "/2222222222222"
    await refused(bsky.insights(sandbox.client, later, missing), ErrorClass.TARGET_GONE)


async def test_metrics_reads_can_fail_like_posts(sandbox):
    acc = await connected(sandbox)
    published = await bsky.publish(sandbox.client, acc, outgoing("Metrik"))
    await sandbox.faults("bluesky", "503", "429", calls="reads")
    await refused(bsky.insights(sandbox.client, acc, published.platform_post_id), ErrorClass.TRANSIENT)
    await refused(bsky.audience(sandbox.client, acc), ErrorClass.RATE_LIMITED)
    assert await bsky.insights(sandbox.client, acc, published.platform_post_id)
