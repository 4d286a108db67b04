"""The calendar: month and week views in the library's zone, rhythm gaps, CSV import (all or
nothing, 500 rows) and CSV/iCalendar export."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar
from siar_scheduler.calendar import month_period, next_month

from .conftest import auth

JAKARTA = ZoneInfo("Asia/Jakarta")


def next_months() -> tuple[tuple[int, int], tuple[int, int]]:
    today = datetime.now(JAKARTA).date()
    first = next_month(today.year, today.month)
    return first, next_month(*first)


async def post_at(client, accts, local: str, platform="telegram", **extra):
    response = await client.post("/v1/posts", json={"text": f"Post {local}", "targets": [accts[platform]],
                                                    "scheduled_at": local, "timezone": "Asia/Jakarta"} | extra)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_post_at_half_past_midnight_is_on_its_local_day(planner, accts):
    (year, month), _ = next_months()
    post = await post_at(planner, accts, f"{year:04d}-{month:02d}-01T00:30:00")
    assert post["scheduled_at"].endswith("17:30:00Z") or "T17:30:00" in post["scheduled_at"]  # the day before in UTC
    view = (await planner.get("/v1/calendar/month", params={"month": f"{year:04d}-{month:02d}"})).json()
    assert view["timezone"] == "Asia/Jakarta"
    assert view["days"][0]["date"] == f"{year:04d}-{month:02d}-01"
    [shown] = view["days"][0]["posts"]
    assert (shown["post_id"], shown["local_time"], shown["status"]) == (post["post_id"], "00:30", "scheduled")
    before = month_period(*((year - 1, 12) if month == 1 else (year, month - 1)))
    previous = (await planner.get("/v1/calendar/month", params={"month": before.label})).json()
    assert all(d["posts"] == [] for d in previous["days"])
    # In UTC it is the previous month's last day.
    in_utc = (await planner.get("/v1/calendar/month", params={"month": before.label, "timezone": "UTC"})).json()
    assert [p["post_id"] for p in in_utc["days"][-1]["posts"]] == [post["post_id"]]


async def test_week_view_runs_monday_to_sunday(planner, accts):
    (year, month), _ = next_months()
    day = date(year, month, 10)
    monday = day - timedelta(days=day.weekday())
    await post_at(planner, accts, f"{monday + timedelta(days=6)}T20:00:00")
    await post_at(planner, accts, f"{monday + timedelta(days=7)}T08:00:00")  # next week
    week = (await planner.get("/v1/calendar/week", params={"date": str(day)})).json()
    assert (week["start"], week["end"]) == (str(monday), str(monday + timedelta(days=6)))
    assert [d["weekday"] for d in week["days"]][0] == "Senin"
    assert [len(d["posts"]) for d in week["days"]] == [0, 0, 0, 0, 0, 0, 1]
    iso = monday.isocalendar()
    same = (await planner.get("/v1/calendar/week", params={"week": f"{iso.year}-W{iso.week:02d}"})).json()
    assert same["days"] == week["days"]
    assert (await planner.get("/v1/calendar/week", params={"week": "2026-50"})).status_code == 422


async def test_gaps_show_where_this_month_and_the_next_fall_short_of_the_rhythm(planner, accts):
    first, second = next_months()
    assert (await planner.put(f"/v1/accounts/{accts['telegram']}/rhythm", json={"posts": 2, "per": "month"})).status_code == 200
    assert (await planner.put(f"/v1/accounts/{accts['mastodon']}/rhythm", json={"posts": 1, "per": "week"})).status_code == 200
    assert (await planner.put("/v1/accounts/nope/rhythm", json={"posts": 1, "per": "week"})).status_code == 404
    await post_at(planner, accts, f"{first[0]:04d}-{first[1]:02d}-05T09:00:00")
    await post_at(planner, accts, f"{first[0]:04d}-{first[1]:02d}-20T09:00:00")
    await post_at(planner, accts, f"{second[0]:04d}-{second[1]:02d}-03T09:00:00")
    label1, label2 = f"{first[0]:04d}-{first[1]:02d}", f"{second[0]:04d}-{second[1]:02d}"
    gaps = (await planner.get("/v1/calendar/gaps", params={"month": label1})).json()
    assert gaps["months"] == [label1, label2]
    telegram = {g["period"]: g for g in gaps["periods"] if g["account_id"] == accts["telegram"]}
    assert (telegram[label1]["planned"], telegram[label1]["shortfall"]) == (2, 0)
    assert (telegram[label2]["planned"], telegram[label2]["shortfall"]) == (1, 1)
    weeks = [g for g in gaps["gaps"] if g["account_id"] == accts["mastodon"]]
    assert weeks and all(g["period"][5] == "W" and g["shortfall"] == 1 for g in weeks)
    assert {g["period"] for g in gaps["gaps"] if g["account_id"] == accts["telegram"]} == {label2}
    # The month view shows the same gaps for its own month.
    view = (await planner.get("/v1/calendar/month", params={"month": label2})).json()
    assert any(g["account_id"] == accts["telegram"] and g["period"] == label2 for g in view["gaps"])
    rhythms = (await planner.get("/v1/rhythms")).json()["rhythms"]
    assert {(r["handle"], r["posts"], r["per"]) for r in rhythms} == {("@perpus_palembang", 2, "month"), ("perpustakaan", 1, "week")}


def plan_rows(n: int, month: tuple[int, int], bad: dict[int, dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["tanggal", "jam", "zona", "akun", "teks", "kampanye", "gambar", "teks_alternatif"])
    rnd = random.Random(4)
    for i in range(n):
        row = {
            "date": f"{(i % 28) + 1:02d}/{month[1]:02d}/{month[0]:04d}",
            "time": f"{rnd.randint(0, 23):02d}.{rnd.choice([0, 15, 30, 45]):02d}",
            "zone": rnd.choice(["WIB", "WITA", "WIT", "Asia/Jakarta", ""]),
            "targets": rnd.choice(["telegram", "mastodon:perpustakaan", "@perpus_palembang;mastodon"]),
            "text": f"Rencana unggahan nomor {i}, #PalembangBaca",
            "campaign": "Minggu Buku" if i % 3 == 0 else "",
            "media": "https://e.org/poster.jpg" if i % 5 == 0 else "",
            "alt": "Poster acara" if i % 5 == 0 else "",
        } | bad.get(i, {})
        writer.writerow(list(row.values()))
    return out.getvalue()


async def test_an_import_of_500_rows_with_bad_rows_imports_nothing_and_reports_every_row(planner, accts, sql):
    await planner.post("/v1/campaigns", json={"name": "Minggu Buku", "hashtags": ["MingguBuku"]})
    month, _ = next_months()
    bad = {
        7: {"date": "31/02/2030"},
        42: {"targets": "facebook"},
        99: {"time": "25.00"},
        250: {"text": "x" * 600, "targets": "mastodon"},
        313: {"campaign": "Tidak Ada"},
        404: {"text": "Dasar kafir harbi"},
        499: {"date": "01/01/2020"},
    }
    body = plan_rows(500, month, bad)
    response = await planner.post("/v1/calendar/import", content=body.encode(), headers={"content-type": "text/csv"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["title"] == "Import refused"
    assert (problem["accepted"], problem["refused"]) == (493, 7)
    rows = {r["row"]: r for r in problem["rows"]}
    assert len(rows) == 500 and min(rows) == 2 and max(rows) == 501
    refused = {n - 2: r["reasons"] for n, r in rows.items() if r["status"] == "refused"}
    assert set(refused) == set(bad)
    assert "is not 2026-12-04" in refused[7][0]
    assert "not a connected account" in refused[42][0]
    assert "is not 09:00" in refused[99][0]
    assert "500" in refused[250][0]  # Mastodon: 600 of 500 characters
    assert "no campaign" in refused[313][0]
    assert "list of flagged words" in refused[404][0] and "kafir" in refused[404][0]
    assert "in the past" in refused[499][0]
    assert await sql.fetchval("SELECT count(*) FROM posts") == 0  # nothing half-imported
    assert await sql.fetchval("SELECT count(*) FROM outbox") == 0

    good = plan_rows(500, month, {})
    dry = await planner.post("/v1/calendar/import", params={"dry_run": True}, content=good.encode(),
                             headers={"content-type": "text/csv"})
    assert dry.status_code == 200 and dry.json()["accepted"] == 500 and dry.json()["imported"] == 0
    assert await sql.fetchval("SELECT count(*) FROM posts") == 0

    done = await planner.post("/v1/calendar/import", content=good.encode(),
                              headers={"content-type": "text/csv", "Idempotency-Key": "plan-desember"})
    assert done.status_code == 201, done.text[:500]
    assert done.json()["imported"] == 500
    assert await sql.fetchval("SELECT count(*) FROM posts") == 500
    assert await sql.fetchval("SELECT count(*) FROM posts WHERE campaign_id IS NOT NULL") == 167
    again = await planner.post("/v1/calendar/import", content=good.encode(),
                               headers={"content-type": "text/csv", "Idempotency-Key": "plan-desember"})
    assert again.status_code == 200 and again.json()["imported"] == 0
    assert [r["post_id"] for r in again.json()["rows"]] == [r["post_id"] for r in done.json()["rows"]]
    assert await sql.fetchval("SELECT count(*) FROM posts") == 500
    entry = (await planner.get("/v1/audit", params={"entity": "calendar"})).json()["entries"][0]
    assert (entry["action"], entry["details"]["rows"]) == ("calendar.imported", 500)


async def test_import_refuses_a_file_it_cannot_read(planner, accts):
    for body, words in ((b"", "empty"), (b"date,text\n2030-01-01,x\n", "no column 'time'"),
                        (b"date,time,targets,text\n", "no rows"), ("tanggal;jam;akun;teks\n".encode("utf-16"), "UTF-8")):
        response = await planner.post("/v1/calendar/import", content=body, headers={"content-type": "text/csv"})
        assert response.status_code == 422
        assert words in response.json()["detail"]
    # Semicolons (Excel in Indonesian), a byte-order mark and an unknown column are fine.
    month, _ = next_months()
    body = f"\ufefftanggal;jam;akun;teks;catatan\n{month[0]}-{month[1]:02d}-02;09.00;telegram;Halo;internal\n".encode()
    ok = await planner.post("/v1/calendar/import", content=body, headers={"content-type": "text/csv"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["notes"] == ["column 'catatan' is not one Siar reads; it was ignored"]
    # Two accounts with ; in a ;-separated file shift the columns: the row says why, and | works.
    day = f"{month[0]}-{month[1]:02d}-03"
    shifted = f"tanggal;jam;akun;teks\n{day};09.00;telegram;mastodon:perpustakaan;Halo\n".encode()
    refused = await planner.post("/v1/calendar/import", content=shifted, headers={"content-type": "text/csv"})
    assert refused.status_code == 422, refused.text
    [row] = refused.json()["rows"]
    assert any("1 more cell(s) than the header" in r and "quotes" in r for r in row["reasons"]), row
    piped = f"tanggal;jam;akun;teks\n{day};09.00;telegram|mastodon:perpustakaan;Halo\n".encode()
    both = await planner.post("/v1/calendar/import", content=piped, headers={"content-type": "text/csv"})
    assert both.status_code == 201, both.text


async def test_a_corrected_plan_imported_again_does_not_post_its_unchanged_rows_twice(planner, accts):
    month, _ = next_months()
    day = f"{month[0]}-{month[1]:02d}"
    plan = (f"tanggal,jam,akun,teks\n{day}-10,09.00,telegram,Jam buka libur\n{day}-11,09.00,telegram,Lomba mewarnai\n"
            f"{day}-11,09.00,telegram,Lomba mewarnai\n")  # a row pasted twice
    first = await planner.post("/v1/calendar/import", content=plan.encode(), headers={"content-type": "text/csv"})
    assert first.status_code == 201, first.text
    assert [r["status"] for r in first.json()["rows"]] == ["accepted", "accepted", "skipped"]
    assert "an earlier row" not in first.json()["rows"][2]["reasons"][0] and "row 3" in first.json()["rows"][2]["reasons"][0]
    corrected = plan.replace("Lomba mewarnai", "Lomba mewarnai (pendaftaran dibuka)", 1)
    dry = await planner.post("/v1/calendar/import", params={"dry_run": "true"}, content=corrected.encode(),
                             headers={"content-type": "text/csv"})
    rows = dry.json()["rows"]
    assert [r["status"] for r in rows] == ["skipped", "accepted", "skipped"], rows
    assert rows[0]["post_id"] == first.json()["rows"][0]["post_id"] and "already planned" in rows[0]["reasons"][0]
    assert dry.json()["accepted"] == 1


async def test_export_as_csv_goes_back_in_and_as_icalendar_into_calendar_apps(planner, accts):
    month, _ = next_months()
    label = f"{month[0]:04d}-{month[1]:02d}"
    campaign = (await planner.post("/v1/campaigns", json={"name": "Baca Bareng"})).json()
    a = await post_at(planner, accts, f"{label}-03T09:00:00", text="Halo, \"semua\"\nbaris dua",
                      campaign_id=campaign["campaign_id"])
    b = await post_at(planner, accts, f"{label}-04T00:30:00", platform="mastodon", draft=True)
    exported = await planner.get("/v1/calendar/export.csv", params={"month": label})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r["post_id"] for r in rows] == [a["post_id"], b["post_id"]]
    assert rows[0]["text"] == "Halo, \"semua\"\nbaris dua"
    assert (rows[0]["date"], rows[0]["time"], rows[0]["campaign"]) == (f"{label}-03", "09:00", "Baca Bareng")
    assert (rows[1]["targets"], rows[1]["draft"], rows[1]["review_state"]) == ("mastodon:perpustakaan", "yes", "draft")
    # Back in unchanged: those posts are in the calendar already, so nothing is posted twice.
    back = await planner.post("/v1/calendar/import", content=exported.content, headers={"content-type": "text/csv"})
    assert back.status_code == 200, back.text
    assert (back.json()["imported"], back.json()["skipped"]) == (0, 2)
    assert "already in the calendar" in back.json()["rows"][0]["reasons"][0]
    # Without the post ids, at the same times, they are still the same posts (the same text to the
    # same account at the same time): skipped. At other times they are new posts (a copy of the plan).
    for time_of_day, accepted in ((None, 0), ("10:00", 2)):
        copy = io.StringIO()
        writer = csv.DictWriter(copy, fieldnames=[c for c in rows[0] if c != "post_id"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows([{**r, "time": time_of_day or r["time"]} for r in rows])
        dry = await planner.post("/v1/calendar/import", params={"dry_run": True}, content=copy.getvalue().encode(),
                                 headers={"content-type": "text/csv"})
        assert dry.json()["accepted"] == accepted, dry.text

    ics = await planner.get("/v1/calendar/export.ics", params={"month": label})
    assert ics.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(ics.content)
    events = [c for c in cal.walk("VEVENT")]
    assert [str(e["uid"]) for e in events] == [f"{a['post_id']}@siar", f"{b['post_id']}@siar"]
    first = events[0]
    assert first.decoded("dtstart") == datetime.fromisoformat(a["scheduled_at"]).astimezone(UTC)
    assert str(first["summary"]).startswith("[telegram] Halo")
    assert "Baca Bareng" in str(first["description"])
    assert (str(first["status"]), str(events[1]["status"])) == ("CONFIRMED", "TENTATIVE")
    assert str(cal["x-wr-timezone"]) == "Asia/Jakarta"
    whole = await planner.get("/v1/calendar/export.ics")  # this month and the next
    assert len(Calendar.from_ical(whole.content).walk("VEVENT")) >= 0
    assert (await planner.get("/v1/calendar/export.csv", params={"from": "2030-01-01T00:00:00Z"})).status_code == 422


async def test_export_makes_formulas_inert_and_they_import_back_as_written(planner, accts):
    """A cell a spreadsheet would run as a formula (=, +, -, @, …) is exported with an apostrophe
    before it; the import takes exactly that apostrophe off again, so the plan goes round unchanged."""
    month, _ = next_months()
    label = f"{month[0]:04d}-{month[1]:02d}"
    campaign = (await planner.post("/v1/campaigns", json={"name": "+Baca"})).json()
    texts = ["@perpustakaan buka lagi hari Senin", "- daftar buku baru\n- jam buka", "=HYPERLINK(\"x\")",
             "'=sudah dengan apostrof", "'halo"]
    made = [await post_at(planner, accts, f"{label}-0{i + 1}T09:00:00", text=text,
                          **({"campaign_id": campaign["campaign_id"], "title": "@judul"} if i == 0 else {}))
            for i, text in enumerate(texts)]
    exported = await planner.get("/v1/calendar/export.csv", params={"month": label})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r["post_id"] for r in rows] == [p["post_id"] for p in made]
    assert [r["text"] for r in rows] == ["'@perpustakaan buka lagi hari Senin", "'- daftar buku baru\n- jam buka",
                                          "'=HYPERLINK(\"x\")", "''=sudah dengan apostrof", "'halo"]
    assert (rows[0]["campaign"], rows[0]["title"]) == ("'+Baca", "'@judul")
    assert not any(cell[:1] and cell[:1] in "=+-@" for r in rows for cell in r.values())

    # Back in as new posts (post_id cleared and another time, as the docs say for a copy): the texts as written.
    copy = io.StringIO()
    writer = csv.DictWriter(copy, fieldnames=[c for c in rows[0] if c != "post_id"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows([{**r, "time": "10:00"} for r in rows])
    back = await planner.post("/v1/calendar/import", content=copy.getvalue().encode(),
                              headers={"content-type": "text/csv"})
    assert back.status_code == 201, back.text
    copies = [(await planner.get(f"/v1/posts/{r['post_id']}")).json() for r in back.json()["rows"]]
    assert [c["text"] for c in copies] == texts
    assert (copies[0]["title"], copies[0]["campaign_id"]) == ("@judul", campaign["campaign_id"])


async def test_calendar_endpoints_need_a_token(planner):
    response = await planner.get("/v1/calendar/month", headers={"Authorization": ""})
    assert response.status_code == 401
    assert (await planner.get("/v1/calendar/month", headers=auth("reviewer"))).status_code == 200
