"""The feedback service in-process against the real database and broker, and the test data."""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import asynccontextmanager

import aio_pika
import httpx
import pytest
from siar_contracts import EVENTS_EXCHANGE
from siar_feedback.app import create_app
from siar_feedback.settings import FeedbackSettings

TOKEN = "feedback-test-token"
BASE = "https://feedback.test"


def survey_body(**overrides) -> dict:
    """A library satisfaction survey with every kind of question."""
    body = {
        "title": {"id": "Survei Kepuasan Pemustaka", "en": "Library Satisfaction Survey"},
        "intro": {"id": "Bantu kami menjadi lebih baik.", "en": "Help us get better."},
        "channels": ["instagram", "telegram", "poster"],
        "questions": [
            {"key": "kepuasan", "kind": "rating", "required": True,
             "text": {"id": "Seberapa puas Anda dengan layanan kami?", "en": "How satisfied are you with our service?"}},
            {"key": "rekomendasi", "kind": "nps", "required": True,
             "text": {"id": "Seberapa mungkin Anda merekomendasikan perpustakaan?",
                      "en": "How likely are you to recommend the library?"}},
            {"key": "koleksi", "kind": "single_choice",
             "text": {"id": "Koleksi apa yang paling sering Anda pinjam?", "en": "What do you borrow most?"},
             "options": [
                 {"key": "novel", "label": {"id": "Novel", "en": "Novels"}},
                 {"key": "anak", "label": {"id": "Buku anak", "en": "Children's books"}},
                 {"key": "referensi", "label": {"id": "Referensi", "en": "Reference"}},
             ]},
            {"key": "kegiatan", "kind": "multiple_choice",
             "text": {"id": "Kegiatan apa yang Anda minati?", "en": "Which activities interest you?"},
             "options": [
                 {"key": "dongeng", "label": {"id": "Dongeng anak", "en": "Storytelling"}},
                 {"key": "diskusi", "label": {"id": "Diskusi buku", "en": "Book club"}},
                 {"key": "pelatihan", "label": {"id": "Pelatihan komputer", "en": "Computer class"}},
             ]},
            {"key": "saran", "kind": "text",
             "text": {"id": "Apa saran Anda untuk kami?", "en": "What would you suggest?"},
             "help": {"id": "Tulis sebebasnya.", "en": "Write freely."}},
        ],
    }
    body.update(overrides)
    return body


def settings_for(database_url: str, amqp_url: str, **extra) -> FeedbackSettings:
    """Test settings; a form may be sent at once (test_page checks the minimum time itself)."""
    return FeedbackSettings(
        database_url=database_url, amqp_url=amqp_url, api_tokens=f"{TOKEN}:admin", environment="test",
        survey_base_url="https://perpus.example.id", outbox_poll_seconds=0.2, sweep_seconds=0.5,
        **{"survey_form_min_seconds": 0} | extra,
    )


@asynccontextmanager
async def running(database_url: str, amqp_url: str, **extra):
    app = create_app(settings_for(database_url, amqp_url, **extra))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(clean_db, amqp_url):
    async with running(clean_db, amqp_url) as app:
        yield app


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


@pytest.fixture
async def patron(app):
    """A browser without the API token: cookies kept between requests, redirects not followed."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as patron:
        yield patron


async def open_survey(client: httpx.AsyncClient, **overrides) -> dict:
    created = await client.post("/v1/surveys", json=survey_body(**overrides))
    assert created.status_code == 201, created.text
    opened = await client.post(f"/v1/surveys/{created.json()['survey_id']}/open")
    assert opened.status_code == 200, opened.text
    return opened.json()


def form(**answers) -> dict:
    """A page submission: q_<key> fields, lists for several values."""
    return {f"q_{key}": value for key, value in answers.items()}


async def form_token(patron: httpx.AsyncClient, path: str, **kwargs) -> str:
    """The form token of the page at ``path``, as a browser gets it: by opening the page."""
    page = await patron.get(path, **kwargs)
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)


async def send_form(patron: httpx.AsyncClient, path: str, data: dict, **kwargs) -> httpx.Response:
    """What a browser does: open the page at ``path``, then send its form with the page's token."""
    return await patron.post(path, data=data | {"form_token": await form_token(patron, path)}, **kwargs)


class EventTap:
    """An independent subscriber: its own exclusive queue bound to every Siar event."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.events: list[dict] = []

    async def __aenter__(self) -> EventTap:
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append({**json.loads(message.body), "_routing_key": message.routing_key})

        await queue.consume(collect)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    def named(self, routing_key: str) -> list[dict]:
        return [e for e in self.events if e["_routing_key"] == routing_key]


@pytest.fixture
async def tap(amqp_url):
    async with EventTap(amqp_url) as tap:
        yield tap


async def wait_until(predicate, timeout: float = 10, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")
