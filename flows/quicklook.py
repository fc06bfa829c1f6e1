"""Quicklook figure of a coherence cube: latest pair, its backscatter, time series."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from numpy.typing import NDArray


def write_quicklook(
    path: Path,
    coherence: xr.Dataset,
    reference_db: NDArray[np.floating],
    secondary_db: NDArray[np.floating],
    points: Sequence[tuple[str, int, int]],
    pair_index: int = -1,
) -> Path:
    """PNG: coherence of one pair beside its two backscatter images, and time series.

    Args:
        path: PNG to write.
        coherence: the coherence cube (committed pairs).
        reference_db, secondary_db: VV backscatter of the pair, dB, ``(y, x)``.
        points: ``(label, row, col)`` pixels whose coherence time series are drawn.
        pair_index: which pair to map (default the latest).
    """
    pair = coherence.isel(pair=pair_index)
    fig = plt.figure(figsize=(15, 9), layout="constrained")
    grid = fig.add_gridspec(2, 3, height_ratios=(1.3, 1))
    title = (
        f"{str(pair.reference_time.values)[:10]} -> {str(pair.secondary_time.values)[:10]} "
        f"({float(pair.temporal_baseline):g} days)"
    )
    panels = [
        (
            reference_db,
            f"VV backscatter {str(pair.reference_time.values)[:10]} (dB)",
            "gray",
            (-20, 0),
        ),
        (
            secondary_db,
            f"VV backscatter {str(pair.secondary_time.values)[:10]} (dB)",
            "gray",
            (-20, 0),
        ),
        (pair.coherence.values, f"coherence {title}", "magma", (0, 1)),
    ]
    for k, (image, label, cmap, limits) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        shown = ax.imshow(image, cmap=cmap, vmin=limits[0], vmax=limits[1], interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, shrink=0.8)
        if k == 2:
            for name, row, col in points:
                ax.plot(col, row, "o", mfc="none", mec="cyan", ms=9)
                ax.annotate(
                    name,
                    (col, row),
                    color="cyan",
                    fontsize=8,
                    xytext=(5, 5),
                    textcoords="offset points",
                )
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
    ax.set_ylabel("coherence (+/- sigma)")
    ax.set_xlabel("secondary acquisition")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
