"""GRD scenes through ``build_cube``: closed loop map -> radar geometry -> cube, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from rasterio.windows import Window
from support.grd_scenes import EPSG, GRID, smooth_sigma0, subpixel_shift, write_scene

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.errors import AssetReadError, GridError, NotAnalysisReadyError
from cohcube.pipeline.grd.product_xml import ProductXmlError
from cohcube.pipeline.grid import CubeGrid


@pytest.mark.parametrize("orbit_state", ["ascending", "descending"])
def test_closed_loop_recovers_the_map(tmp_path: Path, orbit_state: str) -> None:
    truth = smooth_sigma0()
    item = write_scene(tmp_path / "A", truth, orbit_state)
    cube = build_cube([item], ("vv", "vh"), grid=GRID, chunk_px=128)
    assert cube.attrs["quantity"] == "sigma0"
    assert cube.data.chunksize == (1, 2, 128, 128)
    assert str(cube.coords["ipf_version"].values[0]) == "003.71"
    values = cube.values
    inner = (slice(None), slice(16, -16), slice(16, -16))
    for band in range(2):
        got, want = values[0, band][inner[1:]], truth[band][inner[1:]]
        error_db = 10 * np.log10(got / want)
        assert np.isfinite(error_db).all()
        assert np.median(np.abs(error_db)) < 0.1
        assert np.all(np.abs(subpixel_shift(np.log(got), np.log(want))) < 0.5)


def test_thermal_noise_switch_changes_only_the_noise_floor(tmp_path: Path) -> None:
    item = write_scene(tmp_path / "A", smooth_sigma0())
    removed = build_cube([item], ("vh",), grid=GRID, chunk_px=128).values
    kept = build_cube([item], ("vh",), grid=GRID, chunk_px=128, thermal_noise=False).values
    floor_db = 10 * np.log10(kept - removed)
    # What removal takes out is the sample LUTs' VH noise floor: -24 .. -21 dB.
    assert np.nanpercentile(floor_db, 1) > -24.5
    assert np.nanpercentile(floor_db, 99) < -20.5


def test_mixing_grd_and_rtc_is_refused(tmp_path: Path, small_sample) -> None:  # type: ignore[no-untyped-def]
    grd = write_scene(tmp_path / "A", smooth_sigma0())
    rtc = pystac.Item.from_dict(json.loads(small_sample.items.read_text())["features"][0])
    with pytest.raises(NotAnalysisReadyError, match=r"sentinel-1-grd.*sentinel-1-rtc"):
        build_cube([grd, rtc], ("vv",), grid=GRID)


def test_a_scene_off_the_grid_is_refused(tmp_path: Path) -> None:
    item = write_scene(tmp_path / "A", smooth_sigma0())
    far = CubeGrid(EPSG, 10.0, (300_000, 4_000_000, 305_120, 4_005_120))
    with pytest.raises(GridError, match="none of the 1 scenes overlaps"):
        build_cube([item], ("vv",), grid=far)


def test_missing_noise_asset_is_named(tmp_path: Path) -> None:
    item = write_scene(tmp_path / "A", smooth_sigma0())
    del item.assets["schema-noise-vv"]
    item.assets["noise-elsewhere"] = pystac.Asset("/nowhere/readme.txt")
    with pytest.raises(NotAnalysisReadyError, match="has no noise asset for polarisation 'vv'"):
        build_cube([item], ("vv",), grid=GRID)


def test_corrupt_calibration_fails_before_any_block(tmp_path: Path) -> None:
    item = write_scene(tmp_path / "A", smooth_sigma0())
    Path(item.assets["schema-calibration-vv"].href).write_bytes(b"<calibration><calib")
    with pytest.raises(ProductXmlError, match=r"calibration-iw-vv\.xml is not well-formed XML"):
        build_cube([item], ("vv",), grid=GRID)


def test_missing_calibration_file_is_named(tmp_path: Path) -> None:
    item = write_scene(tmp_path / "A", smooth_sigma0())
    Path(item.assets["schema-calibration-vv"].href).unlink()
    with pytest.raises(AssetReadError, match=r"calibration-iw-vv\.xml"):
        build_cube([item], ("vv",), grid=GRID)


def test_wave_mode_is_refused(tmp_path: Path) -> None:
    item = write_scene(tmp_path / "A", smooth_sigma0())
    annotation = Path(item.assets["schema-calibration-vv"].href).parents[1] / "iw-vv.xml"
    annotation.write_bytes(annotation.read_bytes().replace(b"<mode>IW</mode>", b"<mode>WV</mode>"))
    with pytest.raises(NotAnalysisReadyError, match="WV \\(wave mode\\) product"):
        build_cube([item], ("vv",), grid=GRID)


@pytest.mark.parametrize(("ipf", "masked"), [("002.36", True), ("003.71", False)])
def test_border_noise_is_masked_on_old_products_only(
    tmp_path: Path, ipf: str, masked: bool
) -> None:
    item = write_scene(tmp_path / "A", smooth_sigma0())
    manifest = Path(item.assets["safe-manifest"].href)
    manifest.write_bytes(
        manifest.read_bytes().replace(b'version="003.71"', f'version="{ipf}"'.encode())
    )
    measurement = Path(item.assets["vv"].href)
    with rasterio.open(measurement, "r+") as dataset:  # a strip of border-noise-like DNs
        dataset.write(np.full((1, 200, 100), 3, dtype=np.uint16), window=Window(250, 200, 100, 200))
    kept = build_cube([item], ("vv",), grid=GRID, chunk_px=128).values
    cleaned = build_cube([item], ("vv",), grid=GRID, chunk_px=128, border_noise=True).values
    assert np.count_nonzero(kept == 0) > 10_000  # below the noise floor: 0 after removal
    assert (
        np.count_nonzero(np.isnan(cleaned)) - np.count_nonzero(np.isnan(kept)) > 10_000
    ) == masked
