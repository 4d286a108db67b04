"""The calendar in and out: CSV import (a month's plan, all or nothing, with a report of every
row), CSV export (the same columns, so a plan can go out to a spreadsheet and back) and iCalendar
export (so the plan shows in the calendar apps the team already uses).

CSV columns (a header row; Indonesian names work too; ``,``, ``;`` or tab separated):

=============  ===========================================================================
date           2026-12-04 or 04/12/2026                      (tanggal)
time           09:00 or 09.00                                (jam, waktu)
timezone       Asia/Jakarta, WIB, WITA or WIT; the library's if empty (zona)
targets        account ids, ``platform:handle``, a handle, or a platform with one account,
               separated by ``;``, ``,`` or ``|``            (akun, platform)
text           the post                                      (teks, isi)
title          video title, optional                         (judul)
campaign       campaign name or id, optional                 (kampanye)
media_url      media URLs separated by ``|``, optional       (media, gambar)
alt_text       their descriptions separated by ``|``         (teks_alternatif)
draft          yes/ya to import as a draft                   (draf)
=============  ===========================================================================
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import asyncpg
from icalendar import Calendar
from icalendar import Event as VEvent
from pydantic import ValidationError
from siar_runtime.problems import TYPE_BASE, Problem

from . import accounts, media_links, store
from . import planning_store as plans
from .accounts import AccountIndex
from .identity import Actor
from .policy import Policy
from .posts import (
    Campaign,
    NewPost,
    findings,
    hashtags_left_out,
    initial_state,
    insert_new,
    look_at_media,
    target_texts,
    violations,
)
from .schemas import AccountOut, ImportReport, ImportRow, MediaIn, PostOut
from .timing import TimeError, canonical, local, resolve

COLUMNS = {
    "date": ("date", "tanggal", "tgl"),
    "time": ("time", "jam", "waktu", "pukul"),
    "timezone": ("timezone", "zona", "zona_waktu", "tz"),
    "targets": ("targets", "accounts", "akun", "platform", "platforms"),
    "text": ("text", "teks", "isi", "caption", "konten"),
    "title": ("title", "judul"),
    "campaign": ("campaign", "kampanye"),
    "media_url": ("media_url", "media", "gambar", "media_urls"),
    "alt_text": ("alt_text", "media_alt_text", "teks_alternatif", "alt"),
    "draft": ("draft", "draf"),
    "post_id": ("post_id",),
}
EXPORT_ONLY = ("status", "review_state", "campaign_id")
REQUIRED = ("date", "time", "targets", "text")
YES = {"yes", "ya", "y", "true", "1", "draft", "draf"}
VIDEO = (".mp4", ".mov", ".m4v", ".webm")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
"""What makes a spreadsheet read a cell as a formula (as the metrics and feedback exports)."""


def _formula(text: str) -> bool:
    """Whether the export escapes ``text``: a formula start (after spaces), or an apostrophe
    before something it escapes — so an apostrophe a post really begins with survives too."""
    rest = text.lstrip(" ")
    return bool(rest) and (rest[0] in FORMULA_STARTS or (text.startswith("'") and _formula(text[1:])))


def safe_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading
    apostrophe (OWASP's advice, as ``safe_cell`` in the metrics and feedback exports)."""
    return "'" + text if _formula(text) else text


def unescape_cell(text: str) -> str:
    """The exact inverse of :func:`safe_cell`, so an exported plan imports back as it was: the
    apostrophe goes only where the export would have put it (``'@perpustakaan`` is read as
    ``@perpustakaan``; a cell ``'halo`` stays as written)."""
    return text[1:] if text.startswith("'") and _formula(text[1:]) else text


def _problem(detail: str, **extra) -> Problem:
    return Problem(422, "Import refused", detail, type_=TYPE_BASE + "import", **extra)


OVERFLOW = "_more_cells"  # a row with more filled cells than the header has columns


def read_rows(data: bytes) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """The canonical columns found, the rows as {column: value}, and notes on ignored columns."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _problem("the file is not UTF-8 text; save the spreadsheet as CSV UTF-8") from exc
    if not text.strip():
        raise _problem("the file is empty")
    header_line = text.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    # newline="": the csv module reads \r\n, \n and a lone \r itself (a StringIO that splits on
    # \n alone hands it a field with a \r inside, which it refuses)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _records(reader)
    except csv.Error as exc:
        raise _problem(f"line {reader.line_num} of the file is not CSV ({exc}); save the spreadsheet as CSV UTF-8") from exc


def _records(reader) -> tuple[list[str], list[dict[str, str]], list[str]]:
    header = next(reader)
    aliases = {alias: name for name, names in COLUMNS.items() for alias in names}
    names: list[str | None] = []
    notes = []
    for raw in header:
        key = re.sub(r"[\s-]+", "_", raw.strip().lower())
        name = aliases.get(key)
        if name is None and key not in EXPORT_ONLY and key:
            notes.append(f"column {raw.strip()!r} is not one Siar reads; it was ignored")
        names.append(name)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise _problem(
            f"the file has no column {', '.join(repr(m) for m in missing)}; "
            f"the header needs {', '.join(REQUIRED)} (and may have {', '.join(c for c in COLUMNS if c not in REQUIRED)})",
            columns=[h.strip() for h in header],
        )
    rows = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            rows.append({})  # a blank line keeps its row number
            continue
        row = {name: unescape_cell(record[i].strip()) for i, name in enumerate(names) if name and i < len(record)}
        extra = sum(1 for cell in record[len(names):] if cell.strip())
        if extra:  # the separator inside a cell (telegram;mastodon in a ;-separated file): columns shifted
            row[OVERFLOW] = str(extra)
        rows.append(row)
    return [n for n in names if n], rows, notes


def parse_date(value: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date {value!r} is not 2026-12-04 or 04/12/2026")


def parse_time(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?", value)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"time {value!r} is not 09:00 or 09.00")
    return int(m.group(1)), int(m.group(2))


def _media(urls: str, alts: str) -> list[MediaIn]:
    items = [u.strip() for u in urls.split("|") if u.strip()] if urls else []
    texts = [a.strip() for a in alts.split("|")] if alts else []
    media = []
    for i, url in enumerate(items):
        path = url.split("?", 1)[0].lower()
        kind = "video" if path.endswith(VIDEO) else "gif" if path.endswith(".gif") else "image"
        media.append(MediaIn(url=url, kind=kind, alt_text=(texts[i] if i < len(texts) and texts[i] else None)))
    return media


async def import_csv(
    pool: asyncpg.Pool, data: bytes, *, actor: Actor, policy: Policy, dry_run: bool = False,
    first_row: int = 2, idempotency_key: str | None = None,
) -> tuple[ImportReport, bool]:
    """Check every row; import them all in one transaction only if every row is accepted.
    Returns the report and whether posts were created now; raises a 422 problem (with the
    report) when a row is refused, and nothing is imported."""
    _, rows, notes = read_rows(data)
    if not any(rows):
        raise _problem("the file has a header but no rows")
    for row in rows:
        if row.get("post_id") and not _is_uuid(row["post_id"]):
            row.pop("post_id")
    if len(rows) > policy.import_max_rows:
        raise _problem(f"{len(rows)} rows; one import takes at most {policy.import_max_rows}")
    async with pool.acquire() as conn:
        if idempotency_key and not dry_run:  # a replay answers at once, its media links not tried again
            replay = await _replay(conn, idempotency_key, rows, first_row)
            if replay is not None:
                return replay, False
        known = await store.existing_post_ids(conn, [str(r["post_id"]) for r in rows if r.get("post_id")])
    # Every new row's media links at once, within one deadline, before a connection is taken (as
    # for one post): a plan of a month names the same few files many times, each is asked once.
    # The rows of an export already in the calendar are skipped below: their links are not asked.
    links = [m for row in rows if row and not _known(row, known) and not row.get(OVERFLOW)
             for m in _media_or_none(row)]
    answers = await look_at_media(policy, links, reuse=True)  # siar import asks in parts, then imports
    untried = len({m.url for m in links} - answers.keys()) if policy.checks.mode("media_links") != "off" else 0
    if untried:
        notes = [*notes, f"{untried} of {len({m.url for m in links})} media links could not be tried within "
                 f"{policy.media_check_seconds:g} s (too many for the time); they are tried at each post's time"]
    async with pool.acquire() as conn:
        index = AccountIndex(await accounts.list_accounts(conn))
        campaigns = {}
        for r in await plans.list_campaigns(conn):
            camp = Campaign.of(r)
            campaigns[str(camp.campaign_id)] = campaigns[camp.name.casefold()] = camp
        report: list[ImportRow] = []
        ready: list[tuple[int, NewPost]] = []
        for n, row in enumerate(rows, start=first_row):
            if not row:
                continue
            if _known(row, known):
                # A row of an export: the post is in the calendar already; importing it again would
                # post it twice. It is changed with PATCH /v1/posts/{id}, not by importing.
                report.append(ImportRow(row=n, status="skipped", post_id=UUID(row["post_id"]), reasons=[
                    f"already in the calendar as post {row['post_id']}; change it there, or clear post_id and give "
                    "another time to add a copy"]))
                continue
            new, reasons, warnings = _check_row(row, index, campaigns, policy, actor, answers)
            if reasons:
                report.append(ImportRow(row=n, status="refused", reasons=reasons, warnings=warnings))
            else:
                assert new is not None
                if idempotency_key:
                    new.idempotency_key = f"import:{idempotency_key}:{n}"
                ready.append((n, new))
                report.append(ImportRow(row=n, status="accepted", post_id=new.post_id, scheduled_at=new.scheduled_at,
                                        warnings=warnings))
        ready = await _without_twins(conn, ready, report)
        refused = sum(1 for r in report if r.status == "refused")
        skipped = sum(1 for r in report if r.status == "skipped")
        result = ImportReport(imported=0, accepted=len(ready), refused=refused, skipped=skipped, dry_run=dry_run,
                              rows=report, notes=notes)
        if dry_run:
            for r in result.rows:
                if r.status == "accepted":
                    r.post_id = None
            return result, False
        if refused:
            raise _problem(
                f"{refused} of {len(report)} rows refused; nothing was imported. "
                + "; ".join(f"row {r.row}: {', '.join(r.reasons)}" for r in report if r.status == "refused")[:1500],
                **result.model_dump(mode="json"),
            )
        try:
            async with conn.transaction():
                for _, new in ready:
                    await insert_new(conn, new, actor, action="post.imported")
                await plans.audit(conn, actor=actor.id, role=actor.role, action="calendar.imported",
                                  entity="calendar", entity_id=None,
                                  details={"rows": len(ready), "posts": [str(n.post_id) for _, n in ready]})
        except asyncpg.UniqueViolationError:
            # The same Idempotency-Key raced in from a retry (while the links were tried): the other won.
            replay = await _replay(conn, idempotency_key, rows, first_row) if idempotency_key else None
            if replay is None:
                raise
            return replay, False
    result.imported = len(ready)
    return result, bool(ready)


def _known(row: dict[str, str], known: set) -> bool:
    """A row of an export whose post is in the calendar already."""
    return bool(row.get("post_id")) and str(UUID(row["post_id"])) in known


async def _without_twins(conn: asyncpg.Connection, ready: list[tuple[int, NewPost]],
                         report: list[ImportRow]) -> list[tuple[int, NewPost]]:
    """Rows that would post the same text to the same account at the same time as a post already
    planned, or as an earlier row of the file, are skipped, saying which: re-importing a
    corrected plan must not post its unchanged rows twice."""
    earlier: dict[tuple[datetime, str, str], UUID | int] = {  # a planned post's id, or a row's number
        (at, text, account): post_id
        for at, text, account, post_id in await store.planned_twins(conn, [(n.scheduled_at, n.text) for _, n in ready])
    }
    kept = []
    rows = {r.row: r for r in report}
    for n, new in ready:
        keys = [(new.scheduled_at, new.text, a.account_id) for a in new.targets]
        twin = next((earlier[k] for k in keys if k in earlier), None)
        if twin is None:
            kept.append((n, new))
            earlier.update(dict.fromkeys(keys, n))
            continue
        entry = rows[n]
        entry.status = "skipped"
        entry.post_id = twin if isinstance(twin, UUID) else None
        entry.reasons = [f"the same text to the same account at the same time is already planned "
                         f"({f'post {twin}' if isinstance(twin, UUID) else f'row {twin}'}); change that one, or "
                         "this row's time or text to add another"]
    return kept


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


async def _replay(conn, key: str, rows, first_row: int) -> ImportReport | None:
    numbers = [n for n, row in enumerate(rows, start=first_row) if row and not row.get("post_id")]
    if not numbers:
        return None
    found = {}
    for n in numbers:
        post_id = await store.post_id_for_key(conn, f"import:{key}:{n}")
        if post_id is None:
            return None
        found[n] = post_id
    posts = {p.post_id: p for p in await store.posts_by_id(conn, list(found.values()))}
    return ImportReport(
        imported=0, accepted=len(found), refused=0, dry_run=False,
        rows=[ImportRow(row=n, status="accepted", post_id=pid, scheduled_at=posts[pid].scheduled_at if pid in posts else None)
              for n, pid in found.items()],
        notes=["this import was done before with the same Idempotency-Key; nothing new was created"],
    )


def _media_or_none(row: dict[str, str]) -> list[MediaIn]:
    try:
        return _media(row.get("media_url", ""), row.get("alt_text", ""))
    except ValidationError:  # said by _check_row
        return []


def _check_row(row: dict[str, str], index: AccountIndex, campaigns: dict[str, Campaign], policy: Policy,
               actor: Actor, answers: Mapping[str, media_links.Answer] | None = None,
               ) -> tuple[NewPost | None, list[str], list[str]]:
    reasons: list[str] = []
    if row.get(OVERFLOW):
        reasons.append(f"the row has {row[OVERFLOW]} more cell(s) than the header: a cell with the file's separator "
                       "in it needs quotes (\"telegram;mastodon\" in a ;-separated file), or put | between accounts")
    scheduled_at = None
    tz_name = canonical(row.get("timezone")) or policy.timezone
    try:
        day = parse_date(row.get("date", ""))
        hour, minute = parse_time(row.get("time", ""))
        scheduled_at = resolve(datetime(day.year, day.month, day.day, hour, minute), tz_name)
        if scheduled_at < datetime.now(UTC) - timedelta(seconds=policy.grace_seconds):
            reasons.append(f"{day.isoformat()} {hour:02d}:{minute:02d} {tz_name} is in the past")
    except (ValueError, TimeError) as exc:
        reasons.append(str(exc))
    targets: list[AccountOut] = []
    refs = [r for r in re.split(r"[;,|]", row.get("targets", "")) if r.strip()]
    if not refs:
        reasons.append("no targets: name at least one account")
    for ref in refs:
        try:
            account = index.find(ref)
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        if account.status != "active":
            reasons.append(f"{account.platform}:{account.handle} is {account.status}: {account.status_reason or 'reconnect it'}")
        elif account.account_id in {t.account_id for t in targets}:
            reasons.append(f"{ref.strip()!r} is named twice")
        else:
            targets.append(account)
    camp = None
    if row.get("campaign"):
        camp = campaigns.get(row["campaign"].casefold()) or campaigns.get(row["campaign"])
        if camp is None:
            reasons.append(f"no campaign {row['campaign']!r} (see GET /v1/campaigns)")
    try:
        media = _media(row.get("media_url", ""), row.get("alt_text", ""))
    except ValidationError as exc:
        media = []
        reasons.append("media: " + "; ".join(e["msg"] for e in exc.errors()))
    text = row.get("text", "")
    title = row.get("title") or None
    draft = row.get("draft", "").strip().lower() in YES
    if not text.strip() and not media:
        reasons.append("no text and no media")
    warnings: list[str] = []
    if targets and not reasons:
        texts = target_texts(targets, text, media, title, camp)
        sized = media_links.sized(media, answers) if answers else media  # sizes the servers said, too
        reasons += [f"{v['platform']}:{v['handle']}: {v['message']}" for v in violations(targets, text, sized, title, texts)]
        found = findings(policy, text=text, media=media, title=title, camp=camp, scheduled_at=scheduled_at,
                         timezone=tz_name, answers=answers)
        found += hashtags_left_out(targets, text, texts, camp)
        for f in found:
            if f["severity"] == "block" and not draft:
                reasons.append(f["message"])
            else:
                warnings.append(f["message"])
        if not reasons:
            assert scheduled_at is not None
            return NewPost(
                text=text, media=media, title=title, scheduled_at=scheduled_at, timezone=tz_name, targets=targets,
                review_state=initial_state(policy, draft=draft), created_by=actor.id, camp=camp, texts=texts, found=found,
            ), [], warnings
    return None, reasons, warnings


# -- export ------------------------------------------------------------------------------------

EXPORT_COLUMNS = ("date", "time", "timezone", "targets", "text", "title", "campaign", "media_url", "alt_text",
                  "draft", "post_id", "status", "review_state")


async def _posts(conn, start: datetime, end: datetime) -> list[PostOut]:
    return await store.list_posts(conn, start=start, end=end, after=None, limit=100_000)


async def export_csv(conn: asyncpg.Connection, start: datetime, end: datetime, tz: str) -> str:
    known = {a.account_id: a for a in await accounts.list_accounts(conn)}
    names = {r["campaign_id"]: r["name"] for r in await plans.list_campaigns(conn)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for post in await _posts(conn, start, end):
        zone_name = post.timezone or tz
        when = local(post.scheduled_at, zone_name)
        refs = []
        for t in post.targets:
            a = known.get(t.account_id)
            refs.append(f"{a.platform}:{a.handle}" if a else t.account_id)
        writer.writerow([safe_cell(cell) for cell in (
            f"{when:%Y-%m-%d}", f"{when:%H:%M}", zone_name, ";".join(refs), post.text, post.title or "",
            names.get(post.campaign_id, "") if post.campaign_id else "",
            "|".join(m.url for m in post.media), "|".join(m.alt_text or "" for m in post.media) if post.media else "",
            "yes" if post.review.state == "draft" else "", str(post.post_id), post.status, post.review.state,
        )])
    return out.getvalue()


async def export_ics(conn: asyncpg.Connection, start: datetime, end: datetime, tz: str, name: str) -> bytes:
    known = {a.account_id: a for a in await accounts.list_accounts(conn)}
    names = {r["campaign_id"]: r["name"] for r in await plans.list_campaigns(conn)}
    cal = Calendar()
    cal.add("prodid", "-//Siar//Content calendar//ID")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", tz)
    for post in await _posts(conn, start, end):
        accounts_line = ", ".join(
            f"{known[t.account_id].platform} {known[t.account_id].handle}" if t.account_id in known else t.account_id
            for t in post.targets
        )
        first_line = post.text.strip().splitlines()[0] if post.text.strip() else (post.title or "(media)")
        platforms = "/".join(sorted({t.platform for t in post.targets}))
        event = VEvent()
        event.add("uid", f"{post.post_id}@siar")
        event.add("dtstamp", post.updated_at.astimezone(UTC))
        event.add("last-modified", post.updated_at.astimezone(UTC))
        event.add("sequence", post.version)
        event.add("dtstart", post.scheduled_at.astimezone(UTC))
        event.add("duration", timedelta(minutes=15))
        event.add("summary", f"[{platforms}] {first_line[:80]}")
        lines = [post.text, "", f"Akun / accounts: {accounts_line}", f"Status: {post.status}",
                 f"Review: {post.review.state}"]
        if post.campaign_id:
            lines.append(f"Kampanye / campaign: {names.get(post.campaign_id, post.campaign_id)}")
            event.add("categories", [names.get(post.campaign_id, str(post.campaign_id))])
        event.add("description", "\n".join(lines))
        event.add("status", "CANCELLED" if post.status == "cancelled"
                  else "CONFIRMED" if post.review.state == "approved" else "TENTATIVE")
        event.add("x-siar-post-id", str(post.post_id))
        cal.add_component(event)
    return cal.to_ical()

