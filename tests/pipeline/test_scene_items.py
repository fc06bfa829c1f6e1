"""What an item says: one reading of time and pass for search, cubes and pairs."""

from __future__ import annotations

import datetime as dt

import pystac

from cohcube.pipeline.scene_items import gdal_env_for, item_time, pass_key, requester_pays


def _item(properties: dict[str, object], when: dt.datetime | None) -> pystac.Item:
    return pystac.Item("s", None, None, when, properties)


def test_item_time_is_utc_whatever_the_item_says() -> None:
    naive = _item({}, dt.datetime(2026, 3, 2, 23, 30))
    assert item_time(naive) == dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    aware = _item({}, dt.datetime(2026, 3, 3, 1, 30, tzinfo=plus_two))
    assert item_time(aware) == item_time(naive)
    ranged = _item(
        {"start_datetime": "2026-03-02T23:30:00Z", "end_datetime": "2026-03-02T23:31:00Z"}, None
    )
    assert item_time(ranged) == item_time(naive)


def test_slices_of_one_pass_share_its_key() -> None:
    props = {"sat:relative_orbit": 73, "sat:orbit_state": "ascending", "platform": "SENTINEL-1A"}
    first = _item(props, dt.datetime(2026, 3, 2, 16, 51, 30, tzinfo=dt.UTC))
    second = _item({**props, "platform": "sentinel-1a"}, dt.datetime(2026, 3, 2, 16, 51, 55))
    other_day = _item(props, dt.datetime(2026, 3, 14, 16, 51, 30, tzinfo=dt.UTC))
    assert (
        pass_key(first) == pass_key(second) == (73, "ascending", "sentinel-1a", dt.date(2026, 3, 2))
    )
    assert pass_key(other_day) != pass_key(first)


def test_requester_pays_items_get_the_gdal_header() -> None:
    v1 = pystac.Item("a", None, None, dt.datetime(2026, 1, 1), {"storage:requester_pays": True})
    v2 = pystac.Item("b", None, None, dt.datetime(2026, 1, 1), {})
    v2.add_asset(
        "vv",
        pystac.Asset(
            "s3://bucket/vv.tiff",
            extra_fields={"storage:schemes": {"aws": {"type": "aws-s3", "requester_pays": True}}},
        ),
    )
    free = pystac.Item("c", None, None, dt.datetime(2026, 1, 1), {})
    base = {"GDAL_HTTP_TIMEOUT": "10"}
    assert requester_pays(v1)
    assert requester_pays(v2)
    assert not requester_pays(free)
    assert gdal_env_for(v1, base) == {**base, "AWS_REQUEST_PAYER": "requester"}
    assert gdal_env_for(free, base) == base
