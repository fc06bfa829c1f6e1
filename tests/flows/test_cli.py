"""The ``cohcube`` console script, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_the_verbs(run_cohcube: Run) -> None:
    result = run_cohcube("--help")
    for verb in ("demo", "train", "export", "evaluate"):
        assert verb in result.stdout


def test_demo_writes_a_summary(run_cohcube: Run, tmp_path: Path) -> None:
    result = run_cohcube("demo", "--out", str(tmp_path / "demo"))
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    rmse = summary["rmse_vs_true_coherence"]
    assert set(rmse) == {"slc_sample_coherence", "intensity_coherence_7px"}
    # The SLC estimate (the training target) is far closer to the truth than
    # the intensity baseline on misregistered detected images.
    assert rmse["slc_sample_coherence"] < rmse["intensity_coherence_7px"]
    assert "summary:" in result.stdout
    assert "cohcube.flows.demo" in result.stderr  # logs go to stderr


def test_quiet_demo_logs_nothing(run_cohcube: Run, tmp_path: Path) -> None:
    result = run_cohcube("demo", "--quiet", "--out", str(tmp_path))
    assert result.stderr == ""
