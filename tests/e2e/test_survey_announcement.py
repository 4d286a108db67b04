"""A survey opened with an account to announce it on: the scheduler posts its link there."""

from __future__ import annotations

import uuid

import pytest

from .conftest import wait_until

pytestmark = pytest.mark.e2e


async def test_opening_a_survey_posts_its_announcement(stack, accounts, api, sandbox):
    mastodon = accounts["mastodon"]
    slug = f"survei-{uuid.uuid4().hex[:8]}"
    created = api.post(f"{stack.url('feedback')}/v1/surveys", json={
        "slug": slug,
        "title": {"id": "Survei Pemustaka", "en": "Patron survey"},
        "channels": ["mastodon", "poster"],
        "questions": [{"key": "kepuasan", "kind": "rating", "required": True,
                       "text": {"id": "Seberapa puas Anda?", "en": "How satisfied are you?"}}],
    })
    assert created.status_code == 201, created.text
    opened = api.post(f"{stack.url('feedback')}/v1/surveys/{slug}/open", json={"announce": [
        {"platform": "mastodon", "account_id": mastodon["account_id"]},
        {"platform": "poster", "channel": "poster"},  # no account: a suggestion, not a post
    ]})
    assert opened.status_code == 200, opened.text

    def announced():
        return [p for p in sandbox.get("/_sandbox/posts").json()["posts"] if f"/s/{slug}" in p["text"]]

    posts = await wait_until(announced, timeout=20)
    assert len(posts) == 1
    assert posts[0]["platform"] == "mastodon"
    assert f"/s/{slug}?ch=mastodon" in posts[0]["text"]
