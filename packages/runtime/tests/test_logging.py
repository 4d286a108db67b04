"""A failure's log line always says what failed, even for exceptions without a message."""

from __future__ import annotations

from siar_runtime.logging import describe


def test_an_exception_with_a_message_is_its_message():
    assert describe(ConnectionError("connection refused")) == "connection refused"


def test_an_exception_without_one_is_named_by_its_type():
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(KeyError()) == "KeyError"
