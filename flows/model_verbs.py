"""The model verbs of the ``cohcube`` command line: train, export, evaluate, calibrate, import.

``cli`` registers them on the app, in the order ``cohcube --help`` lists them.
Cards are changed through the typed card (``with_metrics``,
``with_baseline_calibration``) and written by ``write_card`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cohcube.model.errors import ConfigError

from .cli_app import Quiet, Verbose, command_line, setup_logging, user_errors

if TYPE_CHECKING:
    from cohcube.model.learning.artefact import CoherenceModel
    from cohcube.model.learning.config import TrainingConfig


def trained_model_of(
    model: Path | None, *, calibrating: bool = False
) -> tuple[Path, CoherenceModel, TrainingConfig]:
    """Card path of ``model`` (default: the shipped one), the loaded model, and the simulator
    settings to score it on: its training config, or the defaults for an imported model."""
    from cohcube.model.errors import ModelArtefactError
    from cohcube.model.learning.artefact import load_model
    from cohcube.model.learning.card import card_path_for
    from cohcube.model.learning.config import TrainingConfig

    card_path = card_path_for(model)
    loaded = load_model(card_path)
    assert loaded.card is not None  # load_model always reads the card
    if calibrating and (loaded.card.training is None or loaded.card.calibration is None):
        raise ModelArtefactError(
            f"model {loaded.card.name} ({card_path}) was not trained on the simulator and has "
            "no calibrated uncertainty; cohcube calibrates only the uncertainty of models it "
            "trained (calibrating an imported head needs data with known coherence you supply)"
        )
    training = loaded.card.training
    return card_path, loaded, training.config if training else TrainingConfig()


def train(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="Training config, YAML or TOML.")
    ],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, history, config copy.")],
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Cache of simulated patches.")] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Start from this artefact (.pt or card: shipped, trained or imported); "
            "fine_tune in the config sets frozen levels and the learning-rate factor."
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Train (or fine-tune) the coherence network on simulated pairs and/or your SLC pairs."""
    setup_logging(verbose, quiet)
    from cohcube.model.learning.config import load_training_config
    from cohcube.model.learning.training import train as run_training

    with user_errors():
        settings = load_training_config(config)
        if init is not None:
            tune = settings.fine_tune.model_copy(update={"init": str(init.resolve())})
            settings = settings.model_copy(update={"fine_tune": tune})
        out.mkdir(parents=True, exist_ok=True)
        if not resume:
            (out / "command.txt").write_text(command_line() + "\n")
        summary = run_training(settings, out, resume=resume, cache_dir=cache, progress=progress)
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(
        f"trained {summary['epochs']} epochs in {summary['train_seconds']} s on "
        f"{summary['device']}; last validation RMSE vs target "
        f"{last.get('val_rmse_target', float('nan')):.4f}"
    )


def export(
    run: Annotated[
        Path, typer.Argument(metavar="RUN", help="Run folder of `cohcube train`, or a checkpoint.")
    ],
    out: Annotated[Path, typer.Option(help="TorchScript file to write (.pt); card beside it.")],
    name: Annotated[str | None, typer.Option(help="Model name for the card.")] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Export a trained network as a TorchScript artefact with its model card."""
    setup_logging(verbose, quiet)
    from cohcube.model.learning.export import export_model

    with user_errors():
        checkpoint = _checkpoint_of(run)
        command_file = (run if run.is_dir() else run.parent.parent) / "command.txt"
        command = command_file.read_text().strip() if command_file.exists() else None
        card = export_model(checkpoint, out, name=name, command=command)
    typer.echo(
        f"wrote {out} and {out.with_suffix('.json')} (sha256 "
        f"{card.artefact.sha256[:12]}, halo {card.tiling.recommended_halo_px} px)"
    )


def _checkpoint_of(run: Path) -> Path:
    from cohcube.model.errors import MissingPathError
    from cohcube.model.learning.checkpoints import latest_checkpoint

    if run.is_file():
        return run
    found = latest_checkpoint(run)
    if found is None:
        raise MissingPathError(f"no checkpoint in {run / 'checkpoints'}; train first")
    return found


def evaluate(
    model: Annotated[
        list[Path] | None,
        typer.Option(help="Model card or .pt (default shipped); repeat with --pairs to compare."),
    ] = None,
    test_scenes: Annotated[int, typer.Option(help="Test scenes per baseline.")] = 40,
    scenes: Annotated[
        str,
        typer.Option(
            help="Simulated scenes: standard (the training simulator's statistics) or alt "
            "(another generator, never used in training)."
        ),
    ] = "standard",
    pairs: Annotated[
        Path | None,
        typer.Option(
            help="Training config whose real sources' held-out (test split) SLC pairs to "
            "score on, instead of simulated scenes."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Split scored with --pairs: test or validation.")] = (
        "test"
    ),
    cache: Annotated[
        Path | None,
        typer.Option(help="Patch cache for --pairs (default: .cohcube-patches beside the config)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    record: Annotated[bool, typer.Option(help="Store the metrics in the model card.")] = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Score a model and the intensity baseline on held-out simulated scenes or real pairs."""
    setup_logging(verbose, quiet)
    from cohcube.model.learning.card import write_card
    from cohcube.model.learning.evaluation import evaluate as run_evaluation
    from cohcube.model.learning.evaluation import format_report
    from cohcube.model.learning.training_data import SCENE_KINDS

    if pairs is not None:
        _evaluate_pairs(model or [None], pairs, split, cache, json_out)
        return
    with user_errors():
        if model is not None and len(model) > 1:
            raise ConfigError("--model once on simulated scenes; compare several with --pairs")
        if scenes not in SCENE_KINDS:
            raise ConfigError(f"--scenes {scenes!r}: use one of {list(SCENE_KINDS)}")
        if record and scenes != "standard":
            raise ConfigError(
                "--record stores the standard held-out figures the card is guarded by; "
                "score --scenes alt without --record (keep its report with --json)"
            )
        card_path, loaded, trained = trained_model_of(model[0] if model else None)
        report = run_evaluation(
            loaded,
            trained.data,
            trained.seed,
            test_scenes=test_scenes,
            scenes=scenes,
        )
        report["command"] = command_line()
    typer.echo(format_report(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    if record and loaded.card is not None:
        write_card(loaded.card.with_metrics(report), card_path)
        typer.echo(f"metrics recorded in {card_path}")


def _evaluate_pairs(
    models: list[Path] | list[None],
    config: Path,
    split: str,
    cache: Path | None,
    json_out: Path | None,
) -> None:
    from cohcube.model.learning.artefact import load_model
    from cohcube.model.learning.config import load_training_config
    from cohcube.model.learning.pair_evaluation import evaluate_pairs, format_pair_report

    with user_errors():
        if split not in ("test", "validation"):
            raise ConfigError(f"--split must be test or validation, got {split!r}")
        settings = load_training_config(config)
        loaded = [load_model(m) for m in models]
        folder = cache or config.parent / ".cohcube-patches"
        report = evaluate_pairs(loaded, settings, folder, split=split)
        report["command"] = command_line()
    typer.echo(format_pair_report(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n")


def calibrate(
    model: Annotated[Path | None, typer.Option(help="Model card or .pt (default shipped).")] = None,
    baseline: Annotated[
        list[float] | None,
        typer.Option(help="Temporal baseline to calibrate, days (repeat; default 6 12 24 36)."),
    ] = None,
    scenes: Annotated[int, typer.Option(min=1, help="Validation scenes per baseline.")] = 40,
    coherence_map: Annotated[
        bool,
        typer.Option(
            help="Also fit the monotone map of the predicted to the true coherence per baseline."
        ),
    ] = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Calibrate the coherence and its uncertainty per temporal baseline; store them in the
    model card."""
    setup_logging(verbose, quiet)
    import numpy as np

    from cohcube.model.learning.card import write_card
    from cohcube.model.learning.evaluation import calibrate_baselines

    days = sorted(set(baseline or [6.0, 12.0, 24.0, 36.0]))
    with user_errors():
        if any(d <= 0 for d in days):
            raise ConfigError(f"--baseline must be positive days, got {days}")
        card_path, loaded, trained = trained_model_of(model, calibrating=True)
        factors, maps = calibrate_baselines(
            loaded,
            trained.data,
            trained.seed,
            baselines_days=days,
            scenes=scenes,
            coherence_maps=coherence_map,
        )
        assert loaded.card is not None  # trained_model_of checked it
        card = loaded.card.with_baseline_calibration(factors, scenes, command_line(), maps)
        write_card(card, card_path)
    probe = np.array([0.2, 0.5, 0.8], dtype=np.float32)
    for key, factor in factors.items():
        mapped = maps.get(key)
        shift = (
            f"; coherence 0.2, 0.5, 0.8 -> {', '.join(f'{v:.3f}' for v in mapped(probe))}"
            if mapped
            else ""
        )
        typer.echo(f"{key:>6} days: sigma x {factor:.3f}{shift}")
    typer.echo(f"stored in {card_path}")


def import_keras(
    weights: Annotated[
        Path,
        typer.Argument(metavar="WEIGHTS", help="The authors' model.weights.h5 (either layout)."),
    ],
    out: Annotated[Path, typer.Option(help="TorchScript file to write (.pt); card beside it.")],
    config: Annotated[
        Path | None, typer.Option(help="Their config.yaml (default: the paper's preprocessing).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name for the card.")] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Import the paper's released Keras weights as a verified cohcube model artefact."""
    setup_logging(verbose, quiet)
    from cohcube.model.learning.export import import_keras_artefact

    with user_errors():
        card = import_keras_artefact(
            weights, out, config_path=config, name=name, command=command_line()
        )
    assert card.provenance is not None
    typer.echo(
        f"wrote {out} and {out.with_suffix('.json')} from {weights.name} "
        f"({card.provenance.source_layout}; sha256 {card.artefact.sha256[:12]}, "
        f"halo {card.tiling.recommended_halo_px} px); use it with --model {out}"
    )


def models(
    folder: Annotated[
        Path | None,
        typer.Argument(
            metavar="FOLDER", help="Folder of artefacts (default: the shipped model only)."
        ),
    ] = None,
) -> None:
    """List model artefacts: name, provenance, inputs, size multiple, halo, sha256."""
    from cohcube.model.errors import CohcubeError
    from cohcube.model.learning.card import SHIPPED_CARD, read_card

    cards = [SHIPPED_CARD]
    if folder is not None:
        cards += sorted(p for p in folder.rglob("*.json") if p.with_suffix(".pt").is_file())
    for path in cards:
        try:
            card = read_card(path)
        except CohcubeError as exc:
            typer.echo(f"{path}: not usable: {exc}", err=True)
            continue
        origin = (
            f"{card.provenance.source} ({card.provenance.source_file}, sha256 "
            f"{card.provenance.source_sha256[:12]})"
            if card.provenance
            else "trained by cohcube on simulated pairs"
        )
        if card.training is not None and card.provenance is None:
            stages = card.training.lineage()
            origin += (
                f" in {sum(stage.wall_time_s for stage in stages) / 60:.0f} min"
                f"{f' ({len(stages)} stages: --init)' if len(stages) > 1 else ''}"
            )
        typer.echo(
            f"{card.name}  {path}\n  from: {origin}\n  input: {card.input.quantity} "
            f"{'+'.join(card.input.polarizations)} dB {list(card.input.db_range)}, size multiple "
            f"{card.input.size_multiple}, halo {card.tiling.recommended_halo_px} px, sigma "
            f"{'calibrated' if card.output.calibrated_sigma else 'none'}\n  sha256: "
            f"{card.artefact.sha256}"
        )
