"""`cohcube changes` writes change layers (GeoTIFF, Zarr) from a coherence cube on disk."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr

from cohcube.pipeline.sample import SampleCatalog, truth_cube
from cohcube.pipeline.store import write_coherence

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_changes_verb_writes_geotiff_and_zarr(
    run_cohcube: Run, small_sample: SampleCatalog, tmp_path: Path
) -> None:
    cube = truth_cube(small_sample)
    cube["coherence_sigma"] = xr.zeros_like(cube["coherence"])
    cube.attrs = {"model_name": "simulator truth", "model_sha256": "truth", "software": "test"}
    store = tmp_path / "truth.zarr"
    write_coherence(cube.chunk({"pair": 1, "y": 512, "x": 512}), store)

    tif = tmp_path / "changes.tif"
    result = run_cohcube("changes", str(store), "--out", str(tif), "--smooth", "1")
    assert "of valid pixels changed" in result.stdout
    with rasterio.open(tif) as src:
        assert src.count == 4
        assert src.crs.to_epsg() == 32633
        assert src.descriptions == (
            "change_start_days",
            "change_end_days",
            "change_magnitude",
            "change_zscore",
        )
        start_days, magnitude = src.read(1), src.read(3)
    flagged = np.isfinite(start_days)
    assert 0 < flagged.mean() < 0.5
    assert (magnitude[flagged] >= 0.15).all()

    zarr_out = tmp_path / "changes.zarr"
    run_cohcube("changes", str(store), "--out", str(zarr_out), "--smooth", "1")
    layer = xr.open_zarr(zarr_out, consolidated=False)
    assert (layer["change"].values == flagged).all()

    again = run_cohcube("changes", str(store), "--out", str(tif), check=False)
    assert again.returncode == 2
    assert "exists; choose a new output path or give --overwrite" in again.stderr
    tif.write_bytes(b"stale")
    run_cohcube("changes", str(store), "--out", str(tif), "--smooth", "1", "--overwrite")
    with rasterio.open(tif) as src:
        assert np.array_equal(np.isfinite(src.read(1)), flagged)
    run_cohcube("changes", str(store), "--out", str(zarr_out), "--overwrite")
    assert xr.open_zarr(zarr_out, consolidated=False)["change"].shape == flagged.shape
    missing = run_cohcube("changes", str(tmp_path / "nope.zarr"), "--out", str(tif), check=False)
    assert "does not exist" in missing.stderr
    wrong = run_cohcube("changes", str(tmp_path), "--out", str(tmp_path / "x.tif"), check=False)
    assert wrong.returncode == 2
    assert "not a cohcube tile set" in wrong.stderr
