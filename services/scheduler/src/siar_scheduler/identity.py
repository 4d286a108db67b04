"""Who is calling: a stable, non-secret id for the API token and its role.

The id is the chassis' ``Caller.actor_id`` (siar_runtime.auth): the token's first characters
and a short SHA-256 fingerprint (``siar…3fa9c1d2``), the same in every service, so the review
rule "nobody approves their own post" also holds for a survey announcement the feedback service
says its creator wrote."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends
from siar_runtime.audit import SYSTEM_ACTOR, SYSTEM_ROLE
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


SYSTEM = Actor(SYSTEM_ACTOR, SYSTEM_ROLE)
"""The scheduler itself (a post not approved by its time, a series extended)."""


def actor_dependency(auth: Callable[..., Caller]) -> Callable[..., Actor]:
    # A default, not Annotated: with postponed annotations FastAPI could not resolve the local ``auth``.
    def dependency(caller: Caller = Depends(auth)) -> Actor:  # noqa: B008
        return Actor(id=caller.actor_id, role=caller.role)

    return dependency


def require_reviewer(actor: Actor) -> None:
    if not actor.may_review:
        raise Problem(
            403,
            "Not allowed",
            f"approving and sending back is for reviewers; this token's role is {actor.role}",
            type_=TYPE_BASE + "forbidden",
        )
