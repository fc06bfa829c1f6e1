"""The paper's released Keras weights ("Back2Coh_GRD_GEE") as a cohcube ResUNet.

Sica, Pulella and Schmitt publish their GRD model as Keras weights
(``model.weights.h5``, in the Keras 3 layout ``layers/<name>/vars/<i>`` or the
legacy Keras 2 layout with ``layer_names``/``weight_names`` attributes). Both
are read with h5py -- no TensorFlow -- and checked layer by layer against the
published architecture (width 32, depth 4, two input channels t1/t2 of one
polarisation) before they fill a ``ResUNet(style="keras")``, which reproduces
the Keras numerics (see ``network``). Kernels go from Keras' ``(kh, kw, in,
out)`` to torch's ``(out, in, kh, kw)``; batch-norm keeps its moving statistics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import torch
from numpy.typing import NDArray
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from cohcube.model.config_files import read_config_mapping, validation_problems
from cohcube.model.errors import ConfigError, MissingPathError, ModelArtefactError

from .network import ResUNet, UpStep
from .preprocessing import InputContract

KERAS3_LAYOUT = "keras-3 weights.h5"
LEGACY_LAYOUT = "keras-2 h5"
#: The released network: encoder and bottleneck widths, then the decoder's.
BLOCK_WIDTHS = (32, 64, 128, 256, 512, 256, 128, 64, 32)
WIDTH, DEPTH, IN_CHANNELS = 32, 4, 2
CONV_WEIGHTS = ("kernel", "bias")
NORM_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")

Weights = dict[str, list[NDArray[np.float32]]]


def _indexed(base: str, index: int) -> str:
    return base if index == 0 else f"{base}_{index}"


@dataclass(frozen=True)
class ExpectedLayer:
    """One layer of the released model with weights: its Keras name and weight shapes."""

    name: str
    shapes: tuple[tuple[int, ...], ...]

    @property
    def is_norm(self) -> bool:
        return len(self.shapes) == len(NORM_WEIGHTS)


def _conv(name: str, size: int, c_in: int, c_out: int) -> ExpectedLayer:
    return ExpectedLayer(name, ((size, size, c_in, c_out), (c_out,)))


def _norm(name: str, channels: int) -> ExpectedLayer:
    return ExpectedLayer(name, ((channels,),) * len(NORM_WEIGHTS))


def _block_inputs() -> list[int]:
    inputs = [IN_CHANNELS, *BLOCK_WIDTHS[:4]]  # encoder and bottleneck
    return inputs + [2 * w for w in BLOCK_WIDTHS[5:]]  # decoder: skip + upsampled


def expected_layers() -> list[ExpectedLayer]:
    """Every weighted layer of "Back2Coh_GRD_GEE" by its name, in the model's layer order.

    The order is the Keras functional model's (``model.layers``): per residual
    block the first 3x3 conv, its norm, the second 3x3 conv, the 1x1 shortcut,
    the second norm; each decoder level's 2x2 conv before its block; the
    ``mean`` and ``log_variance`` heads last.
    """
    layers: list[ExpectedLayer] = []
    for k, (c_in, width) in enumerate(zip(_block_inputs(), BLOCK_WIDTHS, strict=True)):
        if k >= 5:
            layers.append(_conv(f"upsampling_{width}-{width // 2}", 2, 2 * width, width))
        layers += [
            _conv(_indexed("conv2d", 3 * k + 1), 3, c_in, width),
            _norm(_indexed("batch_normalization", 2 * k), width),
            _conv(_indexed("conv2d", 3 * k + 2), 3, width, width),
            _conv(_indexed("conv2d", 3 * k), 1, c_in, width),
            _norm(_indexed("batch_normalization", 2 * k + 1), width),
        ]
    return [*layers, _conv("mean", 1, WIDTH, 1), _conv("log_variance", 1, WIDTH, 1)]


def _text(values: object) -> list[str]:
    items = values if isinstance(values, list | tuple | np.ndarray) else [values]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in items]


def _legacy_order(names: list[str]) -> list[int]:
    """Positions of a legacy layer's weights in the canonical order (kernel, bias / BN)."""
    stems = [n.rsplit("/", 1)[-1].split(":", 1)[0] for n in names]
    canonical = NORM_WEIGHTS if "gamma" in stems or "moving_mean" in stems else CONV_WEIGHTS
    return sorted(range(len(stems)), key=lambda i: canonical.index(stems[i]))


def _legacy_weights(handle: h5py.File) -> Weights:
    weights: Weights = {}
    for layer in _text(handle.attrs["layer_names"]):
        if layer not in handle:
            continue  # listed without weights: check_weights names what is missing
        group = handle[layer]
        names = _text(group.attrs.get("weight_names", []))
        if names:
            arrays = [np.asarray(group[name][()], dtype=np.float32) for name in names]
            weights[layer] = [arrays[i] for i in _legacy_order(names)]
    return weights


def _class_index(key: str, base: str) -> int | None:
    """``k`` of a Keras 3 key ``<base>_<k>`` (``<base>`` alone is 0); None for other keys."""
    if key == base:
        return 0
    head, _, tail = key.rpartition("_")
    return int(tail) if head == base and tail.isdigit() else None


def _by_layer_name(stored: Weights) -> Weights:
    """Keras 3 files key layers by class and order (``conv2d``, ``conv2d_1``, ... in
    ``model.layers`` order), not by their names: give each its published name."""
    named: Weights = {}
    for base, norm in (("conv2d", False), ("batch_normalization", True)):
        keys = sorted(
            (k for k in stored if _class_index(k, base) is not None),
            key=lambda k: _class_index(k, base) or 0,
        )
        names = [layer.name for layer in expected_layers() if layer.is_norm == norm]
        for key, name in zip(keys, names, strict=False):
            named[name] = stored[key]
        for key in keys[len(names) :]:
            named[f"{key} (stored)"] = stored[key]
    named |= {k: v for k, v in stored.items() if not k.startswith(("conv2d", "batch_norm"))}
    return named


def _keras3_weights(handle: h5py.File) -> Weights:
    stored: Weights = {}
    for layer, group in handle["layers"].items():
        variables = group.get("vars")
        if variables is not None and len(variables):
            keys = sorted(variables, key=int)
            stored[layer] = [np.asarray(variables[k][()], dtype=np.float32) for k in keys]
    return _by_layer_name(stored)


def read_keras_weights(path: Path) -> tuple[Weights, str]:
    """Layer name -> weights (canonical order) of a Keras weights file, and its layout.

    Raises:
        MissingPathError: no such file.
        ModelArtefactError: not an HDF5 file, or neither Keras layout.
    """
    if not path.is_file():
        raise MissingPathError(f"{path} does not exist; pass the weights file you downloaded")
    try:
        handle = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as exc:
        raise ModelArtefactError(f"cannot read Keras weights {path}: {exc}") from None
    with handle:
        if "layer_names" in handle.attrs:
            return _legacy_weights(handle), LEGACY_LAYOUT
        if "layers" in handle:
            return _keras3_weights(handle), KERAS3_LAYOUT
    raise ModelArtefactError(
        f"{path} is an HDF5 file but not Keras weights (neither the Keras 3 'layers/' layout "
        "nor the legacy 'layer_names' layout)"
    )


def check_weights(weights: Weights, path: Path) -> None:
    """Refuse weights of another architecture, naming the first layer that differs.

    Raises:
        ModelArtefactError: a missing layer, a layer with other shapes, or an extra layer.
    """
    expected = expected_layers()
    for layer in expected:
        if layer.name not in weights:
            raise ModelArtefactError(
                f"{path}: layer {layer.name!r} of Back2Coh_GRD_GEE is missing (expected weights "
                f"of shapes {[list(s) for s in layer.shapes]}); this is not the paper's GRD model"
            )
        actual = tuple(tuple(w.shape) for w in weights[layer.name])
        if actual != layer.shapes:
            raise ModelArtefactError(
                f"{path}: layer {layer.name!r} has weights of shapes {[list(s) for s in actual]}, "
                f"expected {[list(s) for s in layer.shapes]}; this is not the paper's GRD model"
            )
    known = {layer.name for layer in expected}
    extra = sorted(set(weights) - known)
    if extra:
        raise ModelArtefactError(
            f"{path}: layer {extra[0]!r} (shapes {[list(w.shape) for w in weights[extra[0]]]}) is "
            f"not part of Back2Coh_GRD_GEE ({len(extra)} unexpected layer(s)); refusing to guess"
        )


def _torch_modules(network: ResUNet) -> Iterator[tuple[str, torch.nn.Module]]:
    """The network's weighted modules with their Keras layer names, in ``expected_layers`` order."""
    names = iter(layer.name for layer in expected_layers())
    steps = [step for step in network.decoder if isinstance(step, UpStep)]
    blocks = [*network.encoder, *(step.block for step in steps)]
    for k, block in enumerate(blocks):
        if k >= 5:
            yield next(names), steps[k - 5].reduce
        for module in (block.conv1, block.bn1, block.conv2, block.shortcut, block.bn2):
            yield next(names), module
    yield next(names), network.coherence_head
    yield next(names), network.log_variance_head


def network_from_keras(weights: Weights) -> ResUNet:
    """A ``ResUNet(style="keras")`` holding checked Keras weights, in eval mode."""
    network = ResUNet(IN_CHANNELS, WIDTH, DEPTH, style="keras")
    with torch.no_grad():
        for name, module in _torch_modules(network):
            values = [torch.from_numpy(np.ascontiguousarray(v)) for v in weights[name]]
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.running_mean is not None
                assert module.running_var is not None
                module.weight.copy_(values[0])
                module.bias.copy_(values[1])
                module.running_mean.copy_(values[2])
                module.running_var.copy_(values[3])
            else:
                assert isinstance(module, torch.nn.Conv2d)
                assert module.bias is not None
                module.weight.copy_(values[0].permute(3, 2, 0, 1))
                module.bias.copy_(values[1])
    return network.eval()


class _PaperSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PaperPreprocessing(_PaperSection):
    """The ``preprocessing`` section of the authors' ``config.yaml`` (unknown keys are errors)."""

    db_min: float = Field(-20.0, validation_alias=AliasChoices("db_min", "clip_min_db"))
    db_max: float = Field(0.0, validation_alias=AliasChoices("db_max", "clip_max_db"))
    channel_order: tuple[Literal["t1", "t2", "primary", "secondary"], ...] = ("t1", "t2")
    polarization: Literal["VV", "VH"] = Field(
        "VV", validation_alias=AliasChoices("polarization", "polarisation", "band")
    )


class PaperTiling(_PaperSection):
    """The ``tiling`` section: how their own inference tiles (recorded, not used: cohcube
    infers seam-free with a measured halo)."""

    patch_size: int = 128
    stride: int = 32
    batch_size: int = 8
    aggregation: str = "kaiser"


class PaperConfig(BaseModel):
    """The parts of the authors' ``config.yaml`` cohcube reads; other top-level keys are kept
    and listed as ignored."""

    model_config = ConfigDict(extra="allow", frozen=True)

    preprocessing: PaperPreprocessing = Field(default_factory=PaperPreprocessing)
    tiling: PaperTiling = Field(default_factory=PaperTiling)

    @property
    def ignored_keys(self) -> list[str]:
        return sorted(self.model_extra or {})

    def contract(self) -> InputContract:
        """The input contract: sigma0 (GEE S1_GRD) of one polarisation, dates t1 then t2."""
        pre = self.preprocessing
        order = tuple("t1" if c in ("t1", "primary") else "t2" for c in pre.channel_order)
        if order != ("t1", "t2"):
            raise ConfigError(
                f"preprocessing.channel_order {list(pre.channel_order)}: cohcube feeds the "
                "reference date first (t1, t2); other orders are not supported"
            )
        if pre.db_min >= pre.db_max:
            raise ConfigError(
                f"preprocessing: db_min {pre.db_min} must be below db_max {pre.db_max}"
            )
        return InputContract(
            quantity="sigma0",
            polarizations=(pre.polarization,),
            db_range=(pre.db_min, pre.db_max),
            size_multiple=2**DEPTH,
        )


def read_paper_config(path: Path | None) -> tuple[PaperConfig, dict[str, Any] | None]:
    """The authors' ``config.yaml`` (None: the paper's defaults) and its raw mapping.

    Raises:
        ConfigError: unknown keys in ``preprocessing`` or ``tiling``, wrong types.
    """
    if path is None:
        return PaperConfig(), None
    raw = read_config_mapping(path)
    try:
        return PaperConfig.model_validate(raw), raw
    except ValidationError as exc:
        raise ConfigError(f"config {path}: {validation_problems(exc)}") from None
