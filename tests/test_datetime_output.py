"""API datetimes are written by a faster field (sessions_app.serializers.UTCDateTimeField) that must write exactly
what DRF's own DateTimeField writes, for every kind of value the database can hand back."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import serializers

from sessions_app.serializers import UTCDateTimeField


@pytest.mark.parametrize("value", [
    datetime(2026, 11, 25, 16, 8, 44, 790801, tzinfo=UTC),
    datetime(2026, 11, 25, 16, 8, 44, tzinfo=UTC),  # no microseconds: no fraction written
    datetime(2026, 1, 1, 1, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),  # another offset: converted to UTC
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    None,
])
def test_the_fast_datetime_field_writes_what_drf_writes(value):
    assert UTCDateTimeField().to_representation(value) == serializers.DateTimeField().to_representation(value)


def test_an_explicit_format_is_still_honoured():
    value = datetime(2026, 11, 25, 16, 8, 44, tzinfo=UTC)
    assert UTCDateTimeField(format="%Y-%m-%d").to_representation(value) == "2026-11-25"
