"""Bad input the fuzzing found, as plain examples: problem details, never a 500."""

from __future__ import annotations

import httpx
import pytest
from siar_metrics.app import create_app

from .conftest import TOKEN, settings_for


@pytest.fixture
async def client(clean_db, amqp_url, db):
    app = create_app(settings_for(clean_db, amqp_url))
    app.state.db = db
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.mark.parametrize("path, params, field", [
    ("/v1/reports/top-posts", {"platform": "mastodon\x00"}, "query.platform"),
    ("/v1/reports/performance", {"group_by": "account", "stage": "1d\x00"}, "query.stage"),
    ("/v1/reports/best-hours", {"stage": "\x00", "format": "csv"}, "query.stage"),
])
async def test_a_nul_in_a_report_filter_is_refused_not_a_500(client, path, params, field):
    # It reached PostgreSQL as a query parameter, which cannot hold a NUL: a 500.
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [{"field": field, "message": "NUL characters are not allowed"}]


async def test_the_same_filters_without_the_nul_answer(client):
    response = await client.get("/v1/reports/top-posts", params={"platform": "mastodon"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/v1/reports/top-posts", "/v1/reports/performance", "/v1/reports/best-hours",
                                  "/v1/reports/audience"])
@pytest.mark.parametrize("params", [
    {"to": "0001-01-03T00:00:00Z"},  # the default 30-day window before it is before year 1
    {"from": "0001-01-01T00:00:00+07:00", "to": "2026-01-01T00:00:00Z"},  # year 0 in UTC
    {"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59-05:00"},  # year 10000 in UTC
])
async def test_a_period_at_the_ends_of_the_calendar_is_refused_not_a_500(client, path, params):
    response = await client.get(path, params=params, timeout=10)
    assert response.status_code == 422, response.text
    assert "must be in the years 1970-9998" in response.json()["detail"]
