"""What the tests outside the services share: a free port for a service started as its own
process, and the programs from Debian packages that some tests drive (Chromium and chromedriver,
promtool and prometheus). ``.ci/run`` installs those and sets ``SIAR_REQUIRE_TOOLS=1``: there a
missing one fails the test, so CI never passes with a path skipped. Elsewhere — a newcomer's
first ``make test`` — the test is skipped, saying what to install."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def free_port() -> int:
    """A port nothing listens on now (the OS picks it), for a service about to start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(program: str, package: str) -> None:
    if shutil.which(program) is not None:
        return
    message = f"{program} is not installed (apt-get install {package}; .ci/run does)"
    if os.environ.get("SIAR_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)
