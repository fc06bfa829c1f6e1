"""The device verbs of the ``cohcube`` command line: calibrate-device, tune-bf16.

Both measure or prepare what a model does on the hardware it runs on and record
it in the model card through the typed card (``with_device_measurements``,
``with_bf16_weights``) and ``write_card``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cohcube.model.errors import ConfigError

from .cli_app import Quiet, Verbose, command_line, setup_logging, user_errors
from .model_verbs import trained_model_of


def calibrate_device(
    model: Annotated[Path | None, typer.Option(help="Model card or .pt (default shipped).")] = None,
    scenes: Annotated[int, typer.Option(min=1, help="Validation scenes for the parity.")] = 4,
    tile: Annotated[int, typer.Option(min=64, help="Tile side timed for the speed, px.")] = 1024,
    device: Annotated[str, typer.Option(help="cpu or cuda (this machine's first GPU).")] = "cpu",
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Measure each precision's difference from fp32 and the forward speed; store in the card."""
    setup_logging(verbose, quiet)
    from cohcube.model.learning.card import write_card
    from cohcube.model.learning.device_calibration import forward_throughput, precision_parity
    from cohcube.model.learning.training_data import simulate_patches

    with user_errors():
        if device not in ("cpu", "cuda"):
            raise ConfigError(f"--device must be cpu or cuda, got {device!r}")
        card_path, loaded, trained = trained_model_of(model)
        data = trained.data.model_copy(update={"patch_px": trained.data.scene_px})
        validation = simulate_patches(data, "validation", scenes, trained.seed)
        parity = precision_parity(card_path, validation.inputs(loaded.contract), device)
        speeds = [forward_throughput(card_path, p, device, tile) for p in ("fp32", *parity)]
        assert loaded.card is not None
        write_card(loaded.card.with_device_measurements(parity, speeds), card_path)
    for name, found in parity.items():
        typer.echo(
            f"{name} vs fp32: max |difference| {found.max_abs_difference:.4f}, mean "
            f"{found.mean_abs_difference:.5f} ({found.scenes} scenes of {found.scene_px} px)"
        )
    for speed in speeds:
        typer.echo(f"{speed.precision:>5}: {speed.mpx_per_s:.3f} Mpx/s on {speed.device}")
    typer.echo(f"stored in {card_path}")


def tune_bf16(
    model: Annotated[Path | None, typer.Option(help="Model card or .pt (default shipped).")] = None,
    scenes: Annotated[
        int, typer.Option(min=1, help="Training-split scenes per baseline (6, 12, 24, 36 d).")
    ] = 50,
    steps: Annotated[int, typer.Option(min=1, help="Optimiser steps.")] = 2000,
    parity_scenes: Annotated[
        int, typer.Option(min=1, help="Validation scenes for the parity recorded.")
    ] = 4,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Distil weights for bf16 inference, store them beside the artefact, record their parity."""
    setup_logging(verbose, quiet)
    from cohcube.model.learning.artefact import sha256_of
    from cohcube.model.learning.bf16_network import FP32_LAYERS
    from cohcube.model.learning.bf16_tuning import tune_bf16 as distil
    from cohcube.model.learning.card import Bf16Weights, read_card, write_card
    from cohcube.model.learning.device_calibration import precision_parity
    from cohcube.model.learning.training_data import simulate_patches

    with user_errors():
        card_path, loaded, trained = trained_model_of(model, calibrating=True)
        result = distil(card_path, scenes_per_baseline=scenes, steps=steps)
        entry = Bf16Weights(
            file=result.weights_file.name,
            sha256=sha256_of(result.weights_file),
            bytes=result.weights_file.stat().st_size,
            fp32_layers=list(FP32_LAYERS),
            patches=result.patches,
            steps=steps,
            emulated_mean_abs_difference=result.emulated_mean_abs_difference,
            wall_time_s=round(result.wall_time_s, 1),
            command=command_line(),
        )
        write_card(read_card(card_path).with_bf16_weights(entry), card_path)
        data = trained.data.model_copy(update={"patch_px": trained.data.scene_px})
        validation = simulate_patches(data, "validation", parity_scenes, trained.seed)
        parity = precision_parity(card_path, validation.inputs(loaded.contract), "cpu", ["bf16"])
        write_card(read_card(card_path).with_device_measurements(parity, []), card_path)
    before, after = result.emulated_mean_abs_difference
    typer.echo(
        f"bf16 weights: {result.weights_file} ({entry.bytes / 1e6:.2f} MB), "
        f"{result.patches} patches, {steps} steps, {result.wall_time_s:.0f} s; emulated mean "
        f"|difference| {before:.5f} -> {after:.5f} on the tuning patches"
    )
    for name, found in parity.items():
        typer.echo(
            f"{name} vs fp32: max |difference| {found.max_abs_difference:.4f}, mean "
            f"{found.mean_abs_difference:.5f} ({found.scenes} validation scenes of "
            f"{found.scene_px} px)"
        )
    typer.echo(f"stored in {card_path}")
