"""Distil bf16 weights from an fp32 artefact (``cohcube tune-bf16``).

The student is the artefact's own network with batch-norm folded, run in an
emulation of :class:`~cohcube.model.learning.bf16_network.Bf16ResUNet`: every
value that network holds in bf16 (inputs and outputs of each bf16 convolution,
its weights and bias, the residual sums, the upsampled maps) is rounded to bf16
in the forward pass and passed straight through in the backward pass. Trained
to reproduce the fp32 network's own outputs (L1 on the coherence, 0.1 x L1 on
the log-variance) on simulated training-split patches of every baseline the
pipeline serves, it learns weights whose rounding errors cancel instead of add.
The fp32 artefact is never changed: its figures stay what its card records.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from cohcube.model.errors import ModelArtefactError

from .artefact import file_matches, quiet_torchscript
from .bf16_network import (
    BF16_WEIGHTS_FORMAT,
    encode_offsets,
    encoder_blocks,
    fold_batch_norm,
    network_of,
)
from .card import card_path_for, read_card
from .network import ResidualBlock, ResUNet, decoder_steps
from .training_data import simulate_patches

log = logging.getLogger(__name__)

#: Baselines (days) of the tuning patches: those ``cohcube calibrate`` serves.
TUNING_BASELINES = (6.0, 12.0, 24.0, 36.0)


def _rounded(t: torch.Tensor) -> torch.Tensor:
    """``t`` rounded to bf16 in the forward pass, unchanged in the backward pass."""
    return t + (t.to(torch.bfloat16).float() - t).detach()


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A bf16 convolution: bf16 input, weights and bias, fp32 accumulation, bf16 output."""
    bias = _rounded(conv.bias) if conv.bias is not None else None
    return _rounded(F.conv2d(x, _rounded(conv.weight), bias, conv.stride, conv.padding))


def _block(block: ResidualBlock, x: torch.Tensor) -> torch.Tensor:
    y = _rounded(F.relu(_conv(block.conv1, x)))
    return _rounded(F.relu(_conv(block.conv2, y) + _conv(block.shortcut, x)))


class Bf16Emulation(nn.Module):
    """A folded ``ResUNet`` computed as ``Bf16ResUNet`` computes it, differentiably.

    ``forward`` returns ``(N, 2, H, W)``: coherence and the second head (log-variance).
    """

    def __init__(self, folded: ResUNet) -> None:
        super().__init__()
        self.network = folded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.network
        first, *blocks = encoder_blocks(net)
        y = _rounded(F.relu(first.conv1(x)))  # exact: the high/low split of Bf16ResUNet
        x = _rounded(F.relu(_conv(first.conv2, y) + _rounded(first.shortcut(x))))
        skips = [x]
        for block in blocks:
            x = _block(block, F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for step in decoder_steps(net):
            x = _rounded(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
            if step.keras:
                x = _rounded(F.relu(_conv(step.reduce, F.pad(x, (0, 1, 0, 1)))))
                x = _block(step.block, torch.cat([skips.pop(), x], 1))
            else:
                x = _conv(step.reduce, F.pad(x, (0, 1, 0, 1), mode="replicate"))
                x = _block(step.block, torch.cat([x, skips.pop()], 1))
        coherence = torch.sigmoid(net.coherence_head(x))  # fp32 heads on bf16 features
        second = net.log_variance_head(x)
        if net.sigmoid_second_head:
            second = torch.sigmoid(second)
        return torch.cat([coherence, second], 1)


@dataclass(frozen=True)
class TuningResult:
    """What ``tune_bf16`` wrote and measured.

    Attributes:
        weights_file: the ``.npz`` written beside the artefact.
        emulated_mean_abs_difference: mean |coherence - fp32 coherence| of the
            emulation on the tuning patches, before and after tuning.
        patches: tuning patches, ``patch_px`` px each.
        wall_time_s: seconds spent.
    """

    weights_file: Path
    emulated_mean_abs_difference: tuple[float, float]
    patches: int
    wall_time_s: float


def _outputs(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([network(x[i : i + 32]) for i in range(0, len(x), 32)])


def tune_bf16(
    model: str | Path | None = None,
    *,
    scenes_per_baseline: int = 50,
    steps: int = 2000,
    batch_size: int = 8,
    learning_rate: float = 1e-5,
    seed: int | None = None,
) -> TuningResult:
    """Distil bf16 weights for artefact ``model`` and write them beside it (``<stem>.bf16.npz``).

    Args:
        model: card or ``.pt`` (default: the shipped model); it must have a training record
            (its data settings give the tuning scenes).
        scenes_per_baseline: training-split scenes simulated per baseline of ``TUNING_BASELINES``.
        steps: optimiser steps (Adam; linear warm-up over 5 %, then cosine decay).
        batch_size: patches per step.
        learning_rate: peak learning rate.
        seed: scene and batch seed (default: the model's training seed + 1).
    """
    start = time.perf_counter()
    card_path = card_path_for(model)
    card = read_card(model)
    if card.training is None:
        raise ValueError(f"model {card.name} has no training record to draw tuning scenes from")
    model_path = card_path.parent / card.artefact.file
    if not file_matches(model_path, card.artefact.sha256):
        raise ModelArtefactError(
            f"model file {model_path} named by {card_path} is missing or differs from the "
            "card's sha256; restore the artefact"
        )
    with quiet_torchscript():
        module = torch.jit.load(str(model_path), map_location="cpu")  # type: ignore[no-untyped-call]
    teacher = fold_batch_norm(network_of(module, card.network_style)[0])
    student = Bf16Emulation(copy.deepcopy(teacher))
    config = card.training.config
    run_seed = config.seed + 1 if seed is None else seed
    x = torch.from_numpy(
        np.concatenate(
            [
                simulate_patches(
                    config.data, "train", scenes_per_baseline, run_seed, baseline_days=days
                ).inputs(card.input)
                for days in TUNING_BASELINES
            ]
        )
    )
    target = _outputs(teacher, x)
    before = float((_outputs(student, x)[:, 0] - target[:, 0]).abs().mean())
    log.info("bf16 emulation before tuning: mean |difference| %.5f on %d patches", before, len(x))
    optimiser = torch.optim.Adam(student.parameters(), lr=learning_rate)
    warm_up = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warm_up) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    generator = torch.Generator().manual_seed(run_seed)
    for step in range(1, steps + 1):
        index = torch.randint(0, len(x), (batch_size,), generator=generator)
        out = student(x[index])
        loss = (out[:, 0] - target[index, 0]).abs().mean()
        loss = loss + 0.1 * (out[:, 1] - target[index, 1]).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 100 == 0:
            log.info("bf16 tuning step %d/%d: loss %.2e", step, steps, float(loss.detach()))
    after = float((_outputs(student, x)[:, 0] - target[:, 0]).abs().mean())
    log.info("bf16 emulation after tuning: mean |difference| %.5f", after)
    arrays = encode_offsets(teacher.state_dict(), student.network.state_dict())
    out_path = card_path.parent / f"{Path(card.artefact.file).stem}.bf16.npz"
    payload: dict[str, Any] = {"format": np.array(BF16_WEIGHTS_FORMAT), **arrays}
    np.savez_compressed(out_path, **payload)
    return TuningResult(out_path, (before, after), len(x), time.perf_counter() - start)
