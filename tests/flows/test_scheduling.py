"""Prefect scheduling (optional extra): the cron deployment, and one real in-process flow run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.process_jobs import items_until

from cohcube.model.errors import ConfigError
from cohcube.pipeline.sample import SampleCatalog

pytest.importorskip("prefect")

from cohcube.flows.scheduling import FLOW_NAME, schedule


def _config(tmp_path: Path, sample: SampleCatalog, model: Path) -> Path:
    bbox = json.loads(sample.collection.read_text())["extent"]["spatial"]["bbox"][0]
    config = tmp_path / "nightly.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "region": {"bbox": bbox},
                # Four passes (two 12-day pairs per tile): the flow, not the volume, is tested.
                "catalog": str(items_until(sample, 4, tmp_path / "items.json")),
                "time": {"start": "last-run"},
                "grid": {"tile_px": 512},
                "output": {"store": str(tmp_path / "cube.zarr")},
                "cluster": {"workers": 1},
                "model": str(model),
            }
        )
    )
    return config


def test_schedule_builds_a_cron_deployment(
    tmp_path: Path, small_sample: SampleCatalog, tiny_artefact: Path
) -> None:
    config = _config(tmp_path, small_sample, tiny_artefact)
    deployment = schedule(config, "0 3 * * *", serve=False)
    assert deployment.name == "nightly"
    assert deployment.flow_name == FLOW_NAME
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
    assert deployment.parameters == {"config_path": str(config.resolve())}
    with pytest.raises(ConfigError, match="--cron"):
        schedule(config, "at three", serve=False)


@pytest.mark.slow  # Prefect's temporary server takes ~30 s to start on 2 cores
def test_flow_runs_the_job(
    tmp_path: Path, small_sample: SampleCatalog, tiny_artefact: Path
) -> None:
    """One real flow run on Prefect's temporary local server, in a child process."""
    config = _config(tmp_path, small_sample, tiny_artefact)
    script = (
        "import json, sys\n"
        "from cohcube.flows.scheduling import build_process_flow\n"
        "report = build_process_flow(retries=0)(sys.argv[1])\n"
        "print(json.dumps({'pairs_added': report['pairs_added']}))\n"
    )
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": "",
        # Prefect gives its temporary server 20 s to start; a loaded 2-core CI machine needs more.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", script, str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pairs_added"] > 0
    assert (tmp_path / "cube.zarr").is_dir()
