"""Soak: the regional job run 20 times in a row against flaky servers (``pytest -m slow``).

The sample's acquisitions arrive over the runs (``time.end`` advances, ``time.start:
last-run``), the STAC API (rustac behind a fault-injecting proxy) and the asset
server fail every few requests. Every run must complete, and the final store
must hold exactly the pairs of one clean run, with the same values.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.process_jobs import job_settings, write_config
from support.served import proxied_api, served_assets, stac_api

from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store.tile_set import open_tile, tile_ids

Run = Callable[..., subprocess.CompletedProcess[str]]
RUNS = 20
ASSET_FAULTS = ("503=7", "reset=11", "truncate=13")
API_FAULTS = ("503=5", "reset=8")


def _faults(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/__faults", timeout=5) as answer:
        return dict(json.load(answer))


def _pairs(store: Path) -> dict[str, list[str]]:
    return {t: [str(p) for p in open_tile(store, t)["pair"].values] for t in tile_ids(str(store))}


def _end_times(sample: SampleCatalog) -> list[str]:
    """RUNS end times: passes arrive one or two at a time; the last runs find nothing new."""
    features = json.loads(sample.items.read_text())["features"]
    days = sorted({pd.Timestamp(f["properties"]["datetime"]) for f in features})
    first, last = days[1], days[-1] + pd.Timedelta(days=1)
    step = (last - first) / (RUNS - 4)
    ends = [min(first + k * step, last) for k in range(RUNS)]
    return [e.tz_convert(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for e in ends]


@pytest.mark.slow
def test_twenty_runs_with_faults_equal_a_clean_run(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    clean_store = tmp_path / "clean.zarr"
    clean_config = write_config(
        tmp_path / "clean.yaml",
        **job_settings(small_sample, small_sample.items, clean_store, tiny_artefact),
    )
    run_cohcube("process", str(clean_config), "--no-progress")
    clean = _pairs(clean_store)

    store = tmp_path / "soaked.zarr"
    completed, added, failures = 0, 0, []
    shutil.copy(small_sample.collection, tmp_path / "collection.json")
    with (
        served_assets(small_sample, tmp_path, *ASSET_FAULTS) as items,
        stac_api(tmp_path / "collection.json", items) as api,
        proxied_api(api, *API_FAULTS) as catalog,
    ):
        asset_url = json.loads(items.read_text())["features"][0]["assets"]["vv"]["href"]
        asset_root = asset_url.split("/", 3)[:3]
        for k, end in enumerate(_end_times(small_sample)):
            settings = job_settings(small_sample, catalog, store, tiny_artefact) | {
                "time": {"start": "last-run", "end": end}
            }
            config = write_config(tmp_path / "soak.yaml", **settings)
            report = tmp_path / f"run-{k}.json"
            result = run_cohcube(
                "process", str(config), "--json", str(report), "--no-progress", check=False
            )
            if result.returncode == 0:
                completed += 1
                added += json.loads(report.read_text())["pairs_added"]
            else:
                failures.append(result.stderr[-2000:])
        asset_faults = _faults("/".join(asset_root))
        api_faults = _faults(catalog)

    final = _pairs(store)
    expected = sum(len(p) for p in clean.values())
    lost = sum(len(set(p) - set(final.get(t, []))) for t, p in clean.items())
    extra = sum(len(set(p) - set(clean.get(t, []))) for t, p in final.items())
    duplicates = sum(len(p) - len(set(p)) for p in final.values())
    injected = sum(asset_faults.values()) + sum(api_faults.values())
    print(
        "\n| faults injected | runs | runs completed | pairs expected | pairs added "
        "| pairs lost | extra pairs | duplicates |\n" + "| --- " * 8 + "|"
        f"\n| {injected} (assets {asset_faults}, STAC API {api_faults}) | {RUNS} | {completed} "
        f"| {expected} | {added} | {lost} | {extra} | {duplicates} |"
    )
    assert completed == RUNS, failures[:1]
    assert asset_faults  # the faults really happened
    assert api_faults
    assert (lost, extra, duplicates) == (0, 0, 0)
    assert added == expected
    for tile, pairs in clean.items():
        want = open_tile(clean_store, tile)["coherence"].sel(pair=sorted(pairs)).values
        got = open_tile(store, tile)["coherence"].sel(pair=sorted(pairs)).values
        np.testing.assert_allclose(got, want, atol=1e-5)
