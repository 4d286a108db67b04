"""Bad input the fuzzing found, as plain examples: each answer is problem details, never a 500."""

from __future__ import annotations

import httpx
import pytest
from siar_publisher.app import create_app
from siar_publisher.settings import PublisherSettings

TOKEN = "publisher-test-token"


@pytest.fixture
async def client(clean_db, amqp_url):
    settings = PublisherSettings(database_url=clean_db, amqp_url=amqp_url, api_tokens=f"{TOKEN}:admin",
                                 environment="test")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://publisher",
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            yield client


async def test_a_token_that_is_not_ascii_is_refused_before_calling_the_platform(client):
    # It used to reach the platform call and fail there encoding the Authorization header: a 500.
    response = await client.post("/v1/accounts", json={
        "platform": "mastodon", "base_url": "https://mastodon.example", "credentials": {"access_token": "tokén"},
    })
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "credentials"
    assert (await client.get("/v1/accounts")).json() == {"accounts": []}


async def test_a_nul_in_an_account_id_is_refused(client):
    response = await client.get("/v1/accounts/abc%00def")
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "path", "message": "NUL characters are not allowed"}]
