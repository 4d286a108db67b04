"""Responses through the API, and the results: counts per question and channel, average rating,
CSAT, NPS, the CSV of free-text answers and the Prometheus metrics."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from siar_feedback import store
from siar_feedback.app import create_app
from siar_feedback.results import CSV_HEADER

from .conftest import BASE, TOKEN, form, open_survey, send_form, settings_for


async def answer(client, survey, channel, kepuasan, rekomendasi, **more):
    response = await client.post(
        f"/v1/surveys/{survey['survey_id']}/responses",
        json={"channel": channel, "answers": {"kepuasan": kepuasan, "rekomendasi": rekomendasi, **more}},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_response_through_the_api(client):
    survey = await open_survey(client)
    response = await client.post(f"/v1/surveys/{survey['slug']}/responses", json={
        "channel": "kiosk", "answers": {"kepuasan": "4", "rekomendasi": 10, "kegiatan": ["diskusi"], "saran": " Bagus "},
    })
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["channel"] == "kiosk" and body["source"] == "api"
    assert body["answers"] == {"kepuasan": 4, "rekomendasi": 10, "kegiatan": ["diskusi"], "saran": "Bagus"}
    unknown_channel = await answer(client, survey, "friendster", 3, 5)
    assert unknown_channel["channel"] == "other"


async def test_bad_api_answers_name_each_question(client):
    survey = await open_survey(client)
    response = await client.post(f"/v1/surveys/{survey['survey_id']}/responses", json={
        "answers": {"kepuasan": 7, "koleksi": "komik", "umur": 40},
    })
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Invalid answers"
    assert {e["field"]: e["code"] for e in problem["errors"]} == {
        "answers.kepuasan": "out_of_range", "answers.koleksi": "unknown_option",
        "answers.rekomendasi": "required", "answers.umur": "unknown_question",
    }


async def test_api_responses_to_a_closed_survey_and_per_patron_keys(client):
    survey = await open_survey(client, one_response_per_patron=True)
    url = f"/v1/surveys/{survey['survey_id']}/responses"
    body = {"answers": {"kepuasan": 5, "rekomendasi": 9}}
    missing = await client.post(url, json=body)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "patron_key"
    first = await client.post(url, json=body | {"patron_key": "wa:hash-1"})
    second = await client.post(url, json=body | {"patron_key": "wa:hash-1"})
    other = await client.post(url, json=body | {"patron_key": "wa:hash-2"})
    assert (first.status_code, second.status_code, other.status_code) == (201, 409, 201)
    assert second.json()["type"].endswith("/duplicate-response")
    await client.post(f"/v1/surveys/{survey['survey_id']}/close")
    late = await client.post(url, json=body | {"patron_key": "wa:hash-3"})
    assert late.status_code == 409 and late.json()["type"].endswith("/survey-not-open")


async def test_results_per_question_and_channel(client, patron):
    survey = await open_survey(client)
    # Ratings 5,5,4,3,1 -> average 3.6, CSAT 3/5 = 60 %.  NPS 10,9,8,6,0 -> 40 % - 40 % = 0.
    await answer(client, survey, "instagram", 5, 10, koleksi="novel", kegiatan=["dongeng", "diskusi"])
    await answer(client, survey, "instagram", 5, 9, koleksi="anak", kegiatan=["dongeng"])
    await answer(client, survey, "telegram", 4, 8, koleksi="anak", saran="Perpanjang jam buka")
    await answer(client, survey, "poster", 3, 6)
    page = await send_form(patron, f"/s/{survey['slug']}?ch=poster", form(kepuasan="1", rekomendasi="0", saran="AC rusak"))
    assert page.status_code == 303

    results = (await client.get(f"/v1/surveys/{survey['slug']}/results")).json()
    assert results["responses"] == 5
    assert results["by_channel"] == {"instagram": 2, "poster": 2, "telegram": 1}
    assert (results["average_rating"], results["csat"], results["nps"]) == (3.6, 60.0, 0.0)
    q = {question["key"]: question for question in results["questions"]}
    assert q["kepuasan"]["counts"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 2}
    assert q["kepuasan"]["by_channel"]["instagram"] == {
        "answered": 2, "counts": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 2}, "average": 5.0, "csat": 100.0, "nps": None,
    }
    assert q["kepuasan"]["by_channel"]["poster"]["csat"] == 0.0
    assert q["rekomendasi"]["nps"] == 0.0
    assert q["rekomendasi"]["by_channel"]["instagram"]["nps"] == 100.0
    assert q["rekomendasi"]["by_channel"]["poster"]["nps"] == -100.0
    assert (q["koleksi"]["answered"], q["koleksi"]["skipped"]) == (3, 2)
    assert q["koleksi"]["counts"] == {"novel": 1, "anak": 2, "referensi": 0}
    assert q["kegiatan"]["counts"] == {"dongeng": 2, "diskusi": 1, "pelatihan": 0}
    assert q["saran"]["answered"] == 2 and q["saran"]["counts"] == {}
    assert set(q["saran"]["by_channel"]) == {"telegram", "poster"}


async def test_free_text_answers_as_csv_safe_for_spreadsheets(client):
    survey = await open_survey(client)
    texts = ["Perpanjang jam buka", "=HYPERLINK(\"http://x\",\"klik\")", "+62 812 0000", "-", "@SUM(1+1)*cmd|' /C calc'!A0",
             "Pakai, koma \"kutip\"\ndan baris baru"]
    for t in texts:
        await answer(client, survey, "telegram", 4, 9, saran=t)
    response = await client.get(f"/v1/surveys/{survey['survey_id']}/answers.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{survey["slug"]}-answers.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["answer"] for r in rows] == [
        "Perpanjang jam buka", "'=HYPERLINK(\"http://x\",\"klik\")", "'+62 812 0000", "'-",
        "'@SUM(1+1)*cmd|' /C calc'!A0", "Pakai, koma \"kutip\"\ndan baris baru",
    ]
    assert {r["question"] for r in rows} == {"Apa saran Anda untuk kami?"}
    # When, as the library reads it: the survey's zone (Asia/Jakarta here), the offset kept.
    assert all(r["submitted_at"].endswith("+07:00") for r in rows)
    assert abs(datetime.fromisoformat(rows[0]["submitted_at"]) - datetime.now(UTC)) < timedelta(minutes=5)
    english = await client.get(f"/v1/surveys/{survey['survey_id']}/answers.csv", params={"lang": "en", "question": "saran"})
    assert "What would you suggest?" in english.text
    assert (await client.get(f"/v1/surveys/{survey['survey_id']}/answers.csv", params={"question": "nope"})).status_code == 404


async def test_a_large_csv_export_streams_every_row_through_a_cursor(client, clean_db):
    survey = await open_survey(client)
    many = 3 * store.EXPORT_PREFETCH + 7  # several cursor fetches, and CSV chunks of 64 kB
    conn = await asyncpg.connect(clean_db)
    try:
        await conn.execute(
            """
            WITH r AS (
                INSERT INTO feedback.responses (response_id, survey_id, channel, source, submitted_at)
                SELECT gen_random_uuid(), $1, 'poster', 'api', now() + i * interval '1 second'
                FROM generate_series(1, $2) AS i
                RETURNING response_id, survey_id, submitted_at
            )
            INSERT INTO feedback.answers (response_id, survey_id, question_key, text)
            SELECT response_id, survey_id, 'saran',
                   CASE WHEN n % 100 = 0 THEN '=1+' || n ELSE 'jawaban ' || n || ' ' || repeat('x', 100) END
            FROM (SELECT *, row_number() OVER (ORDER BY submitted_at) AS n FROM r) AS numbered
            """,
            uuid.UUID(survey["survey_id"]), many,
        )
    finally:
        await conn.close()
    response = await client.get(f"/v1/surveys/{survey['survey_id']}/answers.csv")
    assert response.status_code == 200
    assert "content-length" not in response.headers  # streamed as it is read, not built whole
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(CSV_HEADER)
    assert len(rows) == many + 1
    assert [r[5] for r in rows[1:]] == [
        f"'=1+{n}" if n % 100 == 0 else f"jawaban {n} {'x' * 100}" for n in range(1, many + 1)
    ]


async def test_metrics_count_responses_by_channel_and_show_nps_for_open_surveys(app, client, patron):
    survey = await open_survey(client, slug="survei-metrik")
    await answer(client, survey, "instagram", 5, 10)
    await answer(client, survey, "instagram", 4, 3)
    await send_form(patron, f"/s/{survey['slug']}?ch=poster", form(kepuasan="5", rekomendasi="9"))
    await send_form(patron, f"/s/{survey['slug']}?ch=made-up", form(kepuasan="5", rekomendasi="7"))
    await app.state.refresher.metrics.refresh(app.state.db.pool)
    metrics = (await client.get("/metrics")).text
    assert 'siar_feedback_responses_total{channel="instagram",source="api"} 2.0' in metrics
    assert 'siar_feedback_responses_total{channel="poster",source="page"} 1.0' in metrics
    assert 'siar_feedback_responses_total{channel="other",source="page"} 1.0' in metrics
    assert "made-up" not in metrics
    # NPS answers 10, 3, 9, 7: 2 promoters and 1 detractor of 4 = 50 % - 25 % = 25.
    assert 'siar_feedback_nps{survey="survei-metrik"} 25.0' in metrics
    assert "siar_feedback_surveys_open 1.0" in metrics
    await client.post(f"/v1/surveys/{survey['survey_id']}/close")
    await app.state.refresher.metrics.refresh(app.state.db.pool)
    metrics = (await client.get("/metrics")).text
    assert 'siar_feedback_nps{survey="survei-metrik"}' not in metrics
    assert "siar_feedback_surveys_open 0.0" in metrics


async def test_only_an_admin_reads_the_patrons_own_words(clean_db, amqp_url, client):
    # Any valid token downloaded the free-text answers (personal data: names, phone numbers).
    survey = await open_survey(client)
    await answer(client, survey, "telegram", 4, 9, saran="Hubungi saya di 0812 0000")
    settings = settings_for(clean_db, amqp_url).model_copy(update={"api_tokens": f"{TOKEN}:admin,editor-token-12:editor"})
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"Authorization": "Bearer editor-token-12"},
    ) as editor:
        refused = await editor.get(f"/v1/surveys/{survey['survey_id']}/answers.csv")
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
        assert "only an admin" in refused.json()["detail"]
        assert (await editor.get(f"/v1/surveys/{survey['survey_id']}/results")).status_code == 200
    assert "0812" in (await client.get(f"/v1/surveys/{survey['survey_id']}/answers.csv")).text
