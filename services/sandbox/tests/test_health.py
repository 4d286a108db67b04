"""Health, readiness, metrics, and independence of app instances."""

from __future__ import annotations

import httpx
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings, SettingsError


async def test_health_and_readiness(client):
    for path in ("/healthz", "/readyz"):
        r = await client.get(path)
        assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_metrics_have_bounded_labels(client, auth, tg):
    await client.post("/mastodon/api/v1/statuses", headers=auth, json={"status": "x"})
    await client.post("/mastodon/api/v1/statuses", headers=auth, json={"status": ""})
    await client.post(f"{tg}/sendMessage", json={"chat_id": "@kanal", "text": "x"})
    text = (await client.get("/metrics")).text
    assert 'siar_sandbox_requests_total{platform="mastodon",status="200"} 1.0' in text
    assert 'siar_sandbox_requests_total{platform="mastodon",status="422"} 1.0' in text
    assert 'siar_sandbox_posts_accepted_total{platform="telegram"} 1.0' in text
    assert "siar_sandbox_request_duration_seconds_bucket" in text
    assert "library" not in text and "kanal" not in text


async def test_app_instances_are_independent(auth):
    first, second = create_app(Settings()), create_app(Settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=first), base_url="http://a"
    ) as a:
        await a.post("/mastodon/api/v1/statuses", headers=auth, json={"status": "hanya di a"})
        assert (await a.get("/_sandbox/posts")).json()["count"] == 1
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second), base_url="http://b"
    ) as b:
        assert (await b.get("/_sandbox/posts")).json()["count"] == 0
        assert "siar_sandbox_posts_accepted_total{" not in (await b.get("/metrics")).text


def test_settings_from_environment():
    settings = Settings.from_env(
        {"SIAR_HTTP_PORT": "9010", "SIAR_LOG_LEVEL": "DEBUG", "SIAR_HTTP_HOST": "0.0.0.0"}
    )
    assert (settings.http_host, settings.http_port, settings.log_level) == (
        "0.0.0.0",
        9010,
        "debug",
    )
    assert Settings.from_env({}).http_port == 8010
    try:
        Settings.from_env({"SIAR_HTTP_PORT": "eighty"})
    except SettingsError as exc:
        assert "SIAR_HTTP_PORT" in str(exc)
    else:
        raise AssertionError("a bad port must be refused")


def test_how_often_the_sandbox_freezes_what_it_keeps_is_a_setting():
    assert Settings.from_env({}).freeze_seconds == 5.0
    assert Settings.from_env({"SIAR_SANDBOX_FREEZE_SECONDS": "0"}).freeze_seconds == 0.0
    for bad in ("-1", "often"):
        try:
            Settings.from_env({"SIAR_SANDBOX_FREEZE_SECONDS": bad})
        except SettingsError as exc:
            assert "SIAR_SANDBOX_FREEZE_SECONDS" in str(exc)
        else:
            raise AssertionError(f"{bad!r} must be refused")


async def test_the_served_sandbox_freezes_what_it_keeps_while_it_runs():
    import asyncio
    import gc

    from siar_sandbox.__main__ import _freeze_what_it_keeps

    app = create_app(Settings())
    _freeze_what_it_keeps(app, 0.05)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            kept = [{"post": n} for n in range(1000)]  # what a sandbox keeps: tracked objects
            await asyncio.sleep(0.2)
            assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
