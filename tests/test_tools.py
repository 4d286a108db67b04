"""tests/tools.require: a missing program skips a test with what to install, or fails it where
.ci/run (which installs them) requires the tools."""

from __future__ import annotations

import pytest

from tests.tools import require


def test_a_missing_program_skips_saying_what_to_install(monkeypatch):
    monkeypatch.delenv("SIAR_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no-such-program-siar is not installed \(apt-get install pkg"):
        require("no-such-program-siar", "pkg")


def test_a_missing_program_fails_where_the_tools_are_required(monkeypatch):
    monkeypatch.setenv("SIAR_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-program-siar is not installed"):
        require("no-such-program-siar", "pkg")


def test_a_present_program_passes(monkeypatch):
    monkeypatch.setenv("SIAR_REQUIRE_TOOLS", "1")
    require("sh", "dash")
