"""Bad input the fuzzing found, as plain examples: never a 500, API errors as problem details."""

from __future__ import annotations

import pytest

from .conftest import form, open_survey, survey_body


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


async def test_a_nul_in_a_survey_title_is_refused_not_a_500(client):
    body = survey_body(title={"id": "Survei\x00", "en": "Survey"})
    assert problem(await client.post("/v1/surveys", json=body), 422)["errors"][0]["field"] == "body.title.id"
    assert (await client.get("/v1/surveys")).json()["surveys"] == []


async def test_a_nul_in_a_survey_slug_is_refused(client):
    problem(await client.get("/v1/surveys/survei%00pemustaka/results"), 422)


async def test_a_nul_in_a_page_answer_is_refused_and_nothing_stored(client, patron):
    survey = await open_survey(client)
    slug = survey["slug"]
    page = await patron.post(f"/s/{slug}", data=form(kepuasan="5", rekomendasi="9", saran="bagus\x00"))
    assert problem(page, 422)["errors"] == [{"field": "form.q_saran", "message": "NUL characters are not allowed"}]
    assert (await client.get(f"/v1/surveys/{slug}/results")).json()["responses"] == 0


async def test_an_opening_date_before_year_1_in_utc_is_refused_not_a_500(client):
    body = survey_body(opens_at="0001-01-01T00:00:00+07:00")
    assert "out of the range" in problem(await client.post("/v1/surveys", json=body), 422)["detail"]


@pytest.mark.parametrize("zone", ["Asia", "Asia/", "A" * 300, "../etc/passwd", "", "zone.tab"])
async def test_a_time_zone_that_is_not_one_is_refused_not_a_500(client, zone):
    created = problem(await client.post("/v1/surveys", json=survey_body(timezone=zone)), 422)
    assert "timezone" in [e["field"] for e in created["errors"]]
    assert (await client.get("/v1/surveys")).json()["surveys"] == []
    draft = (await client.post("/v1/surveys", json=survey_body())).json()
    for change in ({"timezone": zone}, {"timezone": zone, "closes_at": "2031-01-31T17:00:00"}):
        patched = problem(await client.patch(f"/v1/surveys/{draft['survey_id']}", json=change), 422)
        assert "timezone" in [e["field"] for e in patched["errors"]]
    unchanged = (await client.get(f"/v1/surveys/{draft['survey_id']}")).json()
    assert (unchanged["timezone"], unchanged["closes_at"], unchanged["version"]) == ("Asia/Jakarta", None, 1)


async def test_a_time_zone_name_the_tz_database_has_as_a_directory_says_iana(client):
    for zone in ("Asia", "../etc/passwd"):
        refused = problem(await client.post("/v1/surveys", json=survey_body(timezone=zone)), 422)
        assert refused["detail"] == f"{zone!r} is not an IANA time zone (for example Asia/Jakarta)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "true or false is not an answer"),
        (False, "true or false is not an answer"),
        (4.5, "a score is a whole number, not 4.5"),
        ([True], "an answer is a whole number (a score), a text or a list of texts"),
        ({"score": 5}, "an answer is a whole number (a score), a text or a list of texts"),
    ],
)
async def test_an_answer_is_taken_as_sent_never_coerced_into_a_score(client, value, message):
    survey = await open_survey(client)
    response = await client.post(f"/v1/surveys/{survey['survey_id']}/responses",
                                 json={"answers": {"kepuasan": value, "rekomendasi": 9}})
    [error] = problem(response, 422)["errors"]
    assert error["field"] == "answers.kepuasan"
    assert error["message"].startswith(message)
    assert (await client.get(f"/v1/surveys/{survey['slug']}/results")).json()["responses"] == 0


async def test_a_whole_number_written_with_a_point_is_that_number_and_a_text_answer_is_no_boolean(client):
    survey = await open_survey(client)
    whole = await client.post(f"/v1/surveys/{survey['survey_id']}/responses",
                              json={"answers": {"kepuasan": 4.0, "rekomendasi": 10.0}})
    assert whole.status_code == 201, whole.text
    assert whole.json()["answers"] == {"kepuasan": 4, "rekomendasi": 10}
    text = await client.post(f"/v1/surveys/{survey['survey_id']}/responses",
                             json={"answers": {"kepuasan": 4, "rekomendasi": 10, "saran": True}})
    assert problem(text, 422)["errors"][0]["field"] == "answers.saran"
    results = (await client.get(f"/v1/surveys/{survey['slug']}/results")).json()
    assert (results["responses"], results["average_rating"]) == (1, 4.0)
