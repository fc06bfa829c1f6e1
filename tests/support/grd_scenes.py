"""Small GRD scenes for tests: a smooth sigma0 field put into radar geometry and written
as a GRD product with an Earth Search-shaped item; and a sub-pixel shift measure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
from affine import Affine

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
