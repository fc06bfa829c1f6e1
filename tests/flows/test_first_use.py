"""What a new user meets at the command line: version, help, consistent options, typos."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.processes import free_port

from cohcube.pipeline.sample import SampleCatalog

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_version(run_cohcube: Run) -> None:
    from importlib.metadata import version

    assert run_cohcube("--version").stdout.strip() == f"cohcube {version('cohcube')}"


@pytest.mark.parametrize(("verb", "usage"), [("process", "{CONFIG}"), ("changes", "{STORE}")])
def test_help_reads_plainly(run_cohcube: Run, verb: str, usage: str) -> None:
    text = run_cohcube(verb, "--help", env={"COLUMNS": "120"}).stdout
    assert f"cohcube {verb} [OPTIONS] {usage}" in text
    models = run_cohcube("models", "--help", env={"COLUMNS": "120"}).stdout
    assert "cohcube models [OPTIONS] [FOLDER]" in models
    verbose = next(line for line in text.splitlines() if "--verbose" in line)
    assert "<int>" not in verbose
    assert "[default: 0]" not in verbose
    assert "-vv: debug" in verbose


def test_pairs_takes_the_search_filters_and_says_what_a_baseline_matched(
    run_cohcube: Run, small_sample: SampleCatalog
) -> None:
    items = str(small_sample.items)
    found = run_cohcube(
        "pairs",
        "--catalog",
        items,
        "--orbit-state",
        "ascending",
        "--relative-orbit",
        "73",
        "--platform",
        "sentinel-1a",
        "--baseline",
        "12",
    )
    lines = found.stdout.strip().splitlines()
    assert "6 pair(s)" in found.stderr  # sentinel-1a alone: 7 passes, 12 days apart
    assert all("sentinel-1a -> sentinel-1a" in line for line in lines)
    near = run_cohcube("pairs", "--catalog", items, "--baseline", "5")
    assert "--baseline 5 matched pairs 6 days apart (within --tolerance 1)" in near.stderr
    exact = run_cohcube(
        "pairs", "--catalog", items, "--baseline", "5", "--tolerance", "0.5", check=False
    )
    assert exact.returncode == 2
    assert "6 d" not in exact.stdout


def test_search_and_pairs_name_platforms_alike(
    run_cohcube: Run, small_sample: SampleCatalog
) -> None:
    searched = run_cohcube("search", "--catalog", str(small_sample.items)).stdout
    paired = run_cohcube("pairs", "--catalog", str(small_sample.items)).stdout
    assert "sentinel-1a" in searched
    assert "SENTINEL" not in searched + paired
    assert "sentinel-1a -> sentinel-1a" in paired


def test_a_mistyped_config_key_gets_the_closest_name(run_cohcube: Run, tmp_path: Path) -> None:
    config = tmp_path / "job.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "region": {"bbox": [16.2, 48.1, 16.5, 48.3]},
                "output": {"store": str(tmp_path / "store")},
                "colection": "sentinel-1-grd",
                "grd": {"thermal_nosie": False},
            }
        )
    )
    result = run_cohcube("process", str(config), check=False)
    assert result.returncode == 2
    assert "colection: Extra inputs are not permitted (did you mean 'collection'?)" in result.stderr
    assert "(did you mean 'grd.thermal_noise'?)" in result.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("failure", ["swapped-bbox", "unreachable-catalog"])
def test_a_run_that_fails_before_computing_leaves_nothing(
    run_cohcube: Run,
    small_sample: SampleCatalog,
    tiny_artefact: Path,
    tmp_path: Path,
    failure: str,
) -> None:
    west, south, east, north = json.loads(small_sample.collection.read_text())["extent"]["spatial"][
        "bbox"
    ][0]
    settings: dict[str, object] = {
        "region": {"bbox": [west, south, east, north]},
        "catalog": str(small_sample.items),
        "output": {"store": str(tmp_path / "store")},
        "model": str(tiny_artefact),
        "cluster": {"address": "local", "workers": 1},
    }
    if failure == "swapped-bbox":
        settings["region"] = {"bbox": [south, west, north, east]}  # latitude first
        expected = "longitude first"
    else:
        settings["catalog"] = f"http://127.0.0.1:{free_port()}/stac"
        expected = "127.0.0.1"
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump(settings))
    result = run_cohcube("process", str(config), check=False)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert expected in line
    if failure == "swapped-bbox":
        assert f"{round(south, 4)}" in line  # the area it searched is shown
    assert not (tmp_path / "store").exists()
    assert not (tmp_path / "store.lock").exists()


def test_typos_in_verbs_and_options_get_suggestions(run_cohcube: Run) -> None:
    verb = run_cohcube("proces", check=False)
    assert verb.returncode == 2
    assert "Did you mean 'process'?" in verb.stderr
    option = run_cohcube("pairs", "--baselin", "5", check=False)
    assert "--baseline" in option.stderr
