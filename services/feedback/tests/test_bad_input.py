"""Bad input the fuzzing found, as plain examples: never a 500, API errors as problem details."""

from __future__ import annotations

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
