"""Results: counts per question and channel, average rating, CSAT, NPS, and free-text answers as
CSV that a spreadsheet cannot mistake for formulas."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from zoneinfo import ZoneInfo

import asyncpg

from . import store
from .answers import SCALES
from .schemas import Breakdown, QuestionIn, QuestionResult, Results, Survey


def average(counts: Mapping[int, int]) -> float | None:
    n = sum(counts.values())
    return round(sum(score * c for score, c in counts.items()) / n, 2) if n else None


def csat(counts: Mapping[int, int]) -> float | None:
    """Percent of 1-5 ratings that are 4 or 5 (satisfied or very satisfied)."""
    n = sum(counts.values())
    return round(100 * sum(c for score, c in counts.items() if score >= 4) / n, 1) if n else None


def nps(counts: Mapping[int, int]) -> float | None:
    """Percent promoters (9-10) minus percent detractors (0-6), from -100 to 100."""
    n = sum(counts.values())
    if not n:
        return None
    promoters = sum(c for score, c in counts.items() if score >= 9)
    detractors = sum(c for score, c in counts.items() if score <= 6)
    return round(100 * (promoters - detractors) / n, 1)


def _values(question: QuestionIn) -> list[str]:
    if question.kind in SCALES:
        low, high = SCALES[question.kind]
        return [str(v) for v in range(low, high + 1)]
    return [o.key for o in question.options]


def _breakdown(question: QuestionIn, answered: int, counts: Mapping[str, int]) -> Breakdown:
    result = Breakdown(answered=answered)
    if question.kind == "text":
        return result
    result.counts = {v: counts.get(v, 0) for v in _values(question)}
    if question.kind in SCALES:
        scores = {int(v): c for v, c in result.counts.items()}
        result.average = average(scores)
        if question.kind == "rating":
            result.csat = csat(scores)
        else:
            result.nps = nps(scores)
    return result


def build(
    survey: Survey,
    channel_rows: Iterable[Mapping],
    answered_rows: Iterable[Mapping],
    count_rows: Iterable[Mapping],
) -> Results:
    by_channel = {r["channel"]: r["n"] for r in channel_rows}
    responses = sum(by_channel.values())
    answered: dict[str, dict[str, int]] = defaultdict(dict)
    for r in answered_rows:
        answered[r["question_key"]][r["channel"]] = r["n"]
    counts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for r in count_rows:
        counts[r["question_key"]][r["channel"]][r["value"]] = r["n"]

    questions: list[QuestionResult] = []
    ratings: dict[int, int] = defaultdict(int)
    scores: dict[int, int] = defaultdict(int)
    for q in survey.questions:
        per_channel = counts.get(q.key, {})
        total: dict[str, int] = defaultdict(int)
        for channel_counts in per_channel.values():
            for value, n in channel_counts.items():
                total[value] += n
        n_answered = sum(answered.get(q.key, {}).values())
        overall = _breakdown(q, n_answered, total)
        questions.append(QuestionResult(
            key=q.key, kind=q.kind, text=q.text, skipped=responses - n_answered,
            **overall.model_dump(),
            by_channel={
                channel: _breakdown(q, n, per_channel.get(channel, {}))
                for channel, n in sorted(answered.get(q.key, {}).items())
            },
        ))
        if q.kind == "rating":
            for value, n in total.items():
                ratings[int(value)] += n
        elif q.kind == "nps":
            for value, n in total.items():
                scores[int(value)] += n
    return Results(
        survey_id=survey.survey_id,
        slug=survey.slug,
        status=survey.status,
        responses=responses,
        by_channel=dict(sorted(by_channel.items())),
        average_rating=average(ratings),
        csat=csat(ratings),
        nps=nps(scores),
        questions=questions,
    )


async def results(conn: asyncpg.Connection, survey: Survey) -> Results:
    return build(
        survey,
        await store.channel_counts(conn, survey.survey_id),
        await store.answered_counts(conn, survey.survey_id),
        await store.answer_counts(conn, survey.survey_id),
    )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula (=, +, -, @, or a
    tab or line break before one) gets a leading apostrophe, as OWASP advises."""
    text = "" if value is None else str(value)
    if text.lstrip(" ")[:1] in FORMULA_STARTS and text.lstrip(" "):
        return "'" + text
    return text


CSV_HEADER = ("response_id", "submitted_at", "channel", "question_key", "question", "answer")


def _csv_cells(texts: Mapping[str, str], zone: ZoneInfo, r: Mapping) -> list[str]:
    return [
        safe_cell(r["response_id"]),
        # In the survey's own zone, the offset kept: a spreadsheet shows the library's hour.
        safe_cell(r["submitted_at"].astimezone(zone).isoformat()),
        safe_cell(r["channel"]),
        safe_cell(r["question_key"]),
        safe_cell(texts.get(r["question_key"], "")),
        safe_cell(r["text"]),
    ]


def text_answers_csv(survey: Survey, rows: Iterable[Mapping], lang: str = "id") -> str:
    """Free-text answers, one per row; UTF-8 with a byte-order mark so spreadsheets read it right."""
    texts = {q.key: q.text.get(lang) for q in survey.questions}
    zone = ZoneInfo(survey.timezone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow(_csv_cells(texts, zone, r))
    return "\ufeff" + out.getvalue()


async def stream_text_answers_csv(
    survey: Survey, rows: AsyncIterable[Mapping], lang: str = "id", *, chunk_chars: int = 64 * 1024,
) -> AsyncIterator[str]:
    """The same CSV as text_answers_csv, in pieces of about ``chunk_chars`` as the rows arrive."""
    texts = {q.key: q.text.get(lang) for q in survey.questions}
    zone = ZoneInfo(survey.timezone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow(CSV_HEADER)
    async for r in rows:
        writer.writerow(_csv_cells(texts, zone, r))
        if out.tell() >= chunk_chars:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
