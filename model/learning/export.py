"""Exporting a trained checkpoint as a TorchScript artefact with its model card."""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cohcube.model.physics.sensor import SensorGeometry
from cohcube.model.physics.simulator import simulate_pair

from .artefact import CoherenceModel, optimised, quiet_torchscript, sha256_of
from .card import (
    ONE_SIGMA,
    Architecture,
    ArtefactFile,
    Calibration,
    ModelCard,
    OutputDescription,
    Provenance,
    SoftwareVersions,
    Tiling,
    TrainingRecord,
    read_card,
    write_card,
)
from .checkpoints import load_checkpoint
from .config import TrainingConfig
from .data_sources import SimulatorSource
from .device_calibration import precision_parity
from .halo import receptive_field_px, recommended_halo, seam_errors
from .keras_import import (
    DEPTH,
    WIDTH,
    check_weights,
    network_from_keras,
    read_keras_weights,
    read_paper_config,
)
from .network import ResUNet, parameter_count
from .preprocessing import InputContract, contract_for, network_input
from .training_data import PatchSet, simulate_patches
from .training_sets import validation_patches

log = logging.getLogger(__name__)

HALO_CANDIDATES = (0, 16, 32, 48, 64, 96, 128)
#: Validation patches each reduced precision is compared with fp32 on at export.
PARITY_PATCHES = 16
SEAM_TOLERANCE = 1e-3


class ExportedNetwork(nn.Module):
    """What the artefact runs: ``(N, C, H, W) -> (N, 2, H, W)`` = (coherence, sigma).

    ``sigma = sigma_scale * exp(log_variance / 2)``, the scale calibrated at export.
    """

    def __init__(self, network: ResUNet, sigma_scale: float) -> None:
        super().__init__()
        self.network = network
        self.sigma_scale = nn.Parameter(torch.tensor(float(sigma_scale)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        sigma = self.sigma_scale * torch.exp(0.5 * out[:, 1:2])
        return torch.cat([out[:, :1], sigma], dim=1)


def calibrate_sigma(network: ResUNet, inputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Scale that makes ``|truth - coherence| <= sigma`` hold for 68.27 % of pixels.

    ``truth`` may be NaN (no data in real patches): those pixels do not count.
    """
    ratios = []
    with torch.inference_mode():
        for start in range(0, inputs.shape[0], 16):
            out = network(torch.from_numpy(inputs[start : start + 16])).numpy()
            sigma = np.exp(0.5 * out[:, 1])
            ratios.append((np.abs(truth[start : start + 16] - out[:, 0]) / sigma).ravel())
    ratio = np.concatenate(ratios)
    ratio = ratio[np.isfinite(ratio)]
    scale = float(np.quantile(ratio, ONE_SIGMA))
    return {"sigma_scale": scale, "raw_coverage": float(np.mean(ratio <= 1.0))}


def machine_description(threads: int | None) -> dict[str, Any]:
    """Where training ran: platform, CPU model, cores, torch threads, GPU if any."""
    cpu = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": threads or os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _measured_tiling(
    scripted: torch.jit.ScriptModule,
    network: ResUNet,
    contract: InputContract,
    baseline_days: float,
) -> Tiling:
    """Receptive field and seam error per halo of the scripted network on a simulated scene."""
    # Measured on the module as load_model serves it (frozen, batch-norm folded): the
    # numbers users get, and 1.5-1.9x faster to measure.
    probe = CoherenceModel(optimised(scripted.eval()), None, contract, torch.device("cpu"))
    pair = simulate_pair(
        (384, 400), baseline_days, seed=20260101, polarizations=contract.polarizations
    )
    errors = seam_errors(probe, pair.reference, pair.secondary, HALO_CANDIDATES, tile=128)
    return Tiling(
        size_multiple=contract.size_multiple,
        receptive_field_px=receptive_field_px(network, contract.channels),
        seam_error_by_halo_px={str(k): v for k, v in errors.items()},
        seam_tolerance=SEAM_TOLERANCE,
        recommended_halo_px=recommended_halo(errors, SEAM_TOLERANCE),
        padding="reflect at the bottom/right up to the size multiple",
    )


def _training_record(
    config: TrainingConfig, saved: dict[str, Any], command: str | None
) -> TrainingRecord:
    data = config.data
    words = []
    for source in saved.get("training_data") or [{"kind": "simulator"}]:
        if source["kind"] == "simulator":
            words.append(
                f"{data.train_scenes} simulated {data.scene_px} px scenes (seed {config.seed}), "
                f"{data.baseline_days:g}-day pairs, misregistration up to "
                f"{data.max_misregistration_px} px, change probability "
                f"{data.change_probability}"
            )
        else:
            words.append(
                f"{source['kind']}: {source['train']['pairs']} training pairs of "
                f"{', '.join(source['train']['units'])}; validation "
                f"{', '.join(source['validation']['units']) or 'none'}; test (held out) "
                f"{', '.join(source['test']['units']) or 'none'}; split by {data.split.by}"
            )
    parent = read_card(config.fine_tune.init) if config.fine_tune.init else None
    return TrainingRecord(
        data=(
            "; ".join(words) + f"; target {data.target} (SLC window "
            f"{SensorGeometry().coherence_window_m} m)"
        ),
        sources=saved.get("training_data") or [],
        init=config.fine_tune.init,
        init_sha256=parent.artefact.sha256 if parent else None,
        parent=parent.training if parent else None,
        config=config,
        command=command,
        epochs=saved["epoch"],
        wall_time_s=round(float(saved["seconds"]), 1),
        machine=machine_description(config.threads),
        history=saved["history"],
    )


def _calibration_patches(
    config: TrainingConfig, checkpoint: Path, n_val: int
) -> tuple[PatchSet, np.ndarray]:
    """Validation patches the sigma is calibrated on, and what it is calibrated against.

    Simulator-only: ``n_val`` validation scenes against the true coherence.
    With real sources: the run's validation split (its patch cache, or the SLC
    files again), against the truth where simulated and the SLC target where real.
    """
    if all(isinstance(s, SimulatorSource) for s in config.data.sources):
        val = simulate_patches(config.data, "validation", n_val, config.seed)
        return val, val.truth
    val = validation_patches(config, checkpoint.parent.parent / "data")
    return val, np.where(np.isfinite(val.truth), val.truth, val.target)


def _save_scripted(
    module: nn.Module, out_path: Path
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """Script ``module`` into ``out_path``; the card fields that describe the file written."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with quiet_torchscript():
        scripted = torch.jit.script(module)
        torch.jit.save(scripted, str(out_path))
    return scripted, {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "software": SoftwareVersions(cohcube=version("cohcube"), torch=torch.__version__),
        "artefact": ArtefactFile(
            file=out_path.name, sha256=sha256_of(out_path), bytes=out_path.stat().st_size
        ),
    }


def _with_parity(card: ModelCard, card_path: Path, inputs: np.ndarray) -> ModelCard:
    """Write ``card``, measure each reduced precision against fp32 on ``inputs``
    (``(N, C, H, W)`` validation scenes) through the written artefact, write it again."""
    write_card(card, card_path)
    card = card.with_device_measurements(precision_parity(card_path, inputs), [])
    write_card(card, card_path)
    return card


def export_model(
    checkpoint: Path,
    out_path: Path,
    *,
    name: str | None = None,
    command: str | None = None,
    calibration_scenes: int | None = None,
) -> ModelCard:
    """Write ``out_path`` (TorchScript) and ``out_path.with_suffix('.json')`` (card).

    Args:
        checkpoint: a training checkpoint.
        out_path: TorchScript file to write (``.pt``).
        name: model name in the card (default from the architecture).
        command: the command that trained the model, recorded in the card.
        calibration_scenes: validation scenes for the sigma calibration
            (default: the training config's ``validation_scenes``).

    Returns:
        The card.
    """
    network, config, saved = load_checkpoint(checkpoint)
    contract = contract_for(config)
    n_val = calibration_scenes or config.data.validation_scenes
    val, reference = _calibration_patches(config, checkpoint, n_val)
    inputs = np.nan_to_num(val.inputs(contract), nan=contract.nodata_fill)
    calibration = calibrate_sigma(network, inputs, reference)
    exported = ExportedNetwork(network, calibration["sigma_scale"]).eval()
    scripted, saved_file = _save_scripted(exported, out_path)
    card = ModelCard(
        name=name or f"cohcube-resunet-w{config.network.width}-d{config.network.depth}",
        **saved_file,
        architecture=Architecture(
            type="ResUNet",
            width=config.network.width,
            depth=config.network.depth,
            in_channels=contract.channels,
            parameters=parameter_count(network),
        ),
        input=contract,
        output=OutputDescription(
            coherence="VV interferometric coherence magnitude in [0, 1] of the pair",
            coherence_sigma="predictive standard deviation of the coherence, calibrated "
            "so that |true - coherence| <= sigma for 68 % of validation pixels",
        ),
        tiling=_measured_tiling(scripted, network, contract, config.data.baseline_days),
        calibration=Calibration(
            **calibration,
            validation_scenes=n_val
            if val.truth.size and np.isfinite(val.truth).all()
            else len(val),
        ),
        training=_training_record(config, saved, command),
    )
    card = _with_parity(card, out_path.with_suffix(".json"), inputs[:PARITY_PATCHES])
    log.info(
        "exported %s (%s), halo %d px",
        out_path,
        card.artefact.sha256[:12],
        card.tiling.recommended_halo_px,
    )
    return card


def import_keras_artefact(
    weights_path: Path,
    out_path: Path,
    *,
    config_path: Path | None = None,
    name: str | None = None,
    command: str | None = None,
) -> ModelCard:
    """The authors' Keras weights as a cohcube artefact: ``out_path`` (TorchScript) + card.

    The weights are checked layer by layer against the published architecture,
    loaded into ``ResUNet(style="keras")``, scripted and measured for their halo
    exactly like a trained model. The card declares the input contract of
    ``config_path`` (default: the paper's), the provenance, and that the second
    output is the released ``log_variance`` head -- a sigmoid their inference
    ignores -- not a calibrated sigma.
    """
    weights, layout = read_keras_weights(weights_path)
    check_weights(weights, weights_path)
    paper, raw_config = read_paper_config(config_path)
    contract = paper.contract()
    network = network_from_keras(weights)
    scripted, saved_file = _save_scripted(network, out_path)
    card = ModelCard(
        name=name or "back2coh-grd-gee-w32-d4",
        **saved_file,
        architecture=Architecture(
            type="ResUNet (Keras Back2Coh_GRD_GEE layout)",
            width=WIDTH,
            depth=DEPTH,
            in_channels=contract.channels,
            parameters=parameter_count(network),
        ),
        input=contract,
        output=OutputDescription(
            channels=("coherence", "uncertainty_head"),
            coherence=f"{contract.polarizations[0]} interferometric coherence magnitude in "
            "[0, 1] of the pair, as the authors' model predicts it",
            coherence_sigma="not provided: the released log_variance head ends in a sigmoid "
            "and the authors' inference ignores it; it is no calibrated sigma",
        ),
        tiling=_measured_tiling(scripted, network, contract, 12.0),
        provenance=Provenance(
            source="Back2Coh_GRD_GEE weights as released by the paper's authors (Sica, Pulella, "
            "Schmitt, arXiv:2606.07374), trained on real Sentinel-1 12-day SLC coherence "
            "(Google Earth Engine S1_GRD input); the file is the user's: compare source_sha256 "
            "with the published one",
            source_file=weights_path.name,
            source_sha256=sha256_of(weights_path),
            source_layout=layout,
            source_config=raw_config,
            ignored_config_keys=paper.ignored_keys,
            command=command,
        ),
    )
    pair = simulate_pair((256, 256), 12.0, seed=20260102, polarizations=contract.polarizations)
    channels, _ = network_input(pair.reference, pair.secondary, contract)
    card = _with_parity(card, out_path.with_suffix(".json"), channels[None])
    log.info(
        "imported %s (%s) as %s, halo %d px",
        weights_path,
        layout,
        out_path,
        card.tiling.recommended_halo_px,
    )
    return card
