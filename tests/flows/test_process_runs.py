"""What an operator sees of `cohcube process` runs: Ctrl-C and resuming (a run with nothing
new: test_process.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import rioxarray  # noqa: F401
from support.process_jobs import items_until, job_settings, pairs_in_store, write_config
from support.processes import as_from_a_terminal, cohcube_command

from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store.tile_set import held_through, pending_pairs

Run = Callable[..., subprocess.CompletedProcess[str]]


def _pending_somewhere(store: Path) -> bool:
    for meta in store.glob("*/zarr.json"):
        try:
            if "cohcube:pending" in meta.read_text():
                return True
        except OSError:
            continue
    return False


def test_ctrl_c_says_so_in_one_line_and_a_rerun_resumes(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    store = tmp_path / "cube.zarr"
    items = items_until(small_sample, 6, tmp_path / "items.json")
    settings = job_settings(small_sample, items, store, tiny_artefact)
    # 16 small tiles, not 4: the run outlives its first pending pair by many tiles, so the
    # interrupt lands mid-run (with 4 the job could finish between seeing it and Ctrl-C).
    settings |= {"grid": {"tile_px": 128}, "time": {"start": "last-run"}}
    config = write_config(tmp_path / "job.yaml", **settings)
    # A session of its own: the signal goes to the job and its workers, as Ctrl-C in a terminal.
    job = subprocess.Popen(
        as_from_a_terminal([cohcube_command(), "process", str(config), "--no-progress"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not _pending_somewhere(store) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.poll() is None, "the job finished before it could be interrupted"
    os.killpg(job.pid, signal.SIGINT)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("cohcube: interrupted; no unfinished pair is presented as done")
    assert f"cohcube process {config}` again to resume" in last
    for noise in ("Traceback", "AllExit", "Task exception was never retrieved"):
        assert noise not in stderr

    interrupted_pending = pending_pairs(str(store))
    nothing_committed = held_through(str(store)) is None
    again = run_cohcube("process", str(config), "--no-progress", "--json", str(tmp_path / "r.json"))
    if interrupted_pending and nothing_committed:
        assert f"{interrupted_pending} pairs of an interrupted run are pending" in again.stderr
    assert "the store is empty" not in again.stderr or not interrupted_pending
    held = pairs_in_store(store)
    assert held
    assert all(len(p) == 4 for p in held.values()), held  # 6 passes: four 12-day pairs per tile
