"""The HTTP edge every service shares, on bad input: every refusal is problem details, 405 names
every method of the path, and text PostgreSQL cannot store is refused before any handler runs."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import Request
from pydantic import BaseModel
from siar_runtime.db import Database
from siar_runtime.http import create_service_app
from siar_runtime.metrics import ChassisMetrics

PROBLEM = "application/problem+json"


class Note(BaseModel):
    text: str
    tags: list[str] = []


def app():
    app = create_service_app(title="edge", description="test", metrics=ChassisMetrics("edge"), checks=[])
    @app.put("/v1/things/{name}")
    async def put(name: str, note: Note) -> dict:
        return {"name": name, "text": note.text}

    @app.delete("/v1/things/{name}", status_code=204)
    async def delete(name: str) -> None:
        return None

    @app.get("/v1/search")
    async def search(q: str = "") -> dict:
        return {"q": q}

    @app.get("/v1/fail/{kind}")
    async def fail(kind: str) -> dict:
        from datetime import date, timedelta

        if kind == "overflow":
            return {"day": str(date(1, 1, 1) - timedelta(days=1))}
        if kind == "year":
            raise ValueError("year 10000 is out of range")
        raise ValueError("a bug, not the caller's fault")

    @app.post("/v1/import")
    async def import_(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://edge") as client:
        yield client


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


async def test_405_names_every_method_the_path_has(client):
    # FastAPI makes one route per method; Starlette's own Allow named only PUT's.
    response = await client.post("/v1/things/a", json={"text": "x"})
    problem(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"PUT", "DELETE"}


async def test_a_body_that_is_not_utf8_is_a_422_like_any_bad_json(client):
    body = problem(await client.put("/v1/things/a", content=b"\xff\xfe{", headers={"content-type": "application/json"}), 422)
    assert body["errors"] == [{"field": "body", "message": "not valid UTF-8 JSON"}]


@pytest.mark.parametrize("text, field", [
    ("a\x00b", "body.text"),
    ("\ud800", "body.text"),  # a lone surrogate: asyncpg cannot encode it
])
async def test_unstorable_text_in_json_is_refused_with_its_field(client, text, field):
    raw = json.dumps({"text": text}).encode()  # json escapes both: \\u0000, \\ud800
    body = problem(await client.put("/v1/things/a", content=raw, headers={"content-type": "application/json"}), 422)
    assert body["errors"][0]["field"] == field


async def test_unstorable_text_deep_in_a_list_names_its_place(client):
    body = problem(await client.put("/v1/things/a", json={"text": "ok", "tags": ["ok", "x\x00"]}), 422)
    assert body["errors"][0]["field"] == "body.tags.1"


async def test_text_that_only_looks_like_an_escape_passes(client):
    # A literal backslash-u sequence and an emoji written as a surrogate pair are ordinary text.
    raw = b'{"text": "C:\\\\u0000 \\ud83d\\ude00"}'
    response = await client.put("/v1/things/a", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "C:\\u0000 \U0001F600"


async def test_nul_in_the_query_path_form_or_text_body_is_refused(client):
    assert problem(await client.get("/v1/search", params={"q": "a\x00"}), 422)["errors"][0]["field"] == "query.q"
    assert problem(await client.put("/v1/things/a%00b", json={"text": "x"}), 422)["errors"][0]["field"] == "path"
    form = await client.post("/v1/import", data={"q_saran": "halo\x00"})
    assert problem(form, 422)["errors"][0]["field"] == "form.q_saran"
    csv = await client.post("/v1/import", content=b"a,b\n1,\x00\n", headers={"content-type": "text/csv"})
    assert problem(csv, 422)["errors"][0]["field"] == "body"
    # A UTF-16 file is full of NULs but is not UTF-8 at all: the handler explains that, not the guard.
    utf16 = await client.post("/v1/import", content="a,b\n".encode("utf-16"), headers={"content-type": "text/csv"})
    assert utf16.status_code == 200


async def test_the_body_still_reaches_the_handler_after_the_look(client):
    response = await client.post("/v1/import", content=b"date,text\n2026-12-04,halo\n", headers={"content-type": "text/csv"})
    assert response.json() == {"bytes": 26}
    assert (await client.get("/v1/search", params={"q": "buku anak"})).json() == {"q": "buku anak"}


async def test_a_date_beyond_the_calendar_is_the_callers_422_not_a_500():
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        for kind in ("overflow", "year"):
            body = problem(await client.get(f"/v1/fail/{kind}"), 422)
            assert "out of the range" in body["detail"]
        # Any other ValueError is still a bug: a 500, with nothing of its message shown.
        body = problem(await client.get("/v1/fail/other"), 500)
        assert "bug" not in body["detail"]


async def test_a_service_is_ready_only_while_its_database_answers_and_its_broker_is_connected(database_url, bus):
    """The readiness every service gets by default (siar_runtime.http.state_checks)."""
    service = create_service_app(title="ready", description="test", metrics=ChassisMetrics("ready"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://ready") as client:
        body = problem(await client.get("/readyz"), 503)  # before its lifespan has connected anything
        assert set(body["checks"]) == {"database", "broker"} and "ok" not in body["checks"].values()
        db = await Database.open(database_url, "public", min_size=1, max_size=1)
        try:
            service.state.db, service.state.bus = db, bus
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
            await bus.close()
            body = problem(await client.get("/readyz"), 503)
            assert body["checks"] == {"database": "ok", "broker": "broker connection is down"}
        finally:
            await db.close()


async def test_a_body_over_the_ceiling_is_refused_declared_or_not(client):
    # FastAPI reads a body before any dependency (the token check too): without a ceiling anyone
    # could make a service hold a body of any size.
    from siar_runtime.limits import MAX_BODY_BYTES

    big = b'{"text": "' + b"x" * MAX_BODY_BYTES + b'"}'
    body = problem(await client.post("/v1/import", content=big, headers={"content-type": "application/json"}), 413)
    assert "8 MiB" in body["detail"]

    async def chunks():  # no Content-Length: counted as it arrives
        for _ in range(9):
            yield b"y" * (1024 * 1024)

    problem(await client.post("/v1/import", content=chunks(), headers={"content-type": "text/csv"}), 413)
    fine = await client.post("/v1/import", content=b"z" * (MAX_BODY_BYTES - 1), headers={"content-type": "text/csv"})
    assert fine.status_code == 200 and fine.json() == {"bytes": MAX_BODY_BYTES - 1}


def test_the_openapi_document_names_the_413_of_every_operation_that_takes_a_body():
    """BodyLimit answers before any route; the document says so wherever a body is read."""
    document = app().openapi()
    for path, method in (("/v1/things/{name}", "put"), ("/v1/import", "post")):
        refused = document["paths"][path][method]["responses"]["413"]
        assert refused["content"] == {PROBLEM: {}} and "8 MiB" in refused["description"]
    for path, method in (("/v1/things/{name}", "delete"), ("/v1/search", "get")):
        assert "413" not in document["paths"][path][method]["responses"]
    service = app()
    assert "/v1/later" not in service.openapi()["paths"]

    @service.patch("/v1/later")  # a route added after the document was first asked for
    async def later(note: Note) -> dict:
        return {}

    assert "413" in service.openapi()["paths"]["/v1/later"]["patch"]["responses"]
