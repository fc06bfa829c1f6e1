"""`cohcube process`: the incremental regional job on the small sample, via the console script."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr
import zarr
from support.process_jobs import (
    items_until,
    job_settings,
    pairs_in_store,
    whole_area_coherence,
    write_config,
)
from support.processes import cohcube_command
from support.served import served_assets

from cohcube.pipeline.pairs import acquisitions_of, select_pairs
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import read_local_items
from cohcube.pipeline.store.tile_set import open_tile, open_tiles, tile_ids

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_process_is_incremental(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    items = items_until(small_sample, 6, tmp_path / "items.json")
    store = tmp_path / "cube.zarr"
    config = write_config(
        tmp_path / "job.yaml", **job_settings(small_sample, items, store, tiny_artefact)
    )

    first = run_cohcube(
        "process", str(config), "--json", str(tmp_path / "r1.json"), "--no-progress"
    )
    report = json.loads((tmp_path / "r1.json").read_text())
    before = pairs_in_store(store)
    expected = set(select_pairs(acquisitions_of(read_local_items(items)), (12,))["pair_id"])
    assert len(expected) == 4
    assert before, first.stdout
    assert all(set(pairs) == expected for pairs in before.values()), first.stdout
    assert report["pairs_added"] == 4 * len(before)
    # Tiles follow the fixed UTM lattice: 512 px x 10 m, zone 33 north.
    assert all(t.startswith("33N_") for t in before)
    _assert_seam_free(items, store, tiny_artefact)

    # The plan of the same job now finds every pair held.
    run_cohcube("plan", str(config), "--json", str(tmp_path / "plan.json"))
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert (plan["pairs_held"], plan["pairs_new"]) == (report["pairs_added"], 0)

    # A run that finds nothing new starts no cluster and writes nothing.
    runs = zarr.open_group(str(store), mode="r").attrs["cohcube:runs"]
    catalog = next(store.parent.glob(f"{store.name}.stac/**/*.json"))
    stamp = catalog.stat().st_mtime_ns
    second = run_cohcube("process", str(config), "--json", str(tmp_path / "r2.json"))
    assert json.loads((tmp_path / "r2.json").read_text())["pairs_added"] == 0, second.stdout
    assert pairs_in_store(store) == before
    assert "nothing new to add: the store is unchanged" in second.stderr
    assert "Dask dashboard" not in second.stderr
    assert zarr.open_group(str(store), mode="r").attrs["cohcube:runs"] == runs
    assert catalog.stat().st_mtime_ns == stamp
    # The count of pairs a tile holds is the tile's, not this run's.
    assert all("held   4" in line for line in second.stdout.splitlines() if "held" in line)
    # Opening the result: the root says how; open_tiles gives every tile at once.
    root = xr.open_zarr(store, consolidated=False)
    assert not root.data_vars
    assert "open_tiles(store)" in root.attrs["cohcube:open"]
    tree = open_tiles(store)
    assert sorted(tree.children) == tile_ids(str(store))
    for cube in tree.children.values():
        assert cube.dataset.sizes["pair"] == 4
        assert cube.dataset.rio.crs.to_epsg() == 32633

    # Two more acquisitions arrive; "since last run" searches only what they can pair with.
    items_until(small_sample, 8, items)
    settings = job_settings(small_sample, items, store, tiny_artefact) | {
        "time": {"start": "last-run"}
    }
    write_config(config, **settings)
    run_cohcube("process", str(config), "--json", str(tmp_path / "r3.json"))
    third = json.loads((tmp_path / "r3.json").read_text())
    everything = set(select_pairs(acquisitions_of(read_local_items(items)), (12,))["pair_id"])
    new = everything - expected
    assert len(new) == 2
    for tile in third["tiles"]:
        if tile["tile"] in before:
            assert set(tile["pairs_added"]) == new
    after = pairs_in_store(store)
    assert all(set(pairs) == everything for pairs in after.values())
    # The STAC catalog beside the store describes every tile with its committed pairs.
    collection = pystac.read_file(third["stac"])
    assert isinstance(collection, pystac.Collection)
    items = {item.id: item for item in collection.get_items()}
    assert sorted(items) == sorted(after)
    assert all(item.properties["cohcube:pairs"] == len(everything) for item in items.values())
    # The store's run log, as an operator reads it.
    run_cohcube("status", str(store), "--json", str(tmp_path / "status.json"))
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["tiles"] == {t: len(everything) for t in after}
    assert status["pending"] == {}
    assert status["unfinished"] is None
    assert [r["pairs_added"] for r in status["runs"]] == [
        report["pairs_added"],
        third["pairs_added"],
    ]  # the run that added nothing wrote nothing
    assert all(r["tiles_failed"] == [] and r["started"] <= r["finished"] for r in status["runs"])
    not_a_store = run_cohcube("status", str(tmp_path), check=False)
    assert not_a_store.returncode == 2
    assert "is not a cohcube tile set" in not_a_store.stderr

    # Pairs written by the first run are untouched by the later ones.
    tile = next(iter(before))
    assert np.isfinite(open_tile(store, tile)["coherence"].sel(pair=sorted(expected)).values).any()


def _assert_seam_free(items: Path, store: Path, model: Path) -> None:
    """Each tile read its neighbours' ground: the tile set equals whole-area inference,
    along the tiles' shared edges too (where tiles inferred alone differed by up to 0.19)."""
    tiles = tile_ids(str(store))
    assert len(tiles) == 4  # a 2 x 2 block of tiles sharing edges inside the data
    whole = whole_area_coherence(items, tiles, store, model, tile_px=512)
    near_edges = 0
    for tile_id in tiles:
        tile = open_tile(store, tile_id)["coherence"].load()
        reference = (
            whole["coherence"]
            .sel(pair=tile["pair"])
            .sel(y=tile["y"], x=tile["x"], method="nearest", tolerance=1.0)
        )
        both = np.isfinite(tile.values)
        np.testing.assert_array_equal(both, np.isfinite(reference.values))
        assert both.any(), tile_id
        assert np.abs(tile.values - reference.values)[both].max() <= 1e-3, tile_id
        near_edges += int(both[:, :32].sum() + both[:, -32:].sum())
    assert near_edges > 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"region": None}, "region"),
        ({"time": {"start": "2026-05-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}}, "time.end"),
        ({"grid": {"tile_px": "big"}}, "grid.tile_px"),
        ({"grd": {"terrain": "srtm"}}, "grd.terrain"),
    ],
)
def test_bad_configs_exit_with_one_clear_line(
    run_cohcube: Run,
    small_sample: SampleCatalog,
    tiny_artefact: Path,
    tmp_path: Path,
    change: dict[str, object],
    field: str,
) -> None:
    settings = (
        job_settings(small_sample, small_sample.items, tmp_path / "c.zarr", tiny_artefact) | change
    )
    settings = {k: v for k, v in settings.items() if v is not None}
    result = run_cohcube(
        "process", str(write_config(tmp_path / "bad.yaml", **settings)), check=False
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert field in lines[0]
    assert not (tmp_path / "c.zarr").exists()


def test_unwritable_store_is_refused(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    store = tmp_path / "a-file" / "cube.zarr"
    config = write_config(
        tmp_path / "job.yaml",
        **job_settings(small_sample, small_sample.items, store, tiny_artefact),
    )
    result = run_cohcube("process", str(config), check=False)
    assert result.returncode == 2
    assert "output.store" in result.stderr
    assert "not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_overrides_the_file(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "job.yaml",
        **job_settings(small_sample, small_sample.items, tmp_path / "c.zarr", tiny_artefact),
    )
    (tmp_path / "plain-file").write_text("")
    result = run_cohcube(
        "process",
        str(config),
        check=False,
        env={"COHCUBE_OUTPUT__STORE": str(tmp_path / "plain-file")},
    )
    assert result.returncode == 2
    assert str(tmp_path / "plain-file") in result.stderr
    assert "not a cohcube" in result.stderr


@pytest.mark.slow  # a missing asset named: test_flaky_sources.py; nothing left: test_first_use.py
def test_an_unreadable_scene_stops_or_is_skipped(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    items = items_until(small_sample, 4, tmp_path / "four.json")
    victim = json.loads(items.read_text())["features"][-1]
    name = victim["assets"]["vv"]["href"].rsplit("/", 2)[-2]
    with served_assets(small_sample, tmp_path, f"missing={name}") as served:
        four = json.loads(served.read_text())
        keep = {f["id"] for f in json.loads(items.read_text())["features"]}
        four["features"] = [f for f in four["features"] if f["id"] in keep]
        served.write_text(json.dumps(four))
        store = tmp_path / "cube.zarr"
        job = job_settings(small_sample, served, store, tiny_artefact)
        config = write_config(tmp_path / "job.yaml", **job)
        stopped = run_cohcube("process", str(config), check=False)
        assert stopped.returncode == 2, stopped.stderr[-3000:]
        assert "Traceback" not in stopped.stderr, stopped.stderr
        errors = [line for line in stopped.stderr.splitlines() if line.startswith("cohcube: error")]
        assert len(errors) == 1, stopped.stderr
        assert name in errors[0]
        assert "no pair of this run was marked complete" in errors[0]
        assert all(open_tile(store, t).sizes["pair"] == 0 for t in tile_ids(str(store)))

        write_config(config, **job | {"on_unreadable": "skip"})
        run_cohcube("process", str(config), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert list(report["skipped_scenes"]) == [victim["id"]]
    assert name in report["skipped_scenes"][victim["id"]]
    assert report["pairs_added"] > 0
    runs = zarr.open_group(str(store), mode="r").attrs["cohcube:runs"]
    assert list(runs[-1]["skipped_scenes"]) == [victim["id"]]


def test_an_incompatible_model_card_is_refused(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    card = json.loads(tiny_artefact.with_suffix(".json").read_text())
    card["format_version"] = 99
    (tmp_path / "model.pt").write_bytes(tiny_artefact.read_bytes())
    (tmp_path / "model.json").write_text(json.dumps(card))
    store = tmp_path / "c.zarr"
    config = write_config(
        tmp_path / "job.yaml",
        **job_settings(small_sample, small_sample.items, store, tmp_path / "model.json"),
    )
    result = run_cohcube("process", str(config), check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "model card" in line
    assert "format version 99" in line
    assert "re-export" in line
    assert not store.exists()


def _blank_copy(href: str, out: Path) -> str:
    """A copy of the COG at ``href`` with every pixel NaN (an empty scene)."""
    with rasterio.open(href) as source:
        profile = source.profile
        data = np.full((source.count, source.height, source.width), np.nan, source.dtypes[0])
    with rasterio.open(out, "w", **profile) as target:
        target.write(data)
    return str(out)


@pytest.mark.slow  # ~20 s; the unreadable-scene job above takes the same path
def test_an_all_nan_scene_stops_or_is_skipped(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    items = items_until(small_sample, 4, tmp_path / "four.json")
    document = json.loads(items.read_text())
    victim = document["features"][-1]
    for band in ("vv", "vh"):
        asset = victim["assets"][band]
        href = str((small_sample.items.parent / asset["href"]).resolve())
        asset["href"] = _blank_copy(href, tmp_path / f"blank-{band}.tif")
    items.write_text(json.dumps(document))
    store = tmp_path / "cube.zarr"
    job = job_settings(small_sample, items, store, tiny_artefact)
    config = write_config(tmp_path / "job.yaml", **job)

    stopped = run_cohcube("process", str(config), check=False)
    assert stopped.returncode == 2
    assert "Traceback" not in stopped.stderr
    (error,) = [line for line in stopped.stderr.splitlines() if line.startswith("cohcube: error")]
    assert f"scene {victim['id']}" in error
    assert "holds no valid pixel" in error
    assert all(open_tile(store, t).sizes["pair"] == 0 for t in tile_ids(str(store)))

    write_config(config, **job | {"on_unreadable": "skip"})
    run_cohcube("process", str(config), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert list(report["skipped_scenes"]) == [victim["id"]]
    assert "holds no valid pixel" in report["skipped_scenes"][victim["id"]]
    assert report["pairs_added"] > 0


@pytest.mark.slow  # the lock's refusal and take-over: test_zarr_cube.py::test_refusals
def test_two_jobs_started_at_once_never_interleave(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    items = items_until(small_sample, 5, tmp_path / "five.json")
    store = tmp_path / "cube.zarr"
    config = write_config(
        tmp_path / "job.yaml", **job_settings(small_sample, items, store, tiny_artefact)
    )
    command = [cohcube_command(), "process", str(config), "--no-progress"]
    jobs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [(job.wait(timeout=300), job.communicate()[1]) for job in jobs]
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 0], [0, 2]), outcomes
    for code, stderr in outcomes:
        if code == 2:  # the second job refused, naming the first
            (error,) = [line for line in stderr.splitlines() if line.startswith("cohcube: error")]
            assert "is being written by another job (pid" in error
            assert "Traceback" not in stderr
    expected = set(select_pairs(acquisitions_of(read_local_items(items)), (12,))["pair_id"])
    held = pairs_in_store(store)
    assert held
    for pairs in held.values():
        assert sorted(pairs) == sorted(expected)  # every pair once: no loss, no duplicate
    assert not (tmp_path / "cube.zarr.lock").exists()


@pytest.mark.slow  # ~1 min: the w32 network over four tiles; its parts are tested fast elsewhere
def test_process_runs_the_imported_paper_model_end_to_end(
    run_cohcube: Run,
    small_sample: SampleCatalog,
    cli_imported_legacy: Path,
    tmp_path: Path,
) -> None:
    model = cli_imported_legacy  # made by `cohcube import-keras`
    listed = run_cohcube("models", str(model.parent))
    assert "back2coh-grd-gee-w32-d4" in listed.stdout
    assert "sigma none" in listed.stdout
    store = tmp_path / "paper.zarr"
    items = items_until(small_sample, 3, tmp_path / "items.json")  # one 12-day pair per tile
    config = write_config(tmp_path / "job.yaml", **job_settings(small_sample, items, store, model))
    run_cohcube("process", str(config))
    held = pairs_in_store(store)
    assert held
    assert all(len(pairs) == 1 for pairs in held.values())
    tile = open_tile(store, next(iter(held)))
    assert tile.attrs["model_name"] == "back2coh-grd-gee-w32-d4"
    assert tile.attrs["polarizations"] == ["VV"]
    assert np.isnan(tile.coherence_sigma.values).all()
    run_cohcube("process", str(config), "--json", str(tmp_path / "again.json"))
    assert json.loads((tmp_path / "again.json").read_text())["pairs_added"] == 0
