"""The ``cohcube`` command line."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cohcube.model.config import ConfigError
from cohcube.model.errors import ModelArtefactError, SlcPairError
from cohcube.pipeline.errors import CohcubeInputError

from .demo import run_demo
from .logs import configure_logging

app = typer.Typer(
    name="cohcube",
    help="InSAR coherence cubes from detected Sentinel-1 backscatter.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Errors whose message is the whole story: printed without a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    ModelArtefactError,
    SlcPairError,
    CohcubeInputError,
    FileNotFoundError,
    FileExistsError,
)

Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


@app.callback()
def _group() -> None:
    """InSAR coherence cubes from detected Sentinel-1 backscatter."""


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as exc:
        typer.echo(f"cohcube: error: {exc}", err=True)
        raise typer.Exit(2) from None


def _command_line() -> str:
    return shlex.join(["cohcube", *sys.argv[1:]])


def _setup(verbose: int, quiet: bool) -> None:
    configure_logging(-1 if quiet else verbose)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("cohcube-demo"),
    model: Annotated[Path | None, typer.Option(help="Model card or .pt (default shipped).")] = None,
    sample_size: Annotated[int, typer.Option(help="Sample region side in 10 m pixels.")] = 2048,
    cluster: Annotated[str, typer.Option(help="local, cuda or tcp://scheduler.")] = "local",
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run the full regional job on the embedded sample catalog (no network needed)."""
    _setup(verbose, quiet)
    from cohcube.pipeline.sample_catalog import SampleSpec

    with _user_errors():
        result = run_demo(out, model=model, sample=SampleSpec(size_px=sample_size), cluster=cluster)
    summary = result.summary
    typer.echo(
        f"pairs processed      {summary['pairs_processed']} "
        f"({summary['pairs_in_cube']} in the cube)"
    )
    typer.echo(f"pixels per second    {summary['pixels_per_second']:,.0f}")
    typer.echo("RMSE vs true coherence")
    for name, value in summary["rmse_vs_true_coherence"].items():
        typer.echo(f"  {name:<26} {value:.3f}")
    found = summary["change_detection"]
    typer.echo(
        f"change events found   {found['detection_rate']:.0%} of {found['events']} "
        f"({found['observable_detection_rate']:.0%} of those with coherence to lose), "
        f"false alarms {found['false_alarm_rate']:.1%}"
    )
    typer.echo(f"total time           {summary['total_s']:.0f} s")
    typer.echo(
        f"cube: {summary['outputs']['cube']}  STAC: {summary['outputs']['stac']}\n"
        f"quicklook: {summary['outputs']['quicklook']}  summary: {result.summary_path}"
    )


@app.command()
def process(
    config: Annotated[Path, typer.Argument(help="Job config (YAML); see docs/process.md.")],
    progress: Annotated[bool, typer.Option(help="Show a progress bar over tiles.")] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run report here.")
    ] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run the regional job: add the pairs the store does not hold yet (incremental)."""
    _setup(verbose, quiet)
    from .job_config import load_process_config
    from .process import run_process

    with _user_errors():
        settings = load_process_config(config)
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


@app.command()
def changes(
    store: Annotated[str, typer.Argument(help="Coherence cube or tile set (cohcube process).")],
    out: Annotated[Path, typer.Option(help="Output: .zarr or .tif (one per tile for a tile set).")],
    tile: Annotated[list[str] | None, typer.Option(help="Only these tiles of a tile set.")] = None,
    history: Annotated[str, typer.Option(help="all (archive) or past (monitoring).")] = "all",
    z_threshold: Annotated[float, typer.Option(help="Robust deviations below the level.")] = 3.0,
    min_drop: Annotated[float, typer.Option(help="Coherence drop below the level.")] = 0.15,
    smooth: Annotated[int, typer.Option(help="Averaging window, pixels.")] = 5,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Flag loss-of-coherence events per pixel against its own history."""
    _setup(verbose, quiet)
    from .changes_job import run_changes

    with _user_errors():
        written = run_changes(
            store,
            out,
            tiles=tile,
            history=history,
            z_threshold=z_threshold,
            min_drop=min_drop,
            smooth_px=smooth,
        )
    for path, flagged in written.items():
        typer.echo(f"{path}: {flagged:.2%} of valid pixels changed")


@app.command("schedule")
def schedule_job(
    config: Annotated[Path, typer.Argument(help="Job config (YAML), as for `cohcube process`.")],
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
    _setup(verbose, quiet)
    from .scheduling import schedule

    with _user_errors():
        schedule(
            config, cron, name=name, timezone=timezone, retries=retries, retry_delay_s=retry_delay
        )


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Training config, YAML or TOML.")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, history, config copy.")],
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Cache of simulated patches.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Train the coherence network on simulated Sentinel-1 pairs."""
    _setup(verbose, quiet)
    from cohcube.model.config import load_training_config
    from cohcube.model.training import train as run_training

    with _user_errors():
        settings = load_training_config(config)
        out.mkdir(parents=True, exist_ok=True)
        if not resume:
            (out / "command.txt").write_text(_command_line() + "\n")
        summary = run_training(settings, out, resume=resume, cache_dir=cache, progress=progress)
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(
        f"trained {summary['epochs']} epochs in {summary['train_seconds']} s on "
        f"{summary['device']}; last validation RMSE vs target "
        f"{last.get('val_rmse_target', float('nan')):.4f}"
    )


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="Run folder of `cohcube train`, or a checkpoint.")],
    out: Annotated[Path, typer.Option(help="TorchScript file to write (.pt); card beside it.")],
    name: Annotated[str | None, typer.Option(help="Model name for the card.")] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Export a trained network as a TorchScript artefact with its model card."""
    _setup(verbose, quiet)
    from cohcube.model.export import export_model

    with _user_errors():
        checkpoint = _checkpoint_of(run)
        command_file = (run if run.is_dir() else run.parent.parent) / "command.txt"
        command = command_file.read_text().strip() if command_file.exists() else None
        card = export_model(checkpoint, out, name=name, command=command)
    typer.echo(
        f"wrote {out} and {out.with_suffix('.json')} (sha256 "
        f"{card['artefact']['sha256'][:12]}, halo {card['tiling']['recommended_halo_px']}"
        " px)"
    )


def _checkpoint_of(run: Path) -> Path:
    if run.is_file():
        return run
    found = sorted((run / "checkpoints").glob("epoch-*.pt"))
    if not found:
        raise FileNotFoundError(f"no checkpoint in {run / 'checkpoints'}; train first")
    return found[-1]


@app.command()
def evaluate(
    model: Annotated[Path | None, typer.Option(help="Model card or .pt (default shipped).")] = None,
    test_scenes: Annotated[int, typer.Option(help="Test scenes per baseline.")] = 40,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    record: Annotated[bool, typer.Option(help="Store the metrics in the model card.")] = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Score a model and the intensity baseline on held-out simulated scenes."""
    _setup(verbose, quiet)
    from cohcube.model.artefact import SHIPPED_CARD, card_path_for, load_model
    from cohcube.model.config import TrainingConfig
    from cohcube.model.evaluation import evaluate as run_evaluation
    from cohcube.model.evaluation import format_report

    with _user_errors():
        loaded = load_model(model)
        trained = TrainingConfig.model_validate(loaded.card["training"]["config"])
        report = run_evaluation(loaded, trained.data, trained.seed, test_scenes=test_scenes)
        report["command"] = _command_line()
    typer.echo(format_report(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    if record:
        card_path = card_path_for(model) if model is not None else SHIPPED_CARD
        card = json.loads(card_path.read_text())
        card["metrics"] = report
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        typer.echo(f"metrics recorded in {card_path}")


@app.command("sample-catalog")
def sample_catalog(
    out: Annotated[Path, typer.Argument(help="Empty folder to write the catalog into.")],
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 2026,
    size: Annotated[int, typer.Option(help="Region side in 10 m pixels.")] = 2048,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Write the embedded sample catalog (simulated Sentinel-1 STAC + COGs + truth)."""
    _setup(verbose, quiet)
    from cohcube.pipeline.sample_catalog import SampleSpec, write_sample_catalog

    with _user_errors():
        catalog = write_sample_catalog(out, SampleSpec(seed=seed, size_px=size))
    manifest = json.loads(catalog.manifest.read_text())
    typer.echo(
        f"wrote {manifest['scene_items']} scenes ({manifest['acquisitions']} passes) and "
        f"{manifest['truth_items']} truth items in {manifest['generation_seconds']} s; "
        f"search it with: cohcube search --catalog {catalog.items}"
    )


Catalog = Annotated[
    str | None,
    typer.Option(
        help="STAC API URL or local catalog/ItemCollection file (default: the embedded sample)."
    ),
]
TokenEnv = Annotated[
    str | None,
    typer.Option(
        help="Environment variable holding a bearer token for the STAC API (never logged)."
    ),
]
Bbox = Annotated[str | None, typer.Option(help="west,south,east,north in degrees.")]
Datetime = Annotated[str | None, typer.Option(help="RFC 3339 instant or start/end interval.")]


def _query(
    collection: str,
    bbox: str | None,
    datetime: str | None,
    polarizations: str,
    orbit_state: str | None,
    relative_orbit: list[int] | None,
    platform: list[str] | None,
) -> object:
    from cohcube.pipeline.errors import SearchError
    from cohcube.pipeline.search import SceneQuery

    box = None
    if bbox is not None:
        try:
            values = tuple(float(v) for v in bbox.split(","))
        except ValueError:
            raise SearchError(f"--bbox {bbox!r}: give four numbers west,south,east,north") from None
        if len(values) != 4:
            raise SearchError(f"--bbox {bbox!r}: give four numbers west,south,east,north")
        box = (values[0], values[1], values[2], values[3])
    return SceneQuery(
        collection=collection,
        bbox=box,
        datetime=datetime,
        polarizations=tuple(p.strip().upper() for p in polarizations.split(",") if p.strip()),
        orbit_state=orbit_state,
        relative_orbits=tuple(relative_orbit or ()),
        platforms=tuple(platform or ()),
    )


@app.command()
def search(
    catalog: Catalog = None,
    collection: Annotated[str, typer.Option(help="STAC collection id.")] = "sentinel-1-rtc",
    bbox: Bbox = None,
    datetime: Datetime = None,
    polarizations: Annotated[str, typer.Option(help="Comma-separated, e.g. VV,VH.")] = "VV,VH",
    orbit_state: Annotated[str | None, typer.Option(help="ascending or descending.")] = None,
    relative_orbit: Annotated[list[int] | None, typer.Option(help="Relative orbit(s).")] = None,
    platform: Annotated[
        list[str] | None, typer.Option(help="Platform(s), e.g. sentinel-1a.")
    ] = None,
    token_env: TokenEnv = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Search Sentinel-1 scenes and list them (one per line)."""
    _setup(verbose, quiet)
    from cohcube.pipeline.search import SceneQuery, search_scenes

    from .job_config import bearer_headers

    with _user_errors():
        query = _query(
            collection, bbox, datetime, polarizations, orbit_state, relative_orbit, platform
        )
        assert isinstance(query, SceneQuery)
        headers = bearer_headers(token_env, "--token-env")
        scenes = search_scenes(catalog, query, headers=headers)
    for item in scenes:
        props = item.properties
        typer.echo(
            f"{item.datetime:%Y-%m-%dT%H:%M:%S}  {props.get('platform', '?'):<12} "
            f"orbit {props.get('sat:relative_orbit', '?')} "
            f"{props.get('sat:orbit_state', '?'):<10} {item.id}"
        )
    typer.echo(f"{len(scenes)} scene(s)", err=True)


@app.command()
def pairs(
    catalog: Catalog = None,
    collection: Annotated[str, typer.Option(help="STAC collection id.")] = "sentinel-1-rtc",
    bbox: Bbox = None,
    datetime: Datetime = None,
    baseline: Annotated[
        list[float] | None, typer.Option(help="Temporal baseline(s) in days (policy fixed).")
    ] = None,
    policy: Annotated[str, typer.Option(help="fixed, nearest or all.")] = "fixed",
    max_baseline: Annotated[float | None, typer.Option(help="Longest baseline, days.")] = None,
    token_env: TokenEnv = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """List the interferometric pairs of a search (same orbit and direction only)."""
    _setup(verbose, quiet)
    from cohcube.pipeline.pairs import acquisitions_of, explain_no_pairs, select_pairs
    from cohcube.pipeline.search import SceneQuery, search_scenes

    from .job_config import bearer_headers

    with _user_errors():
        query = _query(collection, bbox, datetime, "VV", None, None, None)
        assert isinstance(query, SceneQuery)
        headers = bearer_headers(token_env, "--token-env")
        passes = acquisitions_of(search_scenes(catalog, query, headers=headers))
        baselines = tuple(baseline or (12.0,))
        table = select_pairs(
            passes,
            baselines,
            policy=policy,  # type: ignore[arg-type]
            max_baseline_days=max_baseline,
        )
        if table.empty:
            raise explain_no_pairs(passes, baselines, policy)
    for row in table.itertuples():
        typer.echo(
            f"{row.reference_time:%Y-%m-%d} -> {row.secondary_time:%Y-%m-%d}  "
            f"{row.temporal_baseline_days:5.1f} d  orbit {row.relative_orbit} "
            f"{row.orbit_state}  {row.reference_platform}/{row.secondary_platform}"
        )
    typer.echo(f"{len(table)} pair(s)", err=True)


def main() -> None:
    """Console-script entry point."""
    app()
