"""Bearer-token auth with roles. Tokens come from ``SIAR_API_TOKENS`` as ``token:role`` pairs
separated by commas (roles: editor, reviewer, admin); an admin may do everything."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .problems import TYPE_BASE, Problem

ROLES = ("editor", "reviewer", "admin")


@dataclass(frozen=True)
class Caller:
    token_name: str
    role: str
    actor_id: str = ""
    """Who this is in audit logs and authorship, the same in every service: the token's first
    four characters and eight hex digits of its SHA-256 (``siar…3fa9c1d2``), stable across
    restarts, distinct per token, and revealing nothing a log line could misuse."""


def actor_id(token: str) -> str:
    return f"{token[:4]}…{hashlib.sha256(token.encode()).hexdigest()[:8]}"


def parse_tokens(spec: str) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        token, _, role = part.rpartition(":")
        if not token:
            token, role = role, "admin"
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} in SIAR_API_TOKENS (roles: {', '.join(ROLES)})")
        if len(token) < 8:
            raise ValueError("an API token must be at least 8 characters long")
        tokens[token] = role
    return tokens


PRODUCTION_TOKEN_LENGTH = 24
"""The shortest API token production accepts. An actor's id in the audit log, readable by every
role, is a token's first four characters and eight hex digits of its SHA-256: from a short token
the rest could be found by trying; from 20 unknown random characters it cannot."""


def check_production_tokens(tokens: dict[str, str]) -> None:
    """Raises ValueError for a token production must not run with: the development token (or any
    ``siar-dev-`` one of .env.example) or one shorter than :data:`PRODUCTION_TOKEN_LENGTH`."""
    if any(token.startswith("siar-dev-") for token in tokens):
        raise ValueError("SIAR_API_TOKENS still holds the development token; set real tokens")
    short = [token[:4] + "…" for token in tokens if len(token) < PRODUCTION_TOKEN_LENGTH]
    if short:
        raise ValueError(f"SIAR_API_TOKENS: a token must be at least {PRODUCTION_TOKEN_LENGTH} characters in production "
                         f"({', '.join(short)} is shorter); make one with openssl rand -hex 24")


# Declares the scheme in every OpenAPI document (``components.securitySchemes``, and ``security``
# on each operation that needs a token), so clients and tools know how to authenticate; the
# check itself stays below, to answer with problem details rather than FastAPI's plain 403.
_SCHEME = HTTPBearer(auto_error=False, description="An API token from SIAR_API_TOKENS")


def bearer_auth(tokens: dict[str, str]) -> Callable[..., Caller]:
    """A FastAPI dependency that answers 401 with problem details unless a known token is sent."""

    def dependency(request: Request,
                   _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_SCHEME)] = None) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem(
                401,
                "Not authenticated",
                "Send an API token as 'Authorization: Bearer <token>'.",
                type_=TYPE_BASE + "unauthenticated",
                headers={"WWW-Authenticate": "Bearer"},
            )
        for known, role in tokens.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                return Caller(token_name=known[:4] + "…", role=role, actor_id=actor_id(known))
        raise Problem(
            401,
            "Not authenticated",
            "The API token is not known to this Siar.",
            type_=TYPE_BASE + "unauthenticated",
            headers={'WWW-Authenticate': 'Bearer error="invalid_token"'},
        )

    return dependency
