"""One post, scheduled through the HTTP API, published on the sandbox exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .conftest import wait_until

pytestmark = pytest.mark.e2e


async def test_a_post_goes_out_on_time_exactly_once(stack, accounts, api, sandbox, tap):
    mastodon = accounts["mastodon"]
    due = datetime.now(UTC) + timedelta(seconds=2)
    response = api.post(
        f"{stack.url('scheduler')}/v1/posts",
        json={
            "text": "Pameran buku anak di Perpustakaan Palembang! #PalembangBaca",
            "targets": [mastodon["account_id"]],
            "scheduled_at": due.astimezone().isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    post = response.json()
    assert post["status"] == "scheduled"
    assert response.headers["location"] == f"/v1/posts/{post['post_id']}"

    def published():
        body = api.get(f"{stack.url('scheduler')}/v1/posts/{post['post_id']}").json()
        return body if body["status"] == "published" else None

    body = await wait_until(published, timeout=20)
    target = body["targets"][0]

    # On the sandbox exactly once, and the API shows its real URL.
    posts = sandbox.get("/_sandbox/posts").json()["posts"]
    assert len(posts) == 1
    assert posts[0]["text"] == post["text"]
    assert target["url"] == posts[0]["url"]
    assert target["platform_post_id"] == posts[0]["id"]

    # Fired at its time, not at the next minute tick.
    received = datetime.fromisoformat(posts[0]["received_at"])
    assert timedelta(0) <= received - due < timedelta(seconds=2)

    # An independent subscriber saw the story in order, under one correlation id.
    await wait_until(lambda: len(tap.of(post["correlation_id"])) >= 3, timeout=10)
    names = [e["_routing_key"] for e in tap.of(post["correlation_id"])]
    assert names == ["post.scheduled", "post.due", "post.published"]
    published_event = tap.of(post["correlation_id"])[-1]
    assert published_event["type"] == "org.siar.post.published.v1"
    assert published_event["data"]["url"] == target["url"]


async def test_one_failed_platform_does_not_fail_the_other(stack, accounts, api, sandbox):
    # A channel the bot was never added to: the sandbox answers 403 like Telegram does.
    response = api.post(
        f"{stack.url('publisher')}/v1/accounts",
        json={
            "platform": "telegram",
            "base_url": f"{stack.url('sandbox')}/telegram",
            "credentials": {"bot_token": "987654321:AAHnotAMemberOfThisChannelToken0001"},
            "settings": {"chat_id": "@notmember_branch_library"},
            "handle": "@notmember_branch_library",
            "verify": False,
        },
    )
    assert response.status_code == 201, response.text
    lost = response.json()["account_id"]
    await wait_until(
        lambda: any(a["account_id"] == lost for a in api.get(f"{stack.url('scheduler')}/v1/accounts").json()["accounts"]),
        timeout=10,
    )
    response = api.post(
        f"{stack.url('scheduler')}/v1/posts",
        json={
            "text": "Jam buka perpustakaan berubah minggu ini.",
            "targets": [accounts["mastodon"]["account_id"], lost],
            "scheduled_at": datetime.now(UTC).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    post_id = response.json()["post_id"]

    def settled():
        body = api.get(f"{stack.url('scheduler')}/v1/posts/{post_id}").json()
        return body if body["status"] not in ("scheduled", "publishing") else None

    body = await wait_until(settled, timeout=20)
    by_platform = {t["platform"]: t for t in body["targets"]}
    assert body["status"] == "partially_published"
    assert by_platform["mastodon"]["status"] == "published"
    assert by_platform["telegram"]["status"] == "failed"
    assert by_platform["telegram"]["error_class"] == "permission_denied"
    assert "administrator" in by_platform["telegram"]["reason"]

    # The account now needs reconnecting, in the publisher's API and the scheduler's read model.
    account = api.get(f"{stack.url('publisher')}/v1/accounts/{lost}").json()
    assert account["status"] == "needs_reconnect"
    assert "credentials" not in account
    await wait_until(
        lambda: any(a["account_id"] == lost and a["status"] == "needs_reconnect"
                    for a in api.get(f"{stack.url('scheduler')}/v1/accounts").json()["accounts"]),
        timeout=10,
    )
