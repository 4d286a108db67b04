"""The rule book without a database: answers, results maths, CSV cells, the patron's language,
the patron cookie, the client address behind proxies."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from siar_feedback import answers, results, tokens
from siar_feedback.clients import client_address, parse_networks
from siar_feedback.i18n import negotiate
from siar_feedback.patrons import cookie_token, new_cookie, patron_hash
from siar_feedback.schemas import Localized, QuestionIn, Survey, SurveyCreate
from siar_feedback.settings import PRIVATE_NETWORKS, FeedbackSettings

from .conftest import survey_body

QUESTIONS = SurveyCreate.model_validate(survey_body()).questions


def test_answers_from_the_page_and_from_json_come_out_typed():
    raw_form = {"kepuasan": ["4"], "rekomendasi": ["10"], "koleksi": ["anak"], "kegiatan": ["dongeng", "diskusi"],
                "saran": ["  Tambah buku anak\r\nterima kasih  "]}
    found, errors = answers.check(QUESTIONS, raw_form, strict=False)
    assert errors == {}
    assert answers.as_values(QUESTIONS, found) == {
        "kepuasan": 4, "rekomendasi": 10, "koleksi": "anak", "kegiatan": ["dongeng", "diskusi"],
        "saran": "Tambah buku anak\nterima kasih",
    }
    found, errors = answers.check(QUESTIONS, {"kepuasan": 5, "rekomendasi": 0, "kegiatan": "dongeng"})
    assert errors == {}
    assert answers.as_values(QUESTIONS, found) == {"kepuasan": 5, "rekomendasi": 0, "kegiatan": ["dongeng"]}


@pytest.mark.parametrize(
    ("raw", "key", "code"),
    [
        ({"rekomendasi": 5}, "kepuasan", "required"),
        ({"kepuasan": "   ", "rekomendasi": 5}, "kepuasan", "required"),
        ({"kepuasan": 6, "rekomendasi": 5}, "kepuasan", "out_of_range"),
        ({"kepuasan": 0, "rekomendasi": 5}, "kepuasan", "out_of_range"),
        ({"kepuasan": 3, "rekomendasi": 11}, "rekomendasi", "out_of_range"),
        ({"kepuasan": "lima", "rekomendasi": 5}, "kepuasan", "not_a_number"),
        ({"kepuasan": True, "rekomendasi": 5}, "kepuasan", "not_a_number"),
        ({"kepuasan": ["3", "4"], "rekomendasi": 5}, "kepuasan", "one_only"),
        ({"kepuasan": 3, "rekomendasi": 5, "koleksi": "komik"}, "koleksi", "unknown_option"),
        ({"kepuasan": 3, "rekomendasi": 5, "koleksi": ["novel", "anak"]}, "koleksi", "one_only"),
        ({"kepuasan": 3, "rekomendasi": 5, "kegiatan": ["dongeng", "<b>"]}, "kegiatan", "unknown_option"),
        ({"kepuasan": 3, "rekomendasi": 5, "saran": "x" * 2001}, "saran", "too_long"),
        ({"kepuasan": 3, "rekomendasi": 5, "saran": 7}, "saran", "not_text"),
        ({"kepuasan": 3, "rekomendasi": 5, "umur": 30}, "umur", "unknown_question"),
    ],
)
def test_bad_answers_are_named_per_question(raw, key, code):
    found, errors = answers.check(QUESTIONS, raw)
    assert errors[key] == code
    assert key not in found


def test_control_characters_are_dropped_but_the_text_is_kept():
    found, errors = answers.check(QUESTIONS, {"kepuasan": 3, "rekomendasi": 5, "saran": "ok\x00 <b>bagus</b>\x07"})
    assert errors == {}
    assert found["saran"].text == "ok <b>bagus</b>"


def test_nps_csat_and_average():
    # 10 answers: 5 promoters (9-10), 3 passives (7-8), 2 detractors (0-6): 50 % - 20 % = 30.
    assert results.nps({10: 3, 9: 2, 8: 2, 7: 1, 6: 1, 0: 1}) == 30.0
    assert results.nps({0: 4}) == -100.0
    assert results.nps({}) is None
    # 4 of 6 ratings are 4 or 5.
    assert results.csat({5: 2, 4: 2, 3: 1, 1: 1}) == 66.7
    assert results.average({5: 2, 4: 2, 3: 1, 1: 1}) == 3.67
    assert results.csat({}) is None and results.average({}) is None


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
        ("+62 812 555", "'+62 812 555"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("  =1+1", "'  =1+1"),
        ("Bagus sekali", "Bagus sekali"),
        ("", ""),
    ],
)
def test_csv_cells_never_start_a_formula(text, cell):
    assert results.safe_cell(text) == cell


def test_csv_export_keeps_text_and_quotes_formulas():
    survey_id = uuid.uuid4()
    now = datetime.now(UTC)
    survey = Survey(
        survey_id=survey_id, slug="s-1", status="open", title=Localized(id="S"), intro=None, thank_you=None,
        questions=QUESTIONS, opens_at=None, closes_at=None, timezone="Asia/Jakarta", channels=[],
        one_response_per_patron=False, rate_limit_per_minute=60, announce=[], announce_text=None,
        announce_language="id", correlation_id="c", version=1, created_at=now, updated_at=now,
        opened_at=now, closed_at=None, close_reason=None,
    )
    rows = [{"response_id": uuid.uuid4(), "submitted_at": now, "channel": "poster", "question_key": "saran",
             "text": 'Pakai "kutip", koma\ndan baris baru'},
            {"response_id": uuid.uuid4(), "submitted_at": now, "channel": "direct", "question_key": "saran",
             "text": "=cmd|' /C calc'!A0"}]
    text = results.text_answers_csv(survey, rows)
    assert text.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(text[1:])))
    assert parsed[0] == list(results.CSV_HEADER)
    assert parsed[1][2:] == ["poster", "saran", "Apa saran Anda untuk kami?", 'Pakai "kutip", koma\ndan baris baru']
    assert parsed[2][5] == "'=cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    ("query", "header", "lang"),
    [
        (None, None, "id"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "id-ID,id;q=0.9,en;q=0.8", "id"),
        (None, "fr-FR,fr;q=0.9,en;q=0.5,id;q=0.4", "en"),
        (None, "en;q=0.3,in;q=0.8", "id"),
        (None, "de, ja", "id"),
        ("en", "id-ID", "en"),
        ("id", "en-GB", "id"),
        ("xx", "en-GB", "en"),
    ],
)
def test_the_patron_language(query, header, lang):
    assert negotiate(query, header)[0] == lang


def test_patron_cookie_is_signed_and_the_stored_key_is_per_survey():
    secret = "s" * 32
    cookie = new_cookie(secret)
    token = cookie_token(secret, cookie)
    assert token and token in cookie
    assert cookie_token("another-secret-123456", cookie) is None
    assert cookie_token(secret, token + ".forged") is None
    assert cookie_token(secret, None) is None
    a, b = uuid.uuid4(), uuid.uuid4()
    assert patron_hash(secret, a, token) != patron_hash(secret, b, token)
    assert token.encode() not in patron_hash(secret, a, token)


def test_a_question_definition_must_be_consistent():
    with pytest.raises(ValueError, match="at least two options"):
        QuestionIn(key="a", kind="single_choice", text={"id": "?"}, options=[{"key": "x", "label": {"id": "x"}}])
    with pytest.raises(ValueError, match="has no options"):
        QuestionIn(key="a", kind="rating", text={"id": "?"}, options=[{"key": "x", "label": {"id": "x"}}] * 2)
    with pytest.raises(ValueError, match="identifying"):
        QuestionIn(key="a", kind="nps", text={"id": "?"}, identifying=True)


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "client"),
    [
        ("198.51.100.7", ["203.0.113.1"], "", "198.51.100.7"),  # no proxy trusted: the peer
        ("10.0.0.2", ["203.0.113.1"], "", "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.1"], "10.0.0.0/8", "203.0.113.1"),
        ("198.51.100.7", ["203.0.113.1"], "10.0.0.0/8", "198.51.100.7"),  # not from the proxy
        ("10.0.0.2", ["1.2.3.4, 203.0.113.1, 10.0.0.9"], "10.0.0.0/8", "203.0.113.1"),  # a written-in 1.2.3.4
        ("10.0.0.2", ["1.2.3.4", "203.0.113.1:5123"], "10.0.0.0/8", "203.0.113.1"),  # two headers, a port
        ("10.0.0.2", ["junk, 203.0.113.1"], "10.0.0.0/8", "203.0.113.1"),
        ("10.0.0.2", ["203.0.113.1, junk"], "10.0.0.0/8", "10.0.0.2"),  # the proxy passed junk: stop
        ("10.0.0.2", [], "10.0.0.0/8", "10.0.0.2"),
        ("2001:db8:1:2:3:4:5:6", [], "", "2001:db8:1:2::/64"),  # an IPv6 client by its /64
        ("::ffff:10.0.0.2", ["[2001:db8::1]:443"], "10.0.0.0/8", "2001:db8::/64"),
    ],
)
def test_the_client_is_the_rightmost_address_no_trusted_proxy_added(peer, forwarded, proxies, client):
    assert client_address(peer, forwarded, parse_networks(proxies)) == client


@pytest.mark.parametrize(
    ("peer", "client"),
    [
        ("127.0.0.1", "203.0.113.1"),  # a proxy on the same host
        ("172.18.0.1", "203.0.113.1"),  # nginx through Docker's bridge
        ("10.1.2.3", "203.0.113.1"),
        ("192.168.1.1", "203.0.113.1"),
        ("::1", "203.0.113.1"),
        ("fd00::1", "203.0.113.1"),
        ("198.51.100.7", "198.51.100.7"),  # a client from the internet: its header is not read
        ("2001:db8:1:2::7", "2001:db8:1:2::/64"),
    ],
)
def test_by_default_proxies_on_loopback_and_private_networks_are_trusted(peer, client):
    # With none trusted, every patron behind the (required, https) proxy was one client.
    default = FeedbackSettings().trusted_proxies
    assert default == parse_networks(PRIVATE_NETWORKS)
    assert client_address(peer, ["1.2.3.4, 203.0.113.1"], default) == client


def test_trusted_proxies_set_empty_trust_no_one_and_compose_passes_the_default(monkeypatch):
    monkeypatch.setenv("SIAR_SURVEY_TRUSTED_PROXIES", "")
    assert FeedbackSettings().trusted_proxies == ()  # so compose must not pass an empty value
    monkeypatch.setenv("SIAR_SURVEY_TRUSTED_PROXIES", "172.18.0.1")
    assert [str(n) for n in FeedbackSettings().trusted_proxies] == ["172.18.0.1/32"]
    compose = (Path(__file__).resolve().parents[3] / "compose.yaml").read_text()
    [passed] = re.findall(r"SIAR_SURVEY_TRUSTED_PROXIES: \$\{SIAR_SURVEY_TRUSTED_PROXIES:-([^}]*)\}", compose)
    assert parse_networks(passed) == parse_networks(PRIVATE_NETWORKS)


def test_a_form_sent_back_keeps_its_token_nonce_and_age_and_only_the_service_marks_it():
    form_key, survey_id = tokens.key("a-secret-of-sixteen"), uuid.uuid4()
    now = time.time()
    first = tokens.issue(form_key, survey_id, now=now)
    check, token = tokens.read(form_key, survey_id, first, min_age=2, max_age=3600, now=now + 1)
    assert check is tokens.Check.TOO_FAST
    back = tokens.again(form_key, survey_id, token)
    check, sent_back = tokens.read(form_key, survey_id, back, min_age=2, max_age=3600, now=now + 1)
    assert check is tokens.Check.OK and sent_back.again
    assert (sent_back.nonce, sent_back.issued) == (token.nonce, token.issued)
    expired, _ = tokens.read(form_key, survey_id, back, min_age=2, max_age=3600, now=now + 3601)
    assert expired is tokens.Check.EXPIRED  # its age counts from the page view
    version, issued, nonce, signature = first.split(".")
    for forged in (f"{version}.{issued}.{nonce}.{tokens.AGAIN}.{signature}",
                   back.replace(f".{tokens.AGAIN}.", "."),
                   tokens.again(tokens.key("another-secret-1234"), survey_id, token),
                   tokens.again(form_key, uuid.uuid4(), token)):
        assert tokens.read(form_key, survey_id, forged, min_age=2, max_age=3600, now=now + 1) == (
            tokens.Check.INVALID, None)


def test_trusted_proxies_that_are_not_addresses_are_refused_at_start():
    with pytest.raises(ValidationError, match="not an IP address or network"):
        FeedbackSettings(survey_trusted_proxies="10.0.0.0/8, nginx")
    assert len(FeedbackSettings(survey_trusted_proxies="10.0.0.0/8 192.0.2.7, ::1").trusted_proxies) == 3


@pytest.mark.parametrize("address", ["http://127.0.0.1:8004", "https://localhost", "https://[::1]:8443",
                                     "http://survei.perpustakaan.example.id"])
def test_production_wants_a_public_https_address_for_the_survey_links(address):
    # The default (127.0.0.1) went out in the survey announcements on the library's real accounts.
    real = {"api_tokens": "t" * 48 + ":admin", "feedback_secret": "s" * 64, "environment": "production"}
    with pytest.raises(ValueError, match="SIAR_SURVEY_BASE_URL"):
        FeedbackSettings(**real, survey_base_url=address)
    assert FeedbackSettings(**real, survey_base_url="https://survei.perpustakaan.example.id").base_url
    assert FeedbackSettings(survey_base_url=address).base_url  # development: any address
