"""Every way ZoneInfo refuses a name is one UnknownZone, saying what a zone looks like."""

from __future__ import annotations

import pytest
from siar_runtime.zones import UnknownZone, zone


@pytest.mark.parametrize("name", ["Mars/Olympus", "Asia", "Asia/", "a" * 300, "../etc/passwd", "", "zone.tab"])
def test_every_name_that_is_not_a_zone_is_one_error(name):
    with pytest.raises(UnknownZone, match="is not an IANA time zone"):
        zone(name)


def test_a_zone_is_taken():
    assert zone("Asia/Makassar").key == "Asia/Makassar"
