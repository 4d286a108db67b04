"""The survey page's form token: the page's GET puts one in a hidden field, and a POST is stored
only with one this service signed for this survey, neither too fresh (sent within seconds of
the page: a script) nor too old (a page left open for a day: reload it).

A token is ``v1.<issued, unix seconds>.<nonce>.<signature>``: an HMAC-SHA256 over the survey id,
the issue time and a random nonce, keyed by a key derived from SIAR_FEEDBACK_SECRET (so every
replica and a restarted service read each other's tokens). Another site cannot read a token out
of the page (no CORS, no script), so it cannot post the form for a patron; the nonce is stored
with the response it brought, so the same form posted twice (a double click) stores one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

FIELD = "form_token"
VERSION = "v1"
MAX_LENGTH = 200
CLOCK_SKEW = 60
"""Seconds a token may seem to come from the future (replicas' clocks differ a little)."""
NONCE_BYTES = 16


class Check(StrEnum):
    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"  # not ours, tampered with, or another survey's
    EXPIRED = "expired"
    TOO_FAST = "too_fast"


@dataclass(frozen=True)
class FormToken:
    value: str
    issued: int
    nonce: bytes


def key(secret: str) -> bytes:
    """The form tokens' own key, apart from the patron cookie's and the patron hashes'."""
    return hmac.new(secret.encode(), b"siar-feedback:form-token", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(form_key: bytes, survey_id: UUID, issued: int, nonce: str) -> str:
    message = f"{VERSION}:{survey_id}:{issued}:{nonce}".encode()
    return _b64(hmac.new(form_key, message, hashlib.sha256).digest())


def issue(form_key: bytes, survey_id: UUID, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    nonce = _b64(secrets.token_bytes(NONCE_BYTES))
    return f"{VERSION}.{issued}.{nonce}.{_signature(form_key, survey_id, issued, nonce)}"


def reissue(form_key: bytes, survey_id: UUID, token: FormToken, min_age: float, now: float | None = None) -> str:
    """The token for a form sent back with answers to correct: as old as ``token`` and at least
    ``min_age``, so the patron may send the corrected form at once (fixing one answer is quick);
    a new nonce, as nothing was stored with the old one."""
    now = now if now is not None else time.time()
    return issue(form_key, survey_id, now=min(token.issued, now - min_age))


def read(
    form_key: bytes, survey_id: UUID, value: object, *, min_age: float, max_age: float, now: float | None = None,
) -> tuple[Check, FormToken | None]:
    """What a posted token is worth; the token itself when it is this service's for this survey
    (also when too fresh: its clock keeps running, so the patron may send the same form again)."""
    if not isinstance(value, str) or not value:
        return Check.MISSING, None
    if len(value) > MAX_LENGTH:
        return Check.INVALID, None
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[1].isascii() or not parts[1].isdigit():
        return Check.INVALID, None
    _, issued_text, nonce_text, signature = parts
    issued = int(issued_text)
    expected = _signature(form_key, survey_id, issued, nonce_text)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return Check.INVALID, None
    try:
        nonce = _unb64(nonce_text)
    except (binascii.Error, ValueError):
        return Check.INVALID, None
    if len(nonce) != NONCE_BYTES:
        return Check.INVALID, None
    token = FormToken(value, issued, nonce)
    age = (now if now is not None else time.time()) - issued
    if age > max_age or age < -CLOCK_SKEW:
        return Check.EXPIRED, token
    if age < min_age:
        return Check.TOO_FAST, token
    return Check.OK, token
