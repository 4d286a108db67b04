"""Programs from Debian packages that some tests drive (Chromium and chromedriver, promtool and
prometheus). ``.ci/run`` installs them and sets ``SIAR_REQUIRE_TOOLS=1``: there a missing one
fails the test, so CI never passes with a path skipped. Elsewhere — a newcomer's first
``make test`` — the test is skipped, saying what to install."""

from __future__ import annotations

import os
import shutil

import pytest


def require(program: str, package: str) -> None:
    if shutil.which(program) is not None:
        return
    message = f"{program} is not installed (apt-get install {package}; .ci/run does)"
    if os.environ.get("SIAR_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)
