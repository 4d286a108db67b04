"""The scheduler's HTTP API for content planning: campaigns, recurring series, event countdowns,
posting rhythms, the calendar (views, gaps, CSV and iCalendar) and the audit log."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from siar_runtime import audit as audit_log
from siar_runtime.audit import AuditList
from siar_runtime.problems import TYPE_BASE, Problem

from . import accounts, calendar, campaigns, series, transfer
from . import planning_store as plans
from .api import ERRORS, FromQuery, ToQuery, check_range
from .identity import Actor, actor_dependency
from .policy import Policy
from .schemas import (
    CalendarView,
    CampaignCreate,
    CampaignList,
    CampaignOut,
    CampaignUpdate,
    CancelRequest,
    EventCreate,
    EventUpdate,
    GapList,
    ImportReport,
    ReviewRequest,
    RhythmIn,
    RhythmList,
    RhythmOut,
    SendBackRequest,
    SeriesCreate,
    SeriesList,
    SeriesOut,
    SeriesUpdate,
)
from .timing import TimeError, canonical, zone

CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "The plan as CSV with a header row (see the columns in docs/content-planning.md)",
        "content": {"text/csv": {"schema": {"type": "string"},
                                 "example": "date,time,targets,text\n2026-12-04,09:00,mastodon,Halo! #PalembangBaca\n"}},
    }
}


def router(auth, policy: Policy) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=ERRORS)
    ActorDep = Annotated[Actor, Depends(actor_dependency(auth))]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.db.pool

    Pool = Annotated[asyncpg.Pool, Depends(pool)]

    def tz_of(name: str | None) -> str:
        name = canonical(name) or policy.timezone
        try:
            zone(name)
        except TimeError as exc:
            raise Problem(422, "Invalid request", str(exc), type_=TYPE_BASE + "validation") from exc
        return name

    Zone = Annotated[str | None, Query(description="IANA zone of the view; the library's (SIAR_TIMEZONE) if not given")]

    # -- campaigns ---------------------------------------------------------------------------

    @api.post("/campaigns", status_code=201, response_model=CampaignOut, tags=["campaigns"],
              summary="Start a campaign: name, hashtags, dates and goal")
    async def create_campaign(body: CampaignCreate, response: Response, actor: ActorDep, db: Pool) -> CampaignOut:
        out = await campaigns.create(db, body, actor=actor)
        response.headers["Location"] = f"/v1/campaigns/{out.campaign_id}"
        return out

    @api.get("/campaigns", response_model=CampaignList, tags=["campaigns"], summary="Every campaign")
    async def list_campaigns(actor: ActorDep, db: Pool) -> CampaignList:
        async with db.acquire() as conn:
            return CampaignList(campaigns=await campaigns.list_all(conn))

    @api.get("/campaigns/{campaign_id}", response_model=CampaignOut, tags=["campaigns"], summary="One campaign")
    async def read_campaign(campaign_id: UUID, actor: ActorDep, db: Pool) -> CampaignOut:
        async with db.acquire() as conn:
            return await campaigns.get(conn, campaign_id)

    @api.patch("/campaigns/{campaign_id}", response_model=CampaignOut, tags=["campaigns"],
               summary="Change a campaign; new hashtags reach every post of it that has not gone out")
    async def update_campaign(campaign_id: UUID, body: CampaignUpdate, request: Request, actor: ActorDep,
                              db: Pool) -> CampaignOut:
        out = await campaigns.update(db, campaign_id, body, actor=actor, policy=policy)
        request.app.state.wake()
        return out

    # -- series and events -------------------------------------------------------------------

    def article(what: str) -> str:
        return ("an " if what[0] in "aeiou" else "a ") + what

    def review_routes(prefix: str, what: str, tag: str) -> None:
        kind = "recurrence" if prefix == "series" else "countdown"

        @api.post(f"/{prefix}/{{series_id}}/submit", response_model=SeriesOut, tags=["review"],
                  summary=f"Submit a draft {what} (its posts follow)", name=f"submit_{prefix}")
        async def submit(series_id: UUID, request: Request, actor: ActorDep, db: Pool) -> SeriesOut:
            out = await series.review(db, series_id, "submit", actor=actor, policy=policy, kind=kind)
            request.app.state.wake()
            return out

        @api.post(f"/{prefix}/{{series_id}}/approve", response_model=SeriesOut, tags=["review"],
                  summary=f"Approve {article(what)} in review and its posts (reviewers; not one's own)", name=f"approve_{prefix}")
        async def approve(series_id: UUID, request: Request, actor: ActorDep, db: Pool,
                          body: ReviewRequest | None = None) -> SeriesOut:
            out = await series.review(db, series_id, "approve", actor=actor, policy=policy,
                                      comment=(body or ReviewRequest()).comment, kind=kind)
            request.app.state.wake()
            return out

        @api.post(f"/{prefix}/{{series_id}}/send-back", response_model=SeriesOut, tags=["review"],
                  summary=f"Send {article(what)} back to its author with a comment (reviewers)", name=f"send_back_{prefix}")
        async def send_back(series_id: UUID, body: SendBackRequest, actor: ActorDep, db: Pool) -> SeriesOut:
            return await series.review(db, series_id, "send_back", actor=actor, policy=policy, comment=body.comment,
                                       kind=kind)

        @api.post(f"/{prefix}/{{series_id}}/cancel", response_model=SeriesOut, tags=[tag],
                  summary=f"Cancel the {what}: every post of it that has not gone out is cancelled",
                  name=f"cancel_{prefix}")
        async def cancel(series_id: UUID, actor: ActorDep, db: Pool, body: CancelRequest | None = None) -> SeriesOut:
            return await series.cancel(db, series_id, (body or CancelRequest()).reason, actor=actor, kind=kind)

    @api.post("/series", status_code=201, response_model=SeriesOut, tags=["series"],
              summary="Create a recurring series (RFC 5545 RRULE in the library's zone)",
              description="Each occurrence is its own post (edit or cancel it alone through /v1/posts). Posts "
                          "are made for the next SIAR_SERIES_HORIZON_DAYS days and the horizon moves on daily.")
    async def create_series(body: SeriesCreate, request: Request, response: Response, actor: ActorDep,
                            db: Pool) -> SeriesOut:
        out = await series.create_series(db, body, actor=actor, policy=policy)
        request.app.state.wake()
        response.headers["Location"] = f"/v1/series/{out.series_id}"
        return out

    @api.get("/series", response_model=SeriesList, tags=["series"], summary="Recurring series")
    async def list_series(actor: ActorDep, db: Pool, include_cancelled: bool = False) -> SeriesList:
        async with db.acquire() as conn:
            return SeriesList(series=await series.list_all(conn, "recurrence", include_cancelled=include_cancelled))

    @api.get("/series/{series_id}", response_model=SeriesOut, tags=["series"], summary="A series and its posts")
    async def read_series(series_id: UUID, actor: ActorDep, db: Pool) -> SeriesOut:
        async with db.acquire() as conn:
            return await series.out(conn, series_id)

    @api.patch("/series/{series_id}", response_model=SeriesOut, tags=["series"],
               summary="Change a series and every occurrence that has not gone out",
               description="Occurrences edited on their own keep their content and time; skipped ones stay "
                           "skipped; one no longer in the rule is cancelled (post.cancelled) and removed.")
    async def update_series(series_id: UUID, body: SeriesUpdate, request: Request, actor: ActorDep,
                            db: Pool) -> SeriesOut:
        out = await series.update_series(db, series_id, body, actor=actor, policy=policy)
        request.app.state.wake()
        return out

    review_routes("series", "series", "series")

    @api.post("/events", status_code=201, response_model=SeriesOut, tags=["events"],
              summary="Promote an event: its countdown posts (7, 3, 1 days before, on the day)",
              description="Each countdown post gets its own text from the template: {title} {days} {countdown} "
                          "{date} {time} {place} {link}; a template line whose placeholders are all empty is left out.")
    async def create_event(body: EventCreate, request: Request, response: Response, actor: ActorDep,
                           db: Pool) -> SeriesOut:
        out = await series.create_event(db, body, actor=actor, policy=policy)
        request.app.state.wake()
        response.headers["Location"] = f"/v1/events/{out.series_id}"
        return out

    @api.get("/events", response_model=SeriesList, tags=["events"], summary="Promoted events")
    async def list_events(actor: ActorDep, db: Pool, include_cancelled: bool = False) -> SeriesList:
        async with db.acquire() as conn:
            return SeriesList(series=await series.list_all(conn, "countdown", include_cancelled=include_cancelled))

    @api.get("/events/{series_id}", response_model=SeriesOut, tags=["events"], summary="An event and its countdown posts")
    async def read_event(series_id: UUID, actor: ActorDep, db: Pool) -> SeriesOut:
        async with db.acquire() as conn:
            out = await series.out(conn, series_id)
        if out.kind != "countdown":
            raise Problem(404, "Not found", f"no event {series_id}", type_=TYPE_BASE + "not-found")
        return out

    @api.patch("/events/{series_id}", response_model=SeriesOut, tags=["events"],
               summary="Move or change an event: its countdown posts that have not gone out follow")
    async def update_event(series_id: UUID, body: EventUpdate, request: Request, actor: ActorDep,
                           db: Pool) -> SeriesOut:
        out = await series.update_event(db, series_id, body, actor=actor, policy=policy)
        request.app.state.wake()
        return out

    review_routes("events", "event promotion", "events")

    # -- rhythm ------------------------------------------------------------------------------

    @api.get("/rhythms", response_model=RhythmList, tags=["calendar"], summary="The posting rhythm of each account")
    async def list_rhythms(actor: ActorDep, db: Pool) -> RhythmList:
        async with db.acquire() as conn:
            rows = await plans.rhythms(conn)
        return RhythmList(rhythms=[RhythmOut(**dict(r)) for r in rows])

    @api.put("/accounts/{account_id}/rhythm", response_model=RhythmOut, tags=["calendar"],
             summary="Set an account's target rhythm (e.g. 2 posts a month)")
    async def set_rhythm(account_id: str, body: RhythmIn, actor: ActorDep, db: Pool) -> RhythmOut:
        async with db.acquire() as conn, conn.transaction():
            if not await accounts.find(conn, [account_id]):
                raise Problem(404, "Not found", f"no connected account {account_id}", type_=TYPE_BASE + "not-found")
            await plans.set_rhythm(conn, account_id, body.posts, body.per, actor.id)
            await plans.audit(conn, actor=actor.id, role=actor.role, action="rhythm.set", entity="account",
                              entity_id=account_id, details=body.model_dump())
            row = next(r for r in await plans.rhythms(conn) if r["account_id"] == account_id)
        return RhythmOut(**dict(row))

    @api.delete("/accounts/{account_id}/rhythm", status_code=204, tags=["calendar"],
                summary="Remove an account's target rhythm")
    async def delete_rhythm(account_id: str, actor: ActorDep, db: Pool) -> Response:
        async with db.acquire() as conn, conn.transaction():
            if not await plans.delete_rhythm(conn, account_id):
                raise Problem(404, "Not found", f"account {account_id} has no rhythm", type_=TYPE_BASE + "not-found")
            await plans.audit(conn, actor=actor.id, role=actor.role, action="rhythm.removed", entity="account",
                              entity_id=account_id)
        return Response(status_code=204)

    # -- calendar ----------------------------------------------------------------------------

    @api.get("/calendar/month", response_model=CalendarView, tags=["calendar"],
             summary="A month of posts, day by day, with where it falls short of a rhythm")
    async def month_view(actor: ActorDep, db: Pool, timezone: Zone = None,
                         month: Annotated[str | None, Query(description="YYYY-MM; this month if not given")] = None,
                         ) -> CalendarView:
        tz = tz_of(timezone)
        year, mon = calendar.parse_month(month, calendar.today_in(tz))
        async with db.acquire() as conn:
            return await calendar.view(conn, "month", calendar.month_period(year, mon), tz)

    @api.get("/calendar/week", response_model=CalendarView, tags=["calendar"],
             summary="A week of posts (Monday to Sunday)")
    async def week_view(actor: ActorDep, db: Pool, timezone: Zone = None,
                        week: Annotated[str | None, Query(description="YYYY-Www (2026-W50)")] = None,
                        date: Annotated[str | None, Query(description="Any day of the week (YYYY-MM-DD)")] = None,
                        ) -> CalendarView:
        tz = tz_of(timezone)
        day = None
        if date:
            try:
                day = datetime.strptime(date, "%Y-%m-%d").date()
            except ValueError as exc:
                raise Problem(422, "Invalid request", f"date {date!r} is not YYYY-MM-DD", type_=TYPE_BASE + "validation") from exc
        first = calendar.parse_week(week, day, calendar.today_in(tz))
        async with db.acquire() as conn:
            return await calendar.view(conn, "week", calendar.week_period(first), tz)

    @api.get("/calendar/gaps", response_model=GapList, tags=["calendar"],
             summary="Where this month and the next fall short of each account's rhythm")
    async def gaps(actor: ActorDep, db: Pool, timezone: Zone = None,
                   month: Annotated[str | None, Query(description="First month, YYYY-MM; this month if not given")] = None,
                   months: Annotated[int, Query(ge=1, le=12)] = 2) -> GapList:
        tz = tz_of(timezone)
        async with db.acquire() as conn:
            return await calendar.gaps(conn, tz, month, months)

    @api.post("/calendar/import", status_code=201, response_model=ImportReport, tags=["calendar"],
              summary="Import a plan from CSV: every row accepted, or nothing imported",
              description="The answer reports every row, accepted (with its post id) or refused with the "
                          "reasons. One refused row refuses the whole file (422, the report in `rows`). "
                          "`dry_run` checks without importing. An Idempotency-Key makes a retry safe.",
              openapi_extra=CSV_BODY,
              responses={200: {"model": ImportReport,
                               "description": "Nothing imported: a dry run, or a retry of an import already done"}})
    async def import_csv(
        request: Request, actor: ActorDep, db: Pool,
        dry_run: bool = False,
        first_row: Annotated[int, Query(ge=2, description="Row number of the first data row (for a file sent in parts)")] = 2,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse:
        data = await request.body()
        report, created = await transfer.import_csv(db, data, actor=actor, policy=policy, dry_run=dry_run,
                                                    first_row=first_row, idempotency_key=idempotency_key)
        if created:
            request.app.state.wake()
        return JSONResponse(report.model_dump(mode="json"), status_code=201 if created else 200)

    def _range(month: str | None, start: str | None, end: str | None, tz: str) -> tuple[datetime, datetime]:
        lo, hi = check_range(start, end, tz)
        if lo or hi:
            if not (lo and hi):
                raise Problem(422, "Invalid request", "give both 'from' and 'to', or a month", type_=TYPE_BASE + "validation")
            return lo, hi
        year, mon = calendar.parse_month(month, calendar.today_in(tz))
        first = calendar.month_period(year, mon)
        last = first if month else calendar.month_period(*calendar.next_month(year, mon))
        return calendar.bounds(tz, first.start, last.end)

    Month = Annotated[str | None, Query(description="YYYY-MM; without it and without from/to: this month and the next")]
    From = Annotated[str | None, Query(alias="from", max_length=64, description="inclusive: a day (2026-12-01) or "
                                       "a time; without an offset, local time in the view's zone")]
    To = Annotated[str | None, Query(alias="to", max_length=64, description="a day (2026-12-05: up to the end of "
                                     "that day) or a time (exclusive); without an offset, in the view's zone")]

    @api.get("/calendar/export.csv", tags=["calendar"], summary="The plan as CSV (the import's columns)",
             response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    async def export_csv(actor: ActorDep, db: Pool, timezone: Zone = None, month: Month = None,
                         start: From = None, end: To = None) -> Response:
        tz = tz_of(timezone)
        lo, hi = _range(month, start, end, tz)
        async with db.acquire() as conn:
            body = await transfer.export_csv(conn, lo, hi, tz)
        return Response(body.encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="siar-calendar.csv"'})

    @api.get("/calendar/export.ics", tags=["calendar"], summary="The plan as iCalendar, for calendar apps",
             response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
    async def export_ics(actor: ActorDep, db: Pool, timezone: Zone = None, month: Month = None,
                         start: From = None, end: To = None) -> Response:
        tz = tz_of(timezone)
        lo, hi = _range(month, start, end, tz)
        async with db.acquire() as conn:
            body = await transfer.export_ics(conn, lo, hi, tz, "Siar")
        return Response(body, media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="siar-calendar.ics"'})

    # -- audit -------------------------------------------------------------------------------

    @api.get("/audit", response_model=AuditList, tags=["audit"],
             summary="The audit log: who changed what, when (append-only)")
    async def audit(
        actor: ActorDep, db: Pool,
        entity: Annotated[str | None, Query(description="post, series, event, campaign, account, calendar, survey")] = None,
        entity_id: str | None = None,
        by: Annotated[str | None, Query(description="Only what this actor did")] = None,
        start: FromQuery = None,
        end: ToQuery = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> AuditList:
        lo, hi = check_range(start, end, policy.timezone)
        async with db.acquire() as conn:
            return await audit_log.page(conn, entity=entity, entity_id=entity_id, actor=by, start=lo, end=hi,
                                        cursor=cursor, limit=limit)

    return api
