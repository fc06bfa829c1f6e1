"""Measuring how a U-Net behaves when an image is processed tile by tile.

Used at export to record the receptive field and the halo that makes tiled
output equal whole-image output (the design: measure it, do not assume it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from .artefact import CoherenceModel
from .preprocessing import network_input


def receptive_field_px(network: torch.nn.Module, channels: int, size: int = 512) -> int:
    """Side in pixels of the input region that influences one output pixel.

    Measured, not computed: the support of the gradient of the centre output
    pixel with respect to a random input of ``size x size``.
    """
    network.eval()
    x = torch.rand(1, channels, size, size, requires_grad=True)
    out = network(x)
    out[0, 0, size // 2, size // 2].backward()
    assert x.grad is not None
    touched = x.grad.abs().sum(dim=(0, 1)) > 0
    if not bool(touched.any()):
        raise ValueError(
            "the network's output does not depend on its input (saturated outputs): the "
            "training diverged; train again with a lower learning rate"
        )
    rows = torch.nonzero(touched.any(dim=1)).flatten()
    cols = torch.nonzero(touched.any(dim=0)).flatten()
    side = max(int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)
    if side >= size:
        raise ValueError(f"receptive field reaches the {size} px probe; use a larger size")
    return side


def tiled_forward(
    model: CoherenceModel,
    reference: NDArray[np.float32],
    secondary: NDArray[np.float32],
    tile: int,
    halo: int,
) -> NDArray[np.float32]:
    """Network output ``(2, H, W)`` of a pair of ``(n_pol, H, W)`` linear images, tile by tile.

    Each ``tile x tile`` core is predicted from a window extended by ``halo``
    pixels on every side (clipped at the image edge) and cropped back. The window's
    channels are made from the window alone (``network_input``), as the pipeline makes
    each block's: channels that look at neighbours (speckle correlation) count in the halo.
    """
    _, h, w = reference.shape
    out = np.empty((2, h, w), dtype=np.float32)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            wy0, wx0 = max(0, y0 - halo), max(0, x0 - halo)
            wy1, wx1 = min(h, y0 + tile + halo), min(w, x0 + tile + halo)
            window = (slice(None), slice(wy0, wy1), slice(wx0, wx1))
            channels, _ = network_input(reference[window], secondary[window], model.contract)
            block = model.forward_channels(channels[None])[0]
            cy, cx = y0 - wy0, x0 - wx0
            core = block[:, cy : cy + min(tile, h - y0), cx : cx + min(tile, w - x0)]
            out[:, y0 : y0 + tile, x0 : x0 + tile] = core
    return out


def seam_errors(
    model: CoherenceModel,
    reference: NDArray[np.float32],
    secondary: NDArray[np.float32],
    halos: Sequence[int],
    tile: int,
) -> dict[int, float]:
    """Max |tiled - whole-image| of the coherence output for each halo, px -> error."""
    channels, _ = network_input(reference, secondary, model.contract)
    whole = model.forward_channels(channels[None])[0]
    errors = {}
    for halo in halos:
        tiled = tiled_forward(model, reference, secondary, tile, halo)
        errors[int(halo)] = float(np.abs(tiled[0] - whole[0]).max())
    return errors


def recommended_halo(errors: dict[int, float], tolerance: float) -> int:
    """Smallest measured halo whose seam error is within ``tolerance``."""
    good = sorted(h for h, e in errors.items() if e <= tolerance)
    if not good:
        raise ValueError(f"no halo among {sorted(errors)} reaches a seam error <= {tolerance}")
    return good[0]
