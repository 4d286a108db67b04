"""Defining, changing, opening and closing surveys through the API, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from siar_runtime.auth import actor_id

from .conftest import TOKEN, open_survey, survey_body, wait_until


def later(seconds: int = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_requests_without_a_known_token_are_refused_with_problem_details(client):
    for method, path in (("GET", "/v1/surveys"), ("POST", "/v1/surveys"), ("GET", "/v1/surveys/x/results"),
                         ("GET", "/v1/surveys/x/answers.csv"), ("POST", "/v1/surveys/x/responses")):
        response = await client.request(method, path, headers={"Authorization": "Bearer not-a-real-token"})
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"


async def test_define_read_and_list_a_survey_with_links_per_channel(client):
    response = await client.post("/v1/surveys", json=survey_body(slug="kepuasan-2026"))
    assert response.status_code == 201, response.text
    survey = response.json()
    assert response.headers["location"] == f"/v1/surveys/{survey['survey_id']}"
    assert survey["status"] == "draft"
    assert [q["key"] for q in survey["questions"]] == ["kepuasan", "rekomendasi", "koleksi", "kegiatan", "saran"]
    assert survey["title"] == {"id": "Survei Kepuasan Pemustaka", "en": "Library Satisfaction Survey"}
    assert {link["channel"]: link["url"] for link in survey["links"]} == {
        "direct": "https://perpus.example.id/s/kepuasan-2026",
        "instagram": "https://perpus.example.id/s/kepuasan-2026?ch=instagram",
        "telegram": "https://perpus.example.id/s/kepuasan-2026?ch=telegram",
        "poster": "https://perpus.example.id/s/kepuasan-2026?ch=poster",
    }
    by_id = (await client.get(f"/v1/surveys/{survey['survey_id']}")).json()
    by_slug = (await client.get("/v1/surveys/kepuasan-2026")).json()
    assert by_id == by_slug == survey
    listed = (await client.get("/v1/surveys", params={"status": "draft"})).json()["surveys"]
    assert [s["slug"] for s in listed] == ["kepuasan-2026"]
    assert (await client.get("/v1/surveys", params={"status": "open"})).json()["surveys"] == []


async def test_a_slug_is_made_from_the_title_and_a_taken_slug_is_refused(client):
    made = (await client.post("/v1/surveys", json=survey_body(title={"id": "Survei Layanan Ruang Baca Anak!"}))).json()
    assert made["slug"].startswith("survei-layanan-ruang-baca-anak-")
    first = await client.post("/v1/surveys", json=survey_body(slug="sama"))
    again = await client.post("/v1/surveys", json=survey_body(slug="sama"))
    assert (first.status_code, again.status_code) == (201, 409)
    assert again.json()["type"].endswith("/slug-taken")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"questions": []}, "questions"),
        ({"questions": [{"key": "a", "kind": "rating", "text": {"id": "?"}}] * 2}, "questions"),
        ({"questions": [{"key": "a", "kind": "stars", "text": {"id": "?"}}]}, "questions.0.kind"),
        ({"questions": [{"key": "Bad Key", "kind": "rating", "text": {"id": "?"}}]}, "questions.0.key"),
        ({"questions": [{"key": "a", "kind": "text", "text": {"id": "  "}}]}, "questions.0.text.id"),
        ({"questions": [{"key": "a", "kind": "multiple_choice", "text": {"id": "?"},
                         "options": [{"key": "x", "label": {"id": "x"}}]}]}, "questions.0"),
        ({"title": {"en": "English only"}}, "title.id"),
        ({"channels": ["instagram", "myspace"]}, "channels.1"),
        ({"channels": ["poster", "poster"]}, "channels"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
    ],
)
async def test_malformed_definitions_say_which_field(client, change, field):
    response = await client.post("/v1/surveys", json=survey_body(**change))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert (await client.get("/v1/surveys")).json()["surveys"] == []


async def test_dates_in_local_time_and_dates_that_cannot_be(client):
    local = await client.post("/v1/surveys", json=survey_body(
        opens_at="2030-05-17T08:00:00", closes_at="2030-05-31T17:00:00", timezone="Asia/Makassar"))
    assert local.status_code == 201, local.text
    assert local.json()["opens_at"].startswith("2030-05-17T00:00:00")
    assert local.json()["closes_at"].startswith("2030-05-31T09:00:00")
    backwards = await client.post("/v1/surveys", json=survey_body(opens_at=later(7200), closes_at=later(3600)))
    assert backwards.status_code == 422
    assert "closes_at must be after opens_at" in backwards.json()["detail"]
    zone = await client.post("/v1/surveys", json=survey_body(timezone="Mars/Olympus"))
    assert zone.status_code == 422 and "IANA" in zone.json()["detail"]
    # WIB, WITA and WIT as people write them; stored as IANA names.
    wita = await client.post("/v1/surveys", json=survey_body(opens_at="2030-05-17T08:00:00", timezone="WITA"))
    assert wita.status_code == 201, wita.text
    assert wita.json()["timezone"] == "Asia/Makassar" and wita.json()["opens_at"].startswith("2030-05-17T00:00:00")
    moved = await client.patch(f"/v1/surveys/{wita.json()['survey_id']}",
                               json={"opens_at": "2030-05-18T08:00:00", "timezone": "wib"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["timezone"] == "Asia/Jakarta" and moved.json()["opens_at"].startswith("2030-05-18T01:00:00")


async def test_an_announcement_needs_a_link_for_its_channel(client):
    response = await client.post("/v1/surveys", json=survey_body(announce=[{"platform": "mastodon"}]))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "announce.0.channel"
    ok = await client.post("/v1/surveys", json=survey_body(announce=[
        {"platform": "telegram", "account_id": "acc-1"},
        {"platform": "mastodon", "account_id": "acc-2", "channel": "poster"},
    ]))
    assert ok.status_code == 201, ok.text
    assert [a["channel"] for a in ok.json()["announce"]] == ["telegram", "poster"]


async def test_questions_change_only_while_a_draft(client):
    draft = (await client.post("/v1/surveys", json=survey_body())).json()
    sid = draft["survey_id"]
    changed = await client.patch(f"/v1/surveys/{sid}", json={
        "questions": [{"key": "puas", "kind": "rating", "required": True, "text": {"id": "Puas?"}}],
        "title": {"id": "Survei Singkat"},
    })
    assert changed.status_code == 200, changed.text
    assert [q["key"] for q in changed.json()["questions"]] == ["puas"]
    assert changed.json()["version"] == 2
    opened = await client.post(f"/v1/surveys/{sid}/open")
    assert opened.json()["status"] == "open"
    refused = await client.patch(f"/v1/surveys/{sid}", json={"questions": draft["questions"]})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/questions-fixed")
    typo = await client.patch(f"/v1/surveys/{sid}", json={"title": {"id": "Survei Singkat 2026"}, "closes_at": later()})
    assert typo.status_code == 200
    assert typo.json()["title"]["id"] == "Survei Singkat 2026"


async def test_open_close_and_open_again(client):
    survey = await open_survey(client)
    assert survey["status"] == "open" and survey["opened_at"]
    again = await client.post(f"/v1/surveys/{survey['survey_id']}/open")
    assert again.status_code == 200 and again.json()["version"] == survey["version"]
    closed = await client.post(f"/v1/surveys/{survey['survey_id']}/close")
    assert closed.json()["status"] == "closed"
    assert closed.json()["close_reason"] == "closed_by_person"
    twice = await client.post(f"/v1/surveys/{survey['survey_id']}/close")
    assert twice.status_code == 409
    reopened = await client.post(f"/v1/surveys/{survey['survey_id']}/open")
    assert reopened.json()["status"] == "open" and reopened.json()["closed_at"] is None
    draft = (await client.post("/v1/surveys", json=survey_body())).json()
    assert (await client.post(f"/v1/surveys/{draft['survey_id']}/close")).status_code == 409
    assert (await client.get("/v1/surveys/no-such-survey")).status_code == 404


async def test_a_survey_with_a_future_opening_date_waits_for_it(client):
    created = (await client.post("/v1/surveys", json=survey_body(opens_at=later(3600)))).json()
    scheduled = await client.post(f"/v1/surveys/{created['survey_id']}/open")
    assert scheduled.json()["status"] == "scheduled"
    past = (await client.post("/v1/surveys", json=survey_body(
        opens_at=later(-7200), closes_at=later(-3600)))).json()
    refused = await client.post(f"/v1/surveys/{past['survey_id']}/open")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/closing-date-passed")


async def test_a_survey_closed_by_its_closing_date_gets_a_later_one_and_opens_again(client):
    survey = await open_survey(client, closes_at=later(2))
    sid = survey["survey_id"]
    before = await client.post(f"/v1/surveys/{sid}/responses", json={"answers": {"kepuasan": 5, "rekomendasi": 9}})
    assert before.status_code == 201, before.text

    async def closed_by_date():
        found = (await client.get(f"/v1/surveys/{sid}")).json()
        return found["status"] == "closed" and found

    closed = await wait_until(closed_by_date, timeout=10)
    assert closed["close_reason"] == "closing_date_reached"
    late = await client.post(f"/v1/surveys/{sid}/responses", json={"answers": {"kepuasan": 4, "rekomendasi": 8}})
    assert late.status_code == 409
    refused = await client.post(f"/v1/surveys/{sid}/open")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/closing-date-passed")
    assert "PATCH" in refused.json()["detail"]
    # Only the dates change while it is closed; the rest waits until it is open again.
    for change in ({"title": {"id": "Survei Baru"}}, {"closes_at": later(), "channels": ["poster"]},
                   {"questions": survey["questions"]}):
        other = await client.patch(f"/v1/surveys/{sid}", json=change)
        assert other.status_code == 409, change
        assert other.json()["type"].endswith("/survey-closed")
    extended = await client.patch(f"/v1/surveys/{sid}", json={"closes_at": "2031-01-31T17:00:00",
                                                              "timezone": "Asia/Makassar"})
    assert extended.status_code == 200, extended.text
    assert extended.json()["status"] == "closed"
    assert extended.json()["closes_at"].startswith("2031-01-31T09:00:00")
    assert extended.json()["title"] == survey["title"] and extended.json()["channels"] == survey["channels"]
    reopened = await client.post(f"/v1/surveys/{sid}/open")
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["status"], reopened.json()["closed_at"]) == ("open", None)
    again = await client.post(f"/v1/surveys/{sid}/responses", json={"answers": {"kepuasan": 4, "rekomendasi": 8}})
    assert again.status_code == 201, again.text
    assert (await client.get(f"/v1/surveys/{sid}/results")).json()["responses"] == 2


async def test_an_open_survey_cannot_move_its_opening_date_ahead(client, patron):
    survey = await open_survey(client)
    sid = survey["survey_id"]
    refused = await client.patch(f"/v1/surveys/{sid}", json={"opens_at": later(3600)})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/already-open")
    assert "close it" in refused.json()["detail"]
    unchanged = (await client.get(f"/v1/surveys/{sid}")).json()
    assert (unchanged["status"], unchanged["opens_at"], unchanged["version"]) == (
        "open", survey["opens_at"], survey["version"])
    # A date already passed changes nothing about the state.
    past = await client.patch(f"/v1/surveys/{sid}", json={"opens_at": later(-60)})
    assert past.status_code == 200 and past.json()["status"] == "open"
    # To open it later: close it, set the date and open it again; it waits as /open makes it wait.
    await client.post(f"/v1/surveys/{sid}/close")
    moved = await client.patch(f"/v1/surveys/{sid}", json={"opens_at": later(3600)})
    assert moved.status_code == 200, moved.text
    scheduled = await client.post(f"/v1/surveys/{sid}/open")
    assert scheduled.json()["status"] == "scheduled"
    assert "<form" not in (await patron.get(f"/s/{survey['slug']}")).text
    late = await client.post(f"/v1/surveys/{sid}/responses", json={"answers": {"kepuasan": 4, "rekomendasi": 8}})
    assert late.status_code == 409
    # A scheduled survey keeps a date to open at; a new one is fine.
    dateless = await client.patch(f"/v1/surveys/{sid}", json={"opens_at": None})
    assert dateless.status_code == 409
    assert dateless.json()["type"].endswith("/survey-scheduled")
    assert (await client.patch(f"/v1/surveys/{sid}", json={"opens_at": later(7200)})).status_code == 200


async def test_who_created_changed_opened_and_closed_a_survey_is_on_record(client):
    survey = await open_survey(client, closes_at=later(2))
    sid = survey["survey_id"]
    assert (await client.patch(f"/v1/surveys/{sid}", json={"announce_text": {"id": "Isi survei kami"}})).status_code == 200

    async def closed_by_date():
        return (await client.get(f"/v1/surveys/{sid}")).json()["status"] == "closed"

    await wait_until(closed_by_date, timeout=10)
    assert (await client.patch(f"/v1/surveys/{sid}", json={"closes_at": later()})).status_code == 200
    assert (await client.post(f"/v1/surveys/{sid}/open")).status_code == 200
    assert (await client.post(f"/v1/surveys/{sid}/close")).status_code == 200
    log = (await client.get("/v1/audit", params={"entity": "survey", "entity_id": sid})).json()["entries"]
    me = actor_id(TOKEN)
    assert [(e["action"], e["actor"], e["role"]) for e in log] == [
        ("survey.created", me, "admin"), ("survey.opened", me, "admin"), ("survey.updated", me, "admin"),
        ("survey.closed", "siar", "system"),  # its closing date
        ("survey.updated", me, "admin"), ("survey.opened", me, "admin"), ("survey.closed", me, "admin")]
    assert log[0]["details"]["title"] == survey["title"]["id"] and log[0]["details"]["questions"] == len(survey["questions"])
    title = survey["title"]["id"]  # every entry names the survey
    assert log[2]["details"] == {"title": title, "fields": ["announce_text"]}
    assert log[3]["details"] == {"title": title, "by": "its closing date"}
    assert log[6]["details"] == {"title": title, "was": "open"}
    # Nothing a patron answered is in it; the log pages and filters as the scheduler's does.
    assert (await client.get("/v1/audit", params={"by": "siar"})).json()["entries"][0]["action"] == "survey.closed"
    assert (await client.get("/v1/audit", params={"to": "2026-01-01T00:00:00"})).status_code == 422
    assert (await client.get("/v1/audit", params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
                             )).status_code == 422
    assert (await client.patch(f"/v1/surveys/{sid}", json={})).status_code == 200  # nothing changed: no entry
    assert len((await client.get("/v1/audit", params={"entity_id": sid})).json()["entries"]) == len(log)


async def test_a_renamed_survey_is_logged_under_its_new_title_with_the_old_one(client):
    draft = (await client.post("/v1/surveys", json=survey_body())).json()
    renamed = await client.patch(f"/v1/surveys/{draft['survey_id']}", json={"title": {"id": "Survei Desember"}})
    assert renamed.status_code == 200
    log = (await client.get("/v1/audit", params={"entity_id": draft["survey_id"]})).json()["entries"]
    assert log[-1]["details"] == {"title": "Survei Desember", "fields": ["title"], "was": draft["title"]["id"]}
