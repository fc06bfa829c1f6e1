"""`cohcube changes` writes change layers (GeoTIFF, Zarr) from a coherence cube on disk."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from support.process_jobs import items_until, job_settings, write_config

from cohcube.flows.changes_job import GEOTIFF_BANDS, cube_grid
from cohcube.pipeline.change_detection import KIND_CODES
from cohcube.pipeline.changes import detect_changes
from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.sample import SampleCatalog, truth_cube
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store import write_coherence
from cohcube.pipeline.store.tile_set import open_tile, tile_ids

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
        assert src.count == len(GEOTIFF_BANDS)
        assert src.crs.to_epsg() == 32633
        assert src.descriptions == GEOTIFF_BANDS
        count, start_days, kind = (
            src.read(1),
            src.read(2),
            src.read(GEOTIFF_BANDS.index("event_kind") + 1),
        )
    flagged = np.isfinite(start_days)
    assert 0 < flagged.mean() < 0.5
    assert np.array_equal(count > 0, flagged)
    assert set(np.unique(kind[flagged])) == {KIND_CODES["decorrelation"]}  # coherence alone

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
        assert np.array_equal(np.isfinite(src.read(2)), flagged)
    run_cohcube("changes", str(store), "--out", str(zarr_out), "--overwrite")
    assert xr.open_zarr(zarr_out, consolidated=False)["change"].shape == flagged.shape
    missing = run_cohcube("changes", str(tmp_path / "nope.zarr"), "--out", str(tif), check=False)
    assert "does not exist" in missing.stderr
    wrong = run_cohcube("changes", str(tmp_path), "--out", str(tmp_path / "x.tif"), check=False)
    assert wrong.returncode == 2
    assert "not a cohcube tile set" in wrong.stderr


def test_changes_verb_takes_the_backscatter_of_the_job_that_made_the_store(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    items = items_until(small_sample, 6, tmp_path / "items.json")
    store = tmp_path / "cube.zarr"
    config = write_config(
        tmp_path / "job.yaml", **job_settings(small_sample, items, store, tiny_artefact)
    )
    run_cohcube("process", str(config), "--no-progress")
    out = tmp_path / "changes.zarr"
    run_cohcube("changes", str(store), "--out", str(out), "--config", str(config))
    scenes = search_scenes(items, SceneQuery(collection=small_sample.collection_id))
    for tile in tile_ids(str(store)):
        written = xr.open_zarr(out.with_name(f"changes_{tile}.zarr"), consolidated=False)
        assert written.attrs["evidence"] == "coherence, backscatter"
        cube = open_tile(store, tile)
        # What the verb must have used: the tile's own scenes, stacked on its grid.
        backscatter = build_cube(scenes, ("vv", "vh"), grid=cube_grid(cube), size_multiple=1)
        expected = detect_changes(cube, backscatter).compute()
        for name in ("change_count", "event_start", "event_kind", "event_vv_db"):
            np.testing.assert_array_equal(written[name].values, expected[name].values)
    # A config whose catalog lacks the cube's scenes is refused in one clear line.
    empty = items_until(small_sample, 0, tmp_path / "none.json")
    elsewhere = write_config(
        tmp_path / "other.yaml", **job_settings(small_sample, empty, store, tiny_artefact)
    )
    refused = run_cohcube(
        "changes",
        str(store),
        "--out",
        str(tmp_path / "x.zarr"),
        "--config",
        str(elsewhere),
        check=False,
    )
    assert refused.returncode == 2
    assert "no scene in" in refused.stderr
    assert "Traceback" not in refused.stderr
