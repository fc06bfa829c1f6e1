"""The network in bfloat16 with the weights tuned for it (``cohcube tune-bf16``).

Converting the shipped fp32 network to bf16 as a whole moves its coherence by
0.004 on average and by 0.05 at most on validation scenes. Measured per layer
(``docs/benchmarks.md``), nearly all of that comes from three places:

- the first convolution: it reads the small differences between the two dates'
  scaled backscatter, and its weights, bias and input lose them when rounded to
  an 8-bit mantissa (0.0021 mean on its own);
- the weights and folded batch-norm biases of the other layers rounded to the
  nearest bf16 (0.0035 together);
- the two 1x1 heads, whose bf16 output alone is worth 0.0006.

So :class:`Bf16ResUNet` runs every convolution in bf16 (fp32 accumulation in
oneDNN and cuDNN) but computes the first one exactly, from a high and a low bf16
part of its input, weights and bias, and the heads in fp32; the other layers'
bf16 weights are the ones ``cohcube.model.learning.bf16_tuning`` distilled from
the fp32 network, stored beside the artefact as offsets from the nearest bf16
value (``encode_offsets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from numpy.typing import NDArray
from torch import nn

from cohcube.model.errors import ModelArtefactError

from .network import ResidualBlock, ResUNet, decoder_steps, exported_weights, load_weights

#: Layers (``ResUNet`` parameter prefixes) that keep fp32 weights in the bf16 network.
FP32_LAYERS = ("encoder.0.conv1", "encoder.0.shortcut", "coherence_head", "log_variance_head")
#: Format of the tuned-weights file.
BF16_WEIGHTS_FORMAT = 1


def encoder_blocks(network: ResUNet) -> list[ResidualBlock]:
    """The encoder's residual blocks, full resolution first."""
    return [cast(ResidualBlock, block) for block in network.encoder]


def _conv2d(conv: nn.Module) -> nn.Conv2d:
    return cast(nn.Conv2d, conv)


def _square(conv: nn.Conv2d) -> tuple[int, int]:
    return int(conv.kernel_size[0]), int(conv.kernel_size[1])


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    padding = conv.padding
    assert not isinstance(padding, str)
    return int(padding[0]), int(padding[1])


def network_of(module: torch.jit.ScriptModule, style: str) -> tuple[ResUNet, float]:
    """The eager ``ResUNet`` inside an exported artefact, and its sigma scale.

    Raises:
        ModelArtefactError: a TorchScript file that is not an exported ResUNet.
    """
    state = module.state_dict()
    weights, sigma_scale = exported_weights(state)
    if sigma_scale is None or not any(k.startswith("network.") for k in state):
        raise ModelArtefactError(
            "the artefact is not an exported cohcube ResUNet (no network.* and sigma_scale); "
            "bf16 tuning needs one made by cohcube export or cohcube import-keras"
        )
    first = weights["encoder.0.conv1.weight"]
    levels = sum(1 for k in weights if k.startswith("encoder.") and k.endswith(".conv1.weight"))
    network = ResUNet(int(first.shape[1]), int(first.shape[0]), levels - 1, style)  # type: ignore[arg-type]
    load_weights(network, weights)
    return network.eval(), sigma_scale


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """``conv`` followed by ``bn`` (eval) as one biased conv, computed in float64."""
    assert bn.running_mean is not None
    assert bn.running_var is not None
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, _square(conv), padding=_padding(conv))
    assert fused.bias is not None
    with torch.no_grad():
        fused.weight.copy_((conv.weight.double() * scale[:, None, None, None]).float())
        fused.bias.copy_(((bias - bn.running_mean.double()) * scale + bn.bias.double()).float())
    return fused


def fold_batch_norm(network: ResUNet) -> ResUNet:
    """``network`` (eval) with every batch-norm folded into its conv; all convs biased.

    Deterministic: the same fp32 artefact gives bit-identical folded weights on
    any machine, so offsets from their nearest bf16 values decode everywhere.
    """
    blocks = encoder_blocks(network) + [step.block for step in decoder_steps(network)]
    with torch.no_grad():
        for block in blocks:
            block.conv1 = _fold(block.conv1, block.bn1)
            block.bn1 = nn.Identity()  # type: ignore[assignment]
            block.conv2 = _fold(block.conv2, block.bn2)
            block.bn2 = nn.Identity()  # type: ignore[assignment]
        for module in network.modules():
            if isinstance(module, nn.Conv2d) and module.bias is None:
                module.bias = nn.Parameter(torch.zeros(module.out_channels))
    return network.eval()


def is_fp32_layer(name: str) -> bool:
    """Whether the ``ResUNet`` parameter ``name`` keeps fp32 weights in the bf16 network."""
    return name.startswith(tuple(f"{layer}." for layer in FP32_LAYERS))


def _bf16_bits(values: torch.Tensor) -> NDArray[np.uint16]:
    return values.detach().to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def encode_offsets(
    folded: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor]
) -> dict[str, NDArray[np.generic]]:
    """The tuned weights as arrays to store: bf16 layers as int16 offsets (in units of the
    last bf16 place, modulo 2^16) from the nearest bf16 of ``folded``; fp32 layers as float32.
    """
    arrays: dict[str, NDArray[np.generic]] = {}
    for name, base in folded.items():
        if not name.endswith(("weight", "bias")):
            continue
        if is_fp32_layer(name):
            arrays[name] = tuned[name].detach().float().numpy()
        else:
            offset = _bf16_bits(tuned[name]).astype(np.int64) - _bf16_bits(base)
            arrays[name] = (offset % 65536).astype(np.uint16).view(np.int16)
    return arrays


def decode_offsets(
    folded: ResUNet, arrays: Mapping[str, NDArray[np.generic]]
) -> dict[str, torch.Tensor]:
    """The tuned parameters (bf16 layers exactly bf16-representable, as float32)."""
    state = folded.state_dict()
    missing = [n for n in state if n.endswith(("weight", "bias")) and n not in arrays]
    if missing:
        raise ModelArtefactError(f"the bf16 weights file lacks {', '.join(missing[:3])}")
    tuned = {}
    for name, base in state.items():
        if name not in arrays:
            continue
        stored = np.asarray(arrays[name])
        if stored.shape != tuple(base.shape):
            raise ModelArtefactError(
                f"the bf16 weights file holds {name} of shape {stored.shape}, the artefact "
                f"{tuple(base.shape)}: it was tuned for another model; run cohcube tune-bf16"
            )
        if is_fp32_layer(name):
            tuned[name] = torch.from_numpy(stored.astype(np.float32))
            continue
        bits = (_bf16_bits(base).astype(np.int64) + stored.view(np.uint16)) % 65536
        as_int16 = torch.from_numpy(bits.astype(np.uint16).view(np.int16))
        tuned[name] = as_int16.view(torch.bfloat16).float()
    return tuned


def read_bf16_weights(path: Path) -> dict[str, NDArray[np.generic]]:
    """The arrays of a tuned-weights file (``.npz``)."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    found = int(arrays.pop("format", np.array(-1)))
    if found != BF16_WEIGHTS_FORMAT:
        raise ModelArtefactError(
            f"{path} is bf16 weights format {found}, this cohcube reads {BF16_WEIGHTS_FORMAT}: "
            "run cohcube tune-bf16 again"
        )
    return arrays


def _exact_split(conv: nn.Conv2d) -> nn.Conv2d:
    """A bf16 conv computing ``conv`` exactly on the input ``[hi, lo, hi, 1, 1]``.

    ``w x + b = w_hi x_hi + w_hi x_lo + w_lo x_hi + b_hi + b_lo`` to 2^-16 relative,
    summed in the fp32 accumulator; the bias enters through constant channels at
    the kernel centre (which never reads the zero padding).
    """
    bf16 = torch.bfloat16
    weight = conv.weight.detach().float()
    w_hi = weight.to(bf16).float()
    w_lo = (weight - w_hi).to(bf16).float()
    bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(conv.out_channels)
    b_hi = bias.to(bf16).float()
    kernel = _square(conv)
    constant = torch.zeros(conv.out_channels, 2, *kernel)
    centre = kernel[0] // 2, kernel[1] // 2
    constant[:, 0, centre[0], centre[1]] = b_hi
    constant[:, 1, centre[0], centre[1]] = (bias - b_hi).to(bf16).float()
    split = nn.Conv2d(
        3 * conv.in_channels + 2, conv.out_channels, kernel, padding=_padding(conv), bias=False
    )
    with torch.no_grad():
        split.weight.copy_(torch.cat([w_hi, w_hi, w_lo, constant], dim=1))
    return split.to(bf16)


class Bf16ResUNet(nn.Module):
    """An exported network in bf16: ``(N, C, H, W)`` float32 -> ``(N, 2, H, W)`` float32
    (coherence, sigma), the same outputs as the fp32 artefact.

    Args:
        folded: the ``ResUNet`` with batch-norm folded (``fold_batch_norm``) and the
            tuned weights loaded; it is converted in place.
        sigma_scale: the artefact's sigma scale.
    """

    def __init__(self, folded: ResUNet, sigma_scale: float) -> None:
        super().__init__()
        first = encoder_blocks(folded)[0]
        self.first_conv = _exact_split(first.conv1)
        self.first_shortcut = _exact_split(first.shortcut)
        self.first_conv2 = first.conv2.to(torch.bfloat16)
        self.encoder = nn.ModuleList(encoder_blocks(folded)[1:]).to(torch.bfloat16)
        self.decoder = folded.decoder.to(torch.bfloat16)
        heads = [_conv2d(folded.coherence_head), _conv2d(folded.log_variance_head)]
        weight = torch.cat([h.weight.detach().float()[:, :, 0, 0] for h in heads])
        bias = torch.cat([h.bias.detach().float() for h in heads if h.bias is not None])
        self.head_weight = nn.Parameter(weight.t().contiguous(), requires_grad=False)  # (C, 2)
        self.head_bias = nn.Parameter(bias, requires_grad=False)
        self.sigma_scale = float(sigma_scale)
        self.sigmoid_second_head = bool(folded.sigmoid_second_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        hi = x.to(torch.bfloat16)
        lo = (x - hi.float()).to(torch.bfloat16)
        one = torch.ones_like(hi[:, :1])
        split = torch.cat([hi, lo, hi, one, one], 1).contiguous(memory_format=torch.channels_last)
        y = F.relu(self.first_conv(split))
        x = F.relu(self.first_conv2(y) + self.first_shortcut(split))
        skips = [x]
        for block in self.encoder:
            x = block(F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()  # the bottleneck output is x itself
        for step in self.decoder:
            x = step(x, skips.pop())
        heads = torch.matmul(x.permute(0, 2, 3, 1).float(), self.head_weight) + self.head_bias
        coherence = torch.sigmoid(heads[..., 0])
        second = heads[..., 1]
        if self.sigmoid_second_head:
            second = torch.sigmoid(second)
        return torch.stack([coherence, self.sigma_scale * torch.exp(0.5 * second)], 1)


def tuned_bf16_module(
    module: torch.jit.ScriptModule, style: str, weights_file: Path
) -> torch.jit.ScriptModule:
    """The scripted ``Bf16ResUNet`` of an artefact and its tuned-weights file."""
    network, sigma_scale = network_of(module, style)
    folded = fold_batch_norm(network)
    folded.load_state_dict(decode_offsets(folded, read_bf16_weights(weights_file)))
    return torch.jit.script(Bf16ResUNet(folded, sigma_scale).eval())
