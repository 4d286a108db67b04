"""`make run` (python -m siar_devstack) hands the operator's SIAR_ settings to every service, as
the README's configuration table promises; only the addresses the stack owns are its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from siar_devstack.__main__ import DEV_TOKEN, demo_token, settings_given
from siar_devstack.stack import Stack

GIVEN = {
    "SIAR_REVIEW_REQUIRED": "true",
    "SIAR_API_TOKENS": "editor-token-0001:editor,admin-token-0001:admin,reviewer-token-01:reviewer",
    "SIAR_DATABASE_URL": "postgresql://elsewhere/siar",  # the stack's own: not passed on as given
    "SIAR_HTTP_PORT": "9999",
    "PATH": "/usr/bin",
}


def test_the_operators_settings_reach_every_service(tmp_path: Path):
    stack = Stack(database_url="postgresql://postgres@127.0.0.1:5432/siar_x", log_dir=tmp_path,
                  extra_env=settings_given(GIVEN))  # fmt: skip
    for name in ("scheduler", "publisher", "metrics", "feedback", "sandbox"):
        env = stack.env_for(name)
        assert env["SIAR_REVIEW_REQUIRED"] == "true" and env["SIAR_API_TOKENS"] == GIVEN["SIAR_API_TOKENS"]
        assert env["SIAR_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/siar_x"
        assert env["SIAR_HTTP_PORT"] == str(stack.ports[name])
    # The quick start's one-minute first reading, unless a schedule is given.
    assert settings_given({})["SIAR_COLLECTION_SCHEDULE"].startswith("1m,")
    assert settings_given({"SIAR_COLLECTION_SCHEDULE": "1h,1d"})["SIAR_COLLECTION_SCHEDULE"] == "1h,1d"


def test_the_demo_accounts_are_registered_with_an_admin_token_the_services_know():
    assert demo_token({}) == DEV_TOKEN
    assert demo_token(GIVEN) == "admin-token-0001"
    # The command line's own token is used only when the services will take it as an admin's.
    assert demo_token({**GIVEN, "SIAR_API_TOKEN": "mine-mine-mine"}) == "admin-token-0001"
    assert demo_token({"SIAR_API_TOKEN": "mine-mine-mine"}) == DEV_TOKEN
    two = {"SIAR_API_TOKENS": "first-admin-01:admin,second-admin-02:admin", "SIAR_API_TOKEN": "second-admin-02"}
    assert demo_token(two) == "second-admin-02"
    with pytest.raises(ValueError, match="no admin token"):
        demo_token({"SIAR_API_TOKENS": "editor-token-0001:editor"})
    with pytest.raises(ValueError, match="unknown role"):
        demo_token({"SIAR_API_TOKENS": "x-token-0001:boss"})
