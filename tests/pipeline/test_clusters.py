"""Cluster set-up: what dask_client tells the user about settings it cannot apply."""

from __future__ import annotations

import logging

import dask
import pytest
from support.processes import free_port

from cohcube.model.errors import InputDataError
from cohcube.pipeline.clusters import dask_client


def test_workers_with_a_scheduler_address_warns(caplog: pytest.LogCaptureFixture) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens: the connection fails fast
    caplog.set_level(logging.WARNING, logger="cohcube")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(InputDataError, match="cannot connect to the Dask scheduler"),
        dask_client(address, n_workers=2),
    ):
        pass
    assert any(
        "cluster.workers (2) applies to clusters the job starts" in r.getMessage()
        for r in caplog.records
    )
