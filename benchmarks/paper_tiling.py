"""The comparator: the paper's public inference (128 px patches, stride 32, Kaiser blending).

Every pixel is predicted (128 / 32)^2 = 16 times and the overlapping patch
outputs are blended with a separable 2-D Kaiser window (beta 5).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cohcube.model.learning.artefact import CoherenceModel


def kaiser_window(size: int, beta: float = 5.0) -> NDArray[np.float32]:
    """Separable 2-D Kaiser window, ``(size, size)``."""
    w = np.kaiser(size, beta)
    return np.outer(w, w).astype(np.float32) + 1e-6


def paper_tiling_forward(
    model: CoherenceModel,
    channels: NDArray[np.float32],
    patch: int = 128,
    stride: int = 32,
    beta: float = 5.0,
    batch: int = 16,
) -> NDArray[np.float32]:
    """Blend of overlapping patch predictions of ``(C, H, W)`` channels -> ``(2, H, W)``."""
    _c, h, w = channels.shape
    pad_h = (-(h - patch)) % stride if h > patch else patch - h
    pad_w = (-(w - patch)) % stride if w > patch else patch - w
    padded = np.pad(channels, ((0, 0), (0, pad_h), (0, pad_w)), mode="reflect")
    hp, wp = padded.shape[1:]
    window = kaiser_window(patch, beta)
    total = np.zeros((2, hp, wp), dtype=np.float32)
    weight = np.zeros((hp, wp), dtype=np.float32)
    corners = [
        (y, x) for y in range(0, hp - patch + 1, stride) for x in range(0, wp - patch + 1, stride)
    ]
    for start in range(0, len(corners), batch):
        group = corners[start : start + batch]
        patches = np.stack([padded[:, y : y + patch, x : x + patch] for y, x in group])
        out = model.forward_channels(patches)
        for (y, x), pred in zip(group, out, strict=True):
            total[:, y : y + patch, x : x + patch] += pred * window
            weight[y : y + patch, x : x + patch] += window
    return (total / weight)[:, :h, :w]
