"""A 16-tile `cohcube process` job losing a worker, and separately its driver, mid-job: the
cube equals a clean run's, no pair is held twice, and the re-run computes exactly the
regions that were missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
import pytest
import zarr
from shapely import box
from shapely.geometry import mapping
from support.process_jobs import items_until, job_settings, pairs_in_store, write_config
from support.processes import cohcube_command

from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store.tile_set import open_tile, tile_url
from cohcube.pipeline.store.zarr_cube import DONE_PREFIX
from cohcube.pipeline.tiles import TileGrid, reprojected, tiles_for_region

Run = Callable[..., subprocess.CompletedProcess[str]]
TILE_PX = 128


def _sixteen_tiles(sample: SampleCatalog, out: Path) -> Path:
    """A GeoJSON region touching exactly 4 x 4 tiles of ``TILE_PX`` inside the sample."""
    from pyproj import Transformer

    bbox = json.loads(sample.collection.read_text())["extent"]["spatial"]["bbox"][0]
    grid = TileGrid(tile_px=TILE_PX)
    tiles = tiles_for_region(box(*bbox), grid)
    epsg = tiles[0].grid.epsg
    step = TILE_PX * 10.0
    lefts = sorted({t.grid.bounds[0] for t in tiles})
    bottoms = sorted({t.grid.bounds[1] for t in tiles})
    left, bottom = lefts[1], bottoms[1]  # the first full column and row inside the sample
    inner = box(left + 20, bottom + 20, left + 4 * step - 20, bottom + 4 * step - 20)
    lonlat = reprojected(inner, Transformer.from_crs(epsg, 4326, always_xy=True))
    assert len(tiles_for_region(lonlat, grid)) == 16
    out.write_text(json.dumps(mapping(lonlat)))
    return out


@pytest.fixture(scope="module")
def sixteen_tile_job(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """Settings of the 16-tile job (six passes: four 12-day pairs per tile)."""
    folder = tmp_path_factory.mktemp("sixteen")
    items = items_until(small_sample, 6, folder / "items.json")
    settings = job_settings(small_sample, items, folder / "unused.zarr", tiny_artefact)
    settings["region"] = {"geojson": str(_sixteen_tiles(small_sample, folder / "region.json"))}
    settings["grid"] = {"tile_px": TILE_PX}
    return settings


@pytest.fixture(scope="module")
def clean_run(
    sixteen_tile_job: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, int]]:
    """The store of an uninterrupted run, and the regions each of its tiles computed."""
    folder = tmp_path_factory.mktemp("clean")
    store = folder / "cube.zarr"
    config = _config(sixteen_tile_job, store, folder)
    subprocess.run(
        [
            cohcube_command(),
            "process",
            str(config),
            "--no-progress",
            "--json",
            str(folder / "r.json"),
        ],
        check=True,
        capture_output=True,
    )
    report = json.loads((folder / "r.json").read_text())
    regions = {t["tile"]: t["regions_total"] for t in report["tiles"]}
    assert len(regions) == 16
    assert all(n > 0 for n in regions.values())
    return store, regions


def _config(settings: dict[str, object], store: Path, folder: Path) -> Path:
    return write_config(folder / "job.yaml", **settings | {"output": {"store": str(store)}})


def _killable_job(
    settings: dict[str, object], folder: Path, committed_tiles: int
) -> tuple[Path, Path, subprocess.Popen[str]]:
    """(store, config, job): the job started in a session of its own, once
    ``committed_tiles`` of its tiles hold their pairs (others still to come)."""
    store = folder / "cube.zarr"
    config = _config(settings, store, folder)
    job = _start(config)
    _wait_until_some_committed(job, store, committed_tiles)
    return store, config, job


def _start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [cohcube_command(), "process", str(config), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _tiles_committed(store: Path) -> int:
    return sum(1 for pairs in pairs_in_store(store).values() if pairs) if store.exists() else 0


def _wait_until_some_committed(job: subprocess.Popen[str], store: Path, tiles: int) -> None:
    deadline = time.monotonic() + 180
    while job.poll() is None and time.monotonic() < deadline:
        try:
            if _tiles_committed(store) >= tiles:
                return
        except (OSError, ValueError, KeyError):  # a tile being created right now
            pass
        time.sleep(0.05)
    raise AssertionError(f"the job ended ({job.poll()}) before {tiles} tiles were committed")


def _regions_done(store: Path, tiles: list[str]) -> dict[str, int | None]:
    """Per tile: None if its pairs are committed, else the regions its pending batch has done."""
    done: dict[str, int | None] = {}
    for tile in tiles:
        url = tile_url(str(store), tile)
        if not Path(url, "zarr.json").exists():
            done[tile] = 0
            continue
        group = zarr.open_group(url, mode="r")
        pending = group.attrs.get("cohcube:pending")
        if pending:
            done[tile] = int(np.asarray(group[f"{DONE_PREFIX}{pending['id']}"][:]).sum())
        else:
            held = "pair" in group and group["pair"].shape[0] > 0  # a cube cut off mid-creation
            done[tile] = None if held else 0
    return done


def _assert_equal_to_clean(store: Path, clean: Path) -> None:
    held, expected = pairs_in_store(store), pairs_in_store(clean)
    assert held == expected
    for tile, pairs in held.items():
        assert len(pairs) == len(set(pairs)) == 4, tile  # no pair held twice
        for name in ("coherence", "coherence_sigma"):
            np.testing.assert_array_equal(
                open_tile(store, tile)[name].values, open_tile(clean, tile)[name].values
            )


@pytest.mark.slow  # 16-tile jobs; test_zarr_cube.py kills a worker and a driver by the default run
def test_a_killed_worker_changes_nothing(
    run_cohcube: Run,
    sixteen_tile_job: dict[str, object],
    clean_run: tuple[Path, dict[str, int]],
    tmp_path: Path,
) -> None:
    clean, _ = clean_run
    store, config, job = _killable_job(sixteen_tile_job, tmp_path, committed_tiles=2)
    # The worker processes: spawned by the nannies that run inside the driver process.
    workers = [
        p for p in psutil.Process(job.pid).children() if "spawn_main" in " ".join(p.cmdline())
    ]
    assert workers, "no worker process found"
    assert job.poll() is None, "the job finished before a worker could be killed"
    os.kill(workers[0].pid, signal.SIGKILL)
    _, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr[-3000:]
    _assert_equal_to_clean(store, clean)
    again = run_cohcube("process", str(config), "--no-progress", "--json", str(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text())["regions_computed"] == 0, again.stderr


@pytest.mark.slow
def test_a_killed_driver_resumes_only_what_is_missing(
    run_cohcube: Run,
    sixteen_tile_job: dict[str, object],
    clean_run: tuple[Path, dict[str, int]],
    tmp_path: Path,
) -> None:
    clean, regions = clean_run
    store, config, job = _killable_job(sixteen_tile_job, tmp_path, committed_tiles=3)
    os.kill(job.pid, signal.SIGKILL)  # the driver only, as a crashed login node would
    job.wait(timeout=30)
    os.killpg(job.pid, signal.SIGKILL)  # then its orphaned workers, by the job's group
    job.communicate()
    done = _regions_done(store, sorted(regions))
    assert any(d is None for d in done.values())  # some tiles were committed
    assert any(d is not None for d in done.values())  # some were not

    again = run_cohcube("process", str(config), "--no-progress", "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    computed = {t["tile"]: t["regions_computed"] for t in report["tiles"]}
    for tile, before in done.items():
        expected = 0 if before is None else regions[tile] - before
        assert computed[tile] == expected, (tile, before, again.stderr[-2000:])
    assert report["regions_computed"] == sum(
        regions[t] - (d or 0) for t, d in done.items() if d is not None
    )
    _assert_equal_to_clean(store, clean)
