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

from cohcube.model.artefact import ModelArtefactError
from cohcube.model.config import ConfigError
from cohcube.model.slc_reader import SlcPairError

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
    FileNotFoundError,
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
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run the demo job on data cohcube makes itself (no network needed)."""
    _setup(verbose, quiet)
    result = run_demo(out)
    rmse = result.summary["rmse_vs_true_coherence"]
    assert isinstance(rmse, dict)
    typer.echo("estimator                      RMSE vs true coherence")
    for name, value in rmse.items():
        typer.echo(f"{name:<30} {value:.3f}")
    typer.echo(f"summary: {result.summary_path}")


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


def main() -> None:
    """Console-script entry point."""
    app()
