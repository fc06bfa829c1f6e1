"""The data verbs of the ``cohcube`` command line: search, pairs, sample-catalog.

They read catalogs and write nothing but the sample catalog; heavy imports
happen inside the verb, after parsing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .cli_app import Quiet, Verbose, setup_logging, user_errors

if TYPE_CHECKING:
    from cohcube.pipeline.search import SceneQuery

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
OrbitState = Annotated[str | None, typer.Option(help="ascending or descending.")]
RelativeOrbit = Annotated[list[int] | None, typer.Option(help="Relative orbit(s).")]
Platform = Annotated[list[str] | None, typer.Option(help="Platform(s), e.g. sentinel-1a.")]


def _query(
    collection: str,
    bbox: str | None,
    datetime: str | None,
    polarizations: str,
    orbit_state: str | None,
    relative_orbit: list[int] | None,
    platform: list[str] | None,
) -> SceneQuery:
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


def _found_scenes(catalog: str | None, query: SceneQuery, token_env: str | None) -> list[Any]:
    """The scenes of ``query`` in ``catalog``, with the bearer token ``token_env`` holds."""
    from cohcube.pipeline.search import search_scenes

    from .job_config import bearer_headers

    return search_scenes(catalog, query, headers=bearer_headers(token_env, "--token-env"))


def search(
    catalog: Catalog = None,
    collection: Annotated[str, typer.Option(help="STAC collection id.")] = "sentinel-1-rtc",
    bbox: Bbox = None,
    datetime: Datetime = None,
    polarizations: Annotated[str, typer.Option(help="Comma-separated, e.g. VV,VH.")] = "VV,VH",
    orbit_state: OrbitState = None,
    relative_orbit: RelativeOrbit = None,
    platform: Platform = None,
    token_env: TokenEnv = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Search Sentinel-1 scenes and list them (one per line)."""
    setup_logging(verbose, quiet)
    with user_errors():
        query = _query(
            collection, bbox, datetime, polarizations, orbit_state, relative_orbit, platform
        )
        scenes = _found_scenes(catalog, query, token_env)
    for item in scenes:
        props = item.properties
        typer.echo(
            f"{item.datetime:%Y-%m-%dT%H:%M:%S}  {str(props.get('platform', '?')).lower():<12} "
            f"orbit {props.get('sat:relative_orbit', '?')} "
            f"{props.get('sat:orbit_state', '?'):<10} {item.id}"
        )
    typer.echo(f"{len(scenes)} scene(s)", err=True)


def pairs(
    catalog: Catalog = None,
    collection: Annotated[str, typer.Option(help="STAC collection id.")] = "sentinel-1-rtc",
    bbox: Bbox = None,
    datetime: Datetime = None,
    baseline: Annotated[
        list[float] | None, typer.Option(help="Temporal baseline(s) in days (policy fixed).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="Slack on each fixed baseline, days (as the job file's).")
    ] = 1.0,
    policy: Annotated[str, typer.Option(help="fixed, nearest or all.")] = "fixed",
    max_baseline: Annotated[float | None, typer.Option(help="Longest baseline, days.")] = None,
    polarizations: Annotated[str, typer.Option(help="Comma-separated, e.g. VV,VH.")] = "VV",
    orbit_state: OrbitState = None,
    relative_orbit: RelativeOrbit = None,
    platform: Platform = None,
    token_env: TokenEnv = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """List the interferometric pairs of a search (same orbit and direction only)."""
    setup_logging(verbose, quiet)
    from cohcube.pipeline.pairs import acquisitions_of, explain_no_pairs, select_pairs

    with user_errors():
        query = _query(
            collection, bbox, datetime, polarizations, orbit_state, relative_orbit, platform
        )
        passes = acquisitions_of(_found_scenes(catalog, query, token_env))
        baselines = tuple(baseline or (12.0,))
        table = select_pairs(
            passes,
            baselines,
            tolerance_days=tolerance,
            policy=policy,  # type: ignore[arg-type]
            max_baseline_days=max_baseline,
        )
        if table.empty:
            raise explain_no_pairs(passes, baselines, policy)
    for row in table.itertuples():
        typer.echo(
            f"{row.reference_time:%Y-%m-%d} -> {row.secondary_time:%Y-%m-%d}  "
            f"{row.temporal_baseline_days:5.1f} d  orbit {row.relative_orbit} "
            f"{row.orbit_state}  {row.reference_platform} -> {row.secondary_platform}"
        )
    if policy == "fixed":
        _note_other_baselines(table, baselines, tolerance)
    typer.echo(f"{len(table)} pair(s)", err=True)


def sample_catalog(
    out: Annotated[
        Path, typer.Argument(metavar="DIR", help="Empty folder to write the catalog into.")
    ],
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 2026,
    size: Annotated[int, typer.Option(help="Region side in 10 m pixels.")] = 2048,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Write the embedded sample catalog (simulated Sentinel-1 STAC + COGs + truth)."""
    setup_logging(verbose, quiet)
    from cohcube.pipeline.sample import SampleSpec, write_sample_catalog

    with user_errors():
        catalog = write_sample_catalog(out, SampleSpec(seed=seed, size_px=size))
    manifest = json.loads(catalog.manifest.read_text())
    typer.echo(
        f"wrote {manifest['scene_items']} scenes ({manifest['acquisitions']} passes) and "
        f"{manifest['truth_items']} truth items in {manifest['generation_seconds']} s; "
        f"search it with: cohcube search --catalog {catalog.items}"
    )


def _note_other_baselines(table: Any, baselines: tuple[float, ...], tolerance: float) -> None:
    """Say so when a fixed baseline matched pairs of another length (within the tolerance)."""
    days = [float(d) for d in table["temporal_baseline_days"]]
    for asked in baselines:
        found = sorted({round(d, 1) for d in days if abs(d - asked) <= tolerance})
        if found and found != [asked]:
            listed = ", ".join(f"{d:g}" for d in found)
            typer.echo(
                f"note: --baseline {asked:g} matched pairs {listed} days apart (within "
                f"--tolerance {tolerance:g}); narrow --tolerance to keep only {asked:g}-day pairs",
                err=True,
            )
