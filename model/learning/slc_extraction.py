"""From a coregistered SLC pair to training patches: GRD-like detection and the SLC target.

The detected inputs and the coherence target are made by the simulator's own
detection model (``physics.detection.detect`` and ``coherence_target``): SLC
intensities averaged in a box of ``multilook_window_m`` around each 10 m
pixel (ENL 4.4 for Sentinel-1 SLC sampling), the secondary's grid shifted by
a random misregistration, and the complex sample coherence over
``coherence_window_m``. Both run on row strips one patch high, so memory
stays bounded by the strip, not the burst.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from cohcube.model.errors import SlcPairError
from cohcube.model.physics.detection import coherence_target, detect
from cohcube.model.physics.landcover import POLARIZATIONS
from cohcube.model.physics.radiometry import linear_to_db
from cohcube.model.physics.sensor import SensorGeometry, SlcGrid

from .slc_files import SampleGrid, SlcFile

#: Output pixel of the detected images, metres (the GRD's and the network's).
PIXEL_M = 10.0


@dataclass(frozen=True)
class OutputLayout:
    """The 10 m output grid over a sample grid.

    Attributes:
        shape: ``(rows, cols)`` output pixels.
        origin_m: ``(down, right)`` position of the first sample's corner
            relative to the output grid's corner, metres (negative: a margin).
        transform: map transform of the output grid (None in radar geometry).
    """

    shape: tuple[int, int]
    origin_m: tuple[float, float]
    transform: Affine | None


def _margin(reach_m: float, spacing_m: float, max_offset_px: float) -> float:
    return reach_m + (max_offset_px + 1) * PIXEL_M + 2 * spacing_m


def output_layout(grid: SampleGrid, geometry: SensorGeometry, max_offset_px: float) -> OutputLayout:
    """Largest 10 m grid whose windows (and shifts) stay inside the samples.

    Map grids are snapped to multiples of 10 m in their CRS, so every date of
    a stack (and the cubes the pipeline writes) share pixel edges.
    """
    reach = [
        max(m, c) / 2
        for m, c in zip(geometry.multilook_window_m, geometry.coherence_window_m, strict=True)
    ]
    dy, dx = grid.spacing_m
    my, mx = (_margin(reach[k], grid.spacing_m[k], max_offset_px) for k in (0, 1))
    height, width = grid.shape[0] * dy, grid.shape[1] * dx
    if grid.transform is None:
        rows = math.floor((height - 2 * my) / PIXEL_M)
        cols = math.floor((width - 2 * mx) / PIXEL_M)
        layout = OutputLayout((rows, cols), (-my, -mx), None)
    else:
        t = grid.transform
        if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
            raise SlcPairError(
                f"sample grid {tuple(t)[:6]} is rotated or not north-up: warp the SLCs to a "
                "north-up grid first"
            )
        x0 = math.ceil((t.c + mx) / PIXEL_M) * PIXEL_M
        y0 = math.floor((t.f - my) / PIXEL_M) * PIXEL_M
        cols = math.floor((t.c + width - mx - x0) / PIXEL_M)
        rows = math.floor((height - my - (t.f - y0)) / PIXEL_M)
        layout = OutputLayout(
            (rows, cols), (y0 - t.f, t.c - x0), Affine(PIXEL_M, 0, x0, 0, -PIXEL_M, y0)
        )
    if min(layout.shape) < 1:
        raise SlcPairError(
            f"a {grid.shape[0]} x {grid.shape[1]} sample raster is too small for one 10 m "
            "pixel with its windows"
        )
    return layout


def geometry_for(
    grid: SampleGrid,
    multilook_window_m: tuple[float, float],
    coherence_window_m: tuple[float, float],
) -> SensorGeometry:
    """The detection model for samples spaced as ``grid`` (windows in ground metres)."""
    return SensorGeometry(
        slc_spacing_m=grid.spacing_m,
        grd_pixel_m=PIXEL_M,
        multilook_window_m=multilook_window_m,
        coherence_window_m=coherence_window_m,
    )


@dataclass
class DetectedStrip:
    """One strip of output rows of a pair.

    Attributes:
        first_row: output row of the strip's top.
        backscatter_db: ``(4, rows, cols)`` float32 dB, channels VV_t1, VV_t2,
            VH_t1, VH_t2 (NaN for a polarisation not read, and where no data).
        target: ``(rows, cols)`` SLC sample coherence of the first polarisation.
    """

    first_row: int
    backscatter_db: NDArray[np.float32]
    target: NDArray[np.float32]


def detected_strips(
    reference: SlcFile,
    secondary: SlcFile,
    polarizations: tuple[str, ...],
    geometry: SensorGeometry,
    layout: OutputLayout,
    offset_px: tuple[float, float],
    strip_rows: int,
) -> Iterator[DetectedStrip]:
    """Detected images and target of ``layout``, ``strip_rows`` output rows at a time.

    Only the sample rows a strip's windows touch are read (a few rows of margin
    above and below), so a burst of any length is processed in bounded memory.
    """
    dy = geometry.slc_spacing_m[0]
    reach = max(geometry.multilook_window_m[0], geometry.coherence_window_m[0]) / 2
    reach += (abs(offset_px[0]) + 0.5) * PIXEL_M
    origin_y, origin_x = layout.origin_m
    n_rows, n_cols = layout.shape
    n_samples = reference.grid.shape[0]
    for i0 in range(0, n_rows, strip_rows):
        i1 = min(n_rows, i0 + strip_rows)
        r0 = max(0, math.floor((i0 * PIXEL_M - reach - origin_y) / dy) - 2)
        r1 = min(n_samples, math.ceil((i1 * PIXEL_M + reach - origin_y) / dy) + 2)
        grid = SlcGrid(
            geometry,
            (i1 - i0, n_cols),
            (origin_y + r0 * dy - i0 * PIXEL_M, origin_x),
            (r1 - r0, reference.grid.shape[1]),
        )
        db = np.full((4, i1 - i0, n_cols), np.nan, dtype=np.float32)
        target = None
        for pol in polarizations:
            s1 = reference.read_rows(pol, r0, r1)
            s2 = secondary.read_rows(pol, r0, r1)
            k = 2 * POLARIZATIONS.index(pol)
            with np.errstate(divide="ignore", invalid="ignore"):
                db[k] = linear_to_db(detect(s1, grid))
                db[k + 1] = linear_to_db(detect(s2, grid, offset_px))
                if target is None:
                    target = coherence_target(s1, s2, grid)
        assert target is not None
        yield DetectedStrip(i0, db, target)


def strip_patches(
    strip: DetectedStrip, patch_px: int, min_valid_fraction: float
) -> Iterator[tuple[int, int, NDArray[np.float32], NDArray[np.float32]]]:
    """``(row, col, backscatter_db, target)`` of every full patch of a strip with enough data.

    A pixel is valid where the target and every read channel are finite; invalid
    target pixels become NaN (the loss skips them), invalid inputs NaN too.
    """
    rows, cols = strip.target.shape
    if rows < patch_px:
        return
    read = [k for k in range(4) if np.isfinite(strip.backscatter_db[k]).any()]
    for c0 in range(0, cols - patch_px + 1, patch_px):
        db = strip.backscatter_db[:, :patch_px, c0 : c0 + patch_px]
        target = strip.target[:patch_px, c0 : c0 + patch_px]
        valid = np.isfinite(target) & np.isfinite(db[read]).all(axis=0)
        if valid.mean() < min_valid_fraction:
            continue
        yield strip.first_row, c0, db, np.where(valid, target, np.nan).astype(np.float32)
