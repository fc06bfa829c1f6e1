"""The Residual U-Net that regresses coherence from two detected images.

Architecture of Sica, Pulella and Schmitt (arXiv:2606.07374) with configurable
width and depth: ``width=32, depth=4`` gives their encoder 32-64-128-256 and a
512-channel bottleneck. Residual blocks are two 3x3 conv + BatchNorm with a
1x1 shortcut; the decoder upsamples bilinearly, applies a 2x2 convolution and
concatenates the skip connection. Two 1x1 heads give the coherence (sigmoid)
and the log-variance of a heteroscedastic Gaussian (unbounded).

``style="keras"`` reproduces the numerics of the authors' released Keras model
(``cohcube import-keras``): biased convolutions, batch-norm epsilon 1e-4, the
decoder's 2x2 'same' convolution zero-padded at the bottom/right (as Keras
pads an even kernel) followed by ReLU, skip concatenated *before* the
upsampled path, and a sigmoid on the second head.
"""

from __future__ import annotations

from typing import Literal, cast

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .config import TrainingConfig
from .preprocessing import contract_for

Style = Literal["cohcube", "keras"]
#: Batch-norm epsilon of the released Keras model.
KERAS_BN_EPSILON = 1e-4


class ResidualBlock(nn.Module):
    """Two 3x3 conv + BN with a 1x1 conv shortcut; ``(N, c_in, H, W) -> (N, c_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int, bias: bool = False, eps: float = 1e-5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)
        self.bn1 = nn.BatchNorm2d(c_out, eps=eps)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(c_out, eps=eps)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class UpStep(nn.Module):
    """Bilinear 2x upsampling, 2x2 conv, skip concatenation, residual block.

    ``keras``: the 2x2 conv is zero-padded (Keras 'same'), biased and ReLU'd,
    and the skip comes first in the concatenation.
    """

    def __init__(self, c_in: int, c_out: int, keras: bool = False) -> None:
        super().__init__()
        self.keras = keras
        self.reduce = nn.Conv2d(c_in, c_out, 2, bias=keras)
        eps = KERAS_BN_EPSILON if keras else 1e-5
        self.block = ResidualBlock(2 * c_out, c_out, bias=keras, eps=eps)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        # A 2x2 kernel needs one extra row and column to keep the size.
        if self.keras:
            x = F.relu(self.reduce(F.pad(x, (0, 1, 0, 1))))
            return self.block(torch.cat([skip, x], dim=1))
        x = self.reduce(F.pad(x, (0, 1, 0, 1), mode="replicate"))
        return self.block(torch.cat([x, skip], dim=1))


class ResUNet(nn.Module):
    """Residual U-Net with a coherence head and a log-variance head.

    Args:
        in_channels: input channels (2: t1 and t2 backscatter, scaled to [0, 1]).
        width: channels of the first level; level k has ``width * 2**k``.
        depth: number of 2x poolings; inputs must be multiples of ``2**depth``.
        style: ``"cohcube"`` (trained here) or ``"keras"`` (the paper's released model).

    ``forward(x)`` takes ``(N, in_channels, H, W)`` and returns ``(N, 2, H, W)``:
    channel 0 the coherence in [0, 1], channel 1 the log-variance ``log sigma^2``.
    """

    def __init__(
        self, in_channels: int = 2, width: int = 32, depth: int = 4, style: Style = "cohcube"
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError("width and depth must be >= 1")
        keras = style == "keras"
        self.style = style
        self.sigmoid_second_head = keras
        bias, eps = (True, KERAS_BN_EPSILON) if keras else (False, 1e-5)
        self.in_channels = in_channels
        self.width = width
        self.depth = depth
        widths = [width * 2**k for k in range(depth + 1)]
        self.encoder = nn.ModuleList(
            [ResidualBlock(in_channels, widths[0], bias, eps)]
            + [ResidualBlock(widths[k - 1], widths[k], bias, eps) for k in range(1, depth + 1)]
        )
        self.decoder = nn.ModuleList(
            [UpStep(widths[k + 1], widths[k], keras) for k in reversed(range(depth))]
        )
        self.coherence_head = nn.Conv2d(widths[0], 1, 1)
        self.log_variance_head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for k, block in enumerate(self.encoder):
            if k > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck output is x itself
        for step in self.decoder:
            x = step(x, skips.pop())
        coherence = torch.sigmoid(self.coherence_head(x))
        second = self.log_variance_head(x)
        if self.sigmoid_second_head:
            second = torch.sigmoid(second)
        return torch.cat([coherence, second], dim=1)


def exported_weights(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], float | None]:
    """The ``ResUNet`` weights in an exported artefact's state dict, and its sigma scale.

    Exported cohcube networks wrap the ResUNet (``network.``) beside their sigma
    scale; a bare ResUNet state dict is returned as it is (sigma scale None).
    """
    prefix = "network." if any(k.startswith("network.") for k in state) else ""
    weights = {
        k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and k != "sigma_scale"
    }
    sigma_scale = float(state["sigma_scale"]) if "sigma_scale" in state else None
    return weights, sigma_scale


def decoder_steps(network: ResUNet) -> list[UpStep]:
    """The decoder's up-steps, coarsest first."""
    return [cast(UpStep, step) for step in network.decoder]


def load_weights(network: ResUNet, weights: dict[str, torch.Tensor]) -> ResUNet:
    """Load ``weights`` into ``network``; exports older than the unbiased decoder (the
    shipped model's) carry a bias on each 2x2 reduce conv, which is given back first."""
    for i, step in enumerate(decoder_steps(network)):
        if f"decoder.{i}.reduce.bias" in weights and step.reduce.bias is None:
            step.reduce = nn.Conv2d(step.reduce.in_channels, step.reduce.out_channels, 2)
    network.load_state_dict(weights)
    return network


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_network(config: TrainingConfig) -> ResUNet:
    """The untrained network a training configuration describes."""
    contract = contract_for(config)
    return ResUNet(
        contract.channels, config.network.width, config.network.depth, config.network.style
    )
