"""Masking credentials in text that is stored, logged or emitted (delivery details, reasons).

Platform credentials travel in URLs: Telegram puts the bot token in the path
(``/bot123456:SECRET/sendMessage``), the Graph APIs put ``access_token`` in the query, and signed
media URLs carry their signature there. An error message that quotes such a URL must not carry
them on into ``deliveries.detail``, events or logs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"

# Query parameters (and key=value pairs in text) whose value is a credential.
_SECRET_NAMES = frozenset({
    "access_token", "input_token", "client_secret", "refresh_token", "fb_exchange_token",
    "token", "sig", "signature", "x-amz-signature", "x-amz-credential", "x-goog-signature",
    "x-goog-credential", "auth", "authorization", "apikey", "api_key", "api-key", "password", "secret",
})  # fmt: skip
# Only in a URL's query: an OAuth authorisation code, an API key. In an error body "code" is the
# platform's error code (190, "access_token_invalid") — what explains the failure.
_URL_SECRET_NAMES = frozenset({"code", "key"})
_SECRET_PARTS = ("token", "secret", "password", "passwd", "signature", "credential")
# Names with a secret's word in them that hold none: token_type, token_count, expires_in…
_NOT_SECRET_ENDINGS = ("_type", "_count", "_expires_in", "_expires_at", "_expiry")


def secret_name(name: str, *, in_url: bool = False) -> bool:
    lowered = name.strip().lower()
    if lowered in _SECRET_NAMES or (in_url and lowered in _URL_SECRET_NAMES):
        return True
    return any(part in lowered for part in _SECRET_PARTS) and not lowered.endswith(_NOT_SECRET_ENDINGS)


# A Telegram path segment ``bot<token>`` (the token is ``<bot id>:<secret>``; the colon may be encoded).
_BOT_SEGMENT = re.compile(r"(?i)^bot.*(:|%3a)")
_BOT_IN_TEXT = re.compile(r"(?i)\bbot\d+(?::|%3a)[^/\s?#'\"<>]*")
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>.,;:!?)\]]")  # not the sentence's stop
_PAIR_IN_TEXT = re.compile(r"(?<![\w.\-])([\w.\-]+)=([^&\s#'\"<>]*[^&\s#'\"<>.,;:!?)\]])")
_JSON_PAIR = re.compile(r"([\"'])([\w.\-]+)\1(\s*:\s*)([\"'])((?:(?!\4)[^\\]|\\.)*)\4")  # JSON, or a dict's repr
_BEARER = re.compile(r"(?i)\b(bearer|oauth)\s+[\w.~+/=-]{8,}")


def _query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        parts.append(f"{name}={MASK}" if eq and secret_name(unquote_plus(name), in_url=True) else part)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """``url`` without its credentials: user info, a Telegram ``bot<token>`` path segment, the
    values of credential query parameters; the fragment is dropped (it is never sent)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return redact_text(url, urls=False)
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    path = "/".join(f"bot{MASK}" if _BOT_SEGMENT.match(s) else s for s in parts.path.split("/"))
    return urlunsplit((parts.scheme, netloc, path, _query(parts.query), ""))


def redact_text(text: str, secrets: Iterable[str | None] = (), *, urls: bool = True) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`, ``bot<token>`` and
    ``name=value`` / ``"name": "value"`` pairs of credential names masked, and each of
    ``secrets`` (an account's credential values, as given or percent-encoded) masked wherever
    it appears."""
    for secret in sorted({str(s) for s in secrets if s and len(str(s)) >= 6}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, MASK)
    if urls:
        text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _BOT_IN_TEXT.sub(f"bot{MASK}", text)
    text = _PAIR_IN_TEXT.sub(lambda m: f"{m.group(1)}={MASK}" if secret_name(m.group(1)) else m.group(0), text)
    text = _JSON_PAIR.sub(lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}{MASK}{m[4]}" if secret_name(m[2]) else m[0],
                          text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact(text: str | None, secrets: Iterable[str | None] = ()) -> str | None:
    """:func:`redact_text` for an optional detail."""
    return None if text is None else redact_text(text, secrets)


def url_secrets(url: str) -> list[str]:
    """The credential values in ``url`` (as written and decoded), for masking them in text that
    may quote the URL in another encoding."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [f(s[3:]) for s in parts.path.split("/") if _BOT_SEGMENT.match(s) for f in (str, unquote)]
    if "@" in parts.netloc:
        found.append(parts.netloc.rpartition("@")[0])
    for part in parts.query.split("&"):
        name, eq, value = part.partition("=")
        if eq and value and secret_name(unquote_plus(name), in_url=True):
            found += [value, unquote_plus(value)]
    return found


def credential_values(credentials: Mapping[str, Any] | None) -> list[str]:
    """The secret values of an account's credentials (tokens, secrets, passwords), for
    :func:`redact_text`: a platform's answer may echo one back."""
    return [str(v) for k, v in (credentials or {}).items() if v and secret_name(k) and isinstance(v, str | int)]
