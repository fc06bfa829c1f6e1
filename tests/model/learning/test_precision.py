"""Precision: what ``auto`` picks per device (capabilities faked), and the numerics for real."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from cohcube.model.errors import ModelArtefactError
from cohcube.model.learning import precision as precision_module
from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.card import PrecisionParity, card_path_for, read_card
from cohcube.model.learning.precision import (
    DeviceCapability,
    as_network_input,
    cpu_capability,
    resolve_precision,
)
from cohcube.model.learning.preprocessing import network_input
from cohcube.model.learning.transfer import activation_bytes, pairs_per_forward
from cohcube.model.physics.simulator import simulate_pair

AMX_CPU = DeviceCapability("cpu", bf16=True, fp16=False, description="cpu (AMX)")
AVX2_CPU = DeviceCapability("cpu", bf16=False, fp16=False, description="cpu (AVX2)")
AMPERE = DeviceCapability("cuda", bf16=True, fp16=True, description="cuda (A100, 8.0)")
VOLTA = DeviceCapability("cuda", bf16=False, fp16=True, description="cuda (V100, 7.0)")
MAXWELL = DeviceCapability("cuda", bf16=False, fp16=False, description="cuda (M40, 5.2)")


def _parity(mean: float, largest: float) -> PrecisionParity:
    return PrecisionParity(
        max_abs_difference=largest, mean_abs_difference=mean, scenes=4, scene_px=256, device="x"
    )


CLOSE = _parity(0.0004, 0.005)
FAR = _parity(0.004, 0.05)


@pytest.mark.parametrize(
    ("capability", "parity", "expected"),
    [
        (AMX_CPU, {"bf16": CLOSE}, "bf16"),
        (AMX_CPU, {"bf16": FAR, "fp16": CLOSE}, "fp32"),  # the CPU has no native fp16
        (AMX_CPU, None, "fp32"),  # never unmeasured
        (AVX2_CPU, {"bf16": CLOSE, "fp16": CLOSE}, "fp32"),
        (AMPERE, {"bf16": CLOSE, "fp16": CLOSE}, "fp16"),
        (AMPERE, {"bf16": CLOSE, "fp16": FAR}, "bf16"),
        (AMPERE, {"bf16": FAR}, "fp32"),
        (VOLTA, {"bf16": CLOSE, "fp16": CLOSE}, "fp16"),
        (MAXWELL, {"bf16": CLOSE, "fp16": CLOSE}, "fp32"),
    ],
)
def test_auto_picks_a_native_precision_the_card_measured_close_to_fp32(
    capability: DeviceCapability, parity: dict[str, PrecisionParity] | None, expected: str
) -> None:
    assert resolve_precision("auto", capability, parity) == expected


def test_explicit_precisions_are_kept_or_refused(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_precision("fp32", AMX_CPU) == "fp32"
    assert resolve_precision("fp16", VOLTA) == "fp16"
    with caplog.at_level(logging.WARNING):
        assert resolve_precision("bf16", AVX2_CPU) == "bf16"
    assert "emulated" in caplog.text
    assert "auto' picks fp32" in caplog.text
    with pytest.raises(ModelArtefactError, match=r"compute capability >= 5\.3"):
        resolve_precision("fp16", MAXWELL)
    with pytest.raises(ModelArtefactError, match=r"'fp8' is not one of auto, fp32, bf16, fp16"):
        resolve_precision("fp8", AMX_CPU)


def test_cpu_capability_from_torch_probes_or_cpuinfo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    found = cpu_capability()
    assert found.bf16
    assert "AMX" in found.description
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    monkeypatch.setattr(precision_module, "_CPU_FLAGS", cpuinfo)
    assert not cpu_capability().bf16
    assert "no native bf16" in cpu_capability().description
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert cpu_capability().bf16
    assert "AVX-512-BF16" in cpu_capability().description


def test_load_model_auto_matches_this_cpu() -> None:
    model = load_model(precision="auto")
    card = read_card(None)
    assert model.precision == resolve_precision("auto", cpu_capability(), card.precision_parity)


def test_reduced_precision_inputs_go_channels_last() -> None:
    x = torch.rand(2, 4, 32, 32)
    assert as_network_input(x, "fp32") is x
    bf16 = as_network_input(x, "bf16")
    assert bf16.dtype == torch.bfloat16
    assert bf16.is_contiguous(memory_format=torch.channels_last)


def test_bf16_numerics_of_the_shipped_model_are_within_the_card() -> None:
    """The real conversion on this CPU (emulated where it has no bf16: slow, so a small scene)."""
    card = read_card(None)
    contract = card.input
    pair = simulate_pair((128, 128), 12.0, seed=7, polarizations=contract.polarizations)
    channels, _ = network_input(pair.reference, pair.secondary, contract)
    fp32 = load_model(precision="fp32").forward_channels(channels[None])
    bf16_model = load_model(precision="bf16")
    assert card.bf16_weights is not None
    assert bf16_model.takes_float32  # the tuned bf16 weights shipped beside the artefact
    bf16 = bf16_model.forward_channels(channels[None])
    assert bf16.dtype == np.float32
    assert bf16.shape == fp32.shape
    difference = np.abs(bf16[:, 0] - fp32[:, 0])
    assert float(difference.mean()) > 0  # really converted
    # The shipped card records what the conversion costs on its validation scenes (measured by
    # cohcube calibrate-device); this scene's difference is of that size.
    assert card.precision_parity is not None
    recorded = card.precision_parity["bf16"]
    assert float(difference.mean()) <= 2 * recorded.mean_abs_difference
    assert float(difference.max()) <= 2 * recorded.max_abs_difference
    assert recorded.mean_abs_difference < 0.01


def test_the_shipped_artefact_with_its_bf16_weights_stays_within_10_mb() -> None:
    card = read_card(None)
    assert card.bf16_weights is not None
    folder = card_path_for(None).parent
    weights = folder / card.bf16_weights.file
    assert weights.stat().st_size == card.bf16_weights.bytes
    assert (folder / card.artefact.file).stat().st_size + weights.stat().st_size <= 10_000_000


def test_gpu_batches_are_sized_to_free_memory() -> None:
    one_pair = activation_bytes(1024, 1024, width=16, element_bytes=4)
    assert activation_bytes(1024, 1024, width=32, element_bytes=2) == one_pair
    assert pairs_per_forward(8, one_pair, free_bytes=10 * one_pair) == 7
    assert pairs_per_forward(8, one_pair, free_bytes=100 * one_pair) == 8
    assert pairs_per_forward(8, one_pair, free_bytes=one_pair // 2) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_reduced_precision_matches_cpu_fp32() -> None:  # pragma: no cover - GPU only
    contract = read_card(None).input
    pair = simulate_pair((256, 256), 12.0, seed=3, polarizations=contract.polarizations)
    channels, _ = network_input(pair.reference, pair.secondary, contract)
    batch = np.repeat(channels[None], 3, axis=0)
    cpu = load_model(precision="fp32").forward_channels(batch)
    gpu = load_model(device="cuda", precision="auto")
    assert gpu.precision in ("bf16", "fp16")
    difference = np.abs(gpu.forward_channels(batch)[:, 0] - cpu[:, 0])
    assert float(difference.mean()) <= 0.001
    assert float(difference.max()) <= 0.01
