"""A real dask-gateway server on loopback (its local-process backend), stopped by PID."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.processes import free_port, start_server, stop_server

CONFIG = """
c.Gateway.address = "127.0.0.1:{api}"
c.Proxy.address = "127.0.0.1:{proxy}"
c.Gateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.Gateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = "{password}"
c.LocalBackend.clusters_directory = "{clusters}"
c.ClusterConfig.scheduler_cmd = ["{python}", "-m", "distributed.cli.dask_scheduler"]
c.ClusterConfig.worker_cmd = ["{python}", "-m", "distributed.cli.dask_worker"]
c.ClusterConfig.worker_cores = 1
c.ClusterConfig.worker_memory = "3 G"
c.ClusterConfig.idle_timeout = 120
c.ClusterConfig.environment = {environment!r}
"""


@contextmanager
def gateway_server(
    folder: Path, password: str, environment: dict[str, str] | None = None
) -> Iterator[str]:
    """Yield the URL of a dask-gateway server whose clusters are local processes.

    Users authenticate with any name and ``password`` (its simple authenticator); the
    clusters' processes get ``environment``. The server and every cluster it started are
    stopped on exit.
    """
    api, proxy = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dask_gateway_config.py"
    config.write_text(
        CONFIG.format(
            api=api,
            proxy=proxy,
            password=password,
            clusters=folder / "clusters",
            python=sys.executable,
            environment=environment or {},
        )
    )
    server_binary = Path(sys.executable).with_name("dask-gateway-server")
    url = f"http://127.0.0.1:{proxy}"
    server = start_server(
        [str(server_binary), "-f", str(config)], f"{url}/api/health", timeout_s=60
    )
    try:
        yield url
    finally:
        stop_server(server)
