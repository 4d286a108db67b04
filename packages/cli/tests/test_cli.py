"""The ``siar`` command line: against the real scheduler (in-process, real database and broker)
for the daily work, and against canned answers for how errors read."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from siar_cli.client import Config
from siar_cli.main import app
from siar_contracts import AccountRegistered
from siar_runtime.db import connect
from siar_scheduler import accounts as read_model
from siar_scheduler.app import create_app
from siar_scheduler.settings import SchedulerSettings
from typer.testing import CliRunner

EDITOR = "cli-editor-token-1"
REVIEWER = "cli-reviewer-token-1"
runner = CliRunner()


def siar(config: Config, *args: str):
    return runner.invoke(app, list(args), obj=config, catch_exceptions=False)


def next_month() -> str:
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    return f"{today.year + (today.month == 12):04d}-{today.month % 12 + 1:02d}"


@pytest.fixture
async def known_accounts(clean_db):
    conn = await connect(clean_db, "scheduler")
    for platform, handle in (("mastodon", "perpustakaan"), ("telegram", "@perpus_palembang")):
        await read_model.upsert(conn, AccountRegistered(account_id=str(uuid.uuid4()), platform=platform, handle=handle,
                                                        status="active"))
    await conn.close()


@pytest.fixture
def scheduler(clean_db, amqp_url, known_accounts):
    settings = SchedulerSettings(database_url=clean_db, amqp_url=amqp_url, environment="test", review_required=True,
                                 api_tokens=f"{EDITOR}:editor,{REVIEWER}:reviewer")
    with TestClient(create_app(settings)) as client:
        yield client


def as_(client: TestClient, token: str) -> Config:
    return Config(token=token, scheduler_url="http://scheduler", make_client=lambda: client)


def test_create_list_approve_export(scheduler):
    editor, reviewer = as_(scheduler, EDITOR), as_(scheduler, REVIEWER)
    month = next_month()
    result = siar(editor, "create", "Pameran buku anak! #PalembangBaca", "--at", f"{month}-05 09.00",
                  "--to", "telegram", "--to", "mastodon:perpustakaan", "--json")
    assert result.exit_code == 0, result.output
    post = json.loads(result.output)
    assert post["status"] == "in_review"
    assert post["scheduled_local"].startswith(f"{month}-05T09:00:00+07:00")

    listed = siar(editor, "list", "--month", month, "--review", "in_review")
    assert listed.exit_code == 0
    assert post["post_id"] in listed.output and "in_review" in listed.output

    own = siar(editor, "approve", post["post_id"])
    assert own.exit_code == 1
    assert "Not allowed" in own.output and "reviewers" in own.output
    approved = siar(reviewer, "approve", post["post_id"], "--comment", "Oke")
    assert approved.exit_code == 0, approved.output
    assert "approved" in approved.output
    shown = siar(editor, "posts", "show", post["post_id"])
    assert "scheduled" in shown.output and "Oke" in shown.output

    exported = siar(editor, "export", "--month", month)
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [r["post_id"] for r in rows] == [post["post_id"]]
    assert rows[0]["targets"] == "mastodon:perpustakaan;telegram:@perpus_palembang"
    ics = siar(editor, "calendar", "export", "--month", month, "--format", "ics")
    assert "BEGIN:VCALENDAR" in ics.output and f"UID:{post['post_id']}@siar" in ics.output

    audit = siar(editor, "audit", "--post", post["post_id"])
    assert "post.created" in audit.output and "post.approved" in audit.output


def plan(month: str, n: int, bad_row: int | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "time", "targets", "text"])
    for i in range(n):
        target = "facebook" if i == bad_row else "telegram"
        writer.writerow([f"{month}-{i % 28 + 1:02d}", "10:00", target, f"Rencana {i}\nbaris dua"])
    return out.getvalue()


def test_import_checks_every_row_with_a_progress_bar_and_imports_all_or_nothing(scheduler, tmp_path):
    editor = as_(scheduler, EDITOR)
    month = next_month()
    bad = tmp_path / "bad.csv"
    bad.write_text(plan(month, 250, bad_row=180))
    result = siar(editor, "import", str(bad))
    assert result.exit_code == 1
    assert "checked" in result.output and "250/250" in result.output  # the progress bar
    assert "182" in result.output  # the refused row's line (header is 1)
    assert "not a connected account" in result.output
    assert "nothing was imported" in result.output
    assert "no posts" in siar(editor, "list", "--month", month).output

    good = tmp_path / "good.csv"
    good.write_text(plan(month, 250))
    dry = siar(editor, "import", str(good), "--dry-run")
    assert dry.exit_code == 0 and "250 rows can be imported" in dry.output
    done = siar(editor, "import", str(good))
    assert done.exit_code == 0, done.output
    assert "imported 250 posts" in done.output
    again = siar(editor, "import", str(good))
    assert "imported before; nothing new" in again.output
    listed = siar(editor, "list", "--month", month, "--limit", "500", "--json")
    assert len(json.loads(listed.output)) == 250


def test_campaigns_and_the_calendar(scheduler):
    editor = as_(scheduler, EDITOR)
    created = siar(editor, "campaigns", "create", "Minggu Buku", "--hashtag", "MingguBuku", "--goal", "500 peminjam")
    assert created.exit_code == 0 and "#MingguBuku" in created.output
    assert "Minggu Buku" in siar(editor, "campaigns", "list").output
    month = next_month()
    assert siar(editor, "create", "Halo", "--at", f"{month}-02 08:00", "--to", "telegram",
                "--campaign", "minggu buku").exit_code == 0
    view = siar(editor, "calendar", "month", month)
    assert view.exit_code == 0 and "08:00" in view.output
    assert "no account has a rhythm" in siar(editor, "calendar", "gaps").output
    assert "perpus_palembang" in siar(editor, "accounts", "list").output


def canned(status: int, body: dict) -> Config:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body,
                                                                   headers={"content-type": "application/problem+json"}))
    return Config(token="t-1234567", scheduler_url="http://scheduler", make_client=lambda: httpx.Client(transport=transport))


def test_problems_read_clearly():
    violations = canned(422, {"title": "Content not accepted", "status": 422, "detail": "x", "violations": [
        {"platform": "mastodon", "handle": "perpustakaan", "rule": "text_too_long", "message": "Mastodon: 520 of 500 characters"}]})
    result = siar(violations, "posts", "show", "abc")
    assert result.exit_code == 1
    assert "Content not accepted" in result.output and "520 of 500" in result.output

    unauthorised = canned(401, {"title": "Not authenticated", "status": 401,
                                "detail": "The API token is not known to this Siar."})
    result = siar(unauthorised, "list")
    assert result.exit_code == 1 and "not known to this Siar" in result.output

    result = siar(Config(token=None), "list")
    assert result.exit_code == 2 and "SIAR_API_TOKEN" in result.output

    result = siar(canned(200, {}), "create", "x", "--at", "kemarin", "--to", "telegram")
    assert result.exit_code == 2 and "is not a time like" in result.output


def test_the_app_leaves_room_for_more_groups():
    import typer

    extra = typer.Typer()

    @extra.command("list")
    def _list() -> None:
        typer.echo("dead letters here")

    app.add_typer(extra, name="dead-letters")
    try:
        assert siar(Config(), "dead-letters", "list").output.strip() == "dead letters here"
    finally:
        app.registered_groups.pop()
