"""The short fault matrix that CI runs (the full one is `make faults`): each fault during a
burst of posts over three Mastodon and two Telegram accounts, checked against what the sandbox
received, and the metrics service's readings of the published posts. Nothing lost, nothing
duplicated, nothing unexpected, no reading lost or stored twice; a failure only with a reason."""

from __future__ import annotations

import os

import pytest

from bench.faults import DISRUPTIVE, FAULTS, run_one

pytestmark = pytest.mark.e2e

POSTS = int(os.environ.get("SIAR_FAULT_MATRIX_POSTS", "400"))
SHORT = ["kill-scheduler", "kill-publisher-repeatedly", "kill-metrics-repeatedly", "terminate-backends", "sandbox-429",
         "sandbox-timeout-after-commit", "idle-in-transaction", "poison"]
# Restarting the machine's PostgreSQL or RabbitMQ disturbs anything else running on it, so these
# run where nothing else does: in CI, or when asked for.
if os.environ.get("CI") == "true" or os.environ.get("SIAR_FAULTS_DISRUPTIVE") == "1":
    SHORT += sorted(DISRUPTIVE)


@pytest.mark.parametrize("fault", SHORT)
def test_fault_loses_and_duplicates_nothing(fault):
    assert fault in FAULTS
    outcome = run_one(fault, 1, POSTS, settle_timeout=180)
    assert outcome.lost == 0, outcome
    assert outcome.duplicated == 0, outcome
    assert outcome.unexpected == 0, outcome
    assert outcome.unexplained_failures == 0, outcome
    assert outcome.readings > 0, outcome  # the metrics service took its readings of the burst
    assert outcome.readings_lost == 0, outcome
    assert outcome.samples_doubled == 0, outcome
    if outcome.recovery_seconds is not None:
        assert outcome.recovery_seconds < 30, outcome  # processing resumes within 30 s
