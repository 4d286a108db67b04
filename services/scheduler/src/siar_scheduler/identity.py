"""Who is calling: a stable, non-secret id for the API token and its role.

The chassis names a caller by the first characters of its token only, so two tokens that begin
alike would look like one person; the review rule "nobody approves their own post" needs better.
The id adds a short SHA-256 fingerprint of the token (``siar…3fa9c1d2``): stable across restarts,
distinct per token, and revealing nothing a log line could misuse."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from siar_runtime.auth import Caller
from siar_runtime.problems import TYPE_BASE, Problem

REVIEWERS = ("reviewer", "admin")


@dataclass(frozen=True)
class Actor:
    id: str
    role: str

    @property
    def may_review(self) -> bool:
        return self.role in REVIEWERS


SYSTEM = Actor("siar", "system")
"""The scheduler itself (a post not approved by its time, a series extended)."""


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def actor_dependency(auth: Callable[..., Caller]) -> Callable[..., Actor]:
    # A default, not Annotated: with postponed annotations FastAPI could not resolve the local ``auth``.
    def dependency(request: Request, caller: Caller = Depends(auth)) -> Actor:  # noqa: B008
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        return Actor(id=f"{caller.token_name}{fingerprint(token)}", role=caller.role)

    return dependency


def require_reviewer(actor: Actor) -> None:
    if not actor.may_review:
        raise Problem(
            403,
            "Not allowed",
            f"approving and sending back is for reviewers; this token's role is {actor.role}",
            type_=TYPE_BASE + "forbidden",
        )
