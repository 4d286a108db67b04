"""Bad input the fuzzing found, as plain examples: each answer is problem details, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .conftest import auth

DOCUMENT = json.loads((Path(__file__).resolve().parents[3] / "docs" / "openapi" / "scheduler.json").read_text())


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return body


async def test_a_nul_in_a_campaign_name_is_refused_not_a_500(planner):
    response = await planner.post("/v1/campaigns", headers=auth("admin"),
                                  json={"name": "Minggu\x00Buku", "hashtags": ["PalembangBaca"]})
    assert problem(response, 422)["errors"] == [{"field": "body.name", "message": "NUL characters are not allowed"}]
    assert (await planner.get("/v1/campaigns")).json()["campaigns"] == []


async def test_a_nul_in_a_list_filter_is_refused(planner):
    problem(await planner.get("/v1/posts", params={"status": "scheduled\x00"}), 422)


async def test_a_body_that_is_not_utf8_is_422(planner):
    response = await planner.post("/v1/posts/check", content=b"\xff\xfe\x00",
                                  headers={"content-type": "application/json"})
    problem(response, 422)


async def test_a_foreign_cursor_is_a_documented_400(planner):
    problem(await planner.get("/v1/posts", params={"cursor": "bukan-kursor"}), 400)
    assert "400" in DOCUMENT["paths"]["/v1/posts"]["get"]["responses"]


async def dry_run_import(planner, content: bytes):
    return await planner.post("/v1/calendar/import", params={"dry_run": "true"}, content=content,
                              headers={"content-type": "text/csv"})


async def test_a_dry_run_import_answers_200_as_documented(planner, accts):
    response = await dry_run_import(planner, b"date,time,targets,text\n2030-12-04,09:00,mastodon,Halo! #PalembangBaca\n")
    assert response.status_code == 200, response.text
    assert response.json()["dry_run"] is True
    assert "200" in DOCUMENT["paths"]["/v1/calendar/import"]["post"]["responses"]


async def test_a_wrong_method_names_both_methods_of_the_rhythm(planner, accts):
    response = await planner.post(f"/v1/accounts/{accts['mastodon']}/rhythm", json={})
    problem(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "PUT"}


async def test_dates_at_the_ends_of_the_calendar_are_refused_not_a_500(planner):
    # Year 1 at +07:00 is year 0 in UTC; a month after 9999-12 does not exist: both were 500s.
    problem(await planner.get("/v1/posts", params={"from": "0001-01-01T00:00:00+07:00"}), 422)
    problem(await planner.get("/v1/posts", params={"from": "0001-01-01"}), 422)  # the library's midnight, as above
    problem(await planner.get("/v1/audit", params={"to": "0001-01-01T05:00"}), 422)
    problem(await planner.get("/v1/calendar/month", params={"month": "9999-12"}), 422)
    problem(await planner.get("/v1/calendar/week", params={"week": "0001-W01"}), 422)
    problem(await planner.post("/v1/events", json={"title": "Lomba", "targets": ["a"],
                                                   "starts_at": "9999-12-31T23:59:59-05:00"}), 422)


async def test_an_import_with_a_lone_carriage_return_is_read_not_a_500(planner, accts):
    # schemathesis sent "\r¤¢…" as a CSV: a lone \r was handed to the csv module inside a field.
    # Old spreadsheet programs end lines with \r alone; the file is read like any other.
    response = await dry_run_import(planner, b"date,time,targets,text\r2030-12-04,09:00,mastodon,Halo! #PalembangBaca\r")
    assert response.status_code == 200, response.text
    assert response.json()["dry_run"] is True
    assert "no column" in problem(await dry_run_import(planner, b"\r\xc2\xa4\xc2\xa2"), 422)["detail"]


async def test_an_import_the_csv_module_cannot_read_is_a_422_naming_the_line(planner, accts):
    csv = 'date,time,targets,text\n2030-12-04,09:00,mastodon,"Halo\n' + "x" * 200_000 + '"\n'
    assert "line 3 of the file is not CSV" in problem(await dry_run_import(planner, csv.encode()), 422)["detail"]


async def test_a_time_zone_the_tz_database_holds_as_a_directory_is_a_422(planner, accts):
    # ZoneInfo("Asia") raises IsADirectoryError, a name of 300 letters "File name too long":
    # neither is ZoneInfoNotFoundError, and both were 500s.
    later = (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None).isoformat(timespec="seconds")
    for name in ("Asia", "a" * 300, "../etc/passwd"):
        body = problem(await planner.post("/v1/posts", json={
            "text": "Halo", "targets": [accts["mastodon"]], "scheduled_at": later, "timezone": name}), 422)
        assert "IANA" in body["detail"]


async def test_a_new_time_zone_alone_is_checked_not_a_500(planner, accts):
    at = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    created = await planner.post("/v1/posts", json={"text": "Halo", "targets": [accts["mastodon"]], "scheduled_at": at})
    assert created.status_code == 201, created.text
    post_id = created.json()["post_id"]
    for name in ("Mars/Olympus", "Asia"):
        assert "IANA" in problem(await planner.patch(f"/v1/posts/{post_id}", json={"timezone": name}), 422)["detail"]
    assert (await planner.get(f"/v1/posts/{post_id}")).json()["timezone"] is None


async def test_a_cursor_of_unicode_digits_is_the_documented_400(planner):
    problem(await planner.get("/v1/audit", params={"cursor": "²"}), 400)  # "²".isdigit(), int("²") fails


async def test_a_rule_dateutil_would_fail_to_expand_is_refused_not_a_500(planner, accts):
    for rule, words in (("FREQ=WEEKLY;INTERVAL=0", "INTERVAL=0"), ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0")):
        body = problem(await planner.post("/v1/series", json={
            "text": "Klub baca", "targets": [accts["mastodon"]], "rrule": rule, "count": 3,
            "start": (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None).isoformat(timespec="seconds")}), 422)
        assert words in body["detail"], body
