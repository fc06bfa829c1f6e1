"""The ``cohcube`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .demo import run_demo
from .logs import configure_logging

app = typer.Typer(
    name="cohcube",
    help="InSAR coherence cubes from detected Sentinel-1 backscatter.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """InSAR coherence cubes from detected Sentinel-1 backscatter."""


Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("cohcube-demo"),
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run the demo job on data cohcube makes itself (no network needed)."""
    configure_logging(-1 if quiet else verbose)
    result = run_demo(out)
    rmse = result.summary["rmse_vs_true_coherence"]
    assert isinstance(rmse, dict)
    typer.echo("estimator                      RMSE vs true coherence")
    for name, value in rmse.items():
        typer.echo(f"{name:<30} {value:.3f}")
    typer.echo(f"summary: {result.summary_path}")


def main() -> None:
    """Console-script entry point."""
    app()
