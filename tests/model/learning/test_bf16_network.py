"""The tuned bf16 network: folding, the offsets file, the exact first layer, tuning, loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cohcube.flows.cli import app
from cohcube.model.errors import ModelArtefactError
from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.bf16_network import (
    Bf16ResUNet,
    _exact_split,
    decode_offsets,
    encode_offsets,
    fold_batch_norm,
    is_fp32_layer,
)
from cohcube.model.learning.bf16_tuning import Bf16Emulation, tune_bf16
from cohcube.model.learning.card import read_card, write_card
from cohcube.model.learning.network import ResUNet


def _trained_looking(seed: int = 0) -> ResUNet:
    """A small ResUNet with batch-norm statistics away from the identity."""
    torch.manual_seed(seed)
    network = ResUNet(4, 8, 2)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None
            assert module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.2, 3.0)
            module.weight.data.uniform_(0.5, 2.0)
            module.bias.data.uniform_(-0.5, 0.5)
    return network.eval()


def _copy(artefact: Path, into: Path) -> Path:
    for suffix in (".pt", ".json"):
        shutil.copy(artefact.with_suffix(suffix), into / artefact.with_suffix(suffix).name)
    return into / artefact.with_suffix(".json").name


def test_folding_batch_norm_keeps_the_outputs() -> None:
    network = _trained_looking()
    x = torch.rand(2, 4, 32, 32)
    with torch.no_grad():
        before = network(x)
        folded = fold_batch_norm(network)
        after = folded(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(before, after, atol=1e-5)


def test_offsets_decode_to_exactly_the_tuned_weights() -> None:
    folded = fold_batch_norm(_trained_looking())
    base = {k: v.clone() for k, v in folded.state_dict().items()}
    tuned = {}
    generator = torch.Generator().manual_seed(1)
    for name, value in base.items():
        moved = value + 0.01 * torch.randn(value.shape, generator=generator)  # crosses zero too
        tuned[name] = moved if is_fp32_layer(name) else moved.to(torch.bfloat16).float()
    arrays = encode_offsets(base, tuned)
    assert arrays["encoder.1.conv1.weight"].dtype == np.int16
    assert arrays["encoder.0.conv1.weight"].dtype == np.float32
    decoded = decode_offsets(folded, arrays)
    assert decoded.keys() == tuned.keys()
    for name in tuned:
        assert torch.equal(decoded[name], tuned[name]), name
    with pytest.raises(ModelArtefactError, match="another model"):
        decode_offsets(fold_batch_norm(ResUNet(4, 16, 2).eval()), arrays)


def test_the_split_first_layer_is_exact_where_plain_bf16_is_not() -> None:
    # The first layer of a coherence network reads the small difference of two dates.
    conv = torch.nn.Conv2d(2, 1, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(1, 2, 1, 1))
        conv.bias.fill_(1e-4)
    generator = torch.Generator().manual_seed(2)
    t2 = 0.4 + 0.2 * torch.rand(1, 1, 16, 16, generator=generator)
    x = torch.cat([t2 + 1e-3 * torch.rand(1, 1, 16, 16, generator=generator), t2], 1)
    with torch.no_grad():
        exact = conv(x)  # the difference of the dates, 1e-4 to 1.1e-3
        hi = x.to(torch.bfloat16)
        lo = (x - hi.float()).to(torch.bfloat16)
        one = torch.ones_like(hi[:, :1])
        split = _exact_split(conv)(torch.cat([hi, lo, hi, one, one], 1)).float()
        plain = conv.to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    # split: the dates to 2^-17 of themselves (4e-6 of 0.6), the output to 2^-9 of itself
    assert (split - exact).abs().max() <= 1e-5
    # plain bf16 rounds each date to 2^-9 of 0.5 before subtracting: the difference is lost
    assert (plain - exact).abs().mean() > 1e-4


def test_the_emulation_computes_what_the_bf16_network_computes() -> None:
    network = fold_batch_norm(_trained_looking(3))
    x = torch.rand(2, 4, 32, 32)
    with torch.no_grad():
        fp32 = network(x)
        emulated = Bf16Emulation(network)(x)
        real = Bf16ResUNet(fold_batch_norm(_trained_looking(3)), sigma_scale=1.0)(x)
    # the real module's second channel is sigma = exp(log-variance / 2)
    real_log_variance = 2 * torch.log(real[:, 1])
    to_fp32 = (real[:, 0] - fp32[:, 0]).abs().mean()
    assert to_fp32 > 0  # it does run in bf16
    assert (real[:, 0] - emulated[:, 0]).abs().mean() < 0.25 * to_fp32
    assert torch.allclose(real_log_variance, emulated[:, 1], atol=0.05)


def test_tune_bf16_writes_weights_that_load_model_serves(
    tiny_artefact: Path, tmp_path: Path
) -> None:
    card_path = _copy(tiny_artefact, tmp_path)
    result = tune_bf16(card_path, scenes_per_baseline=1, steps=60, learning_rate=1e-4)
    before, after = result.emulated_mean_abs_difference
    assert after < before
    assert result.weights_file.parent == tmp_path
    assert result.weights_file.stat().st_size < tiny_artefact.stat().st_size
    runner = CliRunner()
    # the CLI writes the card entry and the parity of what it wrote
    out = runner.invoke(
        app, ["tune-bf16", "--model", str(card_path), "--scenes", "1", "--steps", "5", "-q"]
    )
    assert out.exit_code == 0, out.output
    assert "bf16 vs fp32" in out.output
    card = read_card(card_path)
    assert card.bf16_weights is not None
    assert card.precision_parity is not None
    assert "bf16" in card.precision_parity
    fp32 = load_model(card_path, precision="fp32")
    bf16 = load_model(card_path, precision="bf16")
    assert bf16.takes_float32
    assert not fp32.takes_float32
    t1, t2 = np.random.default_rng(4).gamma(1.0, 0.05, size=(2, 64, 64)).astype(np.float32)
    coherence32, sigma32 = fp32.predict(t1, t2)
    coherence16, sigma16 = bf16.predict(t1, t2)
    assert coherence16.dtype == np.float32
    assert np.abs(coherence16 - coherence32).mean() < 0.01
    assert np.allclose(sigma16, sigma32, rtol=0.05)
    # an altered weights file is refused, never served
    weights = tmp_path / card.bf16_weights.file
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(ModelArtefactError, match="bf16 weights"):
        load_model(card_path, precision="bf16")
    # a card without the entry converts the module as before
    write_card(card.model_copy(update={"bf16_weights": None}), card_path)
    assert not load_model(card_path, precision="bf16").takes_float32
