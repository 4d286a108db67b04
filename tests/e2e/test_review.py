"""Review before publishing, end to end through the events: an editor writes, a reviewer
approves, the post goes out; a post nobody approved by its time does not, and says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .conftest import EDITOR_TOKEN, REVIEWER_TOKEN, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def review_required(stack, accounts):
    """The scheduler restarted with SIAR_REVIEW_REQUIRED=true for one test, then as it was."""
    scheduler = stack.services["scheduler"]
    scheduler.env["SIAR_REVIEW_REQUIRED"] = "true"
    stack.restart("scheduler")
    try:
        yield
    finally:
        scheduler.env.pop("SIAR_REVIEW_REQUIRED", None)
        stack.restart("scheduler")


def client(token: str) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def test_an_editor_writes_a_reviewer_approves_and_the_post_goes_out(stack, accounts, sandbox, tap, review_required):
    scheduler = stack.url("scheduler")
    text = "Bedah buku bersama penulis, Sabtu ini di perpustakaan! #PalembangBaca"
    due = datetime.now(UTC) + timedelta(seconds=4)
    with client(EDITOR_TOKEN) as editor, client(REVIEWER_TOKEN) as reviewer:
        response = editor.post(f"{scheduler}/v1/posts", json={
            "text": text, "targets": [accounts["mastodon"]["account_id"]], "scheduled_at": due.isoformat()})
        assert response.status_code == 201, response.text
        post = response.json()
        assert post["status"] == "in_review"

        refused = editor.post(f"{scheduler}/v1/posts/{post['post_id']}/approve")
        assert refused.status_code == 403
        approved = reviewer.post(f"{scheduler}/v1/posts/{post['post_id']}/approve", json={"comment": "Siap tayang"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "scheduled"

        def published():
            body = editor.get(f"{scheduler}/v1/posts/{post['post_id']}").json()
            return body if body["status"] == "published" else None

        body = await wait_until(published, timeout=25)
        audit = editor.get(f"{scheduler}/v1/audit", params={"entity_id": post["post_id"]}).json()["entries"]

    on_platform = [p for p in sandbox.get("/_sandbox/posts").json()["posts"] if p["text"] == text]
    assert len(on_platform) == 1
    assert body["targets"][0]["url"] == on_platform[0]["url"]
    received = datetime.fromisoformat(on_platform[0]["received_at"])
    assert timedelta(0) <= received - due < timedelta(seconds=2)  # at its time, not when approved

    await wait_until(lambda: len(tap.of(post["correlation_id"])) >= 4, timeout=10)
    story = [(e["_routing_key"], e["data"].get("review_state")) for e in tap.of(post["correlation_id"])]
    assert story == [("post.scheduled", "in_review"), ("post.updated", "approved"), ("post.due", None),
                     ("post.published", None)]
    # The editor's refused attempt is on record too (four eyes are a control).
    assert [e["action"] for e in audit] == ["post.created", "post.approve_refused", "post.approved"]
    assert [e["role"] for e in audit] == ["editor", "editor", "reviewer"]


async def test_a_post_nobody_approved_by_its_time_does_not_go_out_and_says_why(stack, accounts, sandbox, tap,
                                                                              review_required):
    scheduler = stack.url("scheduler")
    text = "Pengumuman yang belum diperiksa siapa pun."
    with client(EDITOR_TOKEN) as editor:
        response = editor.post(f"{scheduler}/v1/posts", json={
            "text": text, "targets": [accounts["telegram"]["account_id"]],
            "scheduled_at": (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()})
        assert response.status_code == 201, response.text
        post = response.json()

        def settled():
            body = editor.get(f"{scheduler}/v1/posts/{post['post_id']}").json()
            return body if body["status"] != "in_review" else None

        body = await wait_until(settled, timeout=15)

    target = body["targets"][0]
    assert body["status"] == "failed"
    assert target["error_class"] == "not_approved"
    assert "no reviewer approved it before its time" in target["reason"]

    await wait_until(lambda: len(tap.of(post["correlation_id"])) >= 2, timeout=10)
    events = tap.of(post["correlation_id"])
    assert [e["_routing_key"] for e in events] == ["post.scheduled", "post.failed"]
    assert events[1]["data"]["error_class"] == "not_approved"
    assert events[1]["source"] == "/siar/scheduler"
    # Nothing reached the platform, and nothing will.
    assert not [p for p in sandbox.get("/_sandbox/posts").json()["posts"] if p["text"] == text]
