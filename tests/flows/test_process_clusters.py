"""`cohcube process` on clusters the job starts elsewhere: a real dask-gateway server on
loopback, and the batch script dask-jobqueue would submit to SLURM or PBS (no SLURM here)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from support.gateway import gateway_server
from support.process_jobs import items_until, job_settings, write_config
from support.processes import free_port, start_server, stop_server

from cohcube.flows.job_config import ProcessConfig
from cohcube.model.learning.card import card_path_for
from cohcube.pipeline.remote_clusters import batch_job_script
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store.tile_set import open_tile, tile_ids

Run = Callable[..., subprocess.CompletedProcess[str]]
SUPPORT = Path(__file__).resolve().parents[1] / "support"


def _coherence(store: Path) -> dict[str, np.ndarray]:
    return {t: open_tile(store, t)["coherence"].values for t in tile_ids(str(store))}


def _gateway_clusters(url: str, password: str) -> list[str]:
    """The clusters the gateway runs (its REST API, as any user with ``password``)."""
    credentials = base64.b64encode(f"ci:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{url}/api/v1/clusters/", headers={"Authorization": f"Basic {credentials}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return sorted(json.load(response))


# ~25 s (a dask-gateway server and its workers), slow for CI time: the gateway's settings,
# refusals and an unreachable gateway stay in the default run.
@pytest.mark.slow
def test_a_gateway_cluster_gives_the_local_cube(
    run_cohcube: Run,
    small_sample: SampleCatalog,
    tiny_artefact: Path,
    three_pass_job: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    items, local_store = three_pass_job
    gateway_store = tmp_path / "gateway.zarr"
    settings = job_settings(small_sample, items, gateway_store, tiny_artefact)

    # The workers share no files with the job: they fetch the model over HTTP.
    published = tmp_path / "published"
    published.mkdir()
    card = card_path_for(tiny_artefact)
    for path in (card, tiny_artefact):
        shutil.copy(path, published / path.name)
    port = free_port()
    models = start_server(
        [sys.executable, str(SUPPORT / "asset_server.py"), str(published), str(port)],
        f"http://127.0.0.1:{port}/{card.name}",
    )
    cache = tmp_path / "worker-model-cache"
    try:
        with gateway_server(
            tmp_path / "gateway", "s3cret", {"COHCUBE_MODEL_CACHE": str(cache)}
        ) as url:
            settings["cluster"] = {
                "kind": "gateway",
                "workers": 2,
                "gateway": {"address": url, "auth": "basic", "password_env": "GW_PASSWORD"},
                "model_url": f"http://127.0.0.1:{port}/{card.name}",
            }
            config = write_config(tmp_path / "gateway.yaml", **settings)
            done = run_cohcube(
                "process", str(config), "-v", "--no-progress", env={"GW_PASSWORD": "s3cret"}
            )
            left_running = _gateway_clusters(url, "s3cret")
    finally:
        stop_server(models)

    assert "Dask dashboard: http://127.0.0.1" in done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    assert left_running == []  # the job shut its cluster down
    assert sorted(p.name for p in cache.rglob("*.pt")) == [tiny_artefact.name]
    local, remote = _coherence(local_store), _coherence(gateway_store)
    assert local
    assert sorted(local) == sorted(remote)
    for tile, values in local.items():
        np.testing.assert_array_equal(remote[tile], values)


def test_an_unreachable_gateway_is_one_line(
    run_cohcube: Run, small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    items = items_until(small_sample, 3, tmp_path / "items.json")
    settings = job_settings(small_sample, items, tmp_path / "cube.zarr", tiny_artefact)
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings["cluster"] = {"kind": "gateway", "gateway": {"address": address}}
    failed = run_cohcube(
        "process", str(write_config(tmp_path / "job.yaml", **settings)), check=False
    )
    assert failed.returncode != 0
    last = failed.stderr.strip().splitlines()[-1]
    assert f"dask-gateway at {address} gave no cluster" in last
    assert "Traceback" not in failed.stderr


def _batch_config(tmp_path: Path, kind: str, **jobqueue: Any) -> ProcessConfig:
    return ProcessConfig(
        region={"bbox": [16.2, 48.1, 16.5, 48.3]},
        output={"store": str(tmp_path / "cube.zarr")},
        cluster={"kind": kind, "adapt": {"minimum": 0, "maximum": 40}, "jobqueue": jobqueue},
    )


def test_the_slurm_gpu_job_script(run_cohcube: Run, tmp_path: Path) -> None:
    jobqueue = {
        "cores": 8,
        "memory": "64GB",
        "gpus": 1,
        "queue": "gpu",
        "account": "proj42",
        "walltime": "06:00:00",
        "directives": ["--constraint=a100"],
        "prologue": ["module load cuda/12.4", "source /scratch/venv/bin/activate"],
        "python": "/scratch/venv/bin/python",
        "local_directory": "$TMPDIR",
    }
    spec = _batch_config(tmp_path, "slurm", **jobqueue).cluster.spec()
    assert spec.adapt == (0, 40)
    config = write_config(
        tmp_path / "job.yaml",
        region={"bbox": [16.2, 48.1, 16.5, 48.3]},
        output={"store": str(tmp_path / "cube.zarr")},
        cluster={"kind": "slurm", "adapt": {"minimum": 0, "maximum": 40}, "jobqueue": jobqueue},
    )
    script = run_cohcube("batch-script", str(config)).stdout
    lines = script.splitlines()
    for directive in (
        "#SBATCH -J cohcube-worker",
        "#SBATCH -p gpu",
        "#SBATCH -A proj42",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH -t 06:00:00",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --constraint=a100",
    ):
        assert directive in lines, script
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    worker = lines[-1]
    assert worker.startswith("/scratch/venv/bin/python -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 8" in worker
    assert "--local-directory $TMPDIR" in worker
    assert "--nworkers" not in worker  # one worker per GPU job
    assert lines.index("module load cuda/12.4") < len(lines) - 1


def test_the_pbs_job_script(tmp_path: Path) -> None:
    spec = _batch_config(tmp_path, "pbs", cores=4, memory="16GB", gpus=1, queue="gpuq").cluster
    assert spec.spec().jobqueue is not None
    script = batch_job_script(spec.spec().jobqueue)  # type: ignore[arg-type]
    assert "#PBS -l select=1:ncpus=4:mem=16GB:ngpus=1" in script
    assert "#PBS -q gpuq" in script
    assert "--nthreads 4" in script


def test_batch_script_of_a_local_cluster_says_so(run_cohcube: Run, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "job.yaml",
        region={"bbox": [16.2, 48.1, 16.5, 48.3]},
        output={"store": str(tmp_path / "cube.zarr")},
    )
    failed = run_cohcube("batch-script", str(config), check=False)
    assert failed.returncode == 2
    assert "cluster.kind is 'local', not 'slurm' or 'pbs'" in failed.stderr


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"kind": "slurm", "jobqueue": {"gpus": 2}}, "less than or equal to 1"),
        ({"kind": "scheduler", "address": "local"}, "kind scheduler needs a tcp:// address"),
        ({"address": "gateway"}, "is not 'local', 'cuda' or a scheduler address"),
        ({"kind": "gateway", "adapt": {"minimum": 4, "maximum": 2}}, "below minimum"),
        ({"kind": "slurm", "jobqueue": {"partition": "gpu"}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_cluster_settings_are_refused(
    tmp_path: Path, cluster: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ProcessConfig(
            region={"bbox": [16.2, 48.1, 16.5, 48.3]},
            output={"store": str(tmp_path / "cube.zarr")},
            cluster=cluster,
        )
