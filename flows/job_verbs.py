"""The job verbs of the ``cohcube`` command line: demo, process, plan, status, changes, schedule.

Each verb parses its options, sets up logging and calls one job function of
``cohcube.flows``; heavy imports happen inside the verb, after parsing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .cli_app import Quiet, Verbose, setup_logging, user_errors

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("cohcube-demo"),
    model: Annotated[Path | None, typer.Option(help="Model card or .pt (default shipped).")] = None,
    sample_size: Annotated[int, typer.Option(help="Sample region side in 10 m pixels.")] = 2048,
    cluster: Annotated[str, typer.Option(help="local, cuda or tcp://scheduler.")] = "local",
    source: Annotated[
        str,
        typer.Option(
            help="Sample scenes as 'rtc' (gamma0 COGs on a map grid) or 'grd' (Level-1 GRD: "
            "DNs in radar geometry with GCPs and calibration/noise XMLs)."
        ),
    ] = "rtc",
    precision: Annotated[
        str,
        typer.Option(
            help="Inference precision: auto (bf16 where the hardware has it, else fp32), "
            "fp32, bf16 or fp16."
        ),
    ] = "auto",
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run the full regional job on the embedded sample catalog (no network needed)."""
    setup_logging(verbose, quiet)
    from cohcube.pipeline.sample import SampleSpec

    from .demo import run_demo

    if source not in ("rtc", "grd"):
        raise typer.BadParameter(f"{source!r}: use 'rtc' or 'grd'", param_hint="--source")
    if precision not in PRECISIONS:
        raise typer.BadParameter(
            f"{precision!r}: use one of {', '.join(PRECISIONS)}", param_hint="--precision"
        )
    with user_errors():
        spec = SampleSpec(size_px=sample_size, source=source)
        result = run_demo(out, model=model, sample=spec, cluster=cluster, precision=precision)
    summary = result.summary
    typer.echo(
        f"pairs processed      {summary['pairs_processed']} "
        f"({summary['pairs_in_cube']} in the cube)"
    )
    typer.echo(f"pixels per second    {summary['pixels_per_second']:,.0f}")
    typer.echo(f"precision            {summary['precision']}")
    typer.echo("RMSE vs true coherence")
    for name, value in summary["rmse_vs_true_coherence"].items():
        typer.echo(f"  {name:<26} {value:.3f}")
    found = summary["change_detection"]
    typer.echo(
        f"change events found  {found['detection_rate']:.0%} of {found['events']} at "
        f"{found['false_alarm_rate']:.1%} false alarms ({found['evidence']})"
    )
    kinds = ", ".join(f"{k} {v:.0%}" for k, v in found["detection_by_kind"].items())
    typer.echo(f"  per kind           {kinds}")
    alone = found["coherence_only"]
    typer.echo(
        f"  coherence alone    {alone['detection_rate']:.0%} at "
        f"{alone['false_alarm_rate']:.1%} false alarms"
    )
    ceiling = found.get("ceiling_true_coherence_and_backscatter")
    if ceiling is not None:
        typer.echo(
            f"  ceiling (truth)    {ceiling['detection_rate']:.0%} at "
            f"{ceiling['false_alarm_rate']:.1%} false alarms"
        )
    typer.echo(f"total time           {summary['total_s']:.0f} s")
    typer.echo(
        f"cube: {summary['outputs']['cube']}  STAC: {summary['outputs']['stac']}\n"
        f"quicklook: {summary['outputs']['quicklook']}  summary: {result.summary_path}"
    )


def process(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="Job config (YAML); see docs/process.md.")
    ],
    progress: Annotated[bool, typer.Option(help="Show a progress bar over tiles.")] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run report here.")
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="Inference precision, overriding the config's (auto/fp32/bf16/fp16)."),
    ] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run the regional job: add the pairs the store does not hold yet (incremental)."""
    setup_logging(verbose, quiet)
    from .job_config import load_process_config

    resume = (
        f"no unfinished pair is presented as done; run `cohcube process {config}` again to "
        "resume (regions already written are kept)"
    )
    with user_errors(resume):
        if precision is not None and precision not in PRECISIONS:
            raise typer.BadParameter(
                f"{precision!r}: use one of {', '.join(PRECISIONS)}", param_hint="--precision"
            )
        settings = load_process_config(config)
        if precision is not None:
            settings = settings.model_copy(update={"precision": precision})
        from .process import run_process  # torch, dask, GDAL: only for a valid config

        report = run_process(settings, progress=progress and not quiet)
    for tile in report.tiles:
        typer.echo(
            f"{tile.tile}  {tile.status:<10} scenes {tile.scenes:3d}  acquisitions "
            f"{tile.acquisitions:3d}  pairs added {len(tile.pairs_added):3d}  "
            f"held {tile.pairs_held:3d}"
        )
    typer.echo(f"{report.pairs_added} pair(s) added to {report.store} in {report.seconds:.0f} s")
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_dict(), indent=2) + "\n")


def plan(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="Job config (YAML); see docs/process.md.")
    ],
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Workers to estimate the time for (default: the config's)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the plan here.")] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Say what `cohcube process CONFIG` would do: tiles, scenes per track, pairs held and new,
    pixels, time per device kind and store growth. Computes and writes nothing."""
    setup_logging(verbose, quiet)
    from .job_config import load_process_config
    from .plan import plan_job, plan_table

    with user_errors():
        job_plan = plan_job(load_process_config(config), workers=workers)
    typer.echo(plan_table(job_plan, config))
    if json_out is not None:
        json_out.write_text(json.dumps(job_plan.as_dict(), indent=2) + "\n")


def batch_script(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="Job config with cluster kind slurm or pbs.")
    ],
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Print the batch script each worker job of CONFIG's SLURM/PBS cluster runs (what
    `cohcube process` would give sbatch/qsub). Submits nothing."""
    setup_logging(verbose, quiet)
    from cohcube.model.errors import ConfigError
    from cohcube.pipeline.remote_clusters import batch_job_script

    from .job_config import load_process_config

    with user_errors():
        spec = load_process_config(config).cluster.spec()
        if spec.jobqueue is None:
            raise ConfigError(f"{config}: cluster.kind is {spec.kind!r}, not 'slurm' or 'pbs'")
        script = batch_job_script(spec.jobqueue)
    typer.echo(script.rstrip("\n"))


def status(
    store: Annotated[str, typer.Argument(metavar="STORE", help="Tile set (cohcube process).")],
    runs: Annotated[int, typer.Option(min=1, help="How many recent runs to list.")] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the status here.")] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Say what a tile set holds and what its last runs did (pairs, pending, failed tiles)."""
    setup_logging(verbose, quiet)
    from .status import status_table, store_status

    with user_errors():
        state = store_status(store, runs=runs)
    typer.echo(status_table(state))
    if json_out is not None:
        json_out.write_text(json.dumps(state.as_dict(), indent=2) + "\n")


def changes(
    store: Annotated[
        str, typer.Argument(metavar="STORE", help="Coherence cube or tile set (cohcube process).")
    ],
    out: Annotated[Path, typer.Option(help="Output: .zarr or .tif (one per tile for a tile set).")],
    tile: Annotated[list[str] | None, typer.Option(help="Only these tiles of a tile set.")] = None,
    history: Annotated[str, typer.Option(help="all (archive) or past (monitoring).")] = "all",
    z_threshold: Annotated[
        float, typer.Option(help="Combined robust z-score that flags an interval.")
    ] = 5.0,
    smooth: Annotated[int, typer.Option(help="Averaging window, pixels.")] = 5,
    config: Annotated[
        Path | None,
        typer.Option(
            help="The job config (YAML) the store was processed with: its backscatter, "
            "searched again, is evidence beside the coherence."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace change layers already at --out.")
    ] = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Change events per pixel against its own history: coherence loss, and backscatter steps
    when --config gives the job the store came from."""
    setup_logging(verbose, quiet)
    from .changes_job import run_changes
    from .job_config import load_process_config

    with user_errors():
        job = load_process_config(config) if config is not None else None
        written = run_changes(
            store,
            out,
            tiles=tile,
            history=history,
            z_threshold=z_threshold,
            smooth_px=smooth,
            overwrite=overwrite,
            config=job,
        )
    for path, flagged in written.items():
        typer.echo(f"{path}: {flagged:.2%} of valid pixels changed")


def schedule_job(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="Job config (YAML), as for `cohcube process`.")
    ],
    cron: Annotated[str, typer.Option(help="Cron expression, e.g. '0 3 * * *'.")],
    name: Annotated[
        str | None, typer.Option(help="Deployment name (default: config name).")
    ] = None,
    timezone: Annotated[str, typer.Option(help="Time zone of the cron expression.")] = "UTC",
    retries: Annotated[int, typer.Option(help="Retries of a run failing transiently.")] = 2,
    retry_delay: Annotated[float, typer.Option(help="Seconds between retries.")] = 300.0,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Serve `cohcube process CONFIG` as a Prefect deployment on a cron schedule (blocks)."""
    setup_logging(verbose, quiet)
    from .scheduling import schedule

    with user_errors():
        schedule(
            config, cron, name=name, timezone=timezone, retries=retries, retry_delay_s=retry_delay
        )
