"""Telling a patron's second response from a first one without knowing who the patron is.

On the page a patron carries a random token in a signed cookie (set only by surveys that allow
one response per patron); elsewhere the caller chooses a stable key (a chat bot might hash the
chat id). Neither is stored: only an HMAC of it keyed by the service's secret and the survey id,
so the stored value cannot be turned back into the key nor matched across surveys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

COOKIE = "siar_patron"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def _mac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


def new_cookie(secret: str) -> str:
    token = secrets.token_urlsafe(18)
    signature = base64.urlsafe_b64encode(_mac(secret, f"patron:{token}")[:18]).decode()
    return f"{token}.{signature}"


def cookie_token(secret: str, cookie: str | None) -> str | None:
    """The token of a cookie this service signed, or None for a missing or forged one."""
    if not cookie or len(cookie) > 200:
        return None
    token, _, signature = cookie.partition(".")
    expected = base64.urlsafe_b64encode(_mac(secret, f"patron:{token}")[:18]).decode()
    if not token or not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    return token


def patron_hash(secret: str, survey_id: UUID, key: str) -> bytes:
    return _mac(secret, f"survey:{survey_id}:{key}")
