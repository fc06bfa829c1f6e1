"""Where the Dask work runs: local processes, local GPUs, an existing scheduler, or a
cluster started elsewhere (dask-gateway, dask-jobqueue: ``remote_clusters``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from distributed import Client, LocalCluster

from cohcube.model.errors import InputDataError

if TYPE_CHECKING:
    from .remote_clusters import GatewaySpec, JobqueueSpec

log = logging.getLogger(__name__)


#: Threads per local worker when the job does not say (see ``local_layout``).
DEFAULT_WORKER_THREADS = 1


def local_layout(
    n_workers: int | None, threads_per_worker: int | None, cores: int | None = None
) -> tuple[int, int]:
    """Workers x threads of a local cluster on ``cores`` (default: this machine's).

    Each worker runs one forward pass at a time on all its threads (torch
    intra-op) while its other Dask threads read and write. Measured on 2
    cores (``benchmarks/bench_jobs.py workers``, 4 pairs of 2048 px, AMD
    EPYC): 2 workers x 1 thread 67.5 s, 1 worker x 2 threads 76.3 s, 1 x 1
    113.7 s -- two single-threaded workers keep both cores on forward passes
    while one reads, where torch's 2-thread scaling (1.49x) loses more. So by
    default one worker per core, ``DEFAULT_WORKER_THREADS`` thread each.
    """
    cores = cores or os.cpu_count() or 1
    threads = threads_per_worker or min(cores, DEFAULT_WORKER_THREADS)
    workers = n_workers or max(1, cores // threads)
    return workers, threads


def _local(
    n_workers: int | None, threads_per_worker: int | None, memory_limit: str
) -> LocalCluster:
    workers, threads = local_layout(n_workers, threads_per_worker)
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=":0",
        # A failed task reaches the driver, which reports it in one line; the
        # workers' own tracebacks are shown only when debugging (-v).
        silence_logs=_worker_log_level(),
        preload=["cohcube.pipeline.worker_setup"],
    )


def _worker_log_level() -> int:
    debugging = logging.getLogger("cohcube").getEffectiveLevel() <= logging.DEBUG
    return logging.WARNING if debugging else logging.CRITICAL


def _cuda() -> LocalCluster:
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as exc:
        raise InputDataError(
            f"cluster 'cuda' needs dask-cuda with its CUDA bindings ({exc}); install "
            "cohcube[gpu] on a machine with NVIDIA GPUs, or use cluster 'local'"
        ) from None
    # One worker per GPU; PyTorch allocates through the same RMM pool as the
    # rest of the worker (device-memory-limit alone does not cap torch).
    return LocalCUDACluster(
        rmm_pool_size="80%", rmm_allocator_external_lib_list=["torch"], dashboard_address=":0"
    )


@dataclass(frozen=True)
class ClusterSpec:
    """Where a job's Dask work runs, as the job config declares it.

    ``kind``: ``local`` (worker processes on this machine), ``cuda`` (one worker per local
    GPU, dask-cuda), ``scheduler`` (an existing cluster at ``address``), ``gateway``
    (a cluster asked of a dask-gateway server) or ``slurm`` / ``pbs`` (worker jobs submitted
    through dask-jobqueue). ``workers`` is the fixed number of workers (local processes,
    gateway workers, batch jobs x ``jobqueue.processes``) and ``adapt`` the (minimum,
    maximum) workers of an adaptive gateway or batch cluster instead.
    """

    kind: str = "local"
    address: str | None = None
    workers: int | None = None
    threads: int | None = None
    memory_limit: str = "auto"
    adapt: tuple[int, int] | None = None
    worker_wait_s: float | None = 600.0
    gateway: GatewaySpec | None = None
    jobqueue: JobqueueSpec | None = None

    @classmethod
    def from_address(cls, cluster: str, workers: int | None = None) -> ClusterSpec:
        """``local``, ``cuda`` or a scheduler address (the CLI's ``--cluster``)."""
        if cluster in ("local", "cuda"):
            return cls(kind=cluster, workers=workers)
        if not cluster.startswith(SCHEDULER_SCHEMES):
            raise InputDataError(
                f"cluster {cluster!r} is not 'local', 'cuda' or a scheduler address like "
                "tcp://host:8786"
            )
        return cls(kind="scheduler", address=cluster, workers=workers)


SCHEDULER_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://")


@contextmanager
def dask_client(
    cluster: str | ClusterSpec = "local",
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str = "auto",
) -> Iterator[Client]:
    """A Dask client for the job; clusters it starts are closed on exit.

    Args:
        cluster: a ``ClusterSpec``, or ``"local"``, ``"cuda"`` or a scheduler address
            (``tcp://host:8786``) of an existing cluster.
        n_workers: workers of a local cluster given by name (default: ``local_layout``).
        threads_per_worker: threads per local worker (torch uses as many; default 1).
        memory_limit: per-worker memory limit of a local cluster.
    """
    spec = (
        replace(
            ClusterSpec.from_address(cluster, n_workers),
            threads=threads_per_worker,
            memory_limit=memory_limit,
        )
        if isinstance(cluster, str)
        else cluster
    )
    if spec.workers is not None and spec.kind in ("cuda", "scheduler"):
        log.warning(
            "cluster.workers (%d) applies to clusters the job starts; %s has its own workers",
            spec.workers,
            spec.address or spec.kind,
        )
    with ExitStack() as resources:
        if spec.kind in ("gateway", "slurm", "pbs"):
            from .remote_clusters import started_remote_cluster

            client = resources.enter_context(started_remote_cluster(spec))
        else:
            client = resources.enter_context(_client_of(spec))
        log.info("Dask dashboard: %s", client.dashboard_link)
        try:
            yield client
        except KeyboardInterrupt:
            # Ctrl-C reaches the workers too; their shutdown noise (AllExit,
            # CancelledError, KeyboardInterrupt tracebacks) says nothing the interrupt
            # message does not.
            for name in ("distributed", "asyncio", "tornado"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            raise


@contextmanager
def _client_of(spec: ClusterSpec) -> Iterator[Client]:
    started = None
    if spec.kind == "local":
        started = _local(spec.workers, spec.threads, spec.memory_limit)
    elif spec.kind == "cuda":
        started = _cuda()
    elif spec.kind != "scheduler" or not spec.address:
        raise InputDataError(f"cluster kind {spec.kind!r} needs a scheduler address")
    try:
        client = Client(started if started is not None else spec.address)
    except OSError as exc:
        if started is not None:
            started.close()
        raise InputDataError(
            f"cannot connect to the Dask scheduler at {spec.address}: {exc}"
        ) from None
    try:
        yield client
    finally:
        client.close()
        if started is not None:
            started.close()
