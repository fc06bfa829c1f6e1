"""GRD scenes through ``build_cube``: closed loop map -> radar geometry -> cube, and refusals."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import numpy as np
import pystac
import pytest
from affine import Affine

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.errors import AssetReadError, GridError, NotAnalysisReadyError
from cohcube.pipeline.grd.product_xml import ProductXmlError
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.sample.grd_documents import ProductHeader
from cohcube.pipeline.sample.grd_scenes import (
    RadarGeometry,
    grd_item,
    radar_image,
    write_grd_product,
)

N = 384
EPSG = 32633
MAP = Affine(10, 0, 600_000, 0, -10, 5_200_000)
GRID = CubeGrid(EPSG, 10.0, (600_000, 5_200_000 - N * 10, 600_000 + N * 10, 5_200_000))
WHEN = dt.datetime(2026, 3, 2, 16, 51, 30, tzinfo=dt.UTC)


def smooth_sigma0() -> np.ndarray:
    """VV, VH in linear power: a textured but band-limited field (-20 .. -4 dB)."""
    yy, xx = np.mgrid[0:N, 0:N]
    db = -12 + 4 * np.sin(xx / 37) * np.cos(yy / 23) + 2 * np.sin((xx + yy) / 11)
    return np.stack([10 ** (db / 10), 10 ** ((db - 7) / 10)]).astype(np.float32)


def write_scene(folder: Path, sigma0: np.ndarray, orbit_state: str = "ascending") -> pystac.Item:
    geometry = RadarGeometry.covering(MAP, (N, N), orbit_state, 10.0)
    image = radar_image(sigma0, MAP, geometry, 0, geometry.shape[0], order=1)
    gcps = geometry.gcps(EPSG, 0, geometry.shape[0])
    header = ProductHeader("S1A", "VV", WHEN, WHEN + dt.timedelta(seconds=25), 62_000, "001")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the measurement raster has GCPs, not a transform
        files = write_grd_product(folder, header, orbit_state, image, gcps, 10.0)
    document = grd_item(
        product_id=f"S1A_IW_GRDH_1SDV_{folder.name}",
        when=WHEN,
        platform="SENTINEL-1A",
        relative_orbit=73,
        absolute_orbit=62_000,
        orbit_state=orbit_state,
        gcps=gcps,
        shape=geometry.shape,
        files=files,
    )
    return pystac.Item.from_dict(document)


def subpixel_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shift of ``a`` against ``b`` (pixels, rows/cols) by FFT cross-correlation + parabola."""
    a = np.nan_to_num(a - np.nanmean(a))
    b = b - b.mean()
    corr = np.real(np.fft.ifft2(np.fft.fft2(a) * np.conj(np.fft.fft2(b))))
    peak = np.unravel_index(np.argmax(corr), corr.shape)
    shift = []
    for axis in (0, 1):
        index = list(peak)
        values = []
        for d in (-1, 0, 1):
            index[axis] = (peak[axis] + d) % corr.shape[axis]
            values.append(corr[tuple(index)])
        offset = 0.5 * (values[0] - values[2]) / (values[0] - 2 * values[1] + values[2])
        whole = peak[axis] if peak[axis] <= corr.shape[axis] // 2 else peak[axis] - corr.shape[axis]
        shift.append(whole + offset)
    return np.array(shift)


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
