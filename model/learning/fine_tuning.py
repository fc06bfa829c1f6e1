"""Starting training from an artefact (``cohcube train --init``): weights, contract, frozen levels.

The artefact is verified against its card (sha256) like any model load, its
architecture and input contract must be the ones the training config builds,
and its TorchScript parameters become the network's starting weights.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from cohcube.model.errors import ModelArtefactError

from .artefact import file_matches, quiet_torchscript
from .card import ModelCard, card_path_for, read_card
from .config import TrainingConfig
from .network import ResUNet, exported_weights
from .preprocessing import contract_for

log = logging.getLogger(__name__)


def _check_matches(card: ModelCard, config: TrainingConfig, path: Path) -> None:
    wanted = contract_for(config)
    net = config.network
    problems = []
    if card.network_style != net.style:
        problems.append(f"network.style {card.network_style} (config: {net.style})")
    if (card.architecture.width, card.architecture.depth) != (net.width, net.depth):
        problems.append(
            f"network.width {card.architecture.width} and depth {card.architecture.depth} "
            f"(config: {net.width}, {net.depth})"
        )
    if tuple(card.input.polarizations) != tuple(wanted.polarizations):
        problems.append(
            f"network.polarizations {list(card.input.polarizations)} "
            f"(config: {list(wanted.polarizations)})"
        )
    window = card.input.speckle_window_px
    if window and window != wanted.speckle_window_px:
        problems.append(f"network.speckle_window_px {window} (config: {wanted.speckle_window_px})")
    if tuple(card.input.db_range) != tuple(wanted.db_range):
        problems.append(
            f"network.db_range {list(card.input.db_range)} (config: {list(wanted.db_range)})"
        )
    if problems:
        raise ModelArtefactError(
            f"--init {path}: the artefact is not the network this config trains; set "
            + "; ".join(problems)
        )


def initial_weights(path: str | Path, config: TrainingConfig) -> dict[str, torch.Tensor]:
    """The network weights of artefact ``path`` (card or .pt), checked against ``config``.

    Raises:
        ModelArtefactError: missing or altered artefact, another architecture or contract.
    """
    card_path = card_path_for(path)
    card = read_card(path)
    _check_matches(card, config, Path(path))
    model_path = card_path.parent / card.artefact.file
    if not file_matches(model_path, card.artefact.sha256):
        raise ModelArtefactError(
            f"--init {path}: model file {model_path} is missing or differs from its card's "
            "sha256; restore the artefact"
        )
    with quiet_torchscript():
        module = torch.jit.load(str(model_path), map_location="cpu")  # type: ignore[no-untyped-call]
    weights, _ = exported_weights(module.state_dict())
    log.info("starting from %s (%s, %s)", card.name, card.artefact.sha256[:12], model_path)
    added = contract_for(config).channels - card.input.channels
    if added:
        log.info("%d speckle-correlation input channels added, their weights starting at 0", added)
        return widened_inputs(weights, added)
    return weights


#: The first block's layers that read the input channels.
_INPUT_LAYERS = ("encoder.0.conv1.weight", "encoder.0.shortcut.weight")


def widened_inputs(weights: dict[str, torch.Tensor], added: int) -> dict[str, torch.Tensor]:
    """``weights`` with ``added`` input channels appended to the layers that read the input,
    their weights zero: the widened network computes what the artefact computed until
    training moves them."""
    widened = dict(weights)
    for name in _INPUT_LAYERS:
        kernel = weights[name]
        zeros = kernel.new_zeros((kernel.shape[0], added, *kernel.shape[2:]))
        widened[name] = torch.cat([kernel, zeros], dim=1)
    return widened


def freeze_encoder_levels(model: ResUNet, levels: int) -> int:
    """Fix the weights of the first ``levels`` encoder blocks; returns the frozen parameter count.

    Batch-norm statistics of frozen blocks stay fixed too (their layers run in
    eval mode; ``keep_frozen_in_eval`` re-applies that after ``model.train()``).
    """
    frozen = 0
    for block in list(model.encoder)[:levels]:
        for p in block.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def keep_frozen_in_eval(model: ResUNet, levels: int) -> None:
    """Put the frozen encoder blocks back in eval mode (after ``model.train()``)."""
    for block in list(model.encoder)[:levels]:
        block.eval()
