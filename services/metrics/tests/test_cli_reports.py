"""``siar reports …`` against the real metrics service (in-process on a socket, the real
database): what a librarian reads in a terminal is the service's numbers, in the library's zone."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta

from siar_cli.client import Config
from siar_cli.main import app as cli
from siar_devstack.serving import served
from siar_metrics import store
from siar_metrics.app import create_app
from typer.testing import CliRunner

from .conftest import TOKEN, answer, failed, make_due, readings, settings_for
from .test_api import MONDAY_9_WIB, read_audience, read_post
from .test_collections import claim_all, requester


async def siar(url: str, *args: str, token: str = TOKEN):
    """The command as a librarian runs it (in a thread: it is synchronous, the service is not)."""
    config = Config(token=token, metrics_url=url, timezone="Asia/Jakarta")
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args), obj=config, catch_exceptions=False)


async def test_reports_in_the_terminal(clean_db, amqp_url, db, monkeypatch):
    monkeypatch.setenv("COLUMNS", "140")
    async with db.pool.acquire() as conn:
        await store.upsert_account(conn, "acc-m", "instagram", "perpus.palembang", None, "active")
        await store.upsert_account(conn, "acc-t", "telegram", "@perpus_kota", None, "active")
    loved = await read_post(db, {"likes": 90, "comments": 10, "reach": 500}, text="Lomba mewarnai #HariAnak",
                            campaign_id="camp-anak", campaign_hashtags=["BulanAnak"])
    await read_post(db, {"likes": 10, "reach": 1000}, text="Jam buka baru [anak-anak] [/]",  # not markup
                    published_at=MONDAY_9_WIB + timedelta(days=5, hours=10))  # Saturday 19:00 WIB
    start = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
    await read_audience(db, "acc-t", "telegram", [(start, 800), (start + timedelta(days=1), 830),
                                                  (start + timedelta(days=2), 880)])
    app = create_app(settings_for(clean_db, amqp_url))
    app.state.db = db
    async with served(app) as url:
        top = await siar(url, "reports", "top", "--month", "2026-11")
        assert top.exit_code == 0, top.output
        assert "Top posts by engagement rate, 2026-11-01 00:00" in top.output
        lines = [line for line in top.output.splitlines() if "Lomba mewarnai" in line or "Jam buka" in line]
        assert "Lomba mewarnai" in lines[0] and "2026-11-16 09:00" in lines[0]  # rank 1, in WIB
        assert "instagram perpus.palembang" in lines[0] and "20.0 %" in lines[0] and "reach" in lines[0]
        assert "Jam buka baru [anak-anak] [/]" in lines[1] and "1.0 %" in lines[1]

        as_csv = await siar(url, "reports", "top", "--from", "2026-11-01", "--to", "2026-11-30", "--csv")
        assert as_csv.output.startswith("\ufeffrank,")  # as the service wrote it: Excel reads UTF-8 by the BOM
        rows = list(csv.DictReader(io.StringIO(as_csv.output.lstrip("\ufeff"))))
        assert [r["text"] for r in rows] == ["Lomba mewarnai #HariAnak", "Jam buka baru [anak-anak] [/]"]
        assert rows[0]["handle"] == "perpus.palembang" and rows[0]["published_at"] == "2026-11-16T09:00:00+07:00"
        by_likes = await siar(url, "reports", "top", "--month", "2026-11", "--by", "likes")
        header = next(line for line in by_likes.output.splitlines() if "engaged" in line)
        assert "likes" in header  # what the posts are ranked by is shown
        cells = [c.strip() for c in next(line for line in by_likes.output.splitlines() if "Lomba" in line).split("\u2502")]
        assert cells[cells.index("100") + 1] == "90"  # engaged, then likes
        as_json = json.loads((await siar(url, "reports", "top", "--month", "2026-11", "--by", "likes",
                                         "--limit", "1", "--json")).output)
        assert [p["target_id"] for p in as_json["posts"]] == [loved["target_id"]]

        performance = await siar(url, "reports", "performance", "--month", "2026-11")
        assert performance.exit_code == 0, performance.output
        campaign = next(line for line in performance.output.splitlines() if "camp-anak" in line)
        assert "BulanAnak" in campaign and "20.0 %" in campaign and "1 reach" in campaign
        assert "(no campaign)" in performance.output

        audience = await siar(url, "reports", "audience", "--month", "2026-11")
        telegram = next(line for line in audience.output.splitlines() if "@perpus_kota" in line)
        assert "800" in telegram and "880" in telegram and "+80" in telegram and "+10.0 %" in telegram
        assert "\u2581\u2584\u2588" in telegram  # 800, 830, 880: the trend

        hours = await siar(url, "reports", "best-hours", "--month", "2026-11")
        assert hours.exit_code == 0, hours.output
        monday = next(line for line in hours.output.splitlines() if line.startswith("Mon"))
        assert monday.count("\u2588\u2588") == 1 and "(Asia/Jakarta)" in hours.output
        best = [line for line in hours.output.splitlines() if "\u2013" in line and "%" in line]
        assert "Mon 09:00\u201310:00" in best[0] and "20.0 %" in best[0] and "Sat 19:00\u201320:00" in best[1]

        # One post: each reading, and why the next ones are not there yet.
        rows = await readings(db, loved["target_id"])
        await make_due(db, [rows[1]["request_id"]])
        await claim_all(db, requester())
        await answer(db, failed(rows[1], "target_gone", "Instagram no longer has this post (deleted?)"))
        post = await siar(url, "posts", "engagement", loved["post_id"])
        assert post.exit_code == 0, post.output
        assert "instagram perpus.palembang" in post.output and "Lomba mewarnai" in post.output
        assert "20.0 %" in post.output and "no longer has this post" in post.output
        assert "to be read at" in post.output

        why = await siar(url, "reports", "collections", "--state", "failed")
        assert "no longer has this post" in why.output and "post 6h" in why.output
        assert "instagram perpus.palembang" in why.output  # the account by its handle, not its id

        # Errors read as the service says them, and the CLI's own mistakes as usage errors.
        wrong = await siar(url, "reports", "performance", "--by", "weather")
        assert wrong.exit_code == 2 and "Invalid value for '--by'" in wrong.output and "'hashtag'" in wrong.output
        bad_day = await siar(url, "reports", "top", "--from", "05/11/2026")
        assert bad_day.exit_code == 2 and "is not a time like" in bad_day.output
        both = await siar(url, "reports", "top", "--month", "2026-11", "--from", "2026-11-02")
        assert both.exit_code == 2 and "--month or --from/--to" in both.output
        missing = await siar(url, "reports", "post", "no-such-post")
        assert missing.exit_code == 1 and "no published post" in missing.output
        nothing = await siar(url, "reports", "top", "--month", "2025-01")
        assert nothing.exit_code == 0 and "No post with readings in this period" in nothing.output
    gone = await siar(url, "reports", "top")
    assert gone.exit_code == 2 and "cannot reach the metrics" in gone.output and "SIAR_METRICS_URL" in gone.output
