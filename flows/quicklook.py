"""Quicklook figure of a coherence cube: latest pair, its backscatter, time series.

Readable at a glance: map axes in kilometres of the cube's CRS (named on the
axis), colorbars that say the quantity and unit, point labels in white with a
dark outline (legible on any colour), and the time-series legend outside the
data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patheffects as path_effects
import matplotlib.pyplot as plt
import numpy as np
import rioxarray  # noqa: F401  (the .rio accessor: the cube's CRS)
import xarray as xr
from matplotlib.figure import Figure
from numpy.typing import NDArray

OUTLINE: list[path_effects.AbstractPathEffect] = [
    path_effects.withStroke(linewidth=3, foreground="black")
]


def _extent_km(coherence: xr.Dataset) -> tuple[float, float, float, float]:
    """``(left, right, bottom, top)`` of the pixel edges, km."""
    x, y = coherence["x"].values, coherence["y"].values
    dx = abs(float(x[1] - x[0])) if x.size > 1 else 10.0
    dy = abs(float(y[1] - y[0])) if y.size > 1 else 10.0
    return (
        (x.min() - dx / 2) / 1000,
        (x.max() + dx / 2) / 1000,
        (y.min() - dy / 2) / 1000,
        (y.max() + dy / 2) / 1000,
    )


def _crs_name(coherence: xr.Dataset) -> str:
    crs = coherence.rio.crs if "spatial_ref" in coherence.coords else None
    epsg = crs.to_epsg() if crs is not None else None
    return f"EPSG:{epsg}" if epsg else "map"


def quicklook_figure(
    coherence: xr.Dataset,
    reference_db: NDArray[np.floating],
    secondary_db: NDArray[np.floating],
    points: Sequence[tuple[str, int, int]],
    pair_index: int = -1,
) -> Figure:
    """The quicklook as a matplotlib Figure (``write_quicklook`` saves it).

    Args:
        coherence: the coherence cube (committed pairs), ``(pair, y, x)``.
        reference_db, secondary_db: VV backscatter of the pair, dB, ``(y, x)``.
        points: ``(label, row, col)`` pixels whose coherence time series are drawn.
        pair_index: which pair to map (default the latest).
    """
    pair = coherence.isel(pair=pair_index)
    extent = _extent_km(coherence)
    crs = _crs_name(coherence)
    x, y = coherence["x"].values, coherence["y"].values
    fig = plt.figure(figsize=(15, 9.5), layout="constrained")
    grid = fig.add_gridspec(2, 3, height_ratios=(1.3, 1))
    dates = (str(pair.reference_time.values)[:10], str(pair.secondary_time.values)[:10])
    panels = [
        (reference_db, f"VV backscatter {dates[0]}", "gray", (-20, 0), "sigma0 / gamma0 (dB)"),
        (secondary_db, f"VV backscatter {dates[1]}", "gray", (-20, 0), "sigma0 / gamma0 (dB)"),
        (
            pair.coherence.values,
            f"coherence {dates[0]} -> {dates[1]} ({float(pair.temporal_baseline):g} days)",
            "magma",
            (0, 1),
            "coherence (0-1)",
        ),
    ]
    for k, (image, title, cmap, limits, unit) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        shown = ax.imshow(
            image,
            cmap=cmap,
            vmin=limits[0],
            vmax=limits[1],
            interpolation="nearest",
            extent=extent,
        )
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(f"easting (km, {crs})")
        ax.set_ylabel(f"northing (km, {crs})" if k == 0 else "")
        ax.ticklabel_format(useOffset=False, style="plain")
        fig.colorbar(shown, ax=ax, shrink=0.8, label=unit)
        if k == 2:
            for name, row, col in points:
                px, py = x[col] / 1000, y[row] / 1000
                ax.plot(px, py, "o", mfc="none", mec="white", mew=2, ms=10)
                label = ax.annotate(
                    name,
                    (px, py),
                    color="white",
                    fontsize=11,
                    fontweight="bold",
                    xytext=(7, 7),
                    textcoords="offset points",
                )
                label.set_path_effects(OUTLINE)
    ax = fig.add_subplot(grid[1, :])
    for name, row, col in points:
        series = coherence.coherence.isel(y=row, x=col)
        sigma = coherence.coherence_sigma.isel(y=row, x=col)
        times = coherence.secondary_time.values
        ax.plot(times, series.values, "o-", label=name)
        ax.fill_between(
            times, series.values - sigma.values, series.values + sigma.values, alpha=0.15
        )
    ax.set_ylim(0, 1)
    ax.set_title("coherence at the marked points, by pair (shaded: +/- sigma)", fontsize=11)
    ax.set_ylabel("coherence (0-1)")
    ax.set_xlabel("secondary acquisition date")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=10, title="ground")
    ax.grid(alpha=0.3)
    return fig


def write_quicklook(
    path: Path,
    coherence: xr.Dataset,
    reference_db: NDArray[np.floating],
    secondary_db: NDArray[np.floating],
    points: Sequence[tuple[str, int, int]],
    pair_index: int = -1,
) -> Path:
    """PNG of ``quicklook_figure`` (same arguments) at ``path``."""
    fig = quicklook_figure(coherence, reference_db, secondary_db, points, pair_index)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
