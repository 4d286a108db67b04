"""The feedback service's HTTP API (OpenAPI at /docs and /openapi.json). A survey is named in a
path by its id or its slug."""

from collections.abc import AsyncIterator
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from siar_runtime import audit as audit_log
from siar_runtime.auth import Caller
from siar_runtime.problems import TYPE_BASE, Problem

from . import answers, channels, responses, results, store, surveys
from .i18n import API_MESSAGES
from .schemas import (
    OpenRequest,
    ResponseIn,
    ResponseOut,
    Results,
    Survey,
    SurveyCreate,
    SurveyList,
    SurveyUpdate,
)
from .settings import FeedbackSettings

PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}
SurveyRef = Annotated[str, Path(max_length=100, description="The survey's id or slug")]


def router(auth, settings: FeedbackSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=ERRORS)  # tags per route: the audit log is not "surveys"
    CallerDep = Annotated[Caller, Depends(auth)]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.db.pool

    Pool = Annotated[asyncpg.Pool, Depends(pool)]

    def linked(survey: Survey) -> Survey:
        return surveys.with_links(survey, settings.base_url)

    async def find(db: asyncpg.Pool, ref: str, *, count: bool = True) -> Survey:
        async with db.acquire() as conn:
            survey = await store.get_survey(conn, surveys.survey_ref(ref), count=count)
        if survey is None:
            raise Problem(404, "Not found", f"no survey {ref}", type_=TYPE_BASE + "not-found")
        return survey

    audit_log.add_route(api, CallerDep, Pool, what="who created, changed, opened and closed which survey, when",
                        entities="survey")

    @api.post("/surveys", tags=["surveys"], status_code=201, response_model=Survey, summary="Define a survey (as a draft)")
    async def create(body: SurveyCreate, response: Response, caller: CallerDep, db: Pool) -> Survey:
        survey = await surveys.create_survey(db, body, actor=caller)
        response.headers["Location"] = f"/v1/surveys/{survey.survey_id}"
        return linked(survey)

    @api.get("/surveys", tags=["surveys"], response_model=SurveyList, summary="Surveys, newest first")
    async def list_(
        caller: CallerDep,
        db: Pool,
        status: Literal["draft", "scheduled", "open", "closed"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> SurveyList:
        async with db.acquire() as conn:
            found = await store.list_surveys(conn, status, limit)
        return SurveyList(surveys=[linked(s) for s in found])

    @api.get("/surveys/{survey}", tags=["surveys"], response_model=Survey, summary="A survey with its links per channel")
    async def read(survey: SurveyRef, caller: CallerDep, db: Pool) -> Survey:
        return linked(await find(db, survey))

    @api.patch(
        "/surveys/{survey}", tags=["surveys"], response_model=Survey,
        summary="Change a survey (its questions only while it is a draft)",
        description=(
            "Only the fields given change. Questions change only while the survey is a draft. A closed "
            "survey changes only its dates (opens_at, closes_at, timezone): to open one closed by its "
            "closing date again, set a later closes_at here, then POST …/open. An open survey cannot move "
            "its opens_at into the future (409 already-open): close it, set the date, and open it again "
            "to have it wait as scheduled. A scheduled survey keeps an opens_at (409 survey-scheduled)."
        ),
    )
    async def update(survey: SurveyRef, body: SurveyUpdate, request: Request, caller: CallerDep, db: Pool) -> Survey:
        updated = await surveys.update_survey(db, surveys.survey_ref(survey), body, actor=caller)
        request.app.state.wake()
        return linked(updated)

    @api.post(
        "/surveys/{survey}/open", tags=["surveys"], response_model=Survey,
        summary="Open a survey now, or at its opening date; emits survey.opened with its links",
        description=(
            "A draft or closed survey opens now, or becomes scheduled when its opens_at is ahead. Opening "
            "an open or scheduled survey again changes nothing (a scheduled one takes a new announce "
            "list). A survey whose closes_at has passed does not open (409 closing-date-passed): PATCH a "
            "later closes_at first, which a closed survey allows."
        ),
    )
    async def open_(
        survey: SurveyRef, request: Request, caller: CallerDep, db: Pool, body: OpenRequest | None = None
    ) -> Survey:
        opened = await surveys.open_survey(
            db, surveys.survey_ref(survey), base_url=settings.base_url, announce=body.announce if body else None,
            actor=caller,
        )
        request.app.state.wake()
        return linked(opened)

    @api.post("/surveys/{survey}/close", tags=["surveys"], response_model=Survey,
              summary="Close a survey; emits survey.closed with its headline results")
    async def close(survey: SurveyRef, request: Request, caller: CallerDep, db: Pool) -> Survey:
        closed = await surveys.close_survey(db, surveys.survey_ref(survey), actor=caller)
        request.app.state.wake()
        return linked(closed)

    @api.post("/surveys/{survey}/responses", tags=["surveys"], status_code=201, response_model=ResponseOut,
              summary="Hand in a patron's response (a kiosk, a form elsewhere)")
    async def respond(survey: SurveyRef, body: ResponseIn, request: Request, caller: CallerDep, db: Pool) -> ResponseOut:
        found = await find(db, survey, count=False)
        checked, errors = answers.check(found.questions, body.answers)
        metrics = request.app.state.metrics
        if errors:
            metrics.refuse("invalid", "api")
            problems = [
                {"field": f"answers.{key}", "message": API_MESSAGES.get(code, code), "code": code}
                for key, code in sorted(errors.items())
            ]
            raise Problem(422, "Invalid answers", "; ".join(f"{e['field']}: {e['message']}" for e in problems),
                          type_=TYPE_BASE + "invalid-answers", errors=problems)
        if found.one_response_per_patron and not body.patron_key:
            metrics.refuse("invalid", "api")
            raise Problem(422, "Patron key required",
                          "this survey takes one response per patron: send a patron_key that stays the same "
                          "for the same patron (a hash of their chat id, say)",
                          type_=TYPE_BASE + "validation", errors=[{"field": "patron_key", "message": "required"}])
        result = await responses.submit(db, found, responses.Submission(
            channel=channels.clamp(body.channel), source="api", answers=checked, patron_key=body.patron_key,
        ), secret=settings.feedback_secret)
        metrics.observe(result)
        if result.outcome is responses.Outcome.NOT_OPEN:
            raise Problem(409, "Survey not open", f"survey {found.slug!r} is not taking responses",
                          type_=TYPE_BASE + "survey-not-open")
        if result.outcome is responses.Outcome.DUPLICATE:
            raise Problem(409, "Already answered", "this patron has already answered the survey",
                          type_=TYPE_BASE + "duplicate-response")
        request.app.state.wake()
        assert result.response is not None
        return result.response

    @api.get("/surveys/{survey}/results", tags=["surveys"], response_model=Results,
             summary="Counts per question and channel, average rating, CSAT and NPS")
    async def results_(survey: SurveyRef, caller: CallerDep, db: Pool) -> Results:
        found = await find(db, survey, count=False)
        async with db.acquire() as conn:
            return await results.results(conn, found)

    @api.get(
        "/surveys/{survey}/answers.csv", tags=["surveys"],
        response_class=Response,
        summary="Free-text answers as CSV (cells that would start a formula are quoted); admins only",
        description="Patrons' own words, which may hold personal data (a name, a phone number): only a token "
                    "with the admin role reads them. Everyone on the team reads the counts and scores (results).",
        responses={200: {"content": {"text/csv": {}}, "description": "One row per free-text answer"},
                   403: PROBLEM},
    )
    async def export(
        survey: SurveyRef,
        caller: CallerDep,
        db: Pool,
        question: Annotated[str | None, Query(max_length=40, description="Only this question's answers")] = None,
        lang: Literal["id", "en"] = "id",
    ) -> Response:
        if caller.role != "admin":
            raise Problem(403, "Not allowed", f"only an admin may read patrons' free-text answers (this token's role is"
                          f" {caller.role}); the results give every role the counts and scores",
                          type_=TYPE_BASE + "forbidden")
        found = await find(db, survey, count=False)
        if question is not None and found.question(question) is None:
            raise Problem(404, "Not found", f"survey {found.slug!r} has no question {question!r}",
                          type_=TYPE_BASE + "not-found")

        async def rows() -> AsyncIterator[str]:
            # One connection and a read-only transaction for as long as the download runs; a
            # cursor reads a few hundred rows at a time, so memory stays the same however many.
            async with db.acquire() as conn, conn.transaction(readonly=True):
                async for chunk in results.stream_text_answers_csv(
                    found, store.text_answers(conn, found.survey_id, question), lang,
                ):
                    yield chunk

        return StreamingResponse(
            rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{found.slug}-answers.csv"'},
        )

    return api
