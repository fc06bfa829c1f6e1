"""Clusters the job starts on other machines and stops when it ends.

- **dask-gateway** (Pangeo-style JupyterHub / Kubernetes deployments): a cluster is
  asked of the gateway server with the deployment's cluster options, scaled or made
  adaptive, and shut down at the end (``pip install cohcube[gateway]``).
- **dask-jobqueue** (SLURM or PBS on HPC): the scheduler runs in the job's process,
  workers are batch jobs it submits (one worker per job by default, all the job's cores
  as its threads, GPUs requested per job), scaled or adaptive, cancelled at the end
  (``pip install cohcube[jobqueue]``). ``batch_job_script`` shows the script it submits.

Either needs its workers to run the same cohcube (and torch) as the driver and to read
the model: a path on a shared filesystem, or ``cluster.model_url``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from distributed import Client

from cohcube.model.errors import InputDataError

from .clusters import ClusterSpec
from .errors import first_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewaySpec:
    """A dask-gateway server and the options of the cluster to ask of it.

    ``address``/``proxy_address``: the gateway's URLs (default: dask-gateway's own
    configuration, ``gateway.address`` in ``~/.config/dask``, as a Pangeo hub sets it);
    ``auth``: ``basic``, ``kerberos`` or ``jupyterhub`` (default: the configured one);
    ``password_env``: the environment variable holding a ``basic`` password;
    ``options``: cluster options the deployment offers (``worker_cores``, ``image``, ...).
    """

    address: str | None = None
    proxy_address: str | None = None
    auth: str | None = None
    password_env: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobqueueSpec:
    """The batch jobs that run the workers (SLURM or PBS through dask-jobqueue).

    ``cores``/``memory``: per job; ``processes``: workers per job (threads = cores /
    processes); ``gpus``: GPUs per job (0 or 1: one GPU per worker, scale with jobs);
    ``directives``: extra ``#SBATCH``/``#PBS`` lines; ``prologue``: shell lines before the
    worker starts (``module load ...``, ``source venv/bin/activate``).
    """

    system: str = "slurm"
    cores: int = 1
    memory: str = "4GB"
    processes: int = 1
    gpus: int = 0
    queue: str | None = None
    account: str | None = None
    walltime: str = "02:00:00"
    directives: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()
    local_directory: str | None = None
    log_directory: str | None = None
    interface: str | None = None
    python: str = field(default_factory=lambda: sys.executable)


def jobqueue_cluster(spec: JobqueueSpec) -> Any:
    """A dask-jobqueue ``SLURMCluster``/``PBSCluster`` for ``spec`` (its scheduler runs here;
    no job is submitted until it is scaled).

    Raises:
        InputDataError: dask-jobqueue is not installed, or ``spec`` asks for what it cannot.
    """
    try:
        import dask_jobqueue
    except ImportError:
        raise InputDataError(
            f"cluster kind {spec.system!r} needs dask-jobqueue: pip install cohcube[jobqueue]"
        ) from None
    if spec.gpus not in (0, 1):
        raise InputDataError(
            f"cluster.jobqueue.gpus is {spec.gpus}: each worker drives one GPU, so ask one GPU "
            "per job and scale the number of jobs (cluster.workers or cluster.adapt)"
        )
    if spec.gpus and spec.processes != 1:
        raise InputDataError("cluster.jobqueue.processes must be 1 for GPU jobs (one worker)")
    directives = list(spec.directives)
    common: dict[str, Any] = {
        "cores": spec.cores,
        "memory": spec.memory,
        "processes": spec.processes,
        "queue": spec.queue,
        "account": spec.account,
        "walltime": spec.walltime,
        "job_script_prologue": list(spec.prologue),
        "local_directory": spec.local_directory,
        "log_directory": spec.log_directory,
        "interface": spec.interface,
        "python": spec.python,
        "scheduler_options": {"dashboard_address": ":0"},
        "job_name": "cohcube-worker",
    }
    if spec.system == "slurm":
        if spec.gpus:
            directives.append(f"--gres=gpu:{spec.gpus}")
        return dask_jobqueue.SLURMCluster(job_extra_directives=directives, **common)
    if spec.system == "pbs":
        select = f"select=1:ncpus={spec.cores}:mem={spec.memory}"
        if spec.gpus:
            select += f":ngpus={spec.gpus}"
        return dask_jobqueue.PBSCluster(
            resource_spec=select, job_extra_directives=directives, **common
        )
    raise InputDataError(f"cluster kind {spec.system!r} is not 'slurm' or 'pbs'")


def batch_job_script(spec: JobqueueSpec) -> str:
    """The batch script one worker job runs (what ``sbatch``/``qsub`` would be given)."""
    cluster = jobqueue_cluster(spec)
    try:
        return str(cluster.job_script())
    finally:
        cluster.close()


def _gateway_cluster(spec: GatewaySpec) -> tuple[Any, Any]:
    try:
        import dask_gateway
    except ImportError:
        raise InputDataError(
            "cluster kind 'gateway' needs dask-gateway: pip install cohcube[gateway]"
        ) from None
    auth: Any = spec.auth
    if spec.auth == "basic":
        password = os.environ.get(spec.password_env) if spec.password_env else None
        if spec.password_env and not password:
            raise InputDataError(
                f"cluster.gateway.password_env: the environment variable {spec.password_env} "
                "is not set; export the gateway password in it"
            )
        auth = dask_gateway.BasicAuth(password=password)
    where = spec.address or "the configured gateway"
    try:
        gateway = dask_gateway.Gateway(spec.address, spec.proxy_address, auth=auth)
        cluster = gateway.new_cluster(**spec.options)
    except (OSError, ValueError, dask_gateway.GatewayClusterError) as exc:
        raise InputDataError(
            f"dask-gateway at {where} gave no cluster: {first_line(exc)} (check "
            "cluster.gateway.address, its auth and options)"
        ) from None
    except Exception as exc:  # the gateway's HTTP errors (401, 404) have their own types
        raise InputDataError(
            f"dask-gateway at {where} refused the cluster: {first_line(exc)}"
        ) from None
    return gateway, cluster


def _size(cluster: Any, spec: ClusterSpec, per_job: int = 1) -> None:
    if spec.adapt is not None:
        low, high = spec.adapt
        if per_job > 1:
            cluster.adapt(minimum_jobs=-(-low // per_job), maximum_jobs=-(-high // per_job))
        else:
            cluster.adapt(minimum=low, maximum=high)
        log.info("adaptive cluster: %d to %d workers", low, high)
    else:
        cluster.scale(spec.workers or 1)
        log.info("cluster of %d workers asked for", spec.workers or 1)


@contextmanager
def started_remote_cluster(spec: ClusterSpec) -> Iterator[Client]:
    """A client of a gateway or batch cluster started for the job, stopped on exit.

    Waits up to ``spec.worker_wait_s`` (None: forever) for the first worker.

    Raises:
        InputDataError: the extra is not installed, the gateway refuses, or no worker
            joined in time (naming the setting to check).
    """
    with ExitStack() as resources:
        if spec.kind == "gateway":
            gateway, cluster = _gateway_cluster(spec.gateway or GatewaySpec())
            resources.callback(gateway.close)
            resources.callback(cluster.shutdown)
            _size(cluster, spec)
            client = cluster.get_client()
        else:
            jobs = spec.jobqueue or JobqueueSpec(system=spec.kind)
            cluster = jobqueue_cluster(jobs)
            resources.callback(cluster.close)
            _size(cluster, spec, per_job=jobs.processes)
            client = Client(cluster)
        resources.callback(client.close)
        if spec.worker_wait_s != 0:
            log.info("waiting for the first %s worker", spec.kind)
            try:
                client.wait_for_workers(1, timeout=spec.worker_wait_s)
            except TimeoutError:
                raise InputDataError(
                    f"no Dask worker joined the {spec.kind} cluster within "
                    f"{spec.worker_wait_s:g} s (check the queue, the worker image or "
                    "environment, or raise cluster.worker_wait_s)"
                ) from None
        yield client
