"""Which stages of the shipped network bf16 may run, and what that keeps of its speed.

    python benchmarks/precision_split.py

The whole network in bf16 misses the card's parity bar (mean <= 0.001, max <= 0.01
|coherence difference| against fp32; ``docs/benchmarks.md``). This rebuilds the
shipped network in eager mode from its TorchScript weights and, for each split,
keeps some stages in fp32 and runs the rest in bf16:
- first the parity of each split on the 4 validation scenes that ``cohcube
  calibrate-device`` uses (eager, batch-norm not folded);
- then the best split as a frozen TorchScript module (what ``load_model`` serves) for
  its parity and its 1024 px forward time, beside fp32 and all-bf16 in the same run.

A research measurement: nothing here is on the inference path.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.nn import functional

from cohcube.model.learning.artefact import load_model, optimised, quiet_torchscript
from cohcube.model.learning.card import card_path_for
from cohcube.model.learning.device_calibration import device_label
from cohcube.model.learning.network import ResUNet
from cohcube.model.learning.training_data import simulate_patches


class StageCast(torch.nn.Module):
    """The ResUNet coherence path, each stage fed in the dtype of its own weights."""

    def __init__(self, network: ResUNet) -> None:
        super().__init__()
        self.encoder, self.decoder = network.encoder, network.decoder
        self.coherence_head = network.coherence_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        first = True
        for block in self.encoder:
            if not first:
                x = functional.max_pool2d(x, 2)
            first = False
            x = block(x.to(block.conv1.weight.dtype))
            skips.append(x)
        skips.pop()
        for step in self.decoder:
            dtype = step.reduce.weight.dtype
            x = step(x.to(dtype), skips.pop().to(dtype))
        head = self.coherence_head
        return torch.sigmoid(head(x.to(head.weight.dtype))).float()


def _network(card_path: object) -> ResUNet:
    """The shipped network in eager mode, with the weights of its TorchScript file."""
    model = load_model(card_path, "cpu", "fp32")
    assert model.card is not None
    assert model.card.training is not None
    net = model.card.training.config.network
    with quiet_torchscript():
        scripted = torch.jit.load(str(card_path_for(None).parent / model.card.artefact.file))
    state = {
        k.removeprefix("network."): v
        for k, v in scripted.state_dict().items()
        if k.startswith("network.")
    }
    network = ResUNet(model.contract.channels, net.width, net.depth, net.style)
    for i, step in enumerate(network.decoder):  # older exports: a biased 2x2 reduce conv
        if f"decoder.{i}.reduce.bias" in state:
            step.reduce = torch.nn.Conv2d(step.reduce.in_channels, step.reduce.out_channels, 2)
    network.load_state_dict(state)
    return network.eval()


def _split(network: ResUNet, fp32: set[str]) -> StageCast:
    """``network`` with the stages named in ``fp32`` kept in fp32, the rest in bf16."""
    for k, block in enumerate(network.encoder):
        block.to(torch.float32 if f"enc{k}" in fp32 else torch.bfloat16)
    last = len(network.decoder) - 1
    for k, step in enumerate(network.decoder):  # dec{last} works at full resolution
        step.to(
            torch.float32
            if f"dec{k}" in fp32 or (k == last and "dec_last" in fp32)
            else torch.bfloat16
        )
    network.coherence_head.to(torch.float32 if "head" in fp32 else torch.bfloat16)
    return StageCast(network).eval()


def main() -> None:
    torch.set_num_threads(2)
    card_path = card_path_for(None)
    reference = load_model(card_path, "cpu", "fp32")
    assert reference.card is not None
    assert reference.card.training is not None
    config = reference.card.training.config
    data = config.data.model_copy(update={"patch_px": config.data.scene_px})
    scenes = simulate_patches(data, "validation", 4, config.seed).inputs(reference.contract)
    x = torch.from_numpy(scenes)
    with torch.no_grad():
        base = StageCast(_network(card_path)).eval()(x)[:, 0].numpy()
    print(
        f"shipped model, 4 validation scenes of {scenes.shape[-1]} px, 2 threads; "
        f"{device_label(torch.device('cpu'))}"
    )
    splits = [
        (),
        ("head",),
        ("enc0",),
        ("dec_last",),
        ("enc0", "dec_last", "head"),
        ("enc0", "enc1", "dec2", "dec_last", "head"),
    ]
    for kept in splits:
        with torch.no_grad():
            out = _split(_network(card_path), set(kept))(x)[:, 0].numpy()
        difference = np.abs(out - base)
        print(
            f"  fp32 kept: {', '.join(kept) or 'none':<30} |difference| mean "
            f"{difference.mean():.5f} max {difference.max():.4f}"
        )

    kept = {"enc0", "dec_last", "head"}
    with quiet_torchscript():
        fp32 = optimised(torch.jit.script(StageCast(_network(card_path)).eval()))
        split = _split(_network(card_path), kept)
        mixed = optimised(torch.jit.script(split).to(memory_format=torch.channels_last))  # type: ignore[call-overload]
    bf16 = load_model(card_path, "cpu", "bf16").module
    last = torch.channels_last
    with torch.no_grad():
        frozen = mixed(x.contiguous(memory_format=last))[:, 0].numpy()
    difference = np.abs(frozen - base)
    print(
        f"frozen TorchScript, fp32 kept: {', '.join(sorted(kept))}: |difference| mean "
        f"{difference.mean():.5f} max {difference.max():.4f}"
    )
    tile = torch.rand(1, reference.contract.channels, 1024, 1024)
    inputs = {
        "fp32": (fp32, tile),
        "all bf16": (bf16, tile.to(torch.bfloat16).contiguous(memory_format=last)),
        "split": (mixed, tile.contiguous(memory_format=last)),
    }
    seconds = {}
    with torch.no_grad():
        for name, (module, batch) in inputs.items():
            module(batch[:, :, :256, :256])
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                module(batch)
                best = min(best, time.perf_counter() - start)
            seconds[name] = best
    print(
        "1024 px forward: "
        + ", ".join(f"{n} {s:.2f} s ({seconds['fp32'] / s:.2f}x fp32)" for n, s in seconds.items())
    )


if __name__ == "__main__":
    main()
