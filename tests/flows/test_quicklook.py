"""The quicklook read at a glance: georeferenced axes, labelled colorbars, legible labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401
import xarray as xr

from cohcube.flows.quicklook import quicklook_figure


def small_cube() -> xr.Dataset:
    pairs, ny, nx = 3, 40, 50
    rng = np.random.default_rng(0)
    coherence = rng.uniform(0, 1, (pairs, ny, nx)).astype(np.float32)
    times = pd.date_range("2026-03-02", periods=pairs + 1, freq="12D")
    cube = xr.Dataset(
        {
            "coherence": (("pair", "y", "x"), coherence),
            "coherence_sigma": (("pair", "y", "x"), np.full_like(coherence, 0.05)),
        },
        coords={
            "pair": [f"p{i}" for i in range(pairs)],
            "reference_time": ("pair", times[:-1]),
            "secondary_time": ("pair", times[1:]),
            "temporal_baseline": ("pair", [12.0] * pairs),
            "x": 600_005.0 + 10 * np.arange(nx),
            "y": 5_199_995.0 - 10 * np.arange(ny),
        },
    )
    return cube.rio.write_crs("EPSG:32633")


def test_quicklook_is_readable() -> None:
    cube = small_cube()
    db = np.full((40, 50), -10.0)
    points = [("urban", 5, 5), ("forest", 20, 30)]
    fig = quicklook_figure(cube, db, db, points)
    maps, colorbars = [], []
    for ax in fig.axes:
        (colorbars if ax.get_label() == "<colorbar>" else maps).append(ax)
    images = [ax for ax in maps if ax.images]
    assert len(images) == 3
    for ax in images:
        assert ax.get_xlabel() == "easting (km, EPSG:32633)"
        # Pixel edges in km of the CRS: no offset notation, the real coordinates.
        assert ax.images[0].get_extent() == [600.0, 600.5, 5199.6, 5200.0]
        assert not ax.xaxis.get_major_formatter().get_offset()
    assert images[0].get_ylabel() == "northing (km, EPSG:32633)"
    labels = [cb.get_ylabel() for cb in colorbars]
    assert labels == ["sigma0 / gamma0 (dB)", "sigma0 / gamma0 (dB)", "coherence (0-1)"]
    annotations = [t for t in images[2].texts if t.get_text() in ("urban", "forest")]
    assert len(annotations) == 2
    for text in annotations:
        assert text.get_color() == "white"
        assert text.get_fontsize() >= 10
        assert text.get_path_effects()  # outlined: legible on any colour
    series = next(ax for ax in maps if not ax.images)
    legend = series.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["urban", "forest"]
    anchor = legend.get_bbox_to_anchor().transformed(series.transAxes.inverted())
    assert anchor.x0 >= 1.0  # beside the plot, not over the data
    assert "marked points" in series.get_title()
