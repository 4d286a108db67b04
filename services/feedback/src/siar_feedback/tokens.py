"""The survey page's form token: the page's GET puts one in a hidden field, and a POST is stored
only with one this service signed for this survey, neither too fresh (sent within seconds of
the page: a script) nor too old (a page left open for a day: reload it).

A token is ``v1.<issued, unix seconds>.<nonce>.<signature>``: an HMAC-SHA256 over the survey id,
the issue time and a random nonce, keyed by a key derived from SIAR_FEEDBACK_SECRET (so every
replica and a restarted service read each other's tokens). Another site cannot read a token out
of the page (no CORS, no script), so it cannot post the form for a patron; the nonce is stored
with the response it brought, so the same form posted twice (a double click) stores one.

A form the service sends back to be sent again (answers to correct, a refused token) carries a
token marked ``again`` (``v1.<issued>.<nonce>.again.<signature>``, the mark under the HMAC too):
the minimum time does not hold for it, as fixing one answer is quick. Only the service sets the
mark. When the posted token was this service's and still usable, the form comes back with
``again(token)``: the same nonce and the same issue time, so one page view still brings at most
one response and its age still counts from the page view; only a token that can never be used
(missing, not ours, expired) is replaced by a new nonce."""

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
AGAIN = "again"
"""The mark of a token on a form the service sent back: no minimum time."""


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
    again: bool = False


def key(secret: str) -> bytes:
    """The form tokens' own key, apart from the patron cookie's and the patron hashes'."""
    return hmac.new(secret.encode(), b"siar-feedback:form-token", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(form_key: bytes, survey_id: UUID, issued: int, nonce: str, again: bool) -> str:
    message = f"{VERSION}:{survey_id}:{issued}:{nonce}" + (f":{AGAIN}" if again else "")
    return _b64(hmac.new(form_key, message.encode(), hashlib.sha256).digest())


def _token(form_key: bytes, survey_id: UUID, issued: int, nonce: str, again: bool) -> str:
    mark = f".{AGAIN}" if again else ""
    return f"{VERSION}.{issued}.{nonce}{mark}.{_signature(form_key, survey_id, issued, nonce, again)}"


def issue(form_key: bytes, survey_id: UUID, now: float | None = None, *, again: bool = False) -> str:
    """A new token (a new nonce) issued ``now``; ``again`` for a form sent back in place of one
    whose token can never be used, so the patron may send it at once."""
    issued = int(now if now is not None else time.time())
    return _token(form_key, survey_id, issued, _b64(secrets.token_bytes(NONCE_BYTES)), again)


def again(form_key: bytes, survey_id: UUID, token: FormToken) -> str:
    """The token for a form sent back with ``token`` (a valid one of this survey) to be sent again:
    the same nonce and issue time, marked so the minimum time does not hold."""
    return _token(form_key, survey_id, token.issued, _b64(token.nonce), True)


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
    marked = len(parts) == 5 and parts[3] == AGAIN
    if (len(parts) != 4 and not marked) or parts[0] != VERSION or not parts[1].isascii() or not parts[1].isdigit():
        return Check.INVALID, None
    issued_text, nonce_text, signature = parts[1], parts[2], parts[-1]
    issued = int(issued_text)
    expected = _signature(form_key, survey_id, issued, nonce_text, marked)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return Check.INVALID, None
    try:
        nonce = _unb64(nonce_text)
    except (binascii.Error, ValueError):
        return Check.INVALID, None
    if len(nonce) != NONCE_BYTES:
        return Check.INVALID, None
    token = FormToken(value, issued, nonce, marked)
    age = (now if now is not None else time.time()) - issued
    if age > max_age or age < -CLOCK_SKEW:
        return Check.EXPIRED, token
    if age < min_age and not marked:
        return Check.TOO_FAST, token
    return Check.OK, token
