"""Change analytics on a coherence cube: loss-of-coherence events per pixel, against its history.

For every pixel and every series of pairs with the same relative orbit,
orbit direction and temporal baseline, each pair's coherence is compared with
the pixel's own level before it: the median of the series' earlier pairs that
do not overlap it in time (for the first pairs of a series, which have none,
the later ones), as a robust z-score ``(c - median) / (1.4826 * MAD)``
(spread floored at ``min_spread``). A pair whose coherence falls at least
``z_threshold`` robust deviations *and* ``min_drop`` below that median flags
a change between its two acquisitions;
the pixel's event is its earliest flagged pair (the onset: a flood also
decorrelates the pairs spanning its end). Coherence is first
averaged over a small window (``smooth_px``), the scale of the fields and
plots whose change we look for, which suppresses estimation noise.

``history="all"`` lets the first pairs of a series be judged by later ones
and counts pairs on both sides towards ``min_history`` (analysis of an
archive); ``history="past"`` uses earlier pairs only (monitoring: a new pair
is judged by what came before it, needing ``min_history`` of them).
"""

from __future__ import annotations

import warnings
from typing import Literal

import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter

from cohcube.model.errors import InputDataError

History = Literal["all", "past"]
MAD_TO_SIGMA = 1.4826


def pair_series(cube: xr.Dataset, tolerance_days: float = 1.0) -> list[NDArray[np.intp]]:
    """Indices of the cube's pairs grouped by orbit, direction and baseline, in time order."""
    table = pd.DataFrame(
        {
            "orbit": cube["relative_orbit"].values,
            "state": [str(v) for v in cube["orbit_state"].values],
            "baseline": np.round(cube["temporal_baseline"].values / max(tolerance_days, 1e-6)),
            "time": cube["secondary_time"].values,
        }
    )
    series = []
    for _, group in table.groupby(["orbit", "state", "baseline"], sort=True):
        series.append(group.sort_values("time").index.to_numpy())
    return series


def _smoothed(block: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """NaN-aware boxcar mean over ``size`` x ``size`` pixels of each pair."""
    if size <= 1:
        return block
    valid = np.isfinite(block)
    values = np.where(valid, block, 0.0).astype(np.float32)
    footprint = (1, size, size)
    total = uniform_filter(values, footprint, mode="nearest")
    count = uniform_filter(valid.astype(np.float32), footprint, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count > 0, mean, np.nan).astype(np.float32)


def _nanmedian(values: NDArray[np.float32]) -> NDArray[np.float32]:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        return np.nanmedian(values, axis=0)


def _level_and_spread(
    before: NDArray[np.float32], after: NDArray[np.float32], min_spread: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Typical coherence before a pair and its robust spread.

    The level is the median of the earlier pairs: a change is a loss against
    the past, whatever comes after (a flood keeps coherence low for weeks; a
    harvest leaves bare soil, more coherent than the crop). Pairs at the very
    start of a series, with no earlier pair, are judged against the later ones.
    """
    side = before if len(before) else after
    level = _nanmedian(side)
    spread = np.maximum(MAD_TO_SIGMA * _nanmedian(np.abs(side - level)), min_spread)
    return level, spread


def _detect_block(
    smooth: NDArray[np.float32],
    series: list[NDArray[np.intp]],
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    history: History,
    min_history: int,
    z_threshold: float,
    min_drop: float,
    min_spread: float,
) -> NDArray[np.float32]:
    """(pair, y, x) smoothed coherence -> (3, y, x): event pair index (-1 none), drop, z.

    ``starts``/``ends``: reference/secondary times of every pair, seconds.
    """
    _, ny, nx = smooth.shape
    best_end = np.full((ny, nx), np.inf)
    best_z = np.full((ny, nx), np.nan, dtype=np.float32)
    best_pair = np.full((ny, nx), -1, dtype=np.float32)
    best_drop = np.full((ny, nx), np.nan, dtype=np.float32)
    for indices in series:
        for pair in indices:
            # History: pairs of the series that do not overlap this one in time.
            before = smooth[[i for i in indices if ends[i] <= starts[pair]]]
            later = [i for i in indices if starts[i] >= ends[pair]] if history == "all" else []
            after = smooth[later]
            if len(before) + len(after) < min_history:
                continue
            level, spread = _level_and_spread(before, after, min_spread)
            drop = level - smooth[pair]
            z = -drop / spread
            # The onset is the event: keep the flagged pair that ends first.
            flagged = (z <= -z_threshold) & (drop >= min_drop) & (ends[pair] < best_end)
            best_end = np.where(flagged, ends[pair], best_end)
            best_z = np.where(flagged, z, best_z)
            best_pair = np.where(flagged, float(pair), best_pair)
            best_drop = np.where(flagged, drop, best_drop)
    return np.stack([best_pair, best_drop, best_z]).astype(np.float32)


def _change_layers(cube: xr.Dataset, result: da.Array) -> xr.Dataset:
    """The ``(3, y, x)`` detection result (pair index, drop, z) as the change layers."""
    pair_index = result[0]
    out = xr.Dataset(coords={"y": cube["y"], "x": cube["x"]})
    detected = pair_index >= 0
    safe = da.where(detected, pair_index, 0).astype(np.int64)
    starts = cube["reference_time"].values.astype("datetime64[ns]")
    ends = cube["secondary_time"].values.astype("datetime64[ns]")
    nat = np.datetime64("NaT", "ns")
    out["change"] = (("y", "x"), detected)
    out["change_start"] = (
        ("y", "x"),
        da.where(detected, safe.map_blocks(lambda i: starts[i], dtype=starts.dtype), nat),
    )
    out["change_end"] = (
        ("y", "x"),
        da.where(detected, safe.map_blocks(lambda i: ends[i], dtype=ends.dtype), nat),
    )
    out["change_magnitude"] = (("y", "x"), result[1])
    out["change_zscore"] = (("y", "x"), result[2])
    out["change_pair"] = (("y", "x"), pair_index.astype(np.int32))
    out["change_magnitude"].attrs = {
        "long_name": "drop of coherence below the pixel's median at the event",
        "units": "1",
    }
    out["change_zscore"].attrs = {"long_name": "robust z-score of the event pair", "units": "1"}
    return out


def detect_changes(
    cube: xr.Dataset,
    *,
    history: History = "all",
    min_history: int = 3,
    smooth_px: int = 5,
    z_threshold: float = 3.0,
    min_drop: float = 0.15,
    min_spread: float = 0.03,
    tolerance_days: float = 1.0,
) -> xr.Dataset:
    """Loss-of-coherence events of every pixel of a coherence cube (lazy).

    Args:
        cube: coherence cube (``open_coherence_cube`` / ``predict_coherence``)
            with ``coherence`` on ``(pair, y, x)``.
        history: ``"all"`` pairs of the series or only ``"past"`` ones.
        min_history: fewest other pairs a pair is judged against.
        smooth_px: side of the averaging window in pixels (1 = none).
        z_threshold: robust deviations below the median that flag a change.
        min_drop: coherence drop below the median that flags a change.
        min_spread: floor on the robust spread (coherence units), so steady
            pixels do not flag tiny wobbles.
        tolerance_days: baselines are rounded to multiples of this to form series.

    Returns:
        Dataset on ``(y, x)``: ``change`` (bool), ``change_start`` and
        ``change_end`` (the acquisitions bracketing the event, datetime64,
        NaT without event), ``change_magnitude`` (coherence drop below the
        pixel's median), ``change_zscore``, ``change_pair`` (pair id index, -1
        none); CRS kept.
    """
    if "coherence" not in cube:
        raise InputDataError("detect_changes needs a cube with a 'coherence' variable")
    series = pair_series(cube, tolerance_days)
    if not any(len(s) > min_history for s in series):
        raise InputDataError(
            f"no series of pairs (same orbit and baseline) has more than {min_history} pairs; "
            "change detection needs a history -- process more acquisitions first"
        )
    coherence = cube["coherence"].data
    if not isinstance(coherence, da.Array):
        coherence = da.from_array(coherence, chunks=(-1, 1024, 1024))
    coherence = coherence.rechunk({0: -1})
    halo = smooth_px // 2
    smooth = coherence.map_overlap(
        _smoothed, depth={0: 0, 1: halo, 2: halo}, boundary="none", dtype=np.float32, size=smooth_px
    )
    result = smooth.map_blocks(
        _detect_block,
        dtype=np.float32,
        chunks=((3,), *smooth.chunks[1:]),
        meta=np.empty((0, 0, 0), dtype=np.float32),
        series=series,
        starts=cube["reference_time"].values.astype("datetime64[s]").astype(np.float64),
        ends=cube["secondary_time"].values.astype("datetime64[s]").astype(np.float64),
        history=history,
        min_history=min_history,
        z_threshold=z_threshold,
        min_drop=min_drop,
        min_spread=min_spread,
    )
    out = _change_layers(cube, result)
    out.attrs = {
        "method": "robust z-score of smoothed coherence per pixel and pair series",
        "history": history,
        "min_history": min_history,
        "smooth_px": smooth_px,
        "z_threshold": z_threshold,
        "min_drop": min_drop,
        "min_spread": min_spread,
        "pairs": ",".join(str(p) for p in cube["pair"].values),
    }
    if cube.rio.crs is not None:
        out = out.rio.write_crs(cube.rio.crs)
    return out
