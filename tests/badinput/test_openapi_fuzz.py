"""Bad input: schemathesis drives every operation of each committed OpenAPI document, with valid and
invalid input, against the service built in-process (real PostgreSQL, real RabbitMQ, real HTTP
through uvicorn). No 5xx ever; every 4xx is RFC 9457 problem details; responses conform to the
document. The public survey pages (HTML, not in the API documents) are fuzzed too: no 5xx.

SIAR_FUZZ_EXAMPLES sets the examples per operation (10 by default: the CI run; `make fuzz` runs 300).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import schemathesis
import uvicorn
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"
TOKEN = "fuzz-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = int(os.environ.get("SIAR_FUZZ_EXAMPLES", "10"))
SURVEY_SLUG = "survei-fuzz"

pytestmark = pytest.mark.badinput


def _config() -> schemathesis.Config:
    config = schemathesis.Config()
    config.projects.default.generation.update(max_examples=EXAMPLES)
    return config


def _schema(name: str):
    return schemathesis.openapi.from_path(DOCS / f"{name}.json", config=_config())


@contextmanager
def serving(app) -> Iterator[str]:
    """The app under uvicorn on a free port, in a thread with its own event loop (lifespan included),
    so schemathesis sends real HTTP and the app keeps its pool and broker connection on one loop."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                           lifespan="on", loop="asyncio"))
    thread = threading.Thread(target=server.run, name="fuzz-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection"})


@schemathesis.hook
def before_call(ctx, case, **kwargs) -> None:
    """Framing headers belong to HTTP, not to the API: a random Content-Length is refused by the
    HTTP server itself (uvicorn's plain-text 400) before any Siar code sees the request."""
    for name in [n for n in (case.headers or {}) if n.lower() in FRAMING]:
        del case.headers[name]


@schemathesis.check
def problem_details(ctx, response, case) -> bool | None:
    """Every 4xx of the API is application/problem+json with type, title and the same status."""
    if not 400 <= response.status_code < 500 or case.path.startswith("/s/"):
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/problem+json"), f"{response.status_code} as {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict), f"problem body is {type(body).__name__}"
    missing = {"type", "title", "status"} - body.keys()
    assert not missing, f"problem body lacks {sorted(missing)}"
    assert body["status"] == response.status_code, f"body status {body['status']} != {response.status_code}"
    return True


# Checks that are too strict for this API, and why:
# - positive_data_acceptance: a schema-valid request may still break a business rule the schema
#   cannot say (a time in the past, an account that is not connected, an unknown id); those are 4xx
#   problem details by design, checked by `problem_details`.
# - negative_data_rejection: pydantic's lax mode takes a number for a date-time (seconds since the
#   epoch) and "1" for an integer; the API accepts what it can read unambiguously.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]
# - unsupported_method and allow_header_conformance, on a literal path beside a template
#   (/v1/posts/check beside /v1/posts/{post_id}) only: another method there is routed to the
#   template, which answers 422 for the id rather than 405, and Allow rightly lists its methods too.
SHADOWED = [unsupported_method, allow_header_conformance]


def _shadowed(path: str, document: dict) -> bool:
    templates = [re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(p)) + "$")
                 for p in document["paths"] if "{" in p]
    return "{" not in path and any(t.match(path) for t in templates)


def exercise(case, base_url: str) -> None:
    shadowed = _shadowed(case.path, case.operation.schema.raw_schema)
    case.call_and_validate(base_url=base_url, headers=ADMIN,
                           excluded_checks=EXCLUDED + (SHADOWED if shadowed else []))
    # The same request without a token: 401 problem details, whatever it carries (a body that is
    # not even JSON is refused before anyone looks at the token: still problem details).
    anonymous = case.call(base_url=base_url)
    status = anonymous.status_code
    assert 400 <= status < 500, f"{status} without a token: {anonymous.content[:300]!r}"
    if case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:
        # 422 only from the edge's guard against text PostgreSQL cannot store (siar_runtime.storable),
        # which looks at a request before any route does.
        assert status == 401 or _unstorable(anonymous), f"{status} without a token: {anonymous.content[:300]!r}"
    case.validate_response(anonymous, checks=[problem_details])


def _unstorable(response) -> bool:
    body = json.loads(response.content) if response.status_code == 422 else {}
    return any(e.get("message", "").startswith(("NUL", "a lone UTF-16")) for e in body.get("errors", []))


@pytest.fixture(scope="module")
def scheduler_url(database_url, amqp_url):
    from siar_scheduler.app import create_app
    from siar_scheduler.settings import SchedulerSettings

    settings = SchedulerSettings(database_url=database_url, amqp_url=amqp_url, environment="test",
                                 api_tokens=f"{TOKEN}:admin")
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def publisher_url(database_url, amqp_url):
    from siar_publisher.app import create_app
    from siar_publisher.settings import PublisherSettings

    settings = PublisherSettings(database_url=database_url, amqp_url=amqp_url, environment="test",
                                 api_tokens=f"{TOKEN}:admin", http_timeout_seconds=2)
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def feedback_url(database_url, amqp_url):
    from siar_feedback.app import create_app
    from siar_feedback.settings import FeedbackSettings

    settings = FeedbackSettings(database_url=database_url, amqp_url=amqp_url, environment="test",
                                api_tokens=f"{TOKEN}:admin", survey_base_url="https://perpus.example.id")
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def metrics_url(database_url, amqp_url):
    from siar_metrics.app import create_app
    from siar_metrics.settings import MetricsSettings

    settings = MetricsSettings(database_url=database_url, amqp_url=amqp_url, environment="test",
                               api_tokens=f"{TOKEN}:admin")
    with serving(create_app(settings)) as url:
        yield url


scheduler = _schema("scheduler")
publisher = _schema("publisher")
feedback = _schema("feedback")
metrics = _schema("metrics")


@scheduler.parametrize()
def test_scheduler(case, scheduler_url):
    exercise(case, scheduler_url)


@publisher.parametrize()
def test_publisher(case, publisher_url):
    exercise(case, publisher_url)


@feedback.parametrize()
def test_feedback(case, feedback_url):
    exercise(case, feedback_url)


@metrics.parametrize()
def test_metrics(case, metrics_url):
    exercise(case, metrics_url)


# The public survey pages are not in the API documents (they are HTML for patrons), so they get a
# document of their own here: the slug is either the open test survey's or anything at all.
_SLUG = {"name": "slug", "in": "path", "required": True,
         "schema": {"anyOf": [{"enum": [SURVEY_SLUG]}, {"type": "string"}]}}
_PAGE_PARAMS = [
    _SLUG,
    {"name": "ch", "in": "query", "schema": {"type": "string"}},
    {"name": "lang", "in": "query", "schema": {"type": "string"}},
    {"name": "Accept-Language", "in": "header", "schema": {"type": "string"}},
    {"name": "siar_patron", "in": "cookie", "schema": {"type": "string"}},
]
_ANSWERS = {"type": "object", "additionalProperties": {"type": "string"}, "properties": {
    "q_kepuasan": {"type": "string", "enum": ["1", "2", "3", "4", "5", "6", "0"]},
    "q_kegiatan": {"type": "array", "items": {"type": "string"}},
    "q_saran": {"type": "string"},
}}
_HTML = {"200": {"description": "a page", "content": {"text/html": {}}}}
PAGES = schemathesis.openapi.from_dict({
    "openapi": "3.1.0",
    "info": {"title": "Siar survey pages", "version": "1"},
    "paths": {
        "/s/{slug}": {
            "get": {"parameters": _PAGE_PARAMS, "responses": _HTML},
            "post": {"parameters": _PAGE_PARAMS, "responses": _HTML, "requestBody": {"content": {
                "application/x-www-form-urlencoded": {"schema": _ANSWERS}}}},
        },
        "/s/{slug}/thanks": {"get": {"parameters": _PAGE_PARAMS, "responses": _HTML}},
    },
}, config=_config())


@pytest.fixture(scope="module")
def survey_page(feedback_url):
    """An open survey with a rating, a multiple choice and a free-text question, one response per patron."""
    text = {"id": "Pertanyaan", "en": "Question"}
    created = requests.post(f"{feedback_url}/v1/surveys", headers=ADMIN, timeout=30, json={
        "slug": SURVEY_SLUG, "title": {"id": "Survei uji", "en": "Test survey"}, "channels": ["instagram"],
        "questions": [
            {"key": "kepuasan", "kind": "rating", "required": True, "text": text},
            {"key": "kegiatan", "kind": "multiple_choice", "text": text, "options": [
                {"key": "dongeng", "label": text}, {"key": "diskusi", "label": text}]},
            {"key": "saran", "kind": "text", "text": text},
        ],
    })
    assert created.status_code == 201, created.text
    opened = requests.post(f"{feedback_url}/v1/surveys/{SURVEY_SLUG}/open", headers=ADMIN, timeout=30)
    assert opened.status_code == 200, opened.text
    return feedback_url


@PAGES.parametrize()
def test_survey_pages(case, survey_page):
    # HTML for patrons: only "no 5xx" applies (a 4xx page is HTML too, not problem details).
    case.call_and_validate(base_url=survey_page, checks=[not_a_server_error])
