"""The public survey page: server-rendered HTML that works without JavaScript, in the patron's
language, with errors next to each question and every answer the patron gave kept.

A POST is stored only with the form token the page's GET put in the form (tokens.py): a script
must load the page for each response and wait, another site cannot post the form for a patron
(it cannot read the token; browsers that say a POST is cross-site are refused too), and the same
form sent twice stores one response. A POST without a valid token gets the form back, answers
kept, with a message and a new token that may be sent at once; a form sent back with a token that
is still usable (answers to correct, a cross-site post) keeps that token's nonce and issue time,
so one page view brings at most one response however often its form comes back. Each client
address has its own rate limit (clients.py).

Jinja2 escapes every value (autoescape on for every template), so a patron's text is shown as
text and never becomes markup; the Content-Security-Policy allows no script at all."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlencode

import asyncpg
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from starlette.datastructures import FormData

from . import answers, channels, clients, i18n, responses, store, tokens
from .answers import SCALES
from .patrons import COOKIE, COOKIE_MAX_AGE, cookie_token, new_cookie, patron_hash
from .schemas import SLUG, TEXT_MAX, Localized, QuestionIn, Survey
from .settings import FeedbackSettings

HONEYPOT = "homepage"
CROSS_SITE = frozenset({"cross-site", "same-site"})
"""Sec-Fetch-Site values the page's own form never sends (it posts to its own origin)."""
FORM_TYPE = "application/x-www-form-urlencoded"
"""What the page's own form sends (it has no file inputs); anything else is refused (415)."""
MAX_FORM_BYTES = 256 * 1024
"""Far above any honest form (50 questions of 2,000 characters); larger posts are refused, unread
when they say their length, and read no further than this when they do not (chunked)."""
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Vary": "Accept-Language, Cookie",
}
CSS = files("siar_feedback").joinpath("static/survey.css").read_bytes()

templates = Environment(
    loader=PackageLoader("siar_feedback", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def localize(text: Localized | None, lang: str) -> str | Markup:
    """The text in ``lang``; Indonesian marked as such where the English is missing."""
    if text is None:
        return ""
    if lang == "en" and not text.en:
        return Markup('<span lang="id">{}</span>').format(text.id)  # format() escapes the text
    return text.get(lang)


@dataclass
class Option:
    id: str
    value: str
    checked: bool
    label: Localized | None = None
    extra: str | None = None


@dataclass
class QuestionView:
    key: str
    kind: str
    text: Localized
    plain: str
    required: bool
    help: Localized | None
    identifying: bool
    name: str
    first_id: str
    scale: bool
    options: list[Option] = field(default_factory=list)
    low: str = ""
    high: str = ""
    text_value: str = ""
    error: str | None = None
    describedby: str = ""


def _view(q: QuestionIn, lang: str, values: list[str], error: str | None) -> QuestionView:
    t = i18n.words(lang)
    view = QuestionView(
        key=q.key, kind=q.kind, text=q.text, plain=q.text.get(lang), required=q.required, help=q.help,
        identifying=q.identifying, name=f"q_{q.key}", first_id=f"q-{q.key}", scale=q.kind in SCALES,
        error=i18n.error_message(error, lang, q.kind) if error else None,
    )
    if q.kind in SCALES:
        low, high = SCALES[q.kind]
        words = ("rating_low", "rating_high") if q.kind == "rating" else ("nps_low", "nps_high")
        view.low, view.high = f"{low} = {t[words[0]]}", f"{high} = {t[words[1]]}"
        view.options = [
            Option(
                id=f"q-{q.key}-{v}", value=str(v), checked=str(v) in values,
                extra=t[words[0]] if v == low else t[words[1]] if v == high else None,
            )
            for v in range(low, high + 1)
        ]
        view.first_id = view.options[0].id
    elif q.kind in ("single_choice", "multiple_choice"):
        view.options = [
            Option(id=f"q-{q.key}-{o.key}", value=o.key, checked=o.key in values, label=o.label)
            for o in q.options
        ]
        view.first_id = view.options[0].id
    else:
        view.text_value = values[0] if values else ""
    described = [
        f"hint-{q.key}" if q.help else "",
        f"any-{q.key}" if q.kind == "multiple_choice" else "",
        f"privacy-{q.key}" if q.identifying else "",
        f"err-{q.key}" if error else "",
    ]
    view.describedby = " ".join(d for d in described if d)
    return view


@dataclass
class PageContext:
    """What every page of one request shares: language, channel and where the links go."""

    request: Request
    lang: str
    explicit: bool
    channel: str

    @classmethod
    def of(cls, request: Request) -> PageContext:
        lang, explicit = i18n.negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
        return cls(request, lang, explicit, channels.clamp(request.query_params.get("ch")))

    def query(self, *, lang: str | None = None, explicit: bool | None = None) -> str:
        params = {}
        if self.channel != channels.DIRECT:
            params["ch"] = self.channel
        if explicit if explicit is not None else self.explicit:
            params["lang"] = lang or self.lang
        return f"?{urlencode(params)}" if params else ""

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        other = "en" if self.lang == "id" else "id"
        html = templates.get_template(template).render(
            lang=self.lang,
            other_lang=other,
            t=i18n.words(self.lang),
            switch_url=self.request.url.path + self.query(lang=other, explicit=True),
            loc=lambda text: localize(text, self.lang),
            max_text=TEXT_MAX,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS | {"Content-Language": self.lang})

    def notice(self, status: int, heading: str, *paragraphs: str) -> HTMLResponse:
        return self.render("notice.html", status, page_title=heading, heading=heading, paragraphs=paragraphs)

    def not_found(self) -> HTMLResponse:
        t = i18n.words(self.lang)
        return self.notice(404, t["not_found_title"], t["not_found_body"])


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_form(request: Request) -> FormData | None:
    """The posted form, or None when it is larger than MAX_FORM_BYTES: a declared Content-Length
    over the limit is refused unread, and the body is counted as it arrives, so a chunked body
    (no Content-Length) or one longer than declared stops at the limit too."""
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = 0  # the server refuses a malformed length before the app sees it
    if declared > MAX_FORM_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    # Browsers percent-encode what they send as UTF-8 (the page's encoding); like Starlette's own
    # form parser, bytes that are not UTF-8 become U+FFFD rather than an error.
    return FormData(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _form_values(survey: Survey, form: FormData | None) -> dict[str, list[str]]:
    if form is None:
        return {}
    return {
        q.key: [v for v in form.getlist(f"q_{q.key}") if isinstance(v, str)] for q in survey.questions
    }


def router(settings: FeedbackSettings) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    secret = settings.feedback_secret
    form_key = tokens.key(secret)
    proxies = settings.trusted_proxies

    def new_token(survey: Survey) -> str:
        return tokens.issue(form_key, survey.survey_id)

    def client_of(request: Request) -> bytes:
        peer = request.client.host if request.client else None
        address = clients.client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)
        return clients.client_hash(secret, address)

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.db.pool

    async def load(request: Request, slug: str) -> Survey | None:
        if not _valid_slug(slug):
            return None
        async with pool(request).acquire() as conn:
            survey = await store.get_survey(conn, slug, count=False)
        return None if survey is None or survey.status == "draft" else survey

    def unavailable(page: PageContext, survey: Survey) -> HTMLResponse | None:
        t = i18n.words(page.lang)
        if survey.status == "scheduled":
            body = (t["not_yet_body"].format(when=i18n.format_when(survey.opens_at, survey.timezone, page.lang))
                    if survey.opens_at else t["not_yet_soon"])
            return page.notice(200, t["not_yet_title"], body)
        if not responses.accepting(survey):
            return page.notice(410, t["closed_title"], t["closed_body"])
        return None

    def form(
        page: PageContext, survey: Survey, *, token: str, status: int = 200,
        values: dict[str, list[str]] | None = None, errors: dict[str, str] | None = None, busy: bool = False,
        notice: str | None = None,
    ) -> HTMLResponse:
        values, errors = values or {}, errors or {}
        closes = (
            i18n.words(page.lang)["closes"].format(when=i18n.format_when(survey.closes_at, survey.timezone, page.lang))
            if survey.closes_at else None
        )
        return page.render(
            "survey.html", status,
            page_title=survey.title.get(page.lang),
            survey=survey,
            questions=[_view(q, page.lang, values.get(q.key, []), errors.get(q.key)) for q in survey.questions],
            errors=errors,
            busy=busy,
            notice=notice,
            token_field=tokens.FIELD,
            token=token,
            action=f"/s/{survey.slug}" + page.query(),
            closes=closes,
        )

    def remember(response: Response, cookie: str | None) -> Response:
        if cookie:
            response.set_cookie(
                COOKIE, cookie, max_age=COOKIE_MAX_AGE, path="/s/", httponly=True, samesite="lax",
                secure=settings.secure_cookies,
            )
        return response

    @pages.get("/s/{slug}")
    async def show(slug: str, request: Request) -> Response:
        page = PageContext.of(request)
        survey = await load(request, slug)
        if survey is None:
            return page.not_found()
        if (closed := unavailable(page, survey)) is not None:
            return closed
        if not survey.one_response_per_patron:
            return form(page, survey, token=new_token(survey))
        token = cookie_token(secret, request.cookies.get(COOKIE))
        if token is not None:
            async with pool(request).acquire() as conn:
                answered = await store.has_answered(conn, survey.survey_id, patron_hash(secret, survey.survey_id, token))
            if answered:
                t = i18n.words(page.lang)
                return page.notice(200, t["already_title"], t["already_body"])
            return form(page, survey, token=new_token(survey))
        return remember(form(page, survey, token=new_token(survey)), new_cookie(secret))

    @pages.post("/s/{slug}")
    async def submit(slug: str, request: Request) -> Response:
        page = PageContext.of(request)
        survey = await load(request, slug)
        if survey is None:
            return page.not_found()
        if (closed := unavailable(page, survey)) is not None:
            return closed
        metrics = request.app.state.metrics
        t = i18n.words(page.lang)
        if _media_type(request) != FORM_TYPE:
            return page.notice(415, t["unsupported_title"], t["unsupported_body"])
        data = await _read_form(request)
        if data is None:
            return page.notice(413, t["too_large_title"], t["too_large_body"])
        thanks = RedirectResponse(f"/s/{survey.slug}/thanks?{urlencode({'lang': page.lang})}", status_code=303)
        if str(data.get(HONEYPOT) or "").strip():
            metrics.refuse("honeypot", "page")
            return thanks  # a bot learns nothing; nothing is stored
        values = _form_values(survey, data)
        check, token = tokens.read(
            form_key, survey.survey_id, data.get(tokens.FIELD),
            min_age=settings.survey_form_min_seconds, max_age=settings.survey_form_max_age_seconds,
        )
        cross_site = request.headers.get("sec-fetch-site", "").lower() in CROSS_SITE
        if token is None or check is tokens.Check.EXPIRED or cross_site:
            metrics.refuse("form_token", "page")
            notice = "form_expired" if check is tokens.Check.EXPIRED and not cross_site else "form_invalid"
            if token is not None and check is not tokens.Check.EXPIRED:
                # Still usable (a cross-site post): the same token, never a second nonce for one view.
                renewed = token.value
            else:
                # Nothing can ever be stored with it: a new nonce, to be sent at once (no minimum time).
                renewed = tokens.issue(form_key, survey.survey_id, again=True)
            return form(page, survey, status=403, values=values, token=renewed, notice=notice)
        found, errors = answers.check(survey.questions, values, strict=False)
        if errors:
            metrics.refuse("invalid", "page")
            # The same nonce and issue time (one page view, one response), marked: fixing is quick.
            corrected = tokens.again(form_key, survey.survey_id, token)
            return form(page, survey, status=422, values=values, errors=errors, token=corrected)
        if check is tokens.Check.TOO_FAST:
            # The same token again: its clock keeps running, so the patron's next press is taken.
            metrics.refuse("too_fast", "page")
            return form(page, survey, status=403, values=values, token=token.value, notice="form_too_fast")
        cookie = None
        key = None
        if survey.one_response_per_patron:
            key = cookie_token(secret, request.cookies.get(COOKIE))
            if key is None:
                cookie = new_cookie(secret)
                key = cookie_token(secret, cookie)
        result = await responses.submit(pool(request), survey, responses.Submission(
            channel=page.channel, source="page", answers=found, patron_key=key, language=page.lang,
            client=client_of(request), form_nonce=token.nonce,
        ), secret=secret, client_limit=settings.survey_client_limit_per_minute)
        metrics.observe(result)
        if result.outcome is responses.Outcome.ACCEPTED:
            request.app.state.wake()
            return remember(thanks, cookie)
        if result.outcome is responses.Outcome.RESUBMITTED:
            return remember(thanks, cookie)  # the first press was taken; this one stores nothing
        if result.outcome is responses.Outcome.DUPLICATE:
            return page.notice(409, t["already_title"], t["already_body"])
        if result.outcome is responses.Outcome.RATE_LIMITED:
            busy = form(page, survey, status=429, values=values, busy=True, token=token.value)
            busy.headers["Retry-After"] = "60"
            return remember(busy, cookie)
        return page.notice(410, t["closed_title"], t["closed_body"])

    @pages.get("/s/{slug}/thanks")
    async def thanks(slug: str, request: Request) -> Response:
        page = PageContext.of(request)
        survey = await load(request, slug)
        if survey is None:
            return page.not_found()
        t = i18n.words(page.lang)
        return page.render("thanks.html", page_title=t["thanks_title"], survey=survey)

    @pages.get("/static/survey.css")
    async def stylesheet() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    return pages


def _valid_slug(slug: str) -> bool:
    return re.fullmatch(SLUG, slug) is not None
