"""Checking a patron's answers against a survey's questions: one rule book for the page, the API
and events. Values arrive as the page sends them (strings, lists of strings) or as JSON (numbers,
strings, lists); what comes out is typed, trimmed and safe to store."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .schemas import TEXT_MAX, AnswerValue, QuestionIn

SCALES = {"rating": (1, 5), "nps": (0, 10)}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Answer:
    score: int | None = None
    choices: tuple[str, ...] | None = None
    text: str | None = None

    def value(self, kind: str) -> AnswerValue:
        if self.score is not None:
            return self.score
        if self.choices is not None:
            return self.choices[0] if kind == "single_choice" else list(self.choices)
        return self.text or ""


class Invalid(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(_blank(v) for v in value)
    return False


def _one(value: Any) -> Any:
    if isinstance(value, list | tuple):
        present = [v for v in value if not _blank(v)]
        if len(present) != 1:
            raise Invalid("one_only")
        return present[0]
    return value


def _score(value: Any, kind: str) -> int:
    value = _one(value)
    if isinstance(value, bool):
        raise Invalid("not_a_number")
    if isinstance(value, str):
        value = value.strip()
        if not re.fullmatch(r"-?\d{1,3}", value):
            raise Invalid("not_a_number")
        value = int(value)
    if not isinstance(value, int):
        raise Invalid("not_a_number")
    low, high = SCALES[kind]
    if not low <= value <= high:
        raise Invalid("out_of_range")
    return value


def _choices(value: Any, question: QuestionIn) -> tuple[str, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    if question.kind == "single_choice":
        values = [_one(values)]
    known = {o.key for o in question.options}
    chosen: list[str] = []
    for v in values:
        if _blank(v):
            continue
        if not isinstance(v, str) or v.strip() not in known:
            raise Invalid("unknown_option")
        if v.strip() not in chosen:
            chosen.append(v.strip())
    return tuple(chosen)


def clean_text(value: str) -> str:
    """Trimmed, with Windows line ends made plain and control characters (NUL among them,
    which PostgreSQL refuses) removed; everything else is kept exactly as typed."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _text(value: Any) -> str:
    value = _one(value)
    if not isinstance(value, str):
        raise Invalid("not_text")
    text = clean_text(value)
    if len(text) > TEXT_MAX:
        raise Invalid("too_long")
    return text


def check(
    questions: Iterable[QuestionIn], raw: Mapping[str, Any], *, strict: bool = True
) -> tuple[dict[str, Answer], dict[str, str]]:
    """The answers that hold, and an error code per question key for those that do not.

    ``strict`` also reports keys that name no question (the API and events; the page ignores
    form fields it did not ask for)."""
    questions = list(questions)
    answers: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for q in questions:
        value = raw.get(q.key)
        if _blank(value):
            if q.required:
                errors[q.key] = "required"
            continue
        try:
            if q.kind in SCALES:
                answers[q.key] = Answer(score=_score(value, q.kind))
            elif q.kind == "text":
                text = _text(value)
                if text:
                    answers[q.key] = Answer(text=text)
                elif q.required:
                    errors[q.key] = "required"
            else:
                chosen = _choices(value, q)
                if chosen:
                    answers[q.key] = Answer(choices=chosen)
                elif q.required:
                    errors[q.key] = "required"
        except Invalid as exc:
            errors[q.key] = exc.code
    if strict:
        known = {q.key for q in questions}
        for key in raw:
            if key not in known:
                errors[key] = "unknown_question"
    return answers, errors


def as_values(questions: Iterable[QuestionIn], answers: Mapping[str, Answer]) -> dict[str, AnswerValue]:
    kinds = {q.key: q.kind for q in questions}
    return {key: answer.value(kinds[key]) for key, answer in answers.items()}
