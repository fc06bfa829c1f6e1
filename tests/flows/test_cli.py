"""The ``cohcube`` console script, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pystac
import zarr

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_the_verbs(run_cohcube: Run) -> None:
    result = run_cohcube("--help")
    for verb in ("demo", "train", "export", "evaluate", "sample-catalog", "search", "pairs"):
        assert verb in result.stdout


def test_demo_runs_the_whole_job(run_cohcube: Run, tmp_path: Path, tiny_artefact: Path) -> None:
    env = {"COHCUBE_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "demo"
    args = ("demo", "--out", str(out), "--model", str(tiny_artefact), "--sample-size", "256")
    result = run_cohcube(*args, env=env)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs_processed"] == 12  # 14 acquisitions, 12-day pairs
    assert summary["pairs_scored"] == 12
    assert set(summary["rmse_vs_true_coherence"]) == {"model", "intensity_coherence_9px"}
    assert all(0 < v < 1 for v in summary["rmse_vs_true_coherence"].values())
    assert (out / "quicklook.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert zarr.open_group(str(out / "coherence.zarr"), mode="r")["coherence"].shape == (
        12,
        256,
        256,
    )
    assert "RMSE vs true coherence" in result.stdout
    (item,) = pystac.read_file(summary["outputs"]["stac"]).get_items()  # type: ignore[attr-defined]
    assert item.properties["cohcube:pairs"] == 12
    assert "cohcube.flows.demo" in result.stderr  # logs go to stderr
    again = run_cohcube(*args, "--quiet", env=env)
    assert json.loads((out / "summary.json").read_text())["pairs_processed"] == 0
    assert again.stderr == ""
