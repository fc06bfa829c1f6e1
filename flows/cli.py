"""The ``cohcube`` command line: the data and job verbs, and ``main``.

The Typer app and the shared options live in ``cli_app``; the model verbs
(train, export, evaluate, calibrate) in ``model_verbs``, registered here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .cli_app import Quiet, Verbose, app, setup_logging, user_errors
from .demo import run_demo
from .model_verbs import calibrate, evaluate, export, train

__all__ = ["app", "main"]


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
    setup_logging(verbose, quiet)
    from cohcube.pipeline.sample_catalog import SampleSpec

    with user_errors():
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
    setup_logging(verbose, quiet)
    from .job_config import load_process_config
    from .process import run_process

    with user_errors():
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
    setup_logging(verbose, quiet)
    from .changes_job import run_changes

    with user_errors():
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
    setup_logging(verbose, quiet)
    from .scheduling import schedule

    with user_errors():
        schedule(
            config, cron, name=name, timezone=timezone, retries=retries, retry_delay_s=retry_delay
        )


for model_verb in (train, export, evaluate, calibrate):
    app.command()(model_verb)


@app.command("sample-catalog")
def sample_catalog(
    out: Annotated[Path, typer.Argument(help="Empty folder to write the catalog into.")],
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 2026,
    size: Annotated[int, typer.Option(help="Region side in 10 m pixels.")] = 2048,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Write the embedded sample catalog (simulated Sentinel-1 STAC + COGs + truth)."""
    setup_logging(verbose, quiet)
    from cohcube.pipeline.sample_catalog import SampleSpec, write_sample_catalog

    with user_errors():
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
    setup_logging(verbose, quiet)
    from cohcube.pipeline.search import SceneQuery, search_scenes

    from .job_config import bearer_headers

    with user_errors():
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
    setup_logging(verbose, quiet)
    from cohcube.pipeline.pairs import acquisitions_of, explain_no_pairs, select_pairs
    from cohcube.pipeline.search import SceneQuery, search_scenes

    from .job_config import bearer_headers

    with user_errors():
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
