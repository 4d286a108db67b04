"""The ``siar`` command line: against the real scheduler (in-process, real database and broker)
for the daily work, and against canned answers for how errors read."""

from __future__ import annotations

import csv
import io
import json
import sys
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient
from siar_cli import accounts, posts, render
from siar_cli.client import Config
from siar_cli.main import app
from siar_contracts import AccountRegistered
from siar_feedback.app import create_app as create_feedback
from siar_feedback.settings import FeedbackSettings
from siar_publisher.app import create_app as create_publisher
from siar_publisher.settings import PublisherSettings
from siar_runtime.db import connect
from siar_scheduler import accounts as read_model
from siar_scheduler.app import create_app
from siar_scheduler.settings import SchedulerSettings
from typer.testing import CliRunner

EDITOR = "cli-editor-token-1"
REVIEWER = "cli-reviewer-token-1"
ADMIN = "cli-admin-token-1"
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
    # The app runs in a thread beside the command: CliRunner swaps sys.stdout for the command's
    # output, so the service's log lines (a survey.opened another test left in the queue, say)
    # went to stdout and into the JSON read below. They go to the real stderr meanwhile.
    before = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__), cache_logger_on_first_use=False)
    try:
        with TestClient(create_app(settings)) as client:
            yield client
    finally:
        structlog.configure(**before)


def as_(client: TestClient, token: str) -> Config:
    # No publisher or feedback service runs here: their address is a closed port, as when only
    # the scheduler is up.
    return Config(token=token, scheduler_url="http://scheduler", publisher_url="http://127.0.0.1:9",
                  feedback_url="http://127.0.0.1:9",
                  make_client=lambda service: client if service == "scheduler" else httpx.Client(timeout=5))


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

    # A copy (how a failed post is sent again): a new post, in review as any new one.
    nothing_failed = siar(editor, "posts", "copy", post["post_id"], "--at", f"{month}-06 10.00")
    assert nothing_failed.exit_code == 1 and "Name the accounts" in nothing_failed.output
    copied = siar(editor, "posts", "copy", post["post_id"], "--at", f"{month}-06 10.00", "--text", "Pameran lagi!",
                  "--to", "telegram", "--to", "mastodon:perpustakaan", "--json")
    assert copied.exit_code == 0, copied.output
    copy = json.loads(copied.output)
    assert copy["post_id"] != post["post_id"] and copy["text"] == "Pameran lagi!" and copy["status"] == "in_review"
    assert copy["scheduled_local"].startswith(f"{month}-06T10:00:00+07:00") and len(copy["targets"]) == 2


def test_times_show_in_the_librarys_zone_and_narrow_terminals_keep_the_columns(scheduler, monkeypatch):
    # A post written through the API in UTC (…Z) is shown as the calendar shows it: in the
    # library's zone (Asia/Jakarta here), not in the zone it was written in.
    editor = as_(scheduler, EDITOR)
    month = next_month()
    accounts = scheduler.get("/v1/accounts", headers={"Authorization": f"Bearer {EDITOR}"}).json()["accounts"]
    made = scheduler.post("/v1/posts", headers={"Authorization": f"Bearer {EDITOR}"}, json={
        "text": "Ditulis dalam UTC, dibaca di Palembang " * 3, "targets": [accounts[0]["account_id"]],
        "scheduled_at": f"{month}-05T02:00:00Z"})
    assert made.status_code == 201, made.text
    post_id = made.json()["post_id"]
    shown = siar(editor, "posts", "show", post_id)
    assert f"{month}-05 09:00" in shown.output, shown.output
    # A day as --to takes that day in; WIB names the library's zone as people write it.
    for args in (("--from", f"{month}-05", "--to", f"{month}-05"), ("--timezone", "WIB", "--month", month)):
        found = siar(editor, "list", *args, "--json") if args[0] != "--timezone" else \
            siar(editor, *args[:2], "list", *args[2:], "--json")
        assert found.exit_code == 0, found.output
        assert post_id in [p["post_id"] for p in json.loads(found.output)], args
    monkeypatch.setattr(render.console, "width", 100)  # a terminal 100 columns wide
    narrow = siar(editor, "list", "--month", month)
    line = next(row for row in narrow.output.splitlines() if post_id in row)
    assert f"{month}-05 09:00" in line and "in_review" in line and accounts[0]["platform"] in line, narrow.output
    assert max(len(row) for row in narrow.output.splitlines()) <= 100


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


def test_import_reads_a_file_the_way_the_scheduler_does(scheduler, tmp_path):
    """Old Excel's "CSV (Macintosh)" ends lines with a lone CR: the scheduler takes it, so does the CLI."""
    editor = as_(scheduler, EDITOR)
    month = next_month()
    data = plan(month, 5).replace("\r\n", "\r").encode()
    assert b"\r\n" not in data and b"\r" in data
    mac = tmp_path / "mac.csv"
    mac.write_bytes(data)
    server = scheduler.post("/v1/calendar/import", params={"dry_run": True}, content=data,
                            headers={"Authorization": f"Bearer {EDITOR}", "content-type": "text/csv"})
    assert server.status_code == 200 and server.json()["accepted"] == 5
    dry = siar(editor, "import", str(mac), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "5 rows can be imported" in dry.output
    done = siar(editor, "import", str(mac))
    assert done.exit_code == 0 and "imported 5 posts" in done.output
    listed = json.loads(siar(editor, "list", "--month", month, "--json").output)
    assert sorted(p["text"] for p in listed) == [f"Rencana {i}\nbaris dua" for i in range(5)]


def test_a_file_that_is_not_csv_is_refused_without_a_traceback(scheduler, tmp_path):
    editor = as_(scheduler, EDITOR)
    data = f'date,time,targets,text\n{next_month()}-03,10:00,telegram,"no closing quote\n'.encode() + b"x" * 200_000
    broken = tmp_path / "broken.csv"
    broken.write_bytes(data)
    server = scheduler.post("/v1/calendar/import", params={"dry_run": True}, content=data,
                            headers={"Authorization": f"Bearer {EDITOR}", "content-type": "text/csv"})
    assert server.status_code == 422 and "is not CSV" in server.json()["detail"]
    result = siar(editor, "import", str(broken), "--dry-run")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "broken.csv" in result.output and "line 2" in result.output and "is not CSV" in result.output


def test_list_follows_the_pages_and_says_when_there_are_more(scheduler, monkeypatch):
    editor = as_(scheduler, EDITOR)
    month = next_month()
    # days 1-4 in review, then 5-7 drafts: the drafts are not on the first page
    for day in range(1, 8):
        assert siar(editor, "create", f"Post {day}", "--at", f"{month}-{day:02d} 09:00", "--to", "telegram",
                    *(["--draft"] if day >= 5 else [])).exit_code == 0

    def texts(*args: str) -> list[str]:
        result = siar(editor, "list", "--month", month, "--json", *args)
        assert result.exit_code == 0, result.output
        return [p["text"] for p in json.loads(result.stdout)]

    for page in (500, 2):  # one page; then small pages, so the filter runs over several
        monkeypatch.setattr(posts, "PAGE", page)
        assert texts("--status", "draft", "--limit", "2") == ["Post 5", "Post 6"]
        assert texts("--status", "draft", "--limit", "5") == ["Post 5", "Post 6", "Post 7"]
        assert texts("--status", "in_review") == [f"Post {d}" for d in range(1, 5)]
        assert texts("--limit", "7") == [f"Post {d}" for d in range(1, 8)]

    few = siar(editor, "list", "--month", month, "--limit", "3")
    assert few.exit_code == 0 and "Post 3" in few.output and "Post 4" not in few.output
    assert few.output.rstrip().endswith("\u2026 more posts; use --limit 6")
    drafts = siar(editor, "list", "--month", month, "--status", "draft", "--limit", "2")
    assert "Post 6" in drafts.output and "more posts" in drafts.output
    for exact in (["--limit", "7"], ["--status", "draft", "--limit", "3"]):
        assert "more posts" not in siar(editor, "list", "--month", month, *exact).output
    as_json = siar(editor, "list", "--month", month, "--limit", "3", "--json")
    assert len(json.loads(as_json.stdout)) == 3  # standard output stays JSON; the note goes to stderr
    assert "more posts" in as_json.stderr
    typo = siar(editor, "list", "--month", month, "--status", "faild")
    assert typo.exit_code == 2 and "is not one of" in typo.output


def test_audit_shows_the_latest_entries_in_local_time(scheduler, monkeypatch):
    editor = as_(scheduler, EDITOR)  # no publisher: a note on stderr says its entries are missing
    month = next_month()
    ids = []
    for day in range(1, 6):
        created = siar(editor, "create", f"Post {day}", "--at", f"{month}-{day:02d} 09:00", "--to", "telegram", "--json")
        ids.append(json.loads(created.output)["post_id"])
    everything = json.loads(siar(editor, "audit", "--limit", "1000", "--json").stdout)
    for page in (1000, 2):  # one page; then small pages, followed to the end
        monkeypatch.setattr(accounts, "PAGE", page)
        latest = json.loads(siar(editor, "audit", "--limit", "2", "--json").stdout)
        assert latest == everything[-2:]
        assert [e["entity_id"] for e in latest] == ids[-2:]

    shown = siar(editor, "audit", "--limit", "2")
    assert shown.exit_code == 0, shown.output
    assert f"{len(everything) - 2} earlier entries" in shown.output
    assert ids[-1] in shown.output and ids[0] not in shown.output
    assert "when (Asia/Jakarta)" in shown.output
    at = datetime.fromisoformat(everything[-1]["at"])
    assert f"{at.astimezone(ZoneInfo('Asia/Jakarta')):%Y-%m-%d %H:%M}" in shown.output
    assert "earlier entries" not in siar(editor, "audit").output
    # Today's entries (a day in --timezone), by this editor; none tomorrow.
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    mine = json.loads(siar(editor, "audit", "--from", today.isoformat(), "--to", today.isoformat(),
                           "--by", everything[-1]["actor"], "--json").stdout)
    assert [e["entity_id"] for e in mine][-5:] == ids
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert json.loads(siar(editor, "audit", "--from", tomorrow, "--json").stdout) == []


@pytest.fixture
def publisher(clean_db, amqp_url):
    settings = PublisherSettings(database_url=clean_db, amqp_url=amqp_url, environment="test",
                                 api_tokens=f"{EDITOR}:editor,{ADMIN}:admin")
    with TestClient(create_publisher(settings)) as client:
        yield client


@pytest.fixture
def feedback(clean_db, amqp_url):
    settings = FeedbackSettings(database_url=clean_db, amqp_url=amqp_url, environment="test",
                                api_tokens=f"{EDITOR}:editor", survey_base_url="https://perpus.example.id")
    with TestClient(create_feedback(settings)) as client:
        yield client


def test_audit_shows_accounts_and_surveys_among_the_planning(scheduler, publisher, feedback):
    connected = publisher.post("/v1/accounts", headers={"Authorization": f"Bearer {ADMIN}"}, json={
        "platform": "mastodon", "base_url": "https://sosial.example", "credentials": {"access_token": "rahasia"},
        "verify": False, "handle": "perpus_kota"})
    assert connected.status_code == 201, connected.text
    surveyed = feedback.post("/v1/surveys", headers={"Authorization": f"Bearer {EDITOR}"}, json={
        "title": {"id": "Survei Pameran"}, "questions": [{"key": "puas", "kind": "rating", "text": {"id": "Puas?"}}]})
    assert surveyed.status_code == 201, surveyed.text
    clients = {"scheduler": scheduler, "publisher": publisher, "feedback": feedback}
    every = Config(token=EDITOR, scheduler_url="http://scheduler", publisher_url="http://publisher",
                   feedback_url="http://feedback", make_client=lambda service: clients[service])
    created = siar(every, "create", "Pameran", "--at", f"{next_month()}-03 09:00", "--to", "telegram", "--json")
    post_id = json.loads(created.output)["post_id"]
    log = json.loads(siar(every, "audit", "--json").stdout)
    assert [e["action"] for e in log][-3:] == ["account.connected", "survey.created", "post.created"]  # in time order
    assert [e["service"] for e in log][-3:] == ["publisher", "feedback", "scheduler"]  # each numbers its own ids
    shown = siar(every, "audit")
    assert shown.exit_code == 0 and "not shown" not in shown.output
    assert "mastodon perpus_kota" in shown.output and "Survei Pameran" in shown.output
    assert "rahasia" not in shown.output
    latest = json.loads(siar(every, "audit", "--limit", "1", "--json").stdout)
    assert [e["entity_id"] for e in latest] == [post_id]
    assert "account.connected" not in siar(every, "audit", "--post", post_id).output  # a post's history only
    only = json.loads(siar(every, "audit", "--entity", "account", "--json").stdout)
    assert [e["action"] for e in only] == ["account.connected"]
    # Without the other services, the scheduler's log still shows, saying what is missing.
    alone = siar(as_(scheduler, EDITOR), "audit")
    assert alone.exit_code == 0 and "post.created" in alone.output
    assert "Account connections not shown: cannot reach the publisher" in alone.output
    assert "Survey changes not shown: cannot reach the feedback" in alone.output


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
    return Config(token="t-1234567", scheduler_url="http://scheduler", make_client=lambda service: httpx.Client(transport=transport))


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
    assert result.exit_code == 2 and "SIAR_API_TOKEN" in result.output and "--token before the command" in result.output

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


def test_report_figures_read_right():
    from rich.console import Console
    from siar_cli import reports

    assert [reports.percent(r) for r in (None, 0.2, 0.005, -0.005, -0.2, 1.5, 0)] == [
        "\u2013", "20.0 %", "0.50 %", "-0.50 %", "-20.0 %", "150.0 %", "0.00 %"]
    # A long period in the room there is: each step the last day of its share; the latest day shows.
    line = reports.sparkline([float(v) for v in range(90)], 30)
    assert len(line) == 30 and line[0] == "\u2581" and line[-1] == "\u2588"
    assert reports.sparkline([5.0, 5.0, 5.0], 10) == "\u2584" * 3
    for grid in ([[0.0] * 24 for _ in range(7)], [[None] * 24 for _ in range(7)], [[-0.1, 0.2] + [None] * 22] * 7):
        out = Console(record=True, width=100)
        out.print(reports.heat_map(grid, title="t"))
        assert out.export_text().count("Mon") == 1


def test_series_and_events_written_reviewed_moved_and_cancelled_from_the_command_line(scheduler):
    editor, reviewer = as_(scheduler, EDITOR), as_(scheduler, REVIEWER)
    month = next_month()
    made = siar(editor, "series", "create", "Jam buka Sabtu 08.00-14.00 #PalembangBaca", "--start", f"{month}-06 08:00",
                "--rule", "FREQ=DAILY;INTERVAL=7", "--count", "4", "--to", "telegram", "--json")
    assert made.exit_code == 0, made.output
    series = json.loads(made.output)
    assert series["review"]["state"] == "in_review" and series["timezone"] == "Asia/Jakarta"
    assert [o["scheduled_local"][:16] for o in series["occurrences"]] == [
        f"{month}-06T08:00", f"{month}-13T08:00", f"{month}-20T08:00", f"{month}-27T08:00"]
    listed = siar(editor, "series", "list")
    assert "Jam buka Sabtu" in listed.output and "FREQ=DAILY;INTERVAL=7" in listed.output
    assert f"{month}-06 08:00" in listed.output and "in_review" in listed.output

    skipped = siar(editor, "series", "change", series["series_id"], "--skip", f"{month}-13", "--json")
    assert skipped.exit_code == 0, skipped.output
    assert json.loads(skipped.output)["exdates"] == [f"{month}-13"]
    nothing = siar(editor, "series", "change", series["series_id"])
    assert nothing.exit_code == 2 and "nothing to change" in nothing.output
    own = siar(editor, "series", "approve", series["series_id"])
    assert own.exit_code == 1 and "Not allowed" in own.output
    approved = siar(reviewer, "series", "approve", series["series_id"], "--comment", "Oke")
    assert approved.exit_code == 0, approved.output
    assert "approved" in approved.output and f"next post {month}-06 08:00" in approved.output
    shown = siar(editor, "series", "show", series["series_id"])
    assert f"skips {month}-13" in shown.output and "Oke" in shown.output
    assert shown.output.count("scheduled") == 3 and "cancelled" not in shown.output

    made = siar(editor, "events", "create", "Lomba Mendongeng Anak", "--at", f"{month}-20 10.00", "--to",
                "mastodon:perpustakaan", "--place", "Aula Perpustakaan", "--days", "3, 0", "--post-time", "08.30",
                "--draft", "--json")
    assert made.exit_code == 0, made.output
    event = json.loads(made.output)
    assert event["review"]["state"] == "draft" and event["event"]["days_before"] == [3, 0]
    assert [o["scheduled_local"][:16] for o in event["occurrences"]] == [f"{month}-17T08:30", f"{month}-20T08:30"]
    submitted = siar(editor, "events", "submit", event["series_id"])
    assert submitted.exit_code == 0 and "in_review" in submitted.output
    back = siar(reviewer, "events", "send-back", event["series_id"], "--comment", "Tambah tautan pendaftaran")
    assert back.exit_code == 0, back.output
    moved = siar(editor, "events", "change", event["series_id"], "--at", f"{month}-21 10:00", "--link",
                 "https://perpus.palembang.go.id/lomba", "--json")
    assert moved.exit_code == 0, moved.output
    moved_event = json.loads(moved.output)
    assert moved_event["timezone"] == "Asia/Jakarta" and moved_event["event"]["link"].endswith("/lomba")
    assert [o["scheduled_local"][:16] for o in moved_event["occurrences"] if o["status"] != "cancelled"] == [
        f"{month}-18T08:30", f"{month}-21T08:30"]
    shown = siar(editor, "events", "show", event["series_id"])
    assert "Lomba Mendongeng Anak" in shown.output and "place: Aula Perpustakaan" in shown.output
    assert "Tambah tautan pendaftaran" in shown.output

    cancelled = siar(editor, "events", "cancel", event["series_id"], "--reason", "Ditunda")
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    assert "Lomba" not in siar(editor, "events", "list").output
    assert "Lomba" in siar(editor, "events", "list", "--cancelled").output

    wrong = siar(editor, "events", "create", "Lomba", "--at", f"{month}-20 10:00", "--to", "telegram", "--days", "x")
    assert wrong.exit_code == 2 and "--days 'x'" in wrong.output
    late = siar(editor, "events", "create", "Lomba", "--at", f"{month}-20 10:00", "--to", "telegram",
                "--post-time", "25:00")
    assert late.exit_code == 2 and "not a time of day" in late.output
    unknown = siar(editor, "series", "show", str(uuid.uuid4()))
    assert unknown.exit_code == 1
    no_media = siar(editor, "series", "change", series["series_id"], "--alt", "Poster")
    assert no_media.exit_code == 2 and "--alt describes a --media" in no_media.output
    no_days = siar(editor, "events", "change", event["series_id"], "--days", "")
    assert no_days.exit_code == 2 and "--days ''" in no_days.output
    same = siar(editor, "series", "change", series["series_id"], "--unskip", f"{month}-20")
    assert same.exit_code == 2 and "nothing to change" in same.output  # that day was not skipped
