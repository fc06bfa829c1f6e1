"""Running the installed ``cohcube`` console script."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.process_jobs import items_until, job_settings, write_config
from support.processes import cohcube_command

from cohcube.pipeline.sample import SampleCatalog


def _run(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [cohcube_command(), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"cohcube {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture
def run_cohcube() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cohcube(*args, check=True, env=None)`` runs the console script, capturing output."""
    return _run


@pytest.fixture(scope="session")
def three_pass_job(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(items, store): the sample's first three passes, and the store a plain local
    ``cohcube process`` makes of them (one 12-day pair per tile) -- what the same job on
    another cluster or through another catalog must equal."""
    folder = tmp_path_factory.mktemp("three-pass")
    items = items_until(small_sample, 3, folder / "items.json")
    store = folder / "local.zarr"
    config = write_config(
        folder / "job.yaml", **job_settings(small_sample, items, store, tiny_artefact)
    )
    _run("process", str(config), "--no-progress")
    return items, store
