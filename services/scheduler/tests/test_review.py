"""Review before publishing, content checks at submission, campaigns and the audit log, through
the HTTP API against the real database and broker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from .conftest import auth


def later(seconds: float = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def create(client, accts, who="editor", **body):
    payload = {"text": "Pameran buku anak minggu ini!", "targets": [accts["telegram"]], "scheduled_at": later()} | body
    response = await client.post("/v1/posts", json=payload, headers=auth(who))
    assert response.status_code == 201, response.text
    return response.json()


async def test_without_review_a_post_is_approved_at_once(planner, accts, tap):
    post = await create(planner, accts)
    assert post["status"] == "scheduled"
    assert post["review"]["state"] == "approved"
    [event] = await tap.wait(lambda: tap.of(post["post_id"], "post.scheduled"))
    assert event["data"]["review_state"] == "approved"


async def test_the_reviewer_path(reviewed, accts, tap):
    post = await create(reviewed, accts)
    pid = post["post_id"]
    assert (post["status"], post["review"]["state"]) == ("in_review", "in_review")

    # The editor may not approve; a reviewer may not approve their own post.
    refused = await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("editor"))
    assert refused.status_code == 403
    assert "reviewers" in refused.json()["detail"]
    own = await create(reviewed, accts, who="reviewer")
    refused = await reviewed.post(f"/v1/posts/{own['post_id']}/approve", headers=auth("reviewer"))
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("own-post")

    # Sent back with a comment: a draft again, the comment shown. Spaces are no comment.
    blank = await reviewed.post(f"/v1/posts/{pid}/send-back", json={"comment": "   "}, headers=auth("reviewer"))
    assert blank.status_code == 422, blank.text
    back = await reviewed.post(f"/v1/posts/{pid}/send-back", json={"comment": "Sebutkan sumbernya."},
                               headers=auth("reviewer"))
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "draft"
    assert back.json()["review"]["comment"] == "Sebutkan sumbernya."
    again = await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("reviewer"))
    assert again.status_code == 409
    assert "submit it first" in again.json()["detail"]

    edited = await reviewed.patch(f"/v1/posts/{pid}", json={"text": "Pameran buku anak (sumber: panitia)."})
    assert edited.json()["review"]["state"] == "draft"
    submitted = await reviewed.post(f"/v1/posts/{pid}/submit")
    assert submitted.json()["review"]["state"] == "in_review"

    approved = await reviewed.post(f"/v1/posts/{pid}/approve", json={"comment": "Oke"}, headers=auth("reviewer"))
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["review"]["state"], body["review"]["comment"]) == ("scheduled", "approved", "Oke")
    assert body["review"]["reviewed_by"].startswith("perp")
    assert body["review"]["reviewed_by"] != body["review"]["created_by"]  # same token prefix, two people

    # Changing what was approved sends it back to review.
    changed = await reviewed.patch(f"/v1/posts/{pid}", json={"text": "Teks baru"})
    assert changed.json()["review"]["state"] == "in_review"
    moved = await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("reviewer2"))
    assert moved.json()["review"]["state"] == "approved"
    # Changing only the time keeps the approval.
    timed = await reviewed.patch(f"/v1/posts/{pid}", json={"scheduled_at": later(7200)})
    assert timed.json()["review"]["state"] == "approved"

    events = await tap.wait(lambda: len(tap.of(pid)) >= 7 and tap.of(pid))
    states = [(e["_key"], e["data"].get("review_state")) for e in events]
    assert states[:3] == [("post.scheduled", "in_review"), ("post.updated", "draft"), ("post.updated", "draft")]
    assert ("post.updated", "approved") in states

    log = (await reviewed.get("/v1/audit", params={"entity": "post", "entity_id": pid})).json()["entries"]
    actions = [e["action"] for e in log]
    assert actions == ["post.created", "post.approve_refused", "post.sent_back", "post.updated", "post.submitted",
                       "post.approved", "post.updated", "post.approved", "post.updated"]
    # The editor's refused attempt is on record with its reason, and so is the reviewer's own-post attempt.
    assert (log[1]["role"], log[1]["details"]["reason"]) == (
        "editor", "approving and sending back is for reviewers; this token's role is editor")
    assert log[2]["details"]["comment"] == "Sebutkan sumbernya."
    assert log[3]["details"]["text"]["to"] == "Pameran buku anak (sumber: panitia)."
    assert {e["role"] for e in log} == {"editor", "reviewer"}
    [mine] = [e for e in (await reviewed.get("/v1/audit", params={"entity_id": own["post_id"]})).json()["entries"]
              if e["action"] == "post.approve_refused"]
    assert mine["role"] == "reviewer" and "another reviewer must approve it" in mine["details"]["reason"]


async def test_a_post_not_approved_by_its_time_does_not_go_out_and_says_why(reviewed, accts, tap):
    post = await create(reviewed, accts, scheduled_at=later(1.0))
    pid = post["post_id"]

    async def settled():
        while True:
            body = (await reviewed.get(f"/v1/posts/{pid}")).json()
            if body["targets"][0]["status"] != "scheduled":
                return body
            await asyncio.sleep(0.1)

    body = await asyncio.wait_for(settled(), 10)
    target = body["targets"][0]
    assert body["status"] == "failed"
    assert (target["status"], target["error_class"]) == ("failed", "not_approved")
    assert "no reviewer approved it before its time" in target["reason"]

    [failed] = await tap.wait(lambda: tap.of(pid, "post.failed"))
    assert failed["data"]["error_class"] == "not_approved"
    assert failed["source"] == "/siar/scheduler"
    assert not tap.of(pid, "post.due")

    # Too late to approve as it is; a new time brings it back, then it can be approved.
    late = await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("reviewer"))
    assert late.status_code == 409
    assert "set a new time" in late.json()["detail"]
    revived = await reviewed.patch(f"/v1/posts/{pid}", json={"scheduled_at": later()})
    assert revived.json()["status"] == "in_review"
    assert revived.json()["targets"][0]["error_class"] is None
    ok = await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("reviewer"))
    assert ok.json()["status"] == "scheduled"

    entries = (await reviewed.get("/v1/audit", params={"entity_id": pid})).json()["entries"]
    assert "post.not_approved" in [e["action"] for e in entries]
    assert next(e for e in entries if e["action"] == "post.not_approved")["actor"] == "siar"


async def test_a_draft_never_goes_out_even_without_review(planner, accts):
    post = await create(planner, accts, draft=True, scheduled_at=later(0.5))
    assert post["status"] == "draft"
    for _ in range(80):
        body = (await planner.get(f"/v1/posts/{post['post_id']}")).json()
        if body["targets"][0]["status"] != "scheduled":
            break
        await asyncio.sleep(0.1)
    assert body["targets"][0]["error_class"] == "not_approved"
    assert "still a draft" in body["targets"][0]["reason"]


async def test_blocking_checks_refuse_a_submitted_post_and_name_the_word_and_where(planner, accts):
    text = "Acara ini bukan untuk kafir harbi."
    response = await planner.post("/v1/posts", json={"text": text, "targets": [accts["telegram"]], "scheduled_at": later()})
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Content checks failed"
    [finding] = [f for f in problem["findings"] if f["severity"] == "block"]
    assert (finding["check"], finding["rule"], finding["start"], finding["end"]) == ("flagged_words", "kafir harbi", 22, 33)
    assert text[finding["start"]:finding["end"]] == "kafir harbi"
    assert (await planner.get("/v1/posts")).json()["posts"] == []

    # A draft is kept with its findings; submitting it is refused until it is fixed.
    draft = await create(planner, accts, text=text, draft=True)
    assert draft["findings"][0]["check"] == "flagged_words"
    refused = await planner.post(f"/v1/posts/{draft['post_id']}/submit")
    assert refused.status_code == 422
    await planner.patch(f"/v1/posts/{draft['post_id']}", json={"text": "Acara ini untuk semua."})
    assert (await planner.post(f"/v1/posts/{draft['post_id']}/submit")).json()["status"] == "scheduled"


async def test_warnings_are_kept_with_the_post(planner, accts):
    post = await create(planner, accts, text="Ayo baca! #palembangbaca",
                        media=[{"url": "https://e.org/poster.jpg", "kind": "image"}])
    checks = {f["check"]: f for f in post["findings"]}
    assert set(checks) == {"alt_text", "hashtag_case"}
    assert checks["hashtag_case"]["suggestion"] is None  # no campaign spelling to offer; the message says what to do
    assert checks["alt_text"]["severity"] == "warn"
    dry = await planner.post("/v1/posts/check", json={"text": "https://hoaks.example/berita tanpa sumber"})
    assert dry.json()["blocked"] is False
    config = (await planner.get("/v1/content-checks")).json()
    assert config["modes"]["flagged_words"] == "block" and config["terms"] > 50
    assert config["review_required"] is False


async def test_link_sources_are_checked_where_the_library_requires_them(clean_db, amqp_url, accts):
    from .conftest import running_scheduler

    async with running_scheduler(clean_db, amqp_url, check_link_source="block",
                                 source_exempt_domains="perpus.palembang.go.id") as client:
        response = await client.post("/v1/posts", json={
            "text": "Baca beritanya: https://berita.example/a", "targets": [accts["telegram"]], "scheduled_at": later()})
        assert response.status_code == 422
        assert response.json()["findings"][0]["match"] == "https://berita.example/a"
        for text in ("Sumber: https://berita.example/a", "Katalog https://perpus.palembang.go.id/x"):
            ok = await client.post("/v1/posts", json={"text": text, "targets": [accts["telegram"]], "scheduled_at": later()})
            assert ok.status_code == 201, ok.text


async def test_campaign_hashtags_are_added_per_platform_and_follow_the_campaign(planner, accts, tap):
    created = await planner.post("/v1/campaigns", json={
        "name": "Minggu Buku Palembang", "hashtags": ["#MingguBukuPalembang", "PalembangBaca", "palembangbaca"],
        "starts_on": "2026-01-01", "ends_on": "2040-12-31", "goal": "500 peminjam baru"})
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["hashtags"] == ["MingguBukuPalembang", "PalembangBaca"]
    duplicate = await planner.post("/v1/campaigns", json={"name": "minggu buku palembang"})
    assert duplicate.status_code == 409
    bad = await planner.post("/v1/campaigns", json={"name": "X", "hashtags": ["dua kata"]})
    assert bad.status_code == 422

    long_text = "x" * 250 + " #PalembangBaca"
    post = await create(planner, accts, text=long_text, targets=[accts["x"], accts["telegram"]],
                        campaign_id=campaign["campaign_id"])
    texts = {t["platform"]: t["text"] for t in post["targets"]}
    assert texts["telegram"] == long_text + "\n\n#MingguBukuPalembang"
    assert texts["x"] is None  # on X the tag would pass 280: left off, the post stays as written
    # …and the author is told (a warning, not a refusal).
    [left_out] = [f for f in post["findings"] if f["check"] == "campaign_hashtags"]
    assert left_out["severity"] == "warn" and left_out["match"] == "#MingguBukuPalembang"
    assert left_out["message"].startswith("x @perpus: no room for the campaign's #MingguBukuPalembang")
    [scheduled] = await tap.wait(lambda: tap.of(post["post_id"], "post.scheduled"))
    assert scheduled["data"]["campaign_id"] == campaign["campaign_id"]
    assert scheduled["data"]["campaign_hashtags"] == ["MingguBukuPalembang", "PalembangBaca"]

    listed = (await planner.get("/v1/posts", params={"campaign_id": campaign["campaign_id"]})).json()["posts"]
    assert [p["post_id"] for p in listed] == [post["post_id"]]
    assert (await planner.get(f"/v1/campaigns/{campaign['campaign_id']}")).json()["posts"] == 1

    changed = await planner.patch(f"/v1/campaigns/{campaign['campaign_id']}", json={"hashtags": ["BacaBareng"]})
    assert changed.json()["hashtags"] == ["BacaBareng"]
    after = (await planner.get(f"/v1/posts/{post['post_id']}")).json()
    assert {t["platform"]: t["text"] for t in after["targets"]}["telegram"] == long_text + "\n\n#BacaBareng"
    updated = await tap.wait(lambda: tap.of(post["post_id"], "post.updated"))
    assert updated[-1]["data"]["campaign_hashtags"] == ["BacaBareng"]


async def test_new_campaign_hashtags_send_approved_posts_and_series_back_to_review(reviewed, accts):
    """New hashtags change what goes out: an approved post (or series) they reach is reviewed again,
    the audit log says what changed, and whoever changed the campaign may not approve it."""
    campaign = (await reviewed.post("/v1/campaigns", json={"name": "Baca", "hashtags": ["BacaBareng"]})).json()
    cid = campaign["campaign_id"]
    post = await create(reviewed, accts, text="Halo", campaign_id=cid)
    pid = post["post_id"]
    assert (await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("reviewer"))).status_code == 200
    made = (await reviewed.post("/v1/series", json={
        "text": "Klub baca", "targets": [accts["telegram"]], "start": f"{(datetime.now(UTC) + timedelta(days=1)).date()}T16:00:00",
        "rrule": "FREQ=WEEKLY", "count": 2, "campaign_id": cid})).json()
    sid = made["series_id"]
    assert (await reviewed.post(f"/v1/series/{sid}/approve", headers=auth("reviewer"))).json()["review"]["state"] == "approved"
    # A post still in review stays in review, but is now the campaign changer's change too.
    waiting = await create(reviewed, accts, text="Menunggu", campaign_id=cid)

    changed = await reviewed.patch(f"/v1/campaigns/{cid}", json={"hashtags": ["PalembangBaca", "HariBuku"]},
                                   headers=auth("reviewer2"))
    assert changed.status_code == 200, changed.text
    after = (await reviewed.get(f"/v1/posts/{pid}")).json()
    assert after["review"]["state"] == "in_review"
    assert after["targets"][0]["text"] == "Halo\n\n#PalembangBaca #HariBuku"
    entries = (await reviewed.get("/v1/audit", params={"entity": "post", "entity_id": pid})).json()["entries"]
    retag = entries[-1]
    assert (retag["action"], retag["role"]) == ("post.updated", "reviewer")
    assert retag["details"]["review_state"] == {"from": "approved", "to": "in_review"}
    assert retag["details"]["target_texts"][accts["telegram"]] == {
        "from": "Halo\n\n#BacaBareng", "to": "Halo\n\n#PalembangBaca #HariBuku"}
    assert retag["details"]["campaign_hashtags"] == {"from": ["BacaBareng"], "to": ["PalembangBaca", "HariBuku"]}
    own = await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("reviewer2"))
    assert own.status_code == 403, own.text
    assert (await reviewed.post(f"/v1/posts/{pid}/approve", headers=auth("reviewer"))).json()["review"]["state"] == "approved"
    assert (await reviewed.post(f"/v1/posts/{waiting['post_id']}/approve", headers=auth("reviewer2"))).status_code == 403

    # The series is reviewed as a whole: it goes back to review, its occurrences with it.
    series = (await reviewed.get(f"/v1/series/{sid}")).json()
    assert series["review"]["state"] == "in_review"
    assert {o["status"] for o in series["occurrences"]} == {"in_review"}
    occurrence = (await reviewed.get(f"/v1/posts/{series['occurrences'][0]['post_id']}")).json()
    assert occurrence["targets"][0]["text"] == "Klub baca\n\n#PalembangBaca #HariBuku"
    assert (await reviewed.post(f"/v1/series/{sid}/approve", headers=auth("reviewer2"))).status_code == 403
    assert (await reviewed.post(f"/v1/series/{sid}/approve", headers=auth("reviewer"))).status_code == 200

    # Only a change of what goes out re-opens review: renaming the campaign does not.
    renamed = await reviewed.patch(f"/v1/campaigns/{cid}", json={"name": "Baca Bareng"})
    assert renamed.status_code == 200
    assert (await reviewed.get(f"/v1/posts/{pid}")).json()["review"]["state"] == "approved"


async def test_campaign_hashtags_a_post_would_be_refused_with_are_refused_naming_the_posts(planner, accts, sql):
    """Without review nothing changes state, but the new texts are checked as any edit: a
    campaign change that would leave a post breaking its platform's rules or a blocking check is
    refused whole (422, naming the posts) and nothing changes."""
    campaign = (await planner.post("/v1/campaigns", json={"name": "Baca", "hashtags": ["BacaBareng"]})).json()
    cid = campaign["campaign_id"]
    post = await create(planner, accts, text="Halo", targets=[accts["telegram"]], campaign_id=cid)
    assert post["review"]["state"] == "approved"

    flagged = await planner.patch(f"/v1/campaigns/{cid}", json={"hashtags": ["Kapir"]})
    assert flagged.status_code == 422, flagged.text
    [named] = flagged.json()["posts"]
    assert named["post_id"] == post["post_id"]
    assert named["findings"][0]["field"] == "campaign_hashtags"
    assert post["post_id"] in flagged.json()["detail"]

    # The Mastodon instance now takes 10 characters: the post, with its tags, no longer fits.
    long = await create(planner, accts, text="Pameran buku", targets=[accts["mastodon"]], campaign_id=cid)
    await sql.execute("UPDATE accounts SET limits = '{\"max_characters\": 10}'::jsonb WHERE account_id = $1",
                      accts["mastodon"])
    refused = await planner.patch(f"/v1/campaigns/{cid}", json={"hashtags": ["HariBuku"]})
    assert refused.status_code == 422, refused.text
    assert [p["post_id"] for p in refused.json()["posts"]] == [long["post_id"]]
    assert refused.json()["posts"][0]["violations"][0]["platform"] == "mastodon"
    assert long["post_id"] in refused.json()["detail"]
    # Nothing changed: neither the campaign nor any post.
    assert (await planner.get(f"/v1/campaigns/{cid}")).json()["hashtags"] == ["BacaBareng"]
    again = (await planner.get(f"/v1/posts/{post['post_id']}")).json()
    assert again["targets"][0]["text"] == "Halo\n\n#BacaBareng"
    assert again["review"]["state"] == "approved"


async def test_the_post_due_event_carries_the_targets_own_text_and_the_campaign(planner, accts, tap):
    campaign = (await planner.post("/v1/campaigns", json={"name": "Baca", "hashtags": ["BacaBareng"]})).json()
    post = await create(planner, accts, text="Halo", campaign_id=campaign["campaign_id"], scheduled_at=later(0.3))
    [due] = await tap.wait(lambda: tap.of(post["post_id"], "post.due"))
    assert due["data"]["text"] == "Halo\n\n#BacaBareng"
    assert due["data"]["campaign_id"] == campaign["campaign_id"]


async def test_the_audit_log_is_append_only(planner, accts, sql):
    await create(planner, accts)
    assert await sql.fetchval("SELECT count(*) FROM audit_log") == 1
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await sql.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await sql.execute("DELETE FROM audit_log")
    page = (await planner.get("/v1/audit", params={"limit": 1})).json()
    assert page["entries"][0]["action"] == "post.created"
    assert page["next_cursor"] is not None
    assert (await planner.get("/v1/audit", params={"cursor": page["next_cursor"]})).json()["entries"] == []


async def test_the_schedulers_own_not_approved_event_does_not_undo_a_later_revival(reviewed, accts, clean_db):
    from siar_contracts import ErrorClass, PostFailed, spec_for_model
    from siar_runtime.db import Database
    from siar_scheduler import handlers, posts

    post = await create(reviewed, accts)
    target = post["targets"][0]
    late = spec_for_model(PostFailed).envelope(
        PostFailed(post_id=post["post_id"], target_id=target["target_id"], account_id=target["account_id"],
                   platform="telegram", error_class=ErrorClass.NOT_APPROVED, reason="Not sent", failed_at=datetime.now(UTC),
                   attempts=0),
        source=posts.SOURCE, correlation_id=post["correlation_id"])
    db = await Database.open(clean_db, "scheduler")
    try:
        await handlers.on_failed(late, spec_for_model(PostFailed).parse(late), db.pool)
    finally:
        await db.close()
    assert (await reviewed.get(f"/v1/posts/{post['post_id']}")).json()["targets"][0]["status"] == "scheduled"


async def publisher_says_failed(database_url: str, post: dict, target: dict, error_class, reason: str) -> None:
    """post.failed for one target, handled as the scheduler handles the publisher's."""
    from siar_contracts import PostFailed, spec_for_model
    from siar_runtime.db import Database
    from siar_scheduler import handlers

    failed = spec_for_model(PostFailed).envelope(
        PostFailed(post_id=post["post_id"], target_id=target["target_id"], account_id=target["account_id"],
                   platform=target["platform"], error_class=error_class, attempts=1, failed_at=datetime.now(UTC),
                   reason=reason),
        source="/siar/publisher", correlation_id=post["correlation_id"])
    db = await Database.open(database_url, "scheduler")
    try:
        await handlers.on_failed(failed, spec_for_model(PostFailed).parse(failed), db.pool)
    finally:
        await db.close()


async def test_a_failed_post_is_sent_again_as_a_copy_with_its_media_fixed(planner, accts, clean_db, tap):
    """A broken image link failed the post on every platform: the librarian fixes the link and
    sends a copy at a new time, to the accounts that failed; the failed targets themselves stay
    failed (nothing is ever sent twice), and the audit log says where the copy came from."""
    from siar_contracts import ErrorClass

    post = await create(planner, accts, targets=[accts["telegram"], accts["mastodon"]],
                        media=[{"url": "https://perpus.example/gone.png", "alt_text": "Poster"}])
    telegram = next(t for t in post["targets"] if t["platform"] == "telegram")
    await publisher_says_failed(clean_db, post, telegram, ErrorClass.INVALID_CONTENT,
                                "could not fetch the media at https://perpus.example/gone.png (HTTP 404)")

    # Changing it is refused, and the refusal says what to do instead.
    refused = await planner.patch(f"/v1/posts/{post['post_id']}", json={"scheduled_at": later(7200)})
    assert refused.status_code == 409 and "POST /v1/posts/{id}/copy" in refused.json()["detail"]

    fixed = [{"url": "https://perpus.example/poster.png", "alt_text": "Poster"}]
    copy = await planner.post(f"/v1/posts/{post['post_id']}/copy", json={"scheduled_at": later(7200), "media": fixed},
                              headers={"Idempotency-Key": "copy-1"})
    assert copy.status_code == 201, copy.text
    made = copy.json()
    assert made["post_id"] != post["post_id"] and made["text"] == post["text"]
    assert [m["url"] for m in made["media"]] == ["https://perpus.example/poster.png"]
    assert [t["account_id"] for t in made["targets"]] == [accts["telegram"]]  # only where it failed
    assert made["status"] == "scheduled" and made["targets"][0]["target_id"] != telegram["target_id"]
    again = await planner.post(f"/v1/posts/{post['post_id']}/copy", json={"scheduled_at": later(7200), "media": fixed},
                               headers={"Idempotency-Key": "copy-1"})
    assert again.status_code == 200 and again.json()["post_id"] == made["post_id"]  # a retried request
    original = (await planner.get(f"/v1/posts/{post['post_id']}")).json()
    assert {t["platform"]: t["status"] for t in original["targets"]} == {"telegram": "failed", "mastodon": "scheduled"}
    [entry] = (await planner.get("/v1/audit", params={"entity": "post", "entity_id": made["post_id"]})).json()["entries"]
    assert entry["action"] == "post.created" and entry["details"]["copied_from"] == post["post_id"]

    # Nothing failed for certain: the accounts must be named (outcome unknown may be live).
    unsure = await create(planner, accts, targets=[accts["x"]], text="Mungkin sudah terbit")
    await publisher_says_failed(clean_db, unsure, unsure["targets"][0], ErrorClass.OUTCOME_UNKNOWN,
                                "X did not answer; the post may be live")
    named = await planner.post(f"/v1/posts/{unsure['post_id']}/copy", json={"scheduled_at": later(7200)})
    assert named.status_code == 422 and "look on the platform first" in named.json()["detail"], named.text
    # The same Idempotency-Key on another post's copy is another request, not the first copy.
    other_key = await planner.post(f"/v1/posts/{unsure['post_id']}/copy", headers={"Idempotency-Key": "copy-1"},
                                   json={"scheduled_at": later(7200), "targets": [accts["x"]]})
    assert other_key.status_code == 201 and other_key.json()["post_id"] != made["post_id"]

    # Named accounts, a new text; an unknown post is a 404.
    other = await planner.post(f"/v1/posts/{post['post_id']}/copy", json={
        "scheduled_at": later(9000), "targets": [accts["x"]], "text": "Poster baru sudah ada!"})
    assert other.status_code == 201 and [t["platform"] for t in other.json()["targets"]] == ["x"]
    missing = await planner.post(f"/v1/posts/{uuid.uuid4()}/copy", json={"scheduled_at": later()})
    assert missing.status_code == 404


async def test_a_copy_is_not_approved_by_the_originals_author_nor_by_whoever_copied_it(reviewed, accts):
    # Four eyes hold for a copy as for an edit: reviewer 1 wrote it, reviewer 2 copied it
    # unchanged; only a third person approves the copy.
    post = await create(reviewed, accts, who="reviewer")
    copy = await reviewed.post(f"/v1/posts/{post['post_id']}/copy", headers=auth("reviewer2"),
                               json={"scheduled_at": later(7200), "targets": [accts["telegram"]]})
    assert copy.status_code == 201, copy.text
    assert copy.json()["status"] == "in_review" and copy.json()["review"]["created_by"] == post["review"]["created_by"]
    for who in ("reviewer", "reviewer2"):
        refused = await reviewed.post(f"/v1/posts/{copy.json()['post_id']}/approve", headers=auth(who))
        assert refused.status_code == 403 and refused.json()["type"].endswith("own-post"), (who, refused.text)
    assert (await reviewed.post(f"/v1/posts/{copy.json()['post_id']}/approve", headers=auth("admin"))).status_code == 200


async def test_a_refused_approval_of_a_post_nobody_made_leaves_no_audit_entry(reviewed, sql):
    missing = uuid.uuid4()
    refused = await reviewed.post(f"/v1/posts/{missing}/approve", headers=auth("editor"))
    assert refused.status_code == 403
    assert await sql.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = $1", str(missing)) == 0


async def test_left_out_campaign_hashtags_are_still_said_after_submission(reviewed, accts):
    campaign = (await reviewed.post("/v1/campaigns", json={"name": "Panjang", "hashtags": ["MingguBukuPalembang"]})).json()
    draft = await create(reviewed, accts, text="x" * 270, targets=[accts["x"]], campaign_id=campaign["campaign_id"],
                         draft=True)
    assert [f["check"] for f in draft["findings"]] == ["campaign_hashtags"]
    submitted = (await reviewed.post(f"/v1/posts/{draft['post_id']}/submit")).json()
    assert [f["check"] for f in submitted["findings"]] == ["campaign_hashtags"], submitted


async def test_a_signed_media_link_keeps_its_signature_out_of_the_audit_log(planner, accts):
    signed = "https://files.perpus.example/poster.jpg?X-Amz-Signature=abc123secret&X-Amz-Expires=600"
    post = await create(planner, accts, media=[{"url": "https://files.perpus.example/old.jpg", "alt_text": "Poster"}])
    changed = await planner.patch(f"/v1/posts/{post['post_id']}",
                                  json={"media": [{"url": signed, "alt_text": "Poster"}]}, headers=auth("editor"))
    assert changed.status_code == 200, changed.text
    log = (await planner.get("/v1/audit", params={"entity_id": post["post_id"]})).json()["entries"]
    [update] = [e for e in log if e["action"] == "post.updated"]
    assert update["details"]["media"]["to"][0]["url"] == "https://files.perpus.example/poster.jpg?\u2026"
    assert "abc123secret" not in str(log)
    # A series' changes are logged the same way.
    start = (datetime.now(UTC) + timedelta(days=2)).date()
    series = (await planner.post("/v1/series", json={
        "text": "Dongeng pagi", "targets": [accts["telegram"]], "start": f"{start}T09:00:00", "rrule": "FREQ=DAILY",
        "count": 2, "media": [{"url": "https://files.perpus.example/old.jpg", "alt_text": "Poster"}]})).json()
    moved = await planner.patch(f"/v1/series/{series['series_id']}", json={"media": [{"url": signed, "alt_text": "Poster"}]})
    assert moved.status_code == 200, moved.text
    entries = (await planner.get("/v1/audit", params={"entity_id": series["series_id"]})).json()["entries"]
    [changed] = [e for e in entries if e["action"] == "series.updated"]
    assert changed["details"]["media"]["to"][0]["url"] == "https://files.perpus.example/poster.jpg?\u2026"
    assert "abc123secret" not in str(entries)
