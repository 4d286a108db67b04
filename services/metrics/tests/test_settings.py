"""The service's settings refuse what would fail later, saying what is wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from siar_metrics.settings import MetricsSettings


@pytest.mark.parametrize("name", ["Asia/Palembang", "Asia", "a" * 300, "../etc/passwd", ""])
def test_a_time_zone_that_is_not_an_iana_zone_is_refused_at_start(name):
    # "Asia" is a directory of the tz database (IsADirectoryError), 300 letters too long a file
    # name (OSError): both escaped as a traceback instead of this message.
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        MetricsSettings(timezone=name)


def test_the_librarys_zone_is_taken():
    assert MetricsSettings(timezone="Asia/Makassar").timezone == "Asia/Makassar"
