"""The preprocessing contract between detected backscatter and the network.

A model artefact declares its ``InputContract``; the training code, ``predict``
and the pipeline all turn backscatter into network channels through
``network_input`` so the three can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class InputContract:
    """What the network expects as input.

    Attributes:
        quantity: calibrated backscatter convention, ``"gamma0"`` or ``"sigma0"``,
            in linear power (the simulator's detected intensity is either).
        polarizations: polarisations used, e.g. ``("VV",)`` or ``("VV", "VH")``.
        db_range: backscatter range in dB mapped linearly onto [0, 1]; values
            outside are clipped.
        pixel_spacing_m: ground pixel spacing the network was trained at, metres.
        size_multiple: tile sides must be multiples of this (``2 ** depth``).
        nodata_fill: scaled value that replaces no-data before the network; the
            outputs there are set to NaN afterwards.
    """

    quantity: str = "gamma0"
    polarizations: tuple[str, ...] = ("VV",)
    db_range: tuple[float, float] = (-20.0, 0.0)
    pixel_spacing_m: float = 10.0
    size_multiple: int = 16
    nodata_fill: float = 0.0
    channel_order: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        order = tuple(f"{p}_{t}" for p in self.polarizations for t in ("t1", "t2"))
        object.__setattr__(self, "channel_order", order)

    @property
    def channels(self) -> int:
        return len(self.channel_order)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> InputContract:
        known = {k: v for k, v in values.items() if k != "channel_order"}
        contract = cls(
            quantity=str(known["quantity"]),
            polarizations=tuple(known["polarizations"]),
            db_range=(float(known["db_range"][0]), float(known["db_range"][1])),
            pixel_spacing_m=float(known["pixel_spacing_m"]),
            size_multiple=int(known["size_multiple"]),
            nodata_fill=float(known["nodata_fill"]),
        )
        if "channel_order" in values and tuple(values["channel_order"]) != contract.channel_order:
            raise ValueError(
                f"channel order {values['channel_order']} does not match the polarisations"
            )
        return contract


def scale_backscatter(linear: ArrayLike, db_range: tuple[float, float]) -> NDArray[np.float32]:
    """Linear power -> dB -> clip to ``db_range`` -> [0, 1]; NaN (and power <= 0) stay NaN."""
    power = np.asarray(linear, dtype=np.float32)
    low, high = db_range
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(np.where(power > 0, power, np.nan))
    return ((np.clip(db, low, high) - low) / (high - low)).astype(np.float32)


def network_input(
    reference: ArrayLike, secondary: ArrayLike, contract: InputContract
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Stack two acquisitions into network channels.

    Args:
        reference, secondary: linear backscatter, ``(H, W)`` for one polarisation
            or ``(n_pol, H, W)`` in ``contract.polarizations`` order; NaN = no data.
        contract: the model's input contract.

    Returns:
        ``(channels, valid)``: ``(C, H, W)`` float32 in [0, 1] with no-data filled
        by ``contract.nodata_fill``, and the ``(H, W)`` mask of pixels valid in
        every channel.
    """
    ref = np.asarray(reference)
    sec = np.asarray(secondary)
    if ref.shape != sec.shape:
        raise ValueError(f"reference and secondary differ in shape: {ref.shape} vs {sec.shape}")
    n_pol = len(contract.polarizations)
    if ref.ndim == 2 and n_pol == 1:
        ref, sec = ref[None], sec[None]
    if ref.ndim != 3 or ref.shape[0] != n_pol:
        raise ValueError(
            f"expected {'(H, W) or ' if n_pol == 1 else ''}({n_pol}, H, W) arrays for "
            f"polarisations {contract.polarizations}, got shape {np.asarray(reference).shape}"
        )
    planes: list[NDArray[np.float32]] = []
    for p in range(n_pol):
        planes.append(scale_backscatter(ref[p], contract.db_range))
        planes.append(scale_backscatter(sec[p], contract.db_range))
    channels = np.stack(planes)
    valid = np.asarray(np.isfinite(channels).all(axis=0), dtype=bool)
    channels[~np.isfinite(channels)] = contract.nodata_fill
    return channels, valid
