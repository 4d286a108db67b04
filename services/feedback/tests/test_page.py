"""The public survey page in-process: both languages, accessible markup, errors next to the
question with everything kept, escaping, one response per patron, the honeypot, the form token
and the rate limits."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from contextlib import asynccontextmanager
from html.parser import HTMLParser

import asyncpg
import httpx
from siar_feedback import tokens
from siar_feedback.settings import DEV_SECRET, FeedbackSettings

from .conftest import BASE, TOKEN, form, form_token, open_survey, running, send_form, survey_body

GOOD = form(kepuasan="5", rekomendasi="9", koleksi="novel", kegiatan=["dongeng", "pelatihan"], saran="Tambah komik")


class Page(HTMLParser):
    """Just enough of the DOM to check structure: elements with their attributes and text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, **{k: (v if v is not None else "") for k, v in attrs}, "_text": ""}
        self.elements.append(element)
        if tag not in ("input", "meta", "link", "br"):
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element["_text"] += data

    def find(self, tag: str, **attrs) -> list[dict]:
        return [e for e in self.elements if e["tag"] == tag and all(e.get(k) == v for k, v in attrs.items())]

    def one(self, tag: str, **attrs) -> dict:
        [found] = self.find(tag, **attrs)
        return found


def text(element: dict) -> str:
    return " ".join(element["_text"].split())


async def test_the_page_in_indonesian_by_default_and_in_english_when_asked(client, patron):
    survey = await open_survey(client)
    indonesian = await patron.get(f"/s/{survey['slug']}")
    assert indonesian.status_code == 200
    assert indonesian.headers["content-type"].startswith("text/html")
    page = Page(indonesian.text)
    assert page.one("html")["lang"] == "id"
    assert text(page.one("h1")) == "Survei Kepuasan Pemustaka"
    assert text(page.one("button", type="submit")) == "Kirim jawaban"
    assert page.one("input", type="hidden", name="form_token")["value"].startswith("v1.")

    by_header = Page((await patron.get(f"/s/{survey['slug']}", headers={"Accept-Language": "en-GB,en;q=0.9"})).text)
    by_query = Page((await patron.get(f"/s/{survey['slug']}?lang=en", headers={"Accept-Language": "id"})).text)
    for english in (by_header, by_query):
        assert english.one("html")["lang"] == "en"
        assert text(english.one("h1")) == "Library Satisfaction Survey"
        assert text(english.one("button", type="submit")) == "Send answers"
    # The switch keeps the channel and names the other language.
    channel = Page((await patron.get(f"/s/{survey['slug']}?ch=instagram")).text)
    switch = channel.one("a", **{"class": "switch"})
    assert switch["href"] == f"/s/{survey['slug']}?ch=instagram&lang=en"
    assert switch["lang"] == "en"


async def test_english_missing_falls_back_to_indonesian_marked_as_such(client, patron):
    survey = await open_survey(client, title={"id": "Survei Ruang Baca"})
    page = Page((await patron.get(f"/s/{survey['slug']}?lang=en")).text)
    assert page.one("html")["lang"] == "en"
    [span] = [e for e in page.find("span", lang="id") if text(e) == "Survei Ruang Baca"]
    assert span


async def test_every_control_has_a_label_and_every_group_a_legend(client, patron):
    survey = await open_survey(client)
    response = await patron.get(f"/s/{survey['slug']}")
    page = Page(response.text)
    labels = {e["for"] for e in page.find("label")}
    controls = [e for e in page.elements if e["tag"] in ("input", "textarea") and e.get("type") != "hidden"]
    assert controls
    for control in controls:
        assert control["id"] in labels, control
    assert len(page.find("fieldset")) == 4  # rating, NPS, single and multiple choice
    assert len(page.find("legend")) == 4
    assert text(page.one("label", **{"for": "q-saran"})).startswith("Apa saran Anda untuk kami?")
    assert page.one("textarea", id="q-saran")["aria-describedby"] == "hint-saran"
    assert page.one("form")["method"] == "post" and "novalidate" in page.one("form")
    assert page.one("meta", name="viewport")
    assert not page.find("script")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    css = await patron.get("/static/survey.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text


async def test_errors_are_shown_next_to_the_question_and_every_answer_is_kept(client, patron):
    survey = await open_survey(client)
    response = await send_form(patron, f"/s/{survey['slug']}?ch=poster", form(
        kepuasan="4", koleksi="anak", kegiatan=["dongeng", "diskusi"], saran="Ruang baca <b>lebih</b> terang",
    ))
    assert response.status_code == 422
    page = Page(response.text)
    assert text(page.one("title")).startswith("Kesalahan:")
    summary = page.one("div", **{"class": "error-summary"})
    assert summary["role"] == "alert"
    assert page.one("a", href="#q-rekomendasi-0")
    # The message sits inside the question's own fieldset, which points at it.
    question = page.one("div", id="question-rekomendasi")
    assert "has-error" in question["class"]
    error = page.one("p", id="err-rekomendasi")
    assert text(error) == "Kesalahan: Pilih salah satu jawaban."
    assert page.find("fieldset", **{"aria-describedby": "err-rekomendasi"})
    fieldsets_html = re.search(r'id="question-rekomendasi">(.*?)</fieldset>', response.text, re.S).group(1)
    assert 'id="err-rekomendasi"' in fieldsets_html
    # Everything typed or chosen is still there.
    assert "checked" in page.one("input", id="q-kepuasan-4")
    assert "checked" not in page.one("input", id="q-kepuasan-5")
    assert "checked" in page.one("input", id="q-koleksi-anak")
    assert "checked" in page.one("input", id="q-kegiatan-dongeng")
    assert "checked" in page.one("input", id="q-kegiatan-diskusi")
    assert "checked" not in page.one("input", id="q-kegiatan-pelatihan")
    assert page.one("textarea", id="q-saran")["_text"] == "Ruang baca <b>lebih</b> terang"
    # The form posts back to the same channel.
    assert page.one("form")["action"] == f"/s/{survey['slug']}?ch=poster"
    # Nothing was stored.
    results = (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()
    assert results["responses"] == 0

    english = await send_form(patron, f"/s/{survey['slug']}?lang=en", form(kepuasan="9", rekomendasi="5"))
    assert text(Page(english.text).one("p", id="err-kepuasan")) == "Error: Please choose a number on the scale."


async def test_a_script_answer_comes_back_as_text(client, patron):
    survey = await open_survey(client, title={"id": "Survei <i>miring</i>"})
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = await send_form(patron, f"/s/{survey['slug']}", form(kepuasan="3", saran=attack))
    assert response.status_code == 422
    assert "<script>" not in response.text and "<img" not in response.text and "<i>" not in response.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in response.text
    assert "Survei &lt;i&gt;miring&lt;/i&gt;" in response.text
    # Stored as typed (a bind parameter, not SQL), shown escaped, exported as plain text.
    ok = await send_form(patron, f"/s/{survey['slug']}", form(kepuasan="3", rekomendasi="7", saran=attack + "'; DROP TABLE answers;--"))
    assert ok.status_code == 303
    exported = (await client.get(f"/v1/surveys/{survey['survey_id']}/answers.csv")).text
    [row] = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert row["answer"] == attack + "'; DROP TABLE answers;--"
    assert (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()["responses"] == 1


async def test_a_good_response_leads_to_the_thank_you_page(client, patron):
    survey = await open_survey(client, thank_you={"id": "Terima kasih, sampai jumpa di perpustakaan!",
                                                   "en": "Thanks, see you at the library!"})
    response = await send_form(patron, f"/s/{survey['slug']}?ch=instagram&lang=en", GOOD)
    assert response.status_code == 303
    assert response.headers["location"] == f"/s/{survey['slug']}/thanks?lang=en"
    thanks = await patron.get(response.headers["location"])
    page = Page(thanks.text)
    assert page.one("html")["lang"] == "en"
    assert text(page.one("h1")) == "Thank you!"
    assert "Thanks, see you at the library!" in thanks.text
    results = (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()
    assert results["by_channel"] == {"instagram": 1}


async def test_nothing_identifying_is_stored(client, patron, clean_db):
    survey = await open_survey(client, one_response_per_patron=True)
    await send_form(patron, f"/s/{survey['slug']}", GOOD, headers={"X-Forwarded-For": "203.0.113.7",
                                                                    "User-Agent": "PatronPhone/1.0"})
    conn = await asyncpg.connect(clean_db)
    try:
        rows = await conn.fetch("SELECT * FROM feedback.responses")
        assert len(rows) == 1
        assert set(rows[0].keys()) == {"response_id", "survey_id", "channel", "source", "language",
                                       "patron_hash", "submitted_at"}
        cookie = patron.cookies["siar_patron"]
        token = cookie.split(".")[0]
        dump = repr([dict(r) for r in rows]) + repr(await conn.fetch("SELECT * FROM feedback.answers"))
        for secret in ("203.0.113", "PatronPhone", token, cookie):
            assert secret not in dump
        assert token.encode() not in rows[0]["patron_hash"]
    finally:
        await conn.close()


async def test_one_response_per_patron_through_the_signed_cookie(client, patron):
    survey = await open_survey(client, one_response_per_patron=True)
    path = f"/s/{survey['slug']}"
    first_view = await patron.get(path)
    cookie = first_view.headers["set-cookie"]
    assert "siar_patron=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" in cookie  # the survey base URL is https
    second_tab = await form_token(patron, path)  # the same browser with the page open twice
    assert (await send_form(patron, path, GOOD)).status_code == 303
    again = await patron.get(path)
    assert "Anda sudah mengisi survei ini" in again.text
    assert "<form" not in again.text
    twice = await patron.post(path, data=GOOD | {"form_token": second_tab})
    assert twice.status_code == 409
    # Without the cookie (a script that keeps none) a post is no new patron unless it brings a
    # form token of a page it opened; a forged cookie then is just a new browser.
    patron.cookies.clear()
    assert (await patron.post(path, data=GOOD)).status_code == 403
    patron.cookies.set("siar_patron", "forged.value", domain="feedback.test")
    fresh = await send_form(patron, path, GOOD)
    assert fresh.status_code == 303
    assert (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()["responses"] == 2


async def test_surveys_without_the_rule_take_several_responses_and_set_no_cookie(client, patron):
    survey = await open_survey(client)
    view = await patron.get(f"/s/{survey['slug']}")
    assert "set-cookie" not in view.headers
    for _ in range(2):
        assert (await send_form(patron, f"/s/{survey['slug']}", GOOD)).status_code == 303
    assert (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()["responses"] == 2


async def test_the_honeypot_pretends_success_and_stores_nothing(client, patron):
    survey = await open_survey(client)
    bot = await patron.post(f"/s/{survey['slug']}", data=GOOD | {"homepage": "http://spam.example"})
    assert bot.status_code == 303
    assert (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()["responses"] == 0
    page = Page((await patron.get(f"/s/{survey['slug']}")).text)
    trap = page.one("input", name="homepage")
    assert trap["tabindex"] == "-1" and trap["autocomplete"] == "off"
    assert page.one("div", **{"class": "hp"})["aria-hidden"] == "true"
    metrics = (await client.get("/metrics")).text
    assert 'siar_feedback_responses_refused_total{reason="honeypot",source="page"} 1.0' in metrics


async def test_the_per_survey_safety_net_keeps_what_was_typed(client, patron):
    await same_minute()
    survey = await open_survey(client, rate_limit_per_minute=2)
    other = await open_survey(client, rate_limit_per_minute=2)
    for _ in range(2):
        assert (await send_form(patron, f"/s/{survey['slug']}", GOOD)).status_code == 303
    limited = await send_form(patron, f"/s/{survey['slug']}", GOOD)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "60"
    page = Page(limited.text)
    assert page.one("div", **{"class": "alert"})["role"] == "alert"
    assert "checked" in page.one("input", id="q-rekomendasi-9")
    assert page.one("textarea", id="q-saran")["_text"] == "Tambah komik"
    assert Page(limited.text).one("input", name="form_token")  # the same form may be sent again
    # Other surveys and the API are not held back by this survey's limit.
    assert (await send_form(patron, f"/s/{other['slug']}", GOOD)).status_code == 303
    api = await client.post(f"/v1/surveys/{survey['survey_id']}/responses", json={"answers": {"kepuasan": 4, "rekomendasi": 8}})
    assert api.status_code == 201
    assert (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()["responses"] == 3


async def test_unknown_draft_scheduled_and_closed_surveys(client, patron):
    assert (await patron.get("/s/tidak-ada")).status_code == 404
    assert (await patron.get("/s/..%2F..%2Fetc")).status_code == 404
    draft = (await client.post("/v1/surveys", json=survey_body())).json()
    assert (await patron.get(f"/s/{draft['slug']}")).status_code == 404
    scheduled = (await client.post("/v1/surveys", json=survey_body(
        opens_at="2031-01-02T09:00:00", timezone="Asia/Jakarta"))).json()
    await client.post(f"/v1/surveys/{scheduled['survey_id']}/open")
    later = await patron.get(f"/s/{scheduled['slug']}")
    assert later.status_code == 200 and "2 Januari 2031, 09.00 WIB" in later.text and "<form" not in later.text
    survey = await open_survey(client)
    await client.post(f"/v1/surveys/{survey['survey_id']}/close")
    closed = await patron.get(f"/s/{survey['slug']}?lang=en")
    assert closed.status_code == 410 and "This survey is closed" in closed.text
    late = await patron.post(f"/s/{survey['slug']}", data=GOOD)
    assert late.status_code == 410


async def test_an_oversized_post_is_refused_unread(client, patron):
    survey = await open_survey(client)
    response = await patron.post(f"/s/{survey['slug']}", data=form(kepuasan="3", saran="x" * 300_000))
    assert response.status_code == 413
    assert (await client.get(f"/v1/surveys/{survey['survey_id']}/results")).json()["responses"] == 0


async def chunked(*parts: bytes, repeat: bytes = b"", times: int = 0):
    """A body without Content-Length: httpx sends an async generator chunked."""
    for part in parts:
        yield part
    for _ in range(times):
        yield repeat


URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_a_chunked_post_is_counted_as_it_arrives_and_refused_past_the_limit(client, patron):
    survey = await open_survey(client)
    slug = survey["slug"]
    big = await patron.post(f"/s/{slug}?lang=en", headers=URLENCODED, content=chunked(
        b"q_kepuasan=5&q_rekomendasi=9&pad=", repeat=b"x" * 8192, times=40))  # 320 KB
    assert big.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in big.request.headers
    assert big.status_code == 413
    assert big.headers["content-type"].startswith("text/html")
    assert text(Page(big.text).one("h1")) == "Answers too long"
    assert (await client.get(f"/v1/surveys/{slug}/results")).json()["responses"] == 0
    # Chunked as such is fine: a form under the limit is taken.
    token = (await form_token(patron, f"/s/{slug}")).encode()
    small = await patron.post(f"/s/{slug}", headers=URLENCODED, content=chunked(
        b"form_token=" + token + b"&q_kepuasan=5&q_rekomendasi=9&q_saran=", repeat=b"bagus+", times=3))
    assert small.status_code == 303, small.text
    [row] = list(csv.DictReader(io.StringIO(
        (await client.get(f"/v1/surveys/{slug}/answers.csv")).text.lstrip("\ufeff"))))
    assert row["answer"] == "bagus bagus bagus"


async def test_only_the_page_form_encoding_is_taken(client, patron):
    survey = await open_survey(client)
    slug = survey["slug"]
    multipart = await patron.post(f"/s/{slug}", data=GOOD, files={"pad": ("pad.bin", b"x" * 1024)})
    assert multipart.request.headers["content-type"].startswith("multipart/form-data")
    assert multipart.status_code == 415
    assert multipart.headers["content-type"].startswith("text/html")
    page = Page(multipart.text)
    assert page.one("html")["lang"] == "id"
    assert text(page.one("h1")) == "Jawaban tidak dapat dibaca"
    boundary = b"siarboundary"
    huge = await patron.post(
        f"/s/{slug}?lang=en", headers={"Content-Type": "multipart/form-data; boundary=siarboundary"},
        content=chunked(
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="q_kepuasan"\r\n\r\n5\r\n--' + boundary
            + b'\r\nContent-Disposition: form-data; name="q_rekomendasi"\r\n\r\n9\r\n--' + boundary
            + b'\r\nContent-Disposition: form-data; name="pad"; filename="pad.bin"\r\n\r\n',
            repeat=b"x" * 65536, times=48,  # 3 MB
        ),
    )
    assert huge.status_code == 415
    assert text(Page(huge.text).one("h1")) == "Answers could not be read"
    as_json = await patron.post(f"/s/{slug}", json={"q_kepuasan": "5", "q_rekomendasi": "9"})
    assert as_json.status_code == 415
    assert (await client.get(f"/v1/surveys/{slug}/results")).json()["responses"] == 0


async def same_minute() -> None:
    """Wait out the end of a minute: the rate limits count in fixed one-minute windows."""
    if (second := time.time() % 60) > 50:
        await asyncio.sleep(60.5 - second)


@asynccontextmanager
async def service(database_url: str, amqp_url: str, **settings):
    """The service with settings of its own, and an API client for it."""
    async with running(database_url, amqp_url, **settings) as app, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"},
    ) as api:
        yield app, api


def browser(app, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A patron's browser connecting from ``address``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50123)), base_url=BASE)


async def stored(client) -> int:
    """Responses stored in every survey."""
    return sum(s["responses"] for s in (await client.get("/v1/surveys")).json()["surveys"])


async def test_a_post_without_a_form_token_stores_nothing_and_gets_the_form_back(client, patron):
    survey = await open_survey(client)
    path = f"/s/{survey['slug']}"
    for token in (None, "", "not-a-token", "v1.1.x.y", "v1." + "9" * 300):
        response = await patron.post(path, data=GOOD | ({} if token is None else {"form_token": token}))
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        page = Page(response.text)
        assert "Formulir ini tidak dapat kami periksa" in text(page.one("div", **{"class": "alert"}))
        assert "checked" in page.one("input", id="q-rekomendasi-9")  # nothing typed is lost
        assert page.one("textarea", id="q-saran")["_text"] == "Tambah komik"
    assert await stored(client) == 0
    metrics = (await client.get("/metrics")).text
    assert 'siar_feedback_responses_refused_total{reason="form_token",source="page"} 5.0' in metrics
    # The form that came back carries a new token, and with it the same answers are taken.
    again = Page(response.text).one("input", name="form_token")["value"]
    assert (await patron.post(path, data=GOOD | {"form_token": again})).status_code == 303
    assert await stored(client) == 1


async def test_a_token_of_another_survey_or_tampered_with_is_refused(client, patron):
    survey = await open_survey(client)
    other = await open_survey(client)
    path = f"/s/{survey['slug']}"
    foreign = await form_token(patron, f"/s/{other['slug']}")
    own = await form_token(patron, path)
    version, issued, nonce, signature = own.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for token in (foreign, f"{version}.{int(issued) - 60}.{nonce}.{signature}",
                  f"{version}.{issued}.{nonce[::-1]}.{signature}", f"{version}.{issued}.{nonce}.{flipped}",
                  f"{version}.{issued}.{nonce}.{tokens.AGAIN}.{signature}"):  # only the service marks one
        refused = await patron.post(path, data=GOOD | {"form_token": token})
        assert refused.status_code == 403, token
    assert await stored(client) == 0
    assert (await patron.post(path, data=GOOD | {"form_token": own})).status_code == 303


async def test_a_form_sent_too_fast_or_too_late_is_refused(clean_db, amqp_url):
    default = FeedbackSettings.model_fields["survey_form_min_seconds"].default
    assert default >= 2
    async with service(clean_db, amqp_url, survey_form_min_seconds=default) as (app, api), browser(app) as patron:
        survey = await open_survey(api)
        path = f"/s/{survey['slug']}?lang=en"
        opened = time.monotonic()
        token = await form_token(patron, path)
        fast = await patron.post(path, data=GOOD | {"form_token": token})
        assert fast.status_code == 403
        page = Page(fast.text)
        assert "sent very quickly" in text(page.one("div", **{"class": "alert"}))
        assert page.one("input", name="form_token")["value"] == token  # its clock keeps running
        assert await stored(api) == 0
        # A form sent back with an answer to fix may be sent again at once (fixing one is quick):
        # it keeps its page view's nonce and issue time, marked under the signature.
        second_view = await form_token(patron, path)
        wrong = await patron.post(path, data=GOOD | {"q_rekomendasi": "11", "form_token": second_view})
        assert wrong.status_code == 422
        corrected = Page(wrong.text).one("input", name="form_token")["value"]
        version, issued, nonce, _ = second_view.split(".")
        assert corrected.split(".")[:4] == [version, issued, nonce, tokens.AGAIN]
        assert (await patron.post(path, data=GOOD | {"form_token": corrected})).status_code == 303
        assert await stored(api) == 1
        await asyncio.sleep(default - (time.monotonic() - opened) + 0.1)
        assert (await patron.post(path, data=GOOD | {"form_token": token})).status_code == 303
        assert await stored(api) == 2
        # The corrected page view's own token now brings nothing more (its nonce is used).
        assert (await patron.post(path, data=GOOD | {"form_token": second_view})).status_code == 303
        assert await stored(api) == 2
        # A page left open for more than a day: reload (answers kept, a new token, which may be
        # sent at once: a patron who presses Send again is not refused as too fast).
        day_old = tokens.issue(tokens.key(DEV_SECRET), survey["survey_id"], now=time.time() - 24 * 3600 - 5)
        late = await patron.post(path, data=GOOD | {"form_token": day_old})
        assert late.status_code == 403
        page = Page(late.text)
        assert "open for a long time" in text(page.one("div", **{"class": "alert"}))
        renewed = page.one("input", name="form_token")["value"]
        assert renewed != day_old
        assert await stored(api) == 2
        assert (await patron.post(path, data=GOOD | {"form_token": renewed})).status_code == 303
        assert await stored(api) == 3
        # So too after a token that is not ours.
        invalid = await patron.post(path, data=GOOD | {"form_token": "not-a-token"})
        assert invalid.status_code == 403
        renewed = Page(invalid.text).one("input", name="form_token")["value"]
        assert (await patron.post(path, data=GOOD | {"form_token": renewed})).status_code == 303
        assert await stored(api) == 4


async def test_one_page_view_stores_one_response_however_often_its_form_comes_back(client, patron):
    """A script once viewed the page, sent one bad answer, then good answers with the token it got
    back, and again: each pair stored a response, for a day after one page view."""
    survey = await open_survey(client)
    path = f"/s/{survey['slug']}"
    token = await form_token(patron, path)
    bad = GOOD | {"q_rekomendasi": "11"}
    backs = []
    for _ in range(3):
        wrong = await patron.post(path, data=bad | {"form_token": token})
        assert wrong.status_code == 422
        backs.append(Page(wrong.text).one("input", name="form_token")["value"])
        # A post the browser calls cross-site gets its own token back, not a second one.
        cross = await patron.post(path, data=GOOD | {"form_token": token}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        backs.append(Page(cross.text).one("input", name="form_token")["value"])
    for sent in [*backs, token]:
        assert (await patron.post(path, data=GOOD | {"form_token": sent})).status_code == 303  # thanks
    # A token sent back can be sent back again; it still brings nothing more.
    again = await patron.post(path, data=bad | {"form_token": backs[0]})
    assert again.status_code == 422
    assert (await patron.post(path, data=GOOD | {"form_token": Page(again.text).one(
        "input", name="form_token")["value"]})).status_code == 303
    assert await stored(client) == 1
    metrics = (await client.get("/metrics")).text
    assert 'siar_feedback_responses_refused_total{reason="resubmitted",source="page"} 7.0' in metrics


async def test_the_same_form_sent_twice_stores_one_response(client, patron):
    survey = await open_survey(client)
    path = f"/s/{survey['slug']}"
    token = await form_token(patron, path)
    first = await patron.post(path, data=GOOD | {"form_token": token})
    refresh = await patron.post(path, data=GOOD | {"form_token": token})
    assert first.status_code == refresh.status_code == 303  # both see the thank-you page
    assert await stored(client) == 1
    # A double click: the two posts race; one response.
    token = await form_token(patron, path)
    clicks = await asyncio.gather(*(patron.post(path, data=GOOD | {"form_token": token}) for _ in range(2)))
    assert [c.status_code for c in clicks] == [303, 303]
    assert await stored(client) == 2
    metrics = (await client.get("/metrics")).text
    assert 'siar_feedback_responses_refused_total{reason="resubmitted",source="page"} 2.0' in metrics


async def test_a_post_the_browser_calls_cross_site_is_refused(client, patron):
    survey = await open_survey(client)
    path = f"/s/{survey['slug']}"
    for site in ("cross-site", "same-site"):
        token = await form_token(patron, path)
        refused = await patron.post(path, data=GOOD | {"form_token": token}, headers={"Sec-Fetch-Site": site})
        assert refused.status_code == 403
    assert await stored(client) == 0
    token = await form_token(patron, path)
    own = await patron.post(path, data=GOOD | {"form_token": token}, headers={"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 303


async def test_a_client_over_its_limit_locks_out_no_one_else(clean_db, amqp_url):
    await same_minute()
    async with (
        service(clean_db, amqp_url, survey_client_limit_per_minute=2) as (app, api),
        browser(app, "198.51.100.1") as flooder, browser(app, "2001:db8:1:2::1") as patron,
        browser(app, "2001:db8:1:2::99") as same_network,
    ):
        survey = await open_survey(api, rate_limit_per_minute=4)  # the survey's safety net
        path = f"/s/{survey['slug']}"
        assert [(await send_form(flooder, path, GOOD)).status_code for _ in range(7)] == [303, 303] + [429] * 5
        limited = await send_form(flooder, path, GOOD)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        # Another client answers; the flooder's refused posts used up nothing of the survey's four.
        assert (await send_form(patron, path, GOOD)).status_code == 303
        assert (await send_form(same_network, path, GOOD)).status_code == 303  # the same IPv6 /64
        assert (await send_form(same_network, path, GOOD)).status_code == 429
        assert await stored(api) == 4


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(clean_db, amqp_url):
    cases = (
        ("", "127.0.0.1", [303, 429, 429]),  # set empty: no one trusted
        ("127.0.0.0/8, 10.0.0.0/8", "127.0.0.1", [303, 303, 429]),
        # By default a proxy on loopback or a private network (Docker's bridge) is trusted ...
        (None, "127.0.0.1", [303, 303, 429]),
        (None, "172.18.0.1", [303, 303, 429]),
        (None, "fd12:3456::1", [303, 303, 429]),
        # ... and a client from the internet is not, whatever it writes into the header.
        (None, "203.0.113.50", [303, 429, 429]),
    )
    for proxies, peer, taken in cases:
        await same_minute()
        settings = {} if proxies is None else {"survey_trusted_proxies": proxies}
        async with (
            service(clean_db, amqp_url, survey_client_limit_per_minute=1, **settings) as (app, api),
            browser(app, peer) as proxy,
        ):
            survey = await open_survey(api)
            path = f"/s/{survey['slug']}"
            statuses = []
            for forwarded in ("198.51.100.1", "198.51.100.2, 10.1.1.1",
                              # what a client wrote itself stands left of what the proxy added
                              "198.51.100.2, 198.51.100.1"):
                response = await send_form(proxy, path, GOOD, headers={"X-Forwarded-For": forwarded})
                statuses.append(response.status_code)
            assert statuses == taken, (proxies, peer)
