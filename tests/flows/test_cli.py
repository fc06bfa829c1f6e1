"""The ``cohcube`` console script, run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _cohcube() -> list[str]:
    script = Path(sys.executable).with_name("cohcube")
    found = str(script) if script.exists() else shutil.which("cohcube")
    if found is None:
        pytest.fail("the cohcube console script is not installed (pip install -e .)")
    return [found]


def test_help_lists_the_demo() -> None:
    result = subprocess.run([*_cohcube(), "--help"], capture_output=True, text=True, check=True)
    assert "demo" in result.stdout


def test_demo_writes_a_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [*_cohcube(), "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    rmse = summary["rmse_vs_true_coherence"]
    assert set(rmse) == {"slc_sample_coherence", "intensity_coherence_7px"}
    # The SLC estimate (the training target) is far closer to the truth than
    # the intensity baseline on misregistered detected images.
    assert rmse["slc_sample_coherence"] < rmse["intensity_coherence_7px"]
    assert "summary:" in result.stdout
    assert "cohcube.flows.demo" in result.stderr  # logs go to stderr


def test_quiet_demo_logs_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [*_cohcube(), "demo", "--quiet", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == ""
