"""Recurring series and event countdowns through the HTTP API: each occurrence its own post,
edited or skipped alone; changing the series or moving the event re-plans what has not gone out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from siar_runtime.db import Database
from siar_scheduler import series
from siar_scheduler.policy import Policy

from .conftest import auth, running_scheduler

JAKARTA = ZoneInfo("Asia/Jakarta")


def local_day(days: int) -> date:
    return datetime.now(JAKARTA).date() + timedelta(days=days)


def next_spring_change_in_amsterdam() -> date:
    """The last Sunday of March of next year: Amsterdam moves from UTC+1 to UTC+2."""
    end = date(datetime.now(UTC).year + 1, 3, 31)
    return end - timedelta(days=(end.weekday() + 1) % 7)


async def test_a_weekly_series_across_a_daylight_saving_change_keeps_its_local_time(clean_db, amqp_url, accts):
    change = next_spring_change_in_amsterdam()
    first = change - timedelta(days=9)  # a Friday, nine days before the Sunday of the change
    async with running_scheduler(clean_db, amqp_url, series_horizon_days=730) as client:
        response = await client.post("/v1/series", json={
            "text": "Jam buka akhir pekan", "targets": [accts["telegram"]], "timezone": "Europe/Amsterdam",
            "start": f"{first}T09:00:00", "rrule": "FREQ=WEEKLY;BYDAY=FR", "count": 3})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rrule"] == "FREQ=WEEKLY;BYDAY=FR;COUNT=3"
    fridays = [first + timedelta(days=7 * i) for i in range(3)]
    # 08:00Z before the change, 07:00Z after it: 09:00 local always.
    assert [o["scheduled_at"][:16] for o in body["occurrences"]] == [
        f"{fridays[0]}T08:00", f"{fridays[1]}T08:00", f"{fridays[2]}T07:00"]
    assert {o["scheduled_local"][11:16] for o in body["occurrences"]} == {"09:00"}
    assert [o["occurrence_key"] for o in body["occurrences"]] == [str(d) for d in fridays]
    assert body["materialised_until"] is not None


async def test_a_series_starting_at_a_time_the_clocks_skip_starts_just_after_the_gap(clean_db, amqp_url, accts):
    # 02:30 does not exist in Amsterdam on the day of the change. A series started a week
    # earlier goes out at 03:30 that day (RFC 5545); one that starts that day was refused (422).
    change = next_spring_change_in_amsterdam()
    async with running_scheduler(clean_db, amqp_url, series_horizon_days=730) as client:
        response = await client.post("/v1/series", json={
            "text": "Siaran pagi", "targets": [accts["telegram"]], "timezone": "Europe/Amsterdam",
            "start": f"{change}T02:30:00", "rrule": "FREQ=WEEKLY", "count": 2})
    assert response.status_code == 201, response.text
    body = response.json()
    assert [o["scheduled_at"][:16] for o in body["occurrences"]] == [
        f"{change}T01:30", f"{change + timedelta(days=7)}T00:30"]  # 03:30 CEST, then 02:30 CEST
    assert [o["occurrence_key"] for o in body["occurrences"]] == [str(change), str(change + timedelta(days=7))]


async def test_occurrences_are_edited_or_skipped_alone_and_follow_the_series_otherwise(planner, accts, tap):
    start = local_day(1)
    created = (await planner.post("/v1/series", json={
        "text": "Dongeng pagi", "targets": [accts["telegram"]], "start": f"{start}T09:00:00",
        "rrule": "FREQ=DAILY", "count": 5})).json()
    sid = created["series_id"]
    occ = created["occurrences"]
    assert len(occ) == 5
    assert created["timezone"] == "Asia/Jakarta"  # the library's zone
    posts = (await planner.get("/v1/posts", params={"series_id": sid})).json()["posts"]
    assert {p["text"] for p in posts} == {"Dongeng pagi"}
    assert all(p["series_id"] == sid for p in posts)

    # Edit the second alone, skip the third.
    edited = await planner.patch(f"/v1/posts/{occ[1]['post_id']}", json={"text": "Dongeng spesial"})
    assert edited.json()["detached"] is True
    skipped = await planner.post(f"/v1/posts/{occ[2]['post_id']}/cancel", json={"reason": "libur"})
    assert skipped.json()["status"] == "cancelled"

    # Change the series: new text and 10:00; then drop the last day with COUNT=4.
    changed = await planner.patch(f"/v1/series/{sid}", json={"text": "Dongeng pagi bersama", "start": f"{start}T10:00:00",
                                                            "count": 4})
    assert changed.status_code == 200, changed.text
    after = {o["occurrence_key"]: o for o in changed.json()["occurrences"]}
    keys = [str(start + timedelta(days=i)) for i in range(5)]
    assert list(after) == keys[:4]  # the fifth no longer belongs: removed
    assert after[keys[0]]["post_id"] == occ[0]["post_id"]  # the same post, moved
    assert after[keys[0]]["scheduled_local"][11:16] == "10:00"
    assert after[keys[1]]["scheduled_local"][11:16] == "09:00"  # edited alone: kept
    assert after[keys[2]]["status"] == "cancelled"  # skipped: stays skipped
    texts = {p["occurrence_key"]: p["text"] for p in (await planner.get("/v1/posts", params={"series_id": sid})).json()["posts"]}
    assert texts == {keys[0]: "Dongeng pagi bersama", keys[1]: "Dongeng spesial", keys[2]: "Dongeng pagi",
                     keys[3]: "Dongeng pagi bersama"}
    assert (await planner.get(f"/v1/posts/{occ[4]['post_id']}")).status_code == 404
    [gone] = await tap.wait(lambda: tap.of(occ[4]["post_id"], "post.cancelled"))
    assert "no longer part of the series" in gone["data"]["reason"]
    await tap.wait(lambda: tap.of(occ[0]["post_id"], "post.updated"))
    assert all(e["data"]["series_id"] == sid for e in tap.of(occ[0]["post_id"]))

    # Cancelling the series cancels what has not gone out, edited or not.
    cancelled = await planner.post(f"/v1/series/{sid}/cancel", json={"reason": "program selesai"})
    assert cancelled.json()["status"] == "cancelled"
    assert {o["status"] for o in cancelled.json()["occurrences"]} == {"cancelled"}
    assert (await planner.patch(f"/v1/series/{sid}", json={"text": "x"})).status_code == 409


async def test_a_series_is_made_for_a_rolling_horizon_and_extended(clean_db, amqp_url, accts, sql):
    async with running_scheduler(clean_db, amqp_url, series_horizon_days=14) as client:
        body = (await client.post("/v1/series", json={
            "text": "Info harian", "targets": [accts["mastodon"]], "start": f"{local_day(1)}T08:00:00",
            "rrule": "FREQ=DAILY"})).json()
    assert 13 <= len(body["occurrences"]) <= 14
    extend_at = await sql.fetchval("SELECT extend_at FROM series WHERE series_id = $1", body["series_id"])
    assert timedelta(hours=23) < extend_at - datetime.now(UTC) <= timedelta(days=1)

    # The extension runner's claim: due now, with a longer horizon.
    await sql.execute("UPDATE series SET extend_at = now() - interval '1 second'")
    db = await Database.open(clean_db, "scheduler")
    try:
        async with db.pool.acquire() as conn, conn.transaction():
            claimed = await series.extend_due(conn, 10, policy=Policy(horizon_days=30))
        assert len(claimed) == 1
        async with db.pool.acquire() as conn:
            assert 29 <= await conn.fetchval("SELECT count(*) FROM posts") <= 30
            assert await conn.fetchval("SELECT extend_at > now() FROM series")
            assert await conn.fetchval(series.plans.SECONDS_UNTIL_NEXT_EXTENSION) > 3600  # no spinning
            # Again at once: nothing new, nothing twice.
            async with conn.transaction():
                assert await series.extend_due(conn, 10, policy=Policy(horizon_days=30)) == []
    finally:
        await db.close()


async def test_a_bounded_series_stops_extending_once_complete(planner, accts, sql):
    body = (await planner.post("/v1/series", json={
        "text": "Tiga kali", "targets": [accts["mastodon"]], "start": f"{local_day(2)}T08:00:00",
        "rrule": "FREQ=WEEKLY", "until": str(local_day(20))})).json()
    assert len(body["occurrences"]) == 3
    assert await sql.fetchval("SELECT extend_at FROM series") is None


async def test_series_that_cannot_be_made_are_refused(planner, accts):
    base = {"text": "x", "targets": [accts["telegram"]], "start": f"{local_day(1)}T09:00:00"}
    cases = [
        ({"rrule": "FREQ=HOURLY"}, "at most once a day"),
        ({"rrule": "FREQ=WEEKLY", "start": "2020-01-03T09:00:00", "count": 2}, "in the past"),
        ({"rrule": "FREQ=WEEKLY", "timezone": "Mars/Olympus"}, "IANA"),
        ({"rrule": "FREQ=WEEKLY", "targets": ["nope"]}, "no connected account"),
    ]
    for patch, words in cases:
        response = await planner.post("/v1/series", json=base | patch)
        assert response.status_code == 422, (patch, response.text)
        assert words in response.json()["detail"]
    assert (await planner.get("/v1/series")).json()["series"] == []


async def test_series_review_approves_its_occurrences_and_new_ones_come_approved(reviewed, accts):
    body = (await reviewed.post("/v1/series", json={
        "text": "Klub baca", "targets": [accts["telegram"]], "start": f"{local_day(1)}T16:00:00",
        "rrule": "FREQ=WEEKLY", "count": 3})).json()
    assert {o["status"] for o in body["occurrences"]} == {"in_review"}
    # When it was submitted is recorded, as for a post (it was always null for a series).
    submitted = datetime.fromisoformat(body["review"]["submitted_at"])
    assert abs((datetime.now(UTC) - submitted).total_seconds()) < 60
    refused = await reviewed.post(f"/v1/series/{body['series_id']}/approve", headers=auth("editor"))
    assert refused.status_code == 403
    # The events' routes are for events: a series' id there is not found (it was approved).
    wrong = await reviewed.post(f"/v1/events/{body['series_id']}/approve", headers=auth("reviewer"))
    assert wrong.status_code == 404, wrong.text
    approved = await reviewed.post(f"/v1/series/{body['series_id']}/approve", headers=auth("reviewer"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["review"]["state"] == "approved"
    assert {o["status"] for o in approved.json()["occurrences"]} == {"scheduled"}
    # Editing one occurrence alone puts that one back in review.
    one = approved.json()["occurrences"][0]["post_id"]
    assert (await reviewed.patch(f"/v1/posts/{one}", json={"text": "Klub baca edisi khusus"})).json()["status"] == "in_review"


async def test_moving_an_approved_series_or_event_onto_other_accounts_sends_it_back_to_review(reviewed, accts):
    """Other accounts are other audiences: what a reviewer approved was for the accounts it named."""
    made = (await reviewed.post("/v1/series", json={
        "text": "Klub baca", "targets": [accts["telegram"]], "start": f"{local_day(1)}T16:00:00",
        "rrule": "FREQ=WEEKLY", "count": 3})).json()
    sid = made["series_id"]
    approved = await reviewed.post(f"/v1/series/{sid}/approve", headers=auth("reviewer"))
    assert approved.json()["review"]["state"] == "approved"

    moved = await reviewed.patch(f"/v1/series/{sid}", json={"targets": [accts["x"]]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["review"]["state"] == "in_review"
    assert {o["status"] for o in moved.json()["occurrences"]} == {"in_review"}
    first = (await reviewed.get(f"/v1/posts/{moved.json()['occurrences'][0]['post_id']}")).json()
    assert [t["account_id"] for t in first["targets"] if t["status"] != "cancelled"] == [accts["x"]]
    [entry] = [e for e in (await reviewed.get("/v1/audit", params={"entity": "series", "entity_id": sid})).json()["entries"]
               if e["action"] == "series.updated"]
    assert entry["details"]["targets"] == {"from": [accts["telegram"]], "to": [accts["x"]]}
    assert entry["details"]["review_state"] == {"from": "approved", "to": "in_review"}
    # Whoever moved it may not approve the move; another reviewer may.
    back = await reviewed.patch(f"/v1/series/{sid}", json={"targets": [accts["telegram"]]}, headers=auth("reviewer2"))
    assert back.json()["review"]["state"] == "in_review"
    own = await reviewed.post(f"/v1/series/{sid}/approve", headers=auth("reviewer2"))
    assert own.status_code == 403, own.text
    log = (await reviewed.get("/v1/audit", params={"entity": "series", "entity_id": sid})).json()["entries"]
    assert [e["action"] for e in log][-1] == "series.approve_refused"  # the attempt is on record
    assert "another reviewer must approve it" in log[-1]["details"]["reason"]
    again = await reviewed.post(f"/v1/series/{sid}/approve", headers=auth("reviewer"))
    assert again.json()["review"]["state"] == "approved"

    event = (await reviewed.post("/v1/events", json={
        "title": "Lomba Mendongeng", "starts_at": f"{local_day(10)}T10:00:00", "targets": [accts["telegram"]],
        "days_before": [3, 0]})).json()
    assert (await reviewed.post(f"/v1/events/{event['series_id']}/send-back", json={"comment": "Nanti"},
                                headers=auth("editor"))).status_code == 403
    [refused] = [e for e in (await reviewed.get("/v1/audit", params={"entity": "event", "entity_id": event["series_id"]})
                             ).json()["entries"] if e["action"] == "event.send_back_refused"]  # fmt: skip
    assert refused["role"] == "editor"
    assert (await reviewed.post(f"/v1/events/{event['series_id']}/approve", headers=auth("reviewer"))).status_code == 200
    moved = await reviewed.patch(f"/v1/events/{event['series_id']}",
                                 json={"targets": [accts["telegram"], accts["mastodon"]]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["review"]["state"] == "in_review"
    assert {o["status"] for o in moved.json()["occurrences"]} == {"in_review"}


async def test_an_event_countdown_moves_with_the_event_and_is_cancelled_with_it(planner, accts, tap):
    day = local_day(10)
    response = await planner.post("/v1/events", json={
        "title": "Lomba Mendongeng", "starts_at": f"{day}T10:00:00", "place": "Aula Perpustakaan",
        "targets": [accts["telegram"], accts["mastodon"]], "days_before": [7, 3, 1, 0]})
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["kind"] == "countdown"
    occ = event["occurrences"]
    assert [o["occurrence_key"] for o in occ] == ["D-7", "D-3", "D-1", "D-0"]
    assert [o["scheduled_local"][:16] for o in occ] == [f"{day - timedelta(days=d)}T09:00" for d in (7, 3, 1, 0)]
    texts = [(await planner.get(f"/v1/posts/{o['post_id']}")).json()["text"] for o in occ]
    assert texts[0].startswith("7 hari lagi: Lomba Mendongeng!")
    assert texts[2].startswith("Besok: ") and texts[3].startswith("Hari ini: ")

    # The event moves two days later: every countdown post moves with it, same posts.
    moved = await planner.patch(f"/v1/events/{event['series_id']}", json={"starts_at": f"{day + timedelta(days=2)}T10:00:00"})
    assert moved.status_code == 200, moved.text
    after = moved.json()["occurrences"]
    assert [o["post_id"] for o in after] == [o["post_id"] for o in occ]
    assert [o["scheduled_local"][:10] for o in after] == [str(day + timedelta(days=2 - d)) for d in (7, 3, 1, 0)]
    new_text = (await planner.get(f"/v1/posts/{occ[0]['post_id']}")).json()["text"]
    assert str((day + timedelta(days=2)).day) in new_text and new_text != texts[0]

    # Moved much earlier: the 7-days-before post would be in the past, so it goes.
    early = await planner.patch(f"/v1/events/{event['series_id']}", json={"starts_at": f"{local_day(4)}T10:00:00"})
    assert [o["occurrence_key"] for o in early.json()["occurrences"]] == ["D-3", "D-1", "D-0"]
    await tap.wait(lambda: tap.of(occ[0]["post_id"], "post.cancelled"))

    cancelled = await planner.post(f"/v1/events/{event['series_id']}/cancel", json={"reason": "acara dibatalkan"})
    assert cancelled.json()["status"] == "cancelled"
    for o in cancelled.json()["occurrences"]:
        post = (await planner.get(f"/v1/posts/{o['post_id']}")).json()
        assert post["status"] == "cancelled"
        assert {t["reason"] for t in post["targets"]} == {"acara dibatalkan"}
    listed = (await planner.get("/v1/events", params={"include_cancelled": True})).json()["series"]
    assert [e["series_id"] for e in listed] == [event["series_id"]]


async def test_an_event_template_with_an_unknown_placeholder_is_refused(planner, accts):
    response = await planner.post("/v1/events", json={
        "title": "X", "starts_at": f"{local_day(10)}T10:00:00", "targets": [accts["telegram"]],
        "template": "{hari} hari lagi"})
    assert response.status_code == 422
    assert "{hari}" in response.json()["detail"]


async def test_an_event_template_the_posts_could_not_be_written_with_is_refused(planner, accts):
    base = {"title": "Lomba", "starts_at": f"{local_day(10)}T10:00:00", "targets": [accts["telegram"]]}
    response = await planner.post("/v1/events", json=base | {"template": "{title:d} {countdown}"})
    assert response.status_code == 422, response.text
    assert "{title:d}" in response.json()["detail"]
    # A text for a day that has no post would never be used: said, not dropped.
    response = await planner.post("/v1/events", json=base | {"days_before": [7, 1], "templates": {"5": "Lima hari!"}})
    assert response.status_code == 422, response.text
    assert "5 days before" in response.json()["detail"]
    assert (await planner.get("/v1/events")).json()["series"] == []


async def test_a_day_dropped_from_an_event_takes_its_own_text_with_it(planner, accts):
    response = await planner.post("/v1/events", json={
        "title": "Lomba", "starts_at": f"{local_day(10)}T10:00:00", "targets": [accts["telegram"]],
        "days_before": [3, 0], "templates": {"0": "Hari ini: {title}!"}})
    assert response.status_code == 201, response.text
    event = response.json()
    moved = await planner.patch(f"/v1/events/{event['series_id']}", json={"days_before": [3, 1]})
    assert moved.status_code == 200, moved.text
    assert [o["occurrence_key"] for o in moved.json()["occurrences"]] == ["D-3", "D-1"]
