"""Events on the real broker: survey.opened and survey.closed (by a person and by their dates),
feedback.response.received through the outbox, and responses handed in by other systems as
feedback.response.submitted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from siar_contracts import (
    EVENTS_EXCHANGE,
    CloudEvent,
    FeedbackResponseSubmitted,
    SurveyClosed,
    SurveyOpened,
    spec_for_model,
)
from siar_runtime.auth import actor_id
from siar_runtime.deadletters import peek, replay

from .conftest import TOKEN, form, open_survey, send_form, survey_body, wait_until


def of(tap, name: str, survey_id: str) -> list[dict]:
    return [e for e in tap.named(name) if e["data"].get("survey_id") == survey_id]


async def test_opening_announces_the_links_and_where_to_post_them(client, tap):
    survey = await open_survey(client, slug="survei-buku-anak", announce=[
        {"platform": "telegram", "account_id": "acc-telegram"},
        {"platform": "mastodon", "account_id": "acc-mastodon", "channel": "poster"},
    ], announce_text={"id": "Isi survei layanan anak kami!", "en": "Fill in our survey!"})
    [event] = await wait_until(lambda: of(tap, "survey.opened", survey["survey_id"]))
    assert event["type"] == "org.siar.survey.opened.v1"
    assert event["source"] == "/siar/feedback"
    assert event["correlationid"] == survey["correlation_id"]
    assert event["subject"] == f"survey/{survey['survey_id']}"
    data = SurveyOpened.model_validate(event["data"])
    assert data.slug == "survei-buku-anak"
    assert {link.channel: link.url for link in data.links} == {
        "direct": "https://perpus.example.id/s/survei-buku-anak",
        "instagram": "https://perpus.example.id/s/survei-buku-anak?ch=instagram",
        "telegram": "https://perpus.example.id/s/survei-buku-anak?ch=telegram",
        "poster": "https://perpus.example.id/s/survei-buku-anak?ch=poster",
    }
    telegram, mastodon = data.announce
    assert (telegram.platform, telegram.account_id, telegram.channel) == ("telegram", "acc-telegram", "telegram")
    assert telegram.url.endswith("?ch=telegram")
    assert telegram.text == "Isi survei layanan anak kami!\n\nhttps://perpus.example.id/s/survei-buku-anak?ch=telegram"
    assert (mastodon.channel, mastodon.url) == ("poster", "https://perpus.example.id/s/survei-buku-anak?ch=poster")
    # Who created the survey (and wrote its text) is named, so they cannot approve its posts themselves.
    assert data.created_by == actor_id(TOKEN)  # as every service names the token ("feed…1a2b3c4d")
    assert data.edited_by is None  # nobody changed the announcement since
    # Opening again changes nothing and announces nothing.
    await client.post(f"/v1/surveys/{survey['survey_id']}/open")
    assert len(of(tap, "survey.opened", survey["survey_id"])) == 1


async def test_whoever_changes_the_announcement_is_named_as_its_editor(client, tap):
    # Changing what the posts say (or where they go) makes the announcement partly theirs: the
    # scheduler then keeps them from approving it too. A change elsewhere names nobody.
    created = (await client.post("/v1/surveys", json=survey_body(
        announce=[{"platform": "telegram", "account_id": "acc-telegram"}]))).json()
    assert (await client.patch(f"/v1/surveys/{created['survey_id']}",
                               json={"announce_text": {"id": "Ayo isi!", "en": "Fill it in!"}})).status_code == 200
    quiet = (await client.post("/v1/surveys", json=survey_body(
        announce=[{"platform": "telegram", "account_id": "acc-telegram"}]))).json()
    assert (await client.patch(f"/v1/surveys/{quiet['survey_id']}",
                               json={"thank_you": {"id": "Terima kasih!", "en": "Thanks!"}})).status_code == 200
    for survey in (created, quiet):
        assert (await client.post(f"/v1/surveys/{survey['survey_id']}/open")).status_code == 200
    [changed] = await wait_until(lambda: of(tap, "survey.opened", created["survey_id"]))
    [untouched] = await wait_until(lambda: of(tap, "survey.opened", quiet["survey_id"]))
    assert changed["data"]["edited_by"] == actor_id(TOKEN)
    assert untouched["data"].get("edited_by") is None


async def test_responses_are_announced_without_anything_identifying(client, patron, tap):
    questions = survey_body()["questions"] + [
        {"key": "email", "kind": "text", "identifying": True,
         "text": {"id": "E-mail jika ingin kami hubungi", "en": "E-mail if you want a reply"}},
    ]
    survey = await open_survey(client, questions=questions)
    page = await send_form(patron, f"/s/{survey['slug']}?ch=instagram", form(
        kepuasan="5", rekomendasi="10", kegiatan=["dongeng"], saran="Mantap", email="pemustaka@example.id"))
    assert page.status_code == 303
    api = await client.post(f"/v1/surveys/{survey['survey_id']}/responses",
                            json={"channel": "kiosk", "answers": {"kepuasan": 2, "rekomendasi": 4}})
    assert api.status_code == 201
    events = await wait_until(lambda: len(of(tap, "feedback.response.received", survey["survey_id"])) == 2
                              and of(tap, "feedback.response.received", survey["survey_id"]))
    by_source = {e["data"]["source"]: e for e in events}
    assert by_source["page"]["type"] == "org.siar.feedback.response.received.v1"
    assert by_source["page"]["data"]["channel"] == "instagram"
    assert by_source["page"]["data"]["answers"] == {
        "kepuasan": 5, "rekomendasi": 10, "kegiatan": ["dongeng"], "saran": "Mantap"}
    assert "pemustaka@example.id" not in str(by_source["page"])
    assert by_source["api"]["data"]["response_id"] == api.json()["response_id"]
    assert by_source["api"]["data"]["answers"] == {"kepuasan": 2, "rekomendasi": 4}
    # The identifying answer is kept for the library, only in its own export.
    exported = (await client.get(f"/v1/surveys/{survey['survey_id']}/answers.csv", params={"question": "email"})).text
    assert "pemustaka@example.id" in exported
    form_page = (await patron.get(f"/s/{survey['slug']}")).text
    assert 'aria-describedby="privacy-email"' in form_page


async def test_closing_announces_the_headline_results(client, tap):
    survey = await open_survey(client)
    for kepuasan, rekomendasi in ((5, 10), (4, 9), (2, 3)):
        await client.post(f"/v1/surveys/{survey['survey_id']}/responses",
                          json={"answers": {"kepuasan": kepuasan, "rekomendasi": rekomendasi}})
    await client.post(f"/v1/surveys/{survey['survey_id']}/close")
    [event] = await wait_until(lambda: of(tap, "survey.closed", survey["survey_id"]))
    data = SurveyClosed.model_validate(event["data"])
    assert (data.responses, data.reason) == (3, "closed_by_person")
    assert (data.average_rating, data.csat, data.nps) == (3.67, 66.7, 33.3)


async def test_opening_and_closing_dates_take_effect_on_their_own(client, patron, tap):
    now = datetime.now(UTC)
    created = (await client.post("/v1/surveys", json=survey_body(
        opens_at=(now + timedelta(seconds=1)).isoformat(), closes_at=(now + timedelta(seconds=2.5)).isoformat(),
    ))).json()
    scheduled = (await client.post(f"/v1/surveys/{created['survey_id']}/open")).json()
    assert scheduled["status"] == "scheduled"
    assert (await patron.get(f"/s/{created['slug']}")).status_code == 200  # "not open yet"
    [opened] = await wait_until(lambda: of(tap, "survey.opened", created["survey_id"]), timeout=10)
    assert datetime.fromisoformat(opened["time"]) >= now + timedelta(seconds=1)
    assert opened["data"]["created_by"] == actor_id(TOKEN)  # opened by its date: still named
    [closed] = await wait_until(lambda: of(tap, "survey.closed", created["survey_id"]), timeout=10)
    assert closed["data"]["reason"] == "closing_date_reached"
    final = (await client.get(f"/v1/surveys/{created['survey_id']}")).json()
    assert (final["status"], final["close_reason"]) == ("closed", "closing_date_reached")


async def publish(amqp_url: str, payload: FeedbackResponseSubmitted | dict, *, event_id: str | None = None,
                  correlation_id: str = "bot-conversation-1") -> str:
    """``payload`` as a dict: the data exactly as a sender wrote it, not as the model would write it."""
    spec = spec_for_model(FeedbackResponseSubmitted)
    if isinstance(payload, dict):
        event = CloudEvent(source="/library/whatsapp-bot", type=spec.type, correlationid=correlation_id,
                           data=payload, **({"id": event_id} if event_id else {}))
    else:
        event = spec.envelope(payload, source="/library/whatsapp-bot", correlation_id=correlation_id,
                              event_id=event_id)
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(event.to_json(), content_type="application/cloudevents+json", message_id=event.id),
            routing_key="feedback.response.submitted",
        )
    return event.id


async def results_of(client, survey) -> dict:
    return (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()


async def test_a_chat_bot_hands_in_responses_as_events(client, tap, amqp_url):
    survey = await open_survey(client, one_response_per_patron=True)
    answer = FeedbackResponseSubmitted(survey=survey["slug"], channel="whatsapp", patron_key="wa:5f2c",
                                       answers={"kepuasan": 4, "rekomendasi": "9", "saran": "<b>Oke</b>"})
    event_id = await publish(amqp_url, answer)
    received = await wait_until(lambda: of(tap, "feedback.response.received", survey["survey_id"]))
    assert received[0]["data"]["source"] == "event"
    assert received[0]["data"]["channel"] == "whatsapp"
    assert received[0]["data"]["answers"] == {"kepuasan": 4, "rekomendasi": 9, "saran": "<b>Oke</b>"}
    assert received[0]["correlationid"] == "bot-conversation-1"
    # The same event again (a redelivery) and the same patron again (a new event) change nothing.
    await publish(amqp_url, answer, event_id=event_id)
    await publish(amqp_url, answer)
    await publish(amqp_url, answer.model_copy(update={"patron_key": "wa:77aa"}), correlation_id="marker")
    await wait_until(lambda: [e for e in tap.named("feedback.response.received") if e["correlationid"] == "marker"])
    results = await results_of(client, survey)
    assert results["responses"] == 2
    assert results["by_channel"] == {"whatsapp": 2}


@pytest.mark.parametrize(
    ("change", "reason", "detail"),
    [
        ({"survey": "no-such-survey"}, "unknown_survey", "no-such-survey"),
        ({"answers": {"kepuasan": 9}}, "invalid_answers", "answers.kepuasan"),
        ({"patron_key": None}, "patron_key_required", "patron_key"),
        ({"submitted_at": datetime(2026, 11, 1, 9, 0)}, "invalid_payload", "submitted_at"),
    ],
)
async def test_responses_that_cannot_be_stored_go_to_the_dead_letters_with_the_reason(
    client, amqp_url, change, reason, detail
):
    survey = await open_survey(client, one_response_per_patron=True)
    payload = FeedbackResponseSubmitted(survey=survey["survey_id"], channel="telegram", patron_key="tg:1",
                                        answers={"kepuasan": 3, "rekomendasi": 5})
    event_id = await publish(amqp_url, payload.model_copy(update=change), event_id=str(uuid.uuid4()))
    seen = await dead_letter(amqp_url, event_id)
    assert seen["x-siar-reason"] == reason
    assert detail in seen["x-siar-detail"]
    assert (await results_of(client, survey))["responses"] == 0


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (True, "data.answers.kepuasan: true or false is not an answer"),
        (3.5, "data.answers.kepuasan: a score is a whole number, not 3.5"),
        ([4], "data.answers.kepuasan: an answer is a whole number (a score), a text or a list of texts"),
    ],
)
async def test_an_answer_a_bot_sent_as_a_boolean_or_a_fraction_is_a_dead_letter_not_a_score(
    client, amqp_url, value, detail
):
    survey = await open_survey(client)
    data = {"survey": survey["slug"], "channel": "telegram", "answers": {"kepuasan": value, "rekomendasi": 5}}
    seen = await dead_letter(amqp_url, await publish(amqp_url, data, event_id=str(uuid.uuid4())))
    assert seen["x-siar-reason"] == "invalid_payload"
    assert detail in seen["x-siar-detail"]
    assert (await results_of(client, survey))["responses"] == 0
    # A whole number written with a point is that number.
    await publish(amqp_url, data | {"answers": {"kepuasan": 4.0, "rekomendasi": 5}}, correlation_id="whole")

    async def stored():
        return (await results_of(client, survey))["responses"] == 1

    await wait_until(stored)
    assert (await results_of(client, survey))["average_rating"] == 4.0


async def dead_letter(amqp_url: str, event_id: str) -> dict:
    """The headers of the dead letter for ``event_id``, once it is there (left in place)."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        async def found():
            return next((d.headers for d in await peek(connection, "feedback") if d.message_id == event_id), None)

        return await wait_until(found, timeout=10)


async def test_a_response_to_a_survey_not_taking_responses_is_a_dead_letter_to_replay(client, amqp_url):
    # It was acknowledged and dropped, its event id used up: the bot's retry after the survey
    # opened again was absorbed as a repeat and the response lost for good.
    survey = await open_survey(client)
    assert (await client.post(f"/v1/surveys/{survey['survey_id']}/close")).status_code == 200
    data = {"survey": survey["slug"], "channel": "telegram", "answers": {"kepuasan": 5, "rekomendasi": 9}}
    event_id = await publish(amqp_url, data, event_id=str(uuid.uuid4()))
    seen = await dead_letter(amqp_url, event_id)
    assert seen["x-siar-reason"] == "survey_not_open" and "closed" in seen["x-siar-detail"]
    assert (await results_of(client, survey))["responses"] == 0
    # Open again, the dead letter replayed is stored.
    assert (await client.post(f"/v1/surveys/{survey['survey_id']}/open")).status_code == 200
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        assert (await replay(connection, "feedback", message_id=event_id)).moved == 1

    async def stored():
        return (await results_of(client, survey))["responses"] == 1

    await wait_until(stored)
