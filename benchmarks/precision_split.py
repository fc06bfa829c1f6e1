"""Where bf16 loses the shipped network's coherence, and what the tuned bf16 network keeps.

    python benchmarks/precision_split.py [--layers]

On the 4 validation scenes that ``cohcube calibrate-device`` uses (12-day pairs,
256 px), against the fp32 network with batch-norm folded, in one run:
- the whole module converted to bf16 (what ``load_model`` does without tuned weights);
- ``Bf16ResUNet`` (exact first layer, fp32 heads) with the other weights rounded to
  the nearest bf16, then with the weights ``cohcube tune-bf16`` distilled (shipped);
- ``--layers``: each convolution's weights and bias alone rounded to bf16 (fp32
  arithmetic elsewhere), the per-layer sensitivity that chose the fp32 layers;
and the 1024 px forward time of fp32, whole-module bf16 and tuned bf16.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cohcube.model.learning import precision as precision_module
from cohcube.model.learning.artefact import (
    file_matches,
    load_model,
    optimised,
    quiet_torchscript,
)
from cohcube.model.learning.bf16_network import Bf16ResUNet, fold_batch_norm, network_of
from cohcube.model.learning.card import card_path_for, read_card
from cohcube.model.learning.device_calibration import device_label
from cohcube.model.learning.network import ResUNet
from cohcube.model.learning.training_data import simulate_patches


def _artefact() -> torch.jit.ScriptModule:
    card = read_card(None)
    path = card_path_for(None).parent / card.artefact.file
    assert file_matches(path, card.artefact.sha256), f"{path} differs from its card"
    with quiet_torchscript():
        return torch.jit.load(str(path))  # type: ignore[no-untyped-call,no-any-return]


def _folded() -> tuple[ResUNet, float]:
    network, sigma_scale = network_of(_artefact(), "cohcube")
    return fold_batch_norm(network), sigma_scale


def _report(name: str, coherence: torch.Tensor, base: torch.Tensor) -> None:
    difference = (coherence - base).abs()
    print(f"  {name:<58} mean {difference.mean():.5f}  max {difference.max():.4f}", flush=True)


def _best_seconds(module: torch.nn.Module, batch: torch.Tensor) -> float:
    with torch.no_grad():
        module(batch[:, :, :256, :256])
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            module(batch)
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", action="store_true", help="per-layer sensitivity too")
    args = parser.parse_args()
    torch.set_num_threads(2)
    reference = load_model(None, "cpu", "fp32")
    assert reference.card is not None
    assert reference.card.training is not None
    config = reference.card.training.config
    data = config.data.model_copy(update={"patch_px": config.data.scene_px})
    scenes = simulate_patches(data, "validation", 4, config.seed).inputs(reference.contract)
    x = torch.from_numpy(scenes)
    folded, sigma_scale = _folded()
    with torch.no_grad():
        base = folded(x)[:, 0]
    print(f"shipped model, 4 validation scenes of 256 px, 2 threads; {device_label(x.device)}")
    print("|coherence - fp32 coherence|:")
    with quiet_torchscript():  # what load_model serves for a card without bf16 weights
        converted = optimised(precision_module.converted(_artefact().eval(), "bf16"))
    last = torch.channels_last
    with torch.no_grad():
        out = converted(x.to(torch.bfloat16).contiguous(memory_format=last))[:, 0].float()
    _report("whole module converted to bf16", out, base)
    nearest = Bf16ResUNet(_folded()[0], sigma_scale).eval()
    with torch.no_grad():
        _report("exact first layer + fp32 heads, nearest bf16 weights", nearest(x)[:, 0], base)
    tuned = load_model(None, "cpu", "bf16")
    if tuned.takes_float32:
        _report(
            "exact first layer + fp32 heads, tuned weights (shipped)",
            torch.from_numpy(np.stack([tuned.forward_channels(s[None])[0, 0] for s in scenes])),
            base,
        )
    if args.layers:
        print("one layer's weights and bias rounded to bf16, the rest fp32:")
        for name, conv in folded.named_modules():
            if not isinstance(conv, torch.nn.Conv2d) or name == "log_variance_head":
                continue
            saved = [p.detach().clone() for p in conv.parameters()]
            with torch.no_grad():
                for p in conv.parameters():
                    p.copy_(p.to(torch.bfloat16).float())
                _report(name, folded(x)[:, 0], base)
                for p, keep in zip(conv.parameters(), saved, strict=True):
                    p.copy_(keep)
    tile = torch.rand(1, reference.contract.channels, 1024, 1024)
    seconds = {
        "fp32": _best_seconds(reference.module, tile),
        "whole bf16": _best_seconds(
            converted, tile.to(torch.bfloat16).contiguous(memory_format=last)
        ),
        "tuned bf16": _best_seconds(tuned.module, tile),
    }
    print(
        "1024 px forward: "
        + ", ".join(f"{n} {s:.2f} s ({seconds['fp32'] / s:.2f}x fp32)" for n, s in seconds.items())
    )


if __name__ == "__main__":
    main()
