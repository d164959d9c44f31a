"""Time zone names: only IANA zones every calendar resolves the same way (no `localtime`, `right/…`, `posix…`)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["localtime", "right/UTC", "posix/Europe/Paris", "posixrules"])
def test_every_zone_entry_point_takes_iana_names_only(name):
    from shared.domain.times import BadValue, parse_timezone

    with pytest.raises(BadValue):
        parse_timezone(name)
    assert parse_timezone("Europe/Paris") == "Europe/Paris"
