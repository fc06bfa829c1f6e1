"""The preprocessing contract between detected backscatter and the network.

A model artefact declares its ``InputContract``; the training code, ``predict``
and the pipeline all turn backscatter into network channels through
``network_input`` (and training patches through ``scale_db``) so they can never
disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from cohcube.model.physics.radiometry import linear_to_db

from .config import TrainingConfig
from .speckle_channels import lag_channel_names, speckle_channels


class InputContract(BaseModel):
    """What the network expects as input (the card's ``input`` section).

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
        speckle_window_px: side of the box of the speckle-correlation channels
            (``speckle_channels``: 9 lags per polarisation after the backscatter);
            0: none (the shipped model).
        channel_order: derived: ``<pol>_t1, <pol>_t2`` per polarisation, then the
            speckle-correlation channels if any.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantity: str = "gamma0"
    polarizations: tuple[str, ...] = ("VV",)
    db_range: tuple[float, float] = (-20.0, 0.0)
    pixel_spacing_m: float = 10.0
    size_multiple: int = 16
    nodata_fill: float = 0.0
    speckle_window_px: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _derived_channel_order(cls, values: Any) -> Any:
        """Accept the card's ``channel_order`` only when it matches the polarisations."""
        if isinstance(values, dict) and "channel_order" in values:
            values = dict(values)
            given = tuple(values.pop("channel_order"))
            pols = tuple(values.get("polarizations", ("VV",)))
            if given != _channel_order(pols, int(values.get("speckle_window_px", 0))):
                raise ValueError(f"channel order {list(given)} does not match the polarisations")
        return values

    @computed_field  # type: ignore[prop-decorator]
    @property
    def channel_order(self) -> tuple[str, ...]:
        return _channel_order(self.polarizations, self.speckle_window_px)

    @property
    def channels(self) -> int:
        return len(self.channel_order)


def contract_for(config: TrainingConfig) -> InputContract:
    """The input contract of a network trained with ``config``."""
    return InputContract(
        polarizations=tuple(config.network.polarizations),
        db_range=config.network.db_range,
        size_multiple=2**config.network.depth,
        speckle_window_px=config.network.speckle_window_px,
    )


def _channel_order(polarizations: tuple[str, ...], speckle_window_px: int) -> tuple[str, ...]:
    backscatter = tuple(f"{p}_{t}" for p in polarizations for t in ("t1", "t2"))
    return backscatter + (lag_channel_names(polarizations) if speckle_window_px else ())


def scale_db(
    db: ArrayLike, db_range: tuple[float, float], out: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    """Backscatter in dB -> clip to ``db_range`` -> [0, 1] float32 (into ``out`` if given,
    which may be ``db`` itself); NaN stays NaN.

    The one definition of the network's input scaling: inference
    (``scale_backscatter``) and training patches (stored in dB) both call it.
    """
    low, high = db_range
    values = np.asarray(db, dtype=np.float32)
    scaled = np.clip(values, low, high, out=out)
    scaled -= np.float32(low)
    scaled /= np.float32(high - low)
    return scaled


def scale_backscatter(
    linear: ArrayLike, db_range: tuple[float, float], out: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    """Linear power -> dB -> ``scale_db``; NaN (and power <= 0) stay NaN. Computed in
    ``out`` (default: a new array), so a block of many planes makes no temporaries."""
    power = np.asarray(linear, dtype=np.float32)
    if out is None:
        out = np.empty_like(power)
    np.copyto(out, power)
    out[~(power > 0)] = np.nan
    linear_to_db(out, np.float32, out=out)
    return scale_db(out, db_range, out=out)


def network_input(
    reference: ArrayLike,
    secondary: ArrayLike,
    contract: InputContract,
    out: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Stack two acquisitions into network channels.

    Args:
        reference, secondary: linear backscatter, ``(H, W)`` for one polarisation
            or ``(n_pol, H, W)`` in ``contract.polarizations`` order; NaN = no data.
        contract: the model's input contract.
        out: a ``(C, H, W)`` float32 array to fill (default: a new one).

    Returns:
        ``(channels, valid)``: ``channels`` (``out``), ``(C, H, W)`` float32 in [0, 1]
        with no-data filled by ``contract.nodata_fill``, and the ``(H, W)`` mask of
        pixels valid in every channel.
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
    shape = (contract.channels, *ref.shape[1:])
    if out is not None and out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, the channels {shape}")
    channels = np.empty(shape, dtype=np.float32) if out is None else out
    for p in range(n_pol):
        scale_backscatter(ref[p], contract.db_range, out=channels[2 * p])
        scale_backscatter(sec[p], contract.db_range, out=channels[2 * p + 1])
    backscatter = channels[: 2 * n_pol]
    missing = ~np.isfinite(backscatter)
    valid: NDArray[np.bool_] = np.logical_not(missing.any(axis=0))
    backscatter[missing] = contract.nodata_fill
    if contract.speckle_window_px:
        # Finite by construction (no-data counts as the local mean): nothing to fill.
        speckle_channels(ref, sec, contract.speckle_window_px, out=channels[2 * n_pol :])
    return channels, valid
