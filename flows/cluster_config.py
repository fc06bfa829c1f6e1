"""The job config's ``cluster`` section: which Dask cluster runs the job, and how it is sized.

``kind`` picks the cluster: ``local`` (worker processes here), ``cuda`` (local GPUs),
``scheduler`` (an existing cluster at ``address``), ``gateway`` (dask-gateway) or
``slurm``/``pbs`` (dask-jobqueue). For compatibility ``address: local``, ``address:
cuda`` and ``address: tcp://...`` alone still select the first three.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from cohcube.model.config_files import StrictSection
from cohcube.pipeline.clusters import SCHEDULER_SCHEMES, ClusterSpec
from cohcube.pipeline.remote_clusters import GatewaySpec, JobqueueSpec

ClusterKind = Literal["local", "cuda", "scheduler", "gateway", "slurm", "pbs"]


class AdaptConfig(StrictSection):
    minimum: int = Field(0, ge=0, description="Fewest workers kept (0: none while idle).")
    maximum: int = Field(ge=1, description="Most workers asked for.")

    @model_validator(mode="after")
    def _ordered(self) -> AdaptConfig:
        if self.maximum < self.minimum:
            raise ValueError(f"adapt.maximum ({self.maximum}) is below minimum ({self.minimum})")
        return self


class GatewayConfig(StrictSection):
    address: str | None = Field(
        None, description="Gateway URL (none: dask-gateway's configuration, as hubs set it)."
    )
    proxy_address: str | None = Field(
        None, description="Gateway scheduler proxy (none: the gateway's default)."
    )
    auth: Literal["basic", "kerberos", "jupyterhub"] | None = Field(
        None, description="Authentication (none: dask-gateway's configuration)."
    )
    password_env: str | None = Field(
        None, description="Environment variable holding the 'basic' password (never the file)."
    )
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Cluster options the deployment offers (worker_cores, worker_memory, "
        "image, ...); the gateway validates them.",
    )


class JobqueueConfig(StrictSection):
    cores: int = Field(1, ge=1, description="Cores per batch job (the worker's threads).")
    memory: str = Field("4GB", description="Memory per batch job (e.g. '32GB').")
    processes: int = Field(1, ge=1, description="Workers per job (threads = cores / processes).")
    gpus: int = Field(0, ge=0, le=1, description="GPUs per job (0 or 1; scale with jobs).")
    queue: str | None = Field(None, description="Partition (SLURM) or queue (PBS).")
    account: str | None = Field(None, description="Project / account charged.")
    walltime: str = Field("02:00:00", description="Job walltime (HH:MM:SS).")
    directives: tuple[str, ...] = Field(
        (),
        description="Extra scheduler directives, e.g. '--constraint=a100' or '-l place=scatter'.",
    )
    prologue: tuple[str, ...] = Field(
        (), description="Shell lines run before the worker (module load, venv activation)."
    )
    local_directory: str | None = Field(None, description="Worker scratch folder (e.g. $TMPDIR).")
    log_directory: str | None = Field(None, description="Folder for the jobs' stdout/stderr.")
    interface: str | None = Field(None, description="Network interface (e.g. 'ib0').")
    python: str | None = Field(
        None, description="Python on the compute nodes (default: this job's interpreter)."
    )


class ClusterConfig(StrictSection):
    kind: ClusterKind | None = Field(
        None,
        description="local | cuda | scheduler | gateway | slurm | pbs (none: from address, "
        "else local).",
    )
    address: str = Field(
        "local",
        description="kind scheduler: the scheduler's tcp:// address ('local' and 'cuda' "
        "here are the old spelling of kind).",
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Workers the job starts (local: default one per core; gateway and batch "
        "jobs: default 1); ignored by cuda and scheduler.",
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="Threads per local worker (default 1): one forward pass at a time uses "
        "them all, reads and writes fill the gaps.",
    )
    adapt: AdaptConfig | None = Field(
        None, description="Adaptive gateway or batch cluster: minimum and maximum workers."
    )
    worker_wait_s: float | None = Field(
        600.0,
        ge=0,
        description="Seconds to wait for the first gateway or batch worker (none: forever, "
        "for long queues).",
    )
    gateway: GatewayConfig = Field(default_factory=GatewayConfig, description="kind gateway.")
    jobqueue: JobqueueConfig = Field(
        default_factory=JobqueueConfig, description="kind slurm or pbs: the worker jobs."
    )
    model_url: str | None = Field(
        None,
        description="Where workers read the model card when they do not share this "
        "machine's files: a path on their filesystem or an http(s)/s3/gs URL (the artefact "
        "file beside it); checked against its sha256.",
    )
    tiles_in_flight: int | None = Field(
        None,
        ge=1,
        description="Tiles built and inferred at once (default: two per worker thread plus "
        "two, asked again as tiles finish, so it follows a cluster that grows or shrinks); 1 "
        "processes tiles one after another.",
    )

    @model_validator(mode="after")
    def _address_fits_kind(self) -> ClusterConfig:
        if self.kind == "scheduler" and not self.address.startswith(SCHEDULER_SCHEMES):
            raise ValueError(f"kind scheduler needs a tcp:// address, not {self.address!r}")
        if self.kind is None:
            ClusterSpec.from_address(self.address)  # the old spelling: local, cuda or tcp://
        return self

    @property
    def resolved_kind(self) -> str:
        return self.kind or ClusterSpec.from_address(self.address).kind

    def spec(self) -> ClusterSpec:
        """What ``dask_client`` starts or connects to."""
        kind = self.resolved_kind
        jobs = self.jobqueue
        extra: dict[str, Any] = {}
        if kind in ("slurm", "pbs"):
            fields: dict[str, Any] = jobs.model_dump(exclude_none=True)
            extra["jobqueue"] = JobqueueSpec(system=kind, **fields)
        if kind == "gateway":
            extra["gateway"] = GatewaySpec(**self.gateway.model_dump())
        return ClusterSpec(
            kind=kind,
            address=self.address if kind == "scheduler" else None,
            workers=self.workers,
            threads=self.threads,
            adapt=(self.adapt.minimum, self.adapt.maximum) if self.adapt else None,
            worker_wait_s=self.worker_wait_s,
            **extra,
        )
