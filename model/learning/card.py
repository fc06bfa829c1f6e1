"""The model card: what a model artefact is, typed, parsed once.

A model artefact is a TorchScript file and this JSON card beside it. The card
says which file it describes (and its sha256), what the network expects
(``InputContract``), how it tiles (receptive field, measured seam error per
halo, the recommended halo), how its uncertainty is calibrated (overall and
per temporal baseline), how it was trained and how it scored. ``read_card``
checks format and version and validates every section; code reads
``card.tiling.recommended_halo_px``, never string paths into a dict; cards are
written only through ``write_card``. No torch here: the pipeline reads cards
on the driver without loading a network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cohcube.model.config_files import validation_problems
from cohcube.model.errors import ModelArtefactError

from .coherence_map import CoherenceMap, log_days_weights, mapped_coherence
from .config import TrainingConfig
from .preprocessing import InputContract

CARD_FORMAT = "cohcube-model-card"
CARD_VERSION = 1
SHIPPED_CARD = Path(__file__).resolve().parents[1] / "weights" / "cohcube-coherence.json"
#: Fraction of pixels a calibrated sigma covers: |true - coherence| <= sigma (Gaussian 1 sigma).
ONE_SIGMA = 0.6827


#: ``architecture.type`` of the paper's imported Keras weights starts with this.
KERAS_TYPE_PREFIX = "ResUNet (Keras"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SoftwareVersions(_Section):
    cohcube: str = Field(description="cohcube version that exported the artefact.")
    torch: str = Field(description="torch version that scripted it.")


class ArtefactFile(_Section):
    file: str = Field(description="TorchScript file name, beside the card.")
    sha256: str = Field(min_length=64, max_length=64, description="sha256 of that file.")
    bytes: int = Field(ge=0, description="Size of that file.")
    format: Literal["TorchScript"] = "TorchScript"


class Architecture(_Section):
    type: str = Field(description="Network family, e.g. ResUNet.")
    width: int = Field(description="Channels of the first level.")
    depth: int = Field(description="Number of 2x poolings.")
    in_channels: int = Field(description="Input channels (2 per polarisation).")
    parameters: int = Field(description="Trainable parameters.")


class OutputDescription(_Section):
    channels: tuple[str, ...] = Field(
        ("coherence", "coherence_sigma"),
        description="Output channels; a second channel other than 'coherence_sigma' is not a "
        "calibrated uncertainty and is never presented as one.",
    )
    coherence: str = Field(description="What the first output channel is.")
    coherence_sigma: str = Field(description="What the second output channel is.")

    @property
    def calibrated_sigma(self) -> bool:
        """Whether the second channel is a calibrated standard deviation of the coherence."""
        return self.channels[1:2] == ("coherence_sigma",)


class Tiling(_Section):
    size_multiple: int = Field(description="Tile sides must be multiples of this, px.")
    receptive_field_px: int = Field(description="Measured receptive field, px.")
    seam_error_by_halo_px: dict[str, float] = Field(
        description="Max |tiled - whole image| coherence per halo (px, as text)."
    )
    seam_tolerance: float = Field(description="Seam error the recommended halo stays within.")
    recommended_halo_px: int = Field(description="Smallest measured halo within tolerance, px.")
    padding: str = Field(description="How inputs are padded up to the size multiple.")


class Calibration(_Section):
    sigma_scale: float = Field(description="Scale on exp(log_variance / 2) fitted at export.")
    raw_coverage: float = Field(description="Coverage of the unscaled sigma on validation.")
    validation_scenes: int = Field(
        description="Validation scenes (simulated) or patches (real pairs) of the calibration."
    )
    sigma_factor_by_baseline_days: dict[str, float] | None = Field(
        None, description="Factor on sigma per temporal baseline (days as text), or none."
    )
    baseline_validation_scenes: int | None = Field(
        None, description="Validation scenes per baseline of that table."
    )
    baseline_command: str | None = Field(None, description="Command that measured the table.")
    coherence_map_by_baseline_days: dict[str, CoherenceMap] | None = Field(
        None,
        description="Monotone map of the predicted coherence to the mean true coherence per "
        "temporal baseline (days as text; `cohcube calibrate`), or none.",
    )

    def sigma_factor(self, baseline_days: float | None) -> float:
        """Factor on the artefact's sigma for a pair ``baseline_days`` apart.

        The TorchScript file's sigma is calibrated at the training baseline;
        ``sigma_factor_by_baseline_days`` (``cohcube calibrate``) rescales it
        per pair: linear in log(days) between the measured baselines, the
        nearest measured factor outside them. 1 without that table or baseline.
        """
        table = self.sigma_factor_by_baseline_days
        if not table or baseline_days is None:
            return 1.0
        weights = log_days_weights(table, baseline_days)
        return float(sum(w * table[d] for d, w in weights.items()))


class PrecisionParity(_Section):
    """How far a reduced precision's coherence is from fp32's (``cohcube calibrate-device``)."""

    max_abs_difference: float = Field(description="Max |coherence - fp32 coherence|.")
    mean_abs_difference: float = Field(description="Mean |coherence - fp32 coherence|.")
    scenes: int = Field(description="Validation scenes measured (whole scenes).")
    scene_px: int = Field(description="Side of each scene, px.")
    device: str = Field(description="Where it was measured (device and capability).")


class DeviceThroughput(_Section):
    """Forward-pass throughput of the artefact on one kind of device at one precision."""

    device: str = Field(description="Device kind and model, e.g. 'cpu (AMX): Intel Xeon'.")
    precision: str = Field(description="fp32, bf16 or fp16.")
    threads: int = Field(description="torch threads (CPU) used for the measurement.")
    tile_px: int = Field(description="Side of the tiles timed, px.")
    mpx_per_s: float = Field(description="Million output pixels per second, one pair per call.")
    measured: str = Field(description="When (ISO date).")


class Bf16Weights(_Section):
    """Weights distilled for bf16 inference (``cohcube tune-bf16``), stored beside the artefact."""

    file: str = Field(description="The .npz beside the artefact (offsets from nearest bf16).")
    sha256: str = Field(description="sha256 of that file.")
    bytes: int = Field(description="Its size in bytes.")
    fp32_layers: list[str] = Field(description="Layers computed in fp32 (exactly) in bf16 mode.")
    patches: int = Field(description="Tuning patches (training split, every baseline).")
    steps: int = Field(description="Optimiser steps.")
    emulated_mean_abs_difference: tuple[float, float] = Field(
        description="Mean |coherence - fp32| of the bf16 emulation on the tuning patches, "
        "before and after tuning."
    )
    wall_time_s: float = Field(description="Tuning wall time, seconds.")
    command: str | None = Field(None, description="The command that tuned them.")


class TrainingRecord(_Section):
    data: str = Field(description="The training data in words.")
    config: TrainingConfig = Field(description="The full training configuration.")
    command: str | None = Field(None, description="The command that trained the model.")
    epochs: int = Field(description="Epochs trained.")
    wall_time_s: float = Field(description="Training wall time, seconds.")
    machine: dict[str, Any] = Field(description="Where training ran.")
    history: list[dict[str, Any]] = Field(description="Per-epoch losses and validation scores.")
    sources: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What each data source contributed: real bursts/stacks per split, pairs, "
        "patches, baselines (empty for simulator-only models of earlier versions).",
    )
    init: str | None = Field(None, description="Artefact the weights started from (--init).")
    init_sha256: str | None = Field(None, description="SHA-256 of that artefact's model file.")
    parent: TrainingRecord | None = Field(
        None,
        description="That artefact's own training record, so a fine-tuned model carries its "
        "whole lineage (data, commands, wall time of every stage).",
    )

    def lineage(self) -> list[TrainingRecord]:
        """This stage and every stage before it, latest first."""
        return [self, *(self.parent.lineage() if self.parent else [])]


class Provenance(_Section):
    """Where imported weights come from (``cohcube import-keras``)."""

    source: str = Field(description="Who made the weights and from what data.")
    source_file: str = Field(description="The weights file the user passed.")
    source_sha256: str = Field(description="sha256 of that file.")
    source_layout: str = Field(description="Its HDF5 layout (Keras 3 or legacy Keras 2).")
    source_config: dict[str, Any] | None = Field(None, description="Its config.yaml, as read.")
    ignored_config_keys: list[str] = Field(
        default_factory=list, description="Keys of config.yaml that cohcube does not use."
    )
    command: str | None = Field(None, description="The command that imported it.")


class ModelCard(_Section):
    """A parsed, validated model card (``read_card``); frozen: derive changed copies."""

    format: Literal["cohcube-model-card"] = "cohcube-model-card"
    format_version: int = CARD_VERSION
    name: str
    created: str
    software: SoftwareVersions
    artefact: ArtefactFile
    architecture: Architecture
    input: InputContract
    output: OutputDescription
    tiling: Tiling
    calibration: Calibration | None = None
    training: TrainingRecord | None = None
    metrics: dict[str, Any] | None = None
    provenance: Provenance | None = None
    precision_parity: dict[str, PrecisionParity] | None = None
    throughput: list[DeviceThroughput] | None = None
    bf16_weights: Bf16Weights | None = None

    @property
    def network_style(self) -> str:
        """``"keras"`` for the paper's imported weights, ``"cohcube"`` for networks trained here."""
        return "keras" if self.architecture.type.startswith(KERAS_TYPE_PREFIX) else "cohcube"

    def sigma_factor(self, baseline_days: float | None) -> float:
        """Factor on the second output for a pair ``baseline_days`` apart (1 uncalibrated)."""
        return 1.0 if self.calibration is None else self.calibration.sigma_factor(baseline_days)

    def mapped_coherence(
        self, coherence: NDArray[np.float32], baseline_days: float | None
    ) -> NDArray[np.float32]:
        """The network's coherence of a pair ``baseline_days`` apart, recalibrated by the
        card's per-baseline map (unchanged without one)."""
        maps = None if self.calibration is None else self.calibration.coherence_map_by_baseline_days
        return mapped_coherence(coherence, maps, baseline_days)

    def with_metrics(self, report: dict[str, Any]) -> ModelCard:
        """A copy holding an evaluation report (``cohcube evaluate --record``)."""
        return self.model_copy(update={"metrics": report})

    def with_baseline_calibration(
        self,
        factors: dict[str, float],
        scenes: int,
        command: str | None,
        maps: dict[str, CoherenceMap] | None = None,
    ) -> ModelCard:
        """A copy whose sigma is rescaled per baseline by ``factors`` (days as text -> factor)
        and whose coherence is recalibrated by ``maps`` (none: not recalibrated)."""
        if self.calibration is None:
            raise ModelArtefactError(f"model {self.name} has no calibrated uncertainty to rescale")
        calibration = self.calibration.model_copy(
            update={
                "sigma_factor_by_baseline_days": dict(factors),
                "coherence_map_by_baseline_days": dict(maps) if maps else None,
                "baseline_validation_scenes": scenes,
                "baseline_command": command,
            }
        )
        return self.model_copy(update={"calibration": calibration})

    def with_bf16_weights(self, weights: Bf16Weights) -> ModelCard:
        """A copy serving bf16 from ``weights``; bf16 figures measured before are dropped."""
        parity = {k: v for k, v in (self.precision_parity or {}).items() if k != "bf16"}
        throughput = [t for t in self.throughput or [] if t.precision != "bf16"]
        return self.model_copy(
            update={
                "bf16_weights": weights,
                "precision_parity": parity or None,
                "throughput": throughput or None,
            }
        )

    def with_device_measurements(
        self, parity: dict[str, PrecisionParity], throughput: list[DeviceThroughput]
    ) -> ModelCard:
        """A copy with precision parity and throughput added (same device + precision replaced)."""
        kept = [
            t
            for t in self.throughput or []
            if (t.device, t.precision) not in {(n.device, n.precision) for n in throughput}
        ]
        return self.model_copy(
            update={
                "precision_parity": {**(self.precision_parity or {}), **parity},
                "throughput": [*kept, *throughput] or None,
            }
        )


def card_path_for(path: str | Path | None) -> Path:
    """The card of an artefact: ``x.json`` itself, ``x.json`` beside ``x.pt``; None: the shipped."""
    if path is None:
        return SHIPPED_CARD
    path = Path(path)
    return path if path.suffix == ".json" else path.with_suffix(".json")


def read_card(path: str | Path | None) -> ModelCard:
    """Read and check the card of ``path`` (card or ``.pt``; None: the shipped model).

    Raises:
        ModelArtefactError: the card is missing, not JSON, not a cohcube card,
            of another format version, or a section does not validate.
    """
    card_path = card_path_for(path)
    try:
        raw = json.loads(card_path.read_text())
    except FileNotFoundError:
        if path is not None and Path(path) != card_path and not Path(path).exists():
            raise ModelArtefactError(
                f"model {path} does not exist; give a .pt written by cohcube export or "
                "import-keras (its .json card beside it), or no model for the shipped one"
            ) from None
        given = f" (for {path})" if path is not None and Path(path) != card_path else ""
        raise ModelArtefactError(
            f"model card {card_path}{given} does not exist; an artefact is a .pt file with "
            "its .json card beside it (cohcube export writes both)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ModelArtefactError(f"model card {card_path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != CARD_FORMAT:
        raise ModelArtefactError(f"{card_path} is not a cohcube model card")
    version = raw.get("format_version")
    if version != CARD_VERSION:
        raise ModelArtefactError(
            f"model card {card_path} has format version {version}; this cohcube reads version "
            f"{CARD_VERSION}: re-export the model with this cohcube version"
        )
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as exc:
        raise ModelArtefactError(
            f"model card {card_path}: {validation_problems(exc)}; re-export the model"
        ) from None


def write_card(card: ModelCard, path: Path) -> Path:
    """Write ``card`` as JSON to ``path`` (replaced atomically); returns ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card.model_dump(mode="json"), indent=2) + "\n")
    tmp.replace(path)
    return path
