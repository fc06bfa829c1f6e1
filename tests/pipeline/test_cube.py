"""Lazy cubes: HTTP equals local, projection v1/v2 mix, mosaics, calibration, refusals."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from support.served import ServedCatalog

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.errors import AssetReadError, GridError, NotAnalysisReadyError
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import SceneQuery, read_local_items, search_scenes

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "stac"


@pytest.fixture(scope="module")
def local_cube(small_sample: SampleCatalog):  # type: ignore[no-untyped-def]
    return build_cube(search_scenes(small_sample.items, SceneQuery()), chunk_px=256)


def test_cube_layout_and_georeferencing(local_cube, small_sample: SampleCatalog) -> None:  # type: ignore[no-untyped-def]
    features = json.loads(small_sample.items.read_text())["features"]
    kinds = [("proj:code" in f["properties"], "proj:epsg" in f["properties"]) for f in features]
    # Projection v2 and v1 items, half and half, stack together.
    assert kinds.count((True, False)) == kinds.count((False, True)) == 14
    assert local_cube.dims == ("time", "band", "y", "x")
    assert local_cube.dtype == np.float32
    assert local_cube.sizes == {"time": 14, "band": 2, "y": 512, "x": 512}
    assert list(local_cube.band.values) == ["VV", "VH"]
    assert local_cube.rio.crs.to_epsg() == 32633
    assert tuple(local_cube.rio.transform())[:6] == (10.0, 0.0, 600000.0, 0.0, -10.0, 5200000.0)
    assert float(local_cube.x[0]) == 600005.0  # pixel centres
    assert set(local_cube.platform.values) == {"sentinel-1a", "sentinel-1c"}
    assert set(local_cube.relative_orbit.values) == {73}
    assert all(len(ids.split(",")) == 2 for ids in local_cube.scene_ids.values)
    assert local_cube.chunks[2][0] == 256


def test_mosaic_equals_the_files(local_cube, small_sample: SampleCatalog) -> None:  # type: ignore[no-untyped-def]
    first = local_cube.isel(time=0).values
    assert not np.isnan(first).any()  # the two slices tile the area
    for item in read_local_items(small_sample.items):
        if item.id not in str(local_cube.scene_ids.values[0]):
            continue
        for b, band in enumerate(("vv", "vh")):
            with rasterio.open(item.assets[band].href) as src:
                data = src.read(1)
                row = round((5200000.0 - src.transform.f) / 10)
            np.testing.assert_array_equal(first[b, row : row + data.shape[0]], data)


def test_cube_over_http_equals_local(local_cube, served_sample: ServedCatalog) -> None:  # type: ignore[no-untyped-def]
    scenes = search_scenes(served_sample.api_url, SceneQuery())
    assert all(i.assets["vv"].href.startswith("http://127.0.0.1") for i in scenes)
    remote = build_cube(scenes, chunk_px=256)
    assert remote.rio.crs == local_cube.rio.crs
    assert remote.rio.transform() == local_cube.rio.transform()
    np.testing.assert_array_equal(remote.time.values, local_cube.time.values)
    np.testing.assert_array_equal(
        remote.isel(time=[0, 7, 13]).values, local_cube.isel(time=[0, 7, 13]).values
    )


def test_grid_is_snapped_to_the_size_multiple(small_sample: SampleCatalog) -> None:
    scenes = search_scenes(small_sample.items, SceneQuery(datetime="2026-03-02"))
    cube = build_cube(scenes, bbox=(16.31, 46.92, 16.33, 46.93), size_multiple=16, chunk_px=64)
    left, bottom, right, top = cube.attrs["grid_bounds"]
    for edge in (left, bottom, right, top):
        assert edge % 160 == pytest.approx(0.0, abs=1e-6)
    assert cube.sizes["y"] % 16 == 0
    assert cube.sizes["x"] % 16 == 0
    assert cube.sizes["time"] == 1


def test_scale_offset_are_applied(small_sample: SampleCatalog) -> None:
    truth = [i for i in read_local_items(small_sample.truth_items) if i.id != "changes"][:2]
    cube = build_cube(truth, bands=("coherence-vv",), chunk_px=256).values
    with rasterio.open(truth[0].assets["coherence-vv"].href) as src:
        raw = src.read(1)
    np.testing.assert_allclose(cube[0, 0], raw * 0.004, rtol=1e-6)
    assert np.nanmin(cube) >= 0
    assert np.nanmax(cube) <= 1.0


def test_db_collections_become_linear_power(small_sample: SampleCatalog, tmp_path: Path) -> None:
    item = read_local_items(small_sample.items)[0]
    with rasterio.open(item.assets["vv"].href) as src:
        linear, profile = src.read(1), src.profile
    db_path = tmp_path / "vv-db.tif"
    profile.update(driver="GTiff")
    with rasterio.open(db_path, "w", **profile) as dst:
        dst.write((10 * np.log10(linear)).astype(np.float32), 1)
    db_item = item.clone()
    db_item.assets["vv"].href = str(db_path)
    db_item.assets["vv"].extra_fields["raster:bands"][0]["unit"] = "dB"
    cube = build_cube([db_item], bands=("vv",), chunk_px=256)
    window = cube.isel(time=0, band=0).values[: linear.shape[0]]
    np.testing.assert_allclose(window, linear, rtol=1e-5)


def test_raster_bands_nodata_is_masked_when_the_file_lacks_the_tag(
    small_sample: SampleCatalog, tmp_path: Path
) -> None:
    item = read_local_items(small_sample.items)[0]
    with rasterio.open(item.assets["vv"].href) as src:
        values, profile = src.read(1), src.profile
    values[:40, :60] = -32768.0  # the fill Planetary Computer's RTC declares in raster:bands
    profile.update(driver="GTiff", nodata=None)
    path = tmp_path / "vv-untagged.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    with rasterio.open(path) as src:
        assert src.nodata is None
    untagged = item.clone()
    untagged.assets["vv"].href = str(path)
    untagged.assets["vv"].extra_fields["raster:bands"][0]["nodata"] = -32768
    cube = build_cube([untagged], bands=("vv",), chunk_px=256).isel(time=0, band=0).values
    cube = cube[: values.shape[0], : values.shape[1]]
    assert np.isnan(cube[:40, :60]).all()
    np.testing.assert_allclose(cube[40:], values[40:], rtol=1e-6)


def _pc_grd_item() -> pystac.Item:
    """A Planetary Computer sentinel-1-grd item: sar/sat fields, vv/vh COGs, no proj:*."""
    return pystac.Item.from_dict(
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": "S1A_IW_GRDH_1SDV_20230628_GRD",
            "collection": "sentinel-1-grd",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[126.9, -20.1], [124.5, -19.5], [124.9, -18.0], [127.3, -18.6], [126.9, -20.1]]
                ],
            },
            "bbox": [124.5, -20.1, 127.3, -18.0],
            "properties": {
                "datetime": "2023-06-28T21:07:18Z",
                "sar:product_type": "GRD",
                "sar:polarizations": ["VV", "VH"],
                "sat:orbit_state": "descending",
                "sat:relative_orbit": 119,
                "platform": "SENTINEL-1A",
            },
            "links": [],
            "assets": {
                b: {
                    "href": f"/tmp/{b}.tiff",
                    "roles": ["data"],
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                }
                for b in ("vv", "vh")
            },
        }
    )


def test_grd_items_without_calibration_documents_are_refused() -> None:
    # A sentinel-1-grd item goes to the GRD reader, which needs the calibration and noise XMLs.
    with pytest.raises(NotAnalysisReadyError, match="no calibration or noise asset"):
        build_cube([_pc_grd_item()])
    # Outside a GRD collection, without those documents, it is neither: refused as before.
    unknown = _pc_grd_item()
    unknown.collection_id = "my-archive"
    with pytest.raises(NotAnalysisReadyError, match="ground control points") as info:
        build_cube([unknown])
    assert "sentinel-1-rtc" in str(info.value)


@pytest.mark.skipif(not SHARED.exists(), reason="shared reference data not available")
def test_real_grd_items_go_to_the_grd_reader() -> None:
    # The recorded hrefs point at a temporary folder / requester-pays S3: the reader tries
    # the product documents first and names the one it cannot read.
    pc = pystac.Item.from_file(str(SHARED / "planetary-computer-sentinel-1-grd-item.json"))
    with pytest.raises(AssetReadError, match=r"annotation/iw-vv\.xml"):
        build_cube([pc], bands=("vv",))


def test_mixed_crs_without_grid_is_refused(small_sample: SampleCatalog) -> None:
    scenes = search_scenes(small_sample.items, SceneQuery(datetime="2026-03-02/2026-03-08"))
    moved = copy.deepcopy(scenes[0])
    moved.properties.pop("proj:code", None)
    moved.properties["proj:epsg"] = 32634
    with pytest.raises(GridError, match=r"EPSG:32633.*EPSG:32634"):
        build_cube([moved, *scenes[1:]])
    grid = CubeGrid(32633, 10.0, (600000.0, 5194880.0, 605120.0, 5200000.0))
    assert build_cube(scenes[1:], grid=grid, chunk_px=256).sizes["y"] == 512


def test_missing_polarisation_asset_is_refused(small_sample: SampleCatalog) -> None:
    scenes = search_scenes(small_sample.items, SceneQuery(datetime="2026-03-02"))
    with pytest.raises(NotAnalysisReadyError, match=r"no asset for polarisation\(s\) \['hh'\]"):
        build_cube(scenes, bands=("hh",))


def test_grid_properties() -> None:
    grid = CubeGrid(32633, 10.0, (600003.0, 5199000.0, 600500.0, 5199990.0)).snapped(16)
    assert grid.bounds == (600000.0, 5198880.0, 600640.0, 5200000.0)
    assert grid.shape == (112, 64)
    assert grid.transform == Affine(10, 0, 600000.0, 0, -10, 5200000.0)
