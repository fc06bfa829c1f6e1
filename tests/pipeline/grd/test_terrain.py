"""Terrain geocoding of GRD scenes: a DEM found through STAC, foreshortening undone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from support.grd_scenes import EPSG, GRID, MAP, WHEN, N, smooth_sigma0, subpixel_shift

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.errors import GridError
from cohcube.pipeline.grd.product_xml import GroundControlPoint
from cohcube.pipeline.grd.terrain import DemSource, find_dem, geoid_offset_from_gcps
from cohcube.pipeline.sample.grd_documents import ProductHeader
from cohcube.pipeline.sample.grd_scenes import (
    RadarGeometry,
    grd_item,
    radar_image,
    write_grd_product,
)

MARGIN = 160  # DEM pixels beyond the map on each side (foreshortening reaches ~80 px)


def hills() -> tuple[np.ndarray, Affine]:
    """Heights above the ellipsoid on the map grid plus a margin: two hills of 600 and 900 m."""
    size = N + 2 * MARGIN
    yy, xx = np.mgrid[0:size, 0:size] - MARGIN
    height = 600 * np.exp(-((xx - 120) ** 2 + (yy - 150) ** 2) / (2 * 50**2))
    height += 900 * np.exp(-((xx - 280) ** 2 + (yy - 260) ** 2) / (2 * 70**2))
    transform = MAP @ Affine.translation(-MARGIN, -MARGIN)
    return height.astype(np.float32), transform


def write_dem(path: Path, height: np.ndarray, transform: Affine) -> Path:
    """``height`` as a float32 COG in the test's UTM zone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="COG",
        height=height.shape[0],
        width=height.shape[1],
        count=1,
        dtype="float32",
        crs=CRS.from_epsg(EPSG),
        transform=transform,
        nodata=-32767.0,
    ) as dst:
        dst.write(height, 1)
    return path


def dem_catalog(folder: Path) -> Path:
    """A one-tile cop-dem-glo-30-like collection (local ItemCollection) of ``hills``."""
    height, transform = hills()
    path = write_dem(folder / "dem" / "Copernicus_DSM_COG_10_TEST_DEM.tif", height, transform)
    with rasterio.open(path) as dem:
        west, south, east, north = rasterio.warp.transform_bounds(dem.crs, "EPSG:4326", *dem.bounds)
    item = pystac.Item(
        "Copernicus_DSM_COG_10_TEST_DEM",
        {
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        },
        [west, south, east, north],
        dt.datetime(2021, 4, 22, tzinfo=dt.UTC),
        {},
        collection="cop-dem-glo-30",
    )
    item.add_asset("data", pystac.Asset(str(path), roles=["data"]))
    catalog = folder / "dem" / "items.json"
    catalog.write_text(json.dumps({"type": "FeatureCollection", "features": [item.to_dict()]}))
    return catalog


def hilly_scene(folder: Path, sigma0: np.ndarray) -> pystac.Item:
    height, _ = hills()
    dem_on_map = height[MARGIN:-MARGIN, MARGIN:-MARGIN]
    geometry = RadarGeometry.covering(MAP, (N, N), "ascending", 10.0)
    image = radar_image(sigma0, MAP, geometry, 0, geometry.shape[0], order=1, dem=dem_on_map)
    gcps = geometry.gcps(EPSG, 0, geometry.shape[0])
    header = ProductHeader("S1A", "VV", WHEN, WHEN + dt.timedelta(seconds=25), 62_000, "001")
    files = write_grd_product(folder, header, "ascending", image, gcps, 10.0)
    return pystac.Item.from_dict(
        grd_item(
            product_id=f"S1A_IW_GRDH_1SDV_{folder.name}",
            when=WHEN,
            platform="SENTINEL-1A",
            relative_orbit=73,
            absolute_orbit=62_000,
            orbit_state="ascending",
            gcps=gcps,
            shape=geometry.shape,
            files=files,
        )
    )


def test_a_dem_undoes_foreshortening(tmp_path: Path) -> None:
    truth = smooth_sigma0()
    item = hilly_scene(tmp_path / "A", truth)
    bbox = rasterio.warp.transform_bounds(f"EPSG:{EPSG}", "EPSG:4326", *GRID.bounds)
    dem = find_dem(str(dem_catalog(tmp_path)), bbox)
    terrain = build_cube([item], ("vv",), grid=GRID, chunk_px=128, dem=dem, geoid_offset_m=0.0)
    assert "terrain heights from cop-dem-glo-30 (1 tiles)" in terrain.attrs["geocoding"]
    ellipsoid = build_cube([item], ("vv",), grid=GRID, chunk_px=128)
    inner = (slice(16, -16), slice(16, -16))
    want = truth[0][inner]
    with_dem = terrain.values[0, 0][inner]
    without = ellipsoid.values[0, 0][inner]
    error_db = np.abs(10 * np.log10(with_dem / want))
    assert np.median(error_db) < 0.1
    assert np.all(np.abs(subpixel_shift(np.log(with_dem), np.log(want))) < 0.5)
    # On the ellipsoid the hills' slopes land up to ~90 px towards the sensor; with the DEM
    # what is left on them is the radar's coarser sampling of slopes facing it.
    height = hills()[0][MARGIN:-MARGIN, MARGIN:-MARGIN][inner]
    high = height > 300
    misplaced = np.nanmedian(np.abs(10 * np.log10(without[high] / want[high])))
    assert np.median(error_db[high]) < 0.5
    assert misplaced > 5 * np.median(error_db[high])


def test_geoid_offset_from_gcps(tmp_path: Path) -> None:
    height, transform = hills()
    # Orthometric = ellipsoidal - 30 m (the geoid undulation).
    write_dem(tmp_path / "dem.tif", height - 30.0, transform)
    dem = DemSource((str(tmp_path / "dem.tif"),))
    xs = MAP.c + 10 * np.linspace(20, N - 20, 12)
    ys = MAP.f - 10 * np.linspace(20, N - 20, 12)
    lon, lat = rasterio.warp.transform(f"EPSG:{EPSG}", "EPSG:4326", xs, ys)
    on_dem = dem.heights_at(lon, lat) + 30.0
    gcps = [
        GroundControlPoint(0, 0, lo, la, float(h))
        for lo, la, h in zip(lon, lat, on_dem, strict=True)
    ]
    assert geoid_offset_from_gcps(dem, gcps) == pytest.approx(30.0, abs=0.01)


def test_no_dem_tile_over_the_area_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GridError, match=r"no cop-dem-glo-30 DEM tile .* terrain: ellipsoid"):
        find_dem(str(dem_catalog(tmp_path)), (100.0, 10.0, 100.1, 10.1))
