"""Scheduled regional jobs with Prefect 3 (the optional ``cohcube[prefect]`` extra).

The Prefect flow wraps the plain job function (``run_process``): Prefect adds
retries with a delay on transient failures (network, a lost worker), the run
history and the cron schedule; the job's own guarantees (incremental,
idempotent, resumable) make a retry safe. Errors in the input (a bad config,
an empty search, a store that is not ours) are not retried: they fail the
run at once with their message.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cohcube.model.errors import CohcubeError, ConfigError

from .job_config import load_process_config
from .process import run_process

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

log = logging.getLogger(__name__)

FLOW_NAME = "cohcube-process"
#: What retrying cannot fix: every error cohcube raises about its input (the same root
#: the CLI prints as one line).
NOT_RETRIED: tuple[type[Exception], ...] = (CohcubeError,)


class SchedulingUnavailableError(CohcubeError):
    """Prefect is not installed."""


def _require_prefect() -> None:
    try:
        import prefect  # noqa: F401
    except ImportError:
        raise SchedulingUnavailableError(
            "scheduling needs Prefect 3: pip install 'cohcube[prefect]'"
        ) from None


def process_job(config_path: str) -> dict[str, Any]:
    """The job a scheduled run executes: validate the config, run it, return the report."""
    config = load_process_config(Path(config_path))
    return run_process(config, progress=False).as_dict()


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry unless the failure is an input error (retrying cannot fix those)."""
    try:
        state.result()
    except NOT_RETRIED:
        return False
    except Exception:  # anything else may be transient
        return True
    return False


def build_process_flow(retries: int = 2, retry_delay_s: float = 300.0) -> Flow[[str], Any]:
    """The Prefect flow ``cohcube-process(config_path)`` around ``process_job``."""
    _require_prefect()
    from prefect import flow, task

    job = task(
        name="process-region",
        retries=retries,
        retry_delay_seconds=retry_delay_s,
        retry_condition_fn=_transient,
    )(process_job)

    @flow(name=FLOW_NAME, log_prints=True)
    def cohcube_process(config_path: str) -> dict[str, Any]:
        """Add the new coherence pairs of one regional job to its store."""
        report: dict[str, Any] = job(config_path)
        return report

    return cohcube_process


def schedule(
    config_path: Path,
    cron: str,
    *,
    name: str | None = None,
    timezone: str = "UTC",
    retries: int = 2,
    retry_delay_s: float = 300.0,
    serve: bool = True,
) -> RunnerDeployment:
    """Create a deployment of the job with a cron schedule, and serve it (blocks).

    With ``serve=False`` the deployment object is returned without contacting
    a Prefect server (for inspection and tests).
    """
    load_process_config(config_path)  # fail now, not at 3 a.m.
    process_flow = build_process_flow(retries, retry_delay_s)
    from prefect.schedules import Cron

    try:
        when = Cron(cron, timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"--cron {cron!r}: {exc}") from None
    from prefect.deployments.runner import RunnerDeployment

    deployment = RunnerDeployment.from_flow(
        process_flow,
        name=name or config_path.stem,
        schedule=when,
        parameters={"config_path": str(config_path.resolve())},
        description=f"cohcube process {config_path.resolve()} on cron {cron!r} ({timezone})",
        tags=["cohcube"],
    )
    if serve:
        from prefect import serve as serve_deployments

        log.info("serving deployment %s/%s on cron %r", FLOW_NAME, deployment.name, cron)
        serve_deployments(deployment)
    return deployment
