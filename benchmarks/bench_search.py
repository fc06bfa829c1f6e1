"""Search at continental scale: a year of Sentinel-1 RTC items over Europe on a real STAC API.

    python benchmarks/bench_search.py             # 30 000 items, Europe, 20 km tiles
    python benchmarks/bench_search.py --items 5000

Writes synthetic items shaped like Planetary Computer's ``sentinel-1-rtc``
(footprints of IW frames along ascending and descending tracks over Europe,
Sentinel-1A and -1C 6 days apart, a year; VV/VH COG assets with
``raster:bands``, ``proj:*``, ``sat:*``, ``sar:*``), serves them with
``rustac serve`` on loopback (stopped by PID), then times and measures:
search (pystac-client, paged), the spatial index over the footprints, the
assignment of every scene to the tiles of a Europe-wide region, and
``cohcube plan`` on the same job. Prints seconds and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from cohcube.flows.job_config import ProcessConfig
from cohcube.flows.plan import plan_job, plan_table
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.tile_scenes import SceneIndex
from cohcube.pipeline.tiles import TileGrid, tiles_for_region, utm_epsg

EUROPE = (-10.0, 36.0, 30.0, 70.0)
YEAR = "2026-01-01T00:00:00Z/2026-12-31T23:59:59Z"


def _frame(lon: float, lat: float, heading_deg: float) -> list[list[float]]:
    """A tilted ~250 x 170 km IW frame around (lon, lat), as a GeoJSON ring."""
    half_along, half_across = 1.1, 1.25 / max(math.cos(math.radians(lat)), 0.2)
    h = math.radians(heading_deg)
    corners = []
    for a, c in ((-1, -1), (-1, 1), (1, 1), (1, -1), (-1, -1)):
        dlat = a * half_along * math.cos(h) - c * 0.77 * math.sin(h)
        dlon = (a * half_along * math.sin(h) + c * half_across * math.cos(h)) * 0.9
        corners.append([round(lon + dlon, 5), round(lat + dlat, 5)])
    return corners


def _item(
    track: int, state: str, lon: float, lat: float, when: dt.datetime, platform: str
) -> dict[str, Any]:
    stamp = when.strftime("%Y%m%dT%H%M%S")
    name = f"S1{platform[-1]}_IW_GRDH_1SDV_{stamp}_{stamp}_{track:06d}_{int(lat * 100):06d}"
    ring = _frame(lon, lat, -12.0 if state == "ascending" else 192.0)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    zone = int((lon + 180) // 6) + 1
    epsg = utm_epsg(zone, True)
    href = f"https://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/GRD/{when:%Y/%m/%d}/IW/DV/{name}"
    band = {"nodata": -32768, "data_type": "float32", "spatial_resolution": 10}
    asset = lambda pol: {  # noqa: E731
        "href": f"{href}/measurement/iw-{pol}.rtc.tiff",
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"],
        "title": f"{pol.upper()}: vertical transmit, {pol[1].upper()} receive",
        "raster:bands": [band],
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
            "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": name,
        "collection": "sentinel-1-rtc",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "start_datetime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "end_datetime": (when + dt.timedelta(seconds=25)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "platform": platform,
            "constellation": "Sentinel-1",
            "sar:instrument_mode": "IW",
            "sar:frequency_band": "C",
            "sar:polarizations": ["VV", "VH"],
            "sar:product_type": "GRD",
            "sar:observation_direction": "right",
            "sat:orbit_state": state,
            "sat:relative_orbit": track,
            "sat:platform_international_designator": "2014-016A",
            "proj:epsg": epsg,
            "proj:shape": [21000, 28000],
            "proj:transform": [10.0, 0.0, 400000.0, 0.0, -10.0, 7000000.0],
            "s1:processing_level": "1",
            "s1:product_timeliness": "Fast-24h",
        },
        "assets": {"vv": asset("vv"), "vh": asset("vh")},
        "links": [
            {
                "rel": "collection",
                "href": "https://planetarycomputer.microsoft.com/api/stac/v1/collections/sentinel-1-rtc",
            },
        ],
    }


def synthetic_items(count: int) -> list[dict[str, Any]]:
    """``count`` items: tracks x frames x acquisitions over Europe in 2026."""
    start = dt.datetime(2026, 1, 1, 5, 0, tzinfo=dt.UTC)
    acquisitions = 60  # S1A and S1C, 6 days apart, one year
    frames_per_track = 16
    tracks = max(1, math.ceil(count / (acquisitions * frames_per_track)))
    items: list[dict[str, Any]] = []
    for t in range(tracks):
        state = "ascending" if t % 2 else "descending"
        lon0 = EUROPE[0] + (t + 0.5) * (EUROPE[2] - EUROPE[0]) / tracks
        for k in range(acquisitions):
            platform = "SENTINEL-1A" if k % 2 == 0 else "SENTINEL-1C"
            day = start + dt.timedelta(days=6 * k, minutes=3 * t)
            for f in range(frames_per_track):
                lat = EUROPE[1] + 1.0 + f * 2.0
                lon = lon0 + (lat - 50.0) * 0.2
                items.append(
                    _item(
                        1 + 11 * t % 175,
                        state,
                        lon,
                        lat,
                        day + dt.timedelta(seconds=25 * f),
                        platform,
                    )
                )
                if len(items) == count:
                    return items
    return items


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _collection() -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": "sentinel-1-rtc",
        "description": "Sentinel-1 RTC (synthetic, Planetary Computer-shaped)",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [list(EUROPE)]},
            "temporal": {"interval": [[YEAR.split("/")[0], None]]},
        },
        "links": [],
    }


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--tile-px", type=int, default=2048)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cohcube-search-"))
    items = synthetic_items(args.items)
    (work / "collection.json").write_text(json.dumps(_collection()))
    (work / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    del items
    port = _free_port()
    rustac = Path(sys.executable).with_name("rustac")
    server = subprocess.Popen(
        [
            str(rustac if rustac.exists() else "rustac"),
            "serve",
            str(work / "collection.json"),
            str(work / "items.json"),
            "--addr",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/collections", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        region = {
            "type": "Polygon",
            "coordinates": [
                [
                    [EUROPE[0], EUROPE[1]],
                    [EUROPE[2], EUROPE[1]],
                    [EUROPE[2], EUROPE[3]],
                    [EUROPE[0], EUROPE[3]],
                    [EUROPE[0], EUROPE[1]],
                ]
            ],
        }
        before = peak_mib()
        start = time.perf_counter()
        scenes = search_scenes(url, SceneQuery(intersects=region, datetime=YEAR), timeout_s=120)
        searched = time.perf_counter() - start
        start = time.perf_counter()
        tiles = tiles_for_region(region, TileGrid(tile_px=args.tile_px))
        gridded = time.perf_counter() - start
        start = time.perf_counter()
        index = SceneIndex(scenes)
        assigned = sum(len(index.of_tile(tile, 96)[0]) for tile in tiles)
        indexed = time.perf_counter() - start
        print(
            f"{len(scenes)} items found over Europe {list(EUROPE)} in 2026 "
            "(rustac serve on loopback)"
        )
        print(f"search (paged): {searched:6.1f} s")
        print(f"tile grid: {len(tiles)} tiles of {args.tile_px} px x 10 m: {gridded:6.1f} s")
        print(f"spatial index + assignment ({assigned} tile-scene pairs): {indexed:6.1f} s")
        print(f"search + assignment: {searched + gridded + indexed:6.1f} s (target < 120 s)")
        print(f"peak RSS: {peak_mib():.0f} MiB (before the search {before:.0f} MiB; target < 2 GB)")
        config = ProcessConfig.model_validate(
            {
                "region": {"bbox": list(EUROPE)},
                "catalog": url,
                "time": {"start": YEAR.split("/")[0], "end": YEAR.split("/")[1]},
                "grid": {"tile_px": args.tile_px},
                "output": {"store": str(work / "europe.zarr")},
            }
        )
        start = time.perf_counter()
        plan = plan_job(config, workers=64)
        print(f"\ncohcube plan ({time.perf_counter() - start:.1f} s):")
        print(plan_table(plan, Path("europe.yaml")))
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
