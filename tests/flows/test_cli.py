"""The ``cohcube`` console script, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pystac
import zarr

from cohcube.model.learning.card import read_card
from cohcube.model.learning.precision import cpu_capability, resolve_precision

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_the_verbs(run_cohcube: Run) -> None:
    result = run_cohcube("--help")
    verbs = ("demo", "train", "export", "evaluate", "tune-bf16", "sample-catalog", "search")
    for verb in verbs:
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
    # auto: what this CPU runs natively, if the tiny model's card records it close to fp32
    card = read_card(tiny_artefact)
    expected = resolve_precision("auto", cpu_capability(), card.precision_parity)
    assert summary["precision"] == expected
    assert f"precision            {expected}" in result.stdout
    changes = summary["change_detection"]
    assert changes["events"] > 0
    assert set(changes["detection_by_kind"]) <= {
        "harvest",
        "flood",
        "flood recession",
        "construction",
    }
    for score in (
        changes,
        changes["coherence_only"],
        changes["ceiling_true_coherence_and_backscatter"],
    ):
        assert 0 <= score["detection_rate"] <= 1
        assert 0 <= score["false_alarm_rate"] <= 1
    # Both kinds of evidence find more than coherence alone.
    assert changes["detection_rate"] > changes["coherence_only"]["detection_rate"]
    assert "per kind" in result.stdout
    assert "ceiling (truth)" in result.stdout
    (item,) = pystac.read_file(summary["outputs"]["stac"]).get_items()  # type: ignore[attr-defined]
    assert item.properties["cohcube:pairs"] == 12
    assert "cohcube.flows.demo" in result.stderr  # logs go to stderr
    again = run_cohcube(*args, "--quiet", env=env)
    assert json.loads((out / "summary.json").read_text())["pairs_processed"] == 0
    assert again.stderr == ""


def test_config_verbs_write_commented_defaults_that_load(run_cohcube: Run, tmp_path: Path) -> None:
    from cohcube.flows.job_config import load_process_config
    from cohcube.model.learning.config import TrainingConfig, load_training_config

    training = tmp_path / "train.yaml"
    run_cohcube("config", "train", str(training))
    text = training.read_text()
    assert "# Peak AdamW learning rate." in text
    assert load_training_config(training) == TrainingConfig()
    job = tmp_path / "job.yaml"
    run_cohcube("config", "process", str(job))
    assert "# Output Zarr store: local path or fsspec URL." in job.read_text()
    config = load_process_config(job)
    assert config.output.store == "coherence-tiles"
    assert config.pairs.baselines_days == (12.0,)
    again = run_cohcube("config", "process", str(job), check=False)
    assert again.returncode == 2
    assert "exists" in again.stderr
    printed = run_cohcube("config", "train")
    assert printed.stdout == text
