"""What a Sentinel-1 STAC item says about its scene: time, CRS, extent, pass, storage.

The one reading of these fields for search, cube building and pairing, so
the three always agree (e.g. on time zones: a naive time is taken as UTC).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pystac


def item_time(item: pystac.Item) -> dt.datetime:
    """Acquisition time of ``item`` as an aware UTC datetime.

    ``datetime``, or ``start_datetime`` where ``datetime`` is null; a time
    without a zone is taken as UTC.
    """
    when = item.datetime or pystac.utils.str_to_datetime(item.properties["start_datetime"])
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def pass_key(item: pystac.Item) -> tuple[Any, ...]:
    """Scenes of one pass share it: relative orbit, direction, platform (lower case), UTC day."""
    props = item.properties
    return (
        props.get("sat:relative_orbit"),
        props.get("sat:orbit_state"),
        str(props.get("platform", "")).lower(),
        item_time(item).date(),
    )


def item_epsg(item: pystac.Item) -> int | None:
    """EPSG code from ``proj:epsg`` or ``proj:code`` (projection v2), item or first asset."""
    sources = [item.properties, *(a.extra_fields for a in item.assets.values())]
    for source in sources:
        if source.get("proj:epsg") is not None:
            return int(source["proj:epsg"])
        code = source.get("proj:code")
        if isinstance(code, str) and code.upper().startswith("EPSG:"):
            return int(code.split(":", 1)[1])
    return None


def native_bounds(item: pystac.Item) -> tuple[float, float, float, float] | None:
    """``(left, bottom, right, top)`` in the item's CRS from proj:bbox or transform + shape."""
    props = item.properties
    if "proj:bbox" in props:
        left, bottom, right, top = (float(v) for v in props["proj:bbox"][:4])
        return (left, bottom, right, top)
    if "proj:transform" in props and "proj:shape" in props:
        a, _, c, _, e, f = (float(v) for v in props["proj:transform"][:6])
        rows, cols = props["proj:shape"]
        ys = (f, f + e * rows)
        return (c, min(ys), c + a * cols, max(ys))
    return None


def requester_pays(item: pystac.Item) -> bool:
    """Whether the item's assets are requester-pays objects (the reader pays the transfer).

    Storage extension v1 (``storage:requester_pays``) or v2 (``storage:schemes``, to
    which pystac migrates v1 items on reading), on the item or any asset.
    """
    fields = [item.properties, *(a.extra_fields for a in item.assets.values())]
    for field in fields:
        if field.get("storage:requester_pays"):
            return True
        schemes = field.get("storage:schemes") or {}
        if any(isinstance(s, dict) and s.get("requester_pays") for s in schemes.values()):
            return True
    return False


def gdal_env_for(item: pystac.Item, base: dict[str, str]) -> dict[str, str]:
    """GDAL settings for reading ``item``'s rasters: ``base`` plus the requester-pays header."""
    return {**base, "AWS_REQUEST_PAYER": "requester"} if requester_pays(item) else dict(base)


def pass_coords(passes: Sequence[Sequence[pystac.Item]]) -> dict[str, Any]:
    """Per-time coordinates of a cube whose time steps are ``passes`` (each its slices, the
    first one naming the pass): ``time`` (naive UTC), ``relative_orbit``, ``orbit_state``,
    ``platform`` (lower case), ``scene_ids``."""
    first = [group[0] for group in passes]
    return {
        "time": [np.datetime64(item_time(i).replace(tzinfo=None), "ns") for i in first],
        "relative_orbit": ("time", [i.properties.get("sat:relative_orbit") for i in first]),
        "orbit_state": ("time", [i.properties.get("sat:orbit_state") for i in first]),
        "platform": ("time", [str(i.properties.get("platform", "")).lower() for i in first]),
        "scene_ids": ("time", [",".join(i.id for i in group) for group in passes]),
    }
