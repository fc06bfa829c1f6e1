"""What an artefact does on this device: each precision's distance from fp32, and its speed.

``cohcube calibrate-device`` (and ``cohcube export``) record both in the model
card: ``precision_parity`` (max and mean |coherence - fp32 coherence| on whole
validation scenes) and ``throughput`` (Mpx/s of a forward pass per device kind
and precision), which job planning reads to estimate compute time.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from .artefact import CoherenceModel, load_model
from .card import DeviceThroughput, PrecisionParity
from .precision import device_capability

log = logging.getLogger(__name__)

#: Reduced precisions whose parity is measured (those the device cannot run are left out).
REDUCED = ("bf16", "fp16")


def device_label(device: torch.device) -> str:
    """``'cpu (AVX2, no native bf16): AMD EPYC'``: capability and model of ``device``."""
    capability = device_capability(device)
    if device.type == "cuda":
        return capability.description
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{capability.description}: {name}"


def _coherence(model: CoherenceModel, scenes: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.stack([model.forward_channels(scene[None])[0, 0] for scene in scenes])


def precision_parity(
    card_path: Path,
    scenes: NDArray[np.float32],
    device: str = "cpu",
    precisions: Sequence[str] = REDUCED,
) -> dict[str, PrecisionParity]:
    """|coherence at each precision - at fp32| on ``scenes`` (``(N, C, H, W)`` network input)."""
    reference = _coherence(load_model(card_path, device, "fp32"), scenes)
    label = device_label(torch.device(device))
    parity = {}
    for precision in precisions:
        try:
            converted = load_model(card_path, device, precision)
            coherence = _coherence(converted, scenes)
        except (RuntimeError, NotImplementedError) as exc:  # an op without a kernel here
            log.warning("precision %s does not run on %s: %s", precision, label, exc)
            continue
        difference = np.abs(coherence - reference)
        parity[precision] = PrecisionParity(
            max_abs_difference=round(float(np.nanmax(difference)), 5),
            mean_abs_difference=round(float(np.nanmean(difference)), 6),
            scenes=int(scenes.shape[0]),
            scene_px=int(scenes.shape[-1]),
            device=label,
        )
        log.info(
            "%s vs fp32 on %d scenes: max %.4f, mean %.5f",
            precision,
            scenes.shape[0],
            parity[precision].max_abs_difference,
            parity[precision].mean_abs_difference,
        )
    return parity


def forward_throughput(
    card_path: Path,
    precision: str,
    device: str = "cpu",
    tile_px: int = 1024,
    repeats: int = 2,
) -> DeviceThroughput:
    """Mpx/s of one pair's forward pass on ``tile_px``^2 px (best of ``repeats``, warm)."""
    model = load_model(card_path, device, precision)
    channels = np.random.default_rng(0).random(
        (1, model.contract.channels, tile_px, tile_px), dtype=np.float32
    )
    model.forward_channels(channels[:, :, :256, :256])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.forward_channels(channels)
        best = min(best, time.perf_counter() - start)
    return DeviceThroughput(
        device=device_label(torch.device(device)),
        precision=model.precision,
        threads=torch.get_num_threads(),
        tile_px=tile_px,
        mpx_per_s=round(tile_px * tile_px / best / 1e6, 4),
        measured=dt.date.today().isoformat(),
    )
