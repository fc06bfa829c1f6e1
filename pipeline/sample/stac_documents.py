"""STAC documents shaped like Planetary Computer's ``sentinel-1-rtc`` collection.

Used by the embedded sample catalog; the field names and values follow what
Planetary Computer publishes (sar, sat, proj, raster extensions; asset keys
``vv``/``vh``; float32 gamma0 COGs with nodata -32768).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from affine import Affine
from rasterio.crs import CRS

from cohcube.pipeline.grid import footprint

SAR = "https://stac-extensions.github.io/sar/v1.0.0/schema.json"
SAT = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
PROJ_V1 = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
PROJ_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
GAMMA0_NODATA = -32768.0
INTERNATIONAL_DESIGNATORS = {
    "SENTINEL-1A": "2014-016A",
    "SENTINEL-1B": "2016-025A",
    "SENTINEL-1C": "2024-235A",
}


def rtc_item(
    *,
    item_id: str,
    when: dt.datetime,
    platform: str,
    relative_orbit: int,
    absolute_orbit: int,
    orbit_state: str,
    crs: CRS,
    transform: Affine,
    shape: tuple[int, int],
    assets: dict[str, str],
    projection_v2: bool,
    collection: str = "sentinel-1-rtc",
) -> dict[str, Any]:
    """One gamma0 RTC item; ``assets`` maps ``vv``/``vh`` to hrefs."""
    geometry, bbox = footprint(crs, transform, shape)
    left, top = transform.c, transform.f
    proj: dict[str, Any] = {
        "proj:bbox": [left, top + transform.e * shape[0], left + transform.a * shape[1], top],
        "proj:shape": list(shape),
        "proj:transform": list(transform)[:6],
    }
    epsg = crs.to_epsg()
    if projection_v2:
        proj["proj:code"] = f"EPSG:{epsg}"
    else:
        proj["proj:epsg"] = epsg
    start = when - dt.timedelta(seconds=12)
    properties: dict[str, Any] = {
        "datetime": iso_time(when),
        "start_datetime": iso_time(start),
        "end_datetime": iso_time(start + dt.timedelta(seconds=25)),
        "platform": platform,
        "constellation": "Sentinel-1",
        "sar:frequency_band": "C",
        "sar:center_frequency": 5.405,
        "sar:observation_direction": "right",
        "sar:instrument_mode": "IW",
        "sar:polarizations": [k.upper() for k in assets],
        "sar:product_type": "GRD",
        "sar:resolution_range": 20,
        "sar:resolution_azimuth": 22,
        "sar:pixel_spacing_range": 10,
        "sar:pixel_spacing_azimuth": 10,
        "sar:looks_range": 5,
        "sar:looks_azimuth": 1,
        "sar:looks_equivalent_number": 4.4,
        "sat:orbit_state": orbit_state,
        "sat:relative_orbit": relative_orbit,
        "sat:absolute_orbit": absolute_orbit,
        "sat:platform_international_designator": INTERNATIONAL_DESIGNATORS.get(platform, ""),
        "s1:resolution": "high",
        "s1:processing_level": "1",
        "s1:product_timeliness": "Fast-24h",
        "s1:orbit_source": "POEORB",
        **proj,
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [SAR, SAT, PROJ_V2 if projection_v2 else PROJ_V1, RASTER],
        "id": item_id,
        "collection": collection,
        "geometry": geometry,
        "bbox": bbox,
        "properties": properties,
        "links": [],
        "assets": {key: _gamma0_asset(key, href) for key, href in assets.items()},
    }


def _gamma0_asset(key: str, href: str) -> dict[str, Any]:
    """One polarisation's gamma0 COG asset, as Planetary Computer describes it."""
    return {
        "href": href,
        "type": COG_TYPE,
        "title": f"{key.upper()}: vertical transmit, "
        f"{'vertical' if key == 'vv' else 'horizontal'} receive",
        "description": "Terrain-corrected gamma naught values (linear power).",
        "roles": ["data"],
        "raster:bands": [
            {"nodata": GAMMA0_NODATA, "data_type": "float32", "spatial_resolution": 10}
        ],
    }


def collection_document(
    collection_id: str,
    description: str,
    items: Sequence[dict[str, Any]],
    extensions: Sequence[str] = (SAR, SAT),
) -> dict[str, Any]:
    """A collection covering ``items`` (spatial and temporal extent from them)."""
    boxes = [i["bbox"] for i in items]
    times = sorted(
        t
        for i in items
        for t in (
            i["properties"].get("datetime"),
            i["properties"].get("start_datetime"),
            i["properties"].get("end_datetime"),
        )
        if t
    )
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": list(extensions),
        "id": collection_id,
        "description": description,
        "license": "CC-BY-4.0",
        "links": [],
        "extent": {
            "spatial": {
                "bbox": [
                    [
                        min(b[0] for b in boxes),
                        min(b[1] for b in boxes),
                        max(b[2] for b in boxes),
                        max(b[3] for b in boxes),
                    ]
                ]
            },
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
    }


def iso_time(when: dt.datetime) -> str:
    """STAC time text of ``when``: UTC, microseconds, ``Z``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
