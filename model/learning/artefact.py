"""The model artefact: a TorchScript file plus its JSON model card.

``load_model`` is all the pipeline needs: it checks the card's format version,
verifies the TorchScript file's sha256 against the card *before* loading it,
and returns a ``CoherenceModel`` whose ``predict`` maps two backscatter images
to coherence and its uncertainty. Nothing here imports the training code.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from cohcube.model.errors import ModelArtefactError

from .card import ModelCard, card_path_for, read_card
from .precision import as_network_input, converted, device_capability, resolve_precision
from .preprocessing import InputContract, network_input
from .transfer import (
    activation_bytes,
    free_device_bytes,
    pairs_per_forward,
    thread_stream,
    to_device,
    to_host,
)

log = logging.getLogger(__name__)


@contextmanager
def quiet_torchscript() -> Iterator[None]:
    """TorchScript is deprecated in torch 2.13 but is the artefact format of the design."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit.*(deprecated|Please use)", category=DeprecationWarning
        )
        yield


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_matches(path: Path, sha256: str) -> bool:
    """Whether ``path`` exists and its sha256 is the one a card records for it."""
    return path.is_file() and sha256_of(path) == sha256


@dataclass
class CoherenceModel:
    """A loaded, verified coherence model.

    Attributes:
        module: the TorchScript module, ``(N, C, H, W) -> (N, 2, H, W)``
            (coherence, sigma), with H and W multiples of ``contract.size_multiple``.
        card: the model card (None only for the probe ``export`` measures seams with).
        contract: the input contract.
        device: where the module runs.
        precision: what it computes in (``fp32``, ``bf16`` or ``fp16``); outputs are float32.
        takes_float32: the module reads float32 input whatever its precision (the tuned
            bf16 network splits it into bf16 parts itself).
    """

    module: torch.jit.ScriptModule
    card: ModelCard | None
    contract: InputContract
    device: torch.device
    precision: str = "fp32"
    takes_float32: bool = False

    @property
    def name(self) -> str:
        return self._card.name

    @property
    def sha256(self) -> str:
        return self._card.artefact.sha256

    @property
    def recommended_halo_px(self) -> int:
        return self._card.tiling.recommended_halo_px

    @property
    def _card(self) -> ModelCard:
        if self.card is None:
            raise ModelArtefactError("this model has no card (a probe built during export)")
        return self.card

    def predict(
        self, t1: ArrayLike, t2: ArrayLike, baseline_days: float | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Coherence and its predictive standard deviation for one pair.

        Args:
            t1, t2: linear backscatter (``contract.quantity``) of the two dates,
                ``(H, W)`` for a single-polarisation model or ``(n_pol, H, W)``;
                any size; NaN = no data.
            baseline_days: days between the dates; when given, the coherence is
                recalibrated (``ModelCard.mapped_coherence``) and sigma rescaled
                (``sigma_factor``) by the card's per-baseline calibration.

        Returns:
            ``(coherence, sigma)``, float32 ``(H, W)``; NaN where any input is NaN,
            and sigma all NaN for a model whose card declares no calibrated sigma.
        """
        channels, valid = network_input(t1, t2, self.contract)
        out = self.forward_channels(channels[None])[0]
        out[:, ~valid] = np.nan
        if self.card is not None:
            out[0] = self.card.mapped_coherence(out[0], baseline_days)
            # A second head that is no calibrated sigma is never presented as one.
            calibrated = self.card.output.calibrated_sigma
            out[1] *= np.float32(self.card.sigma_factor(baseline_days) if calibrated else np.nan)
        return out[0], out[1]

    def forward_channels(self, channels: NDArray[np.float32]) -> NDArray[np.float32]:
        """Run the network on scaled channels ``(N, C, H, W)`` of any H, W.

        The input is padded at the bottom and right (reflection) up to the size
        multiple, so the pooling grid stays anchored at the top-left corner;
        returns ``(N, 2, H, W)`` float32. On a GPU the N pairs go through in
        as few forward calls as its free memory allows, on this thread's stream.
        """
        h, w = channels.shape[-2:]
        m = self.contract.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        n = channels.shape[0]
        free = free_device_bytes(self.device)
        width = self.card.architecture.width if self.card is not None else 16
        element = 4 if self.precision == "fp32" else 2
        step = n
        if free is not None:
            step = pairs_per_forward(
                n, activation_bytes(h + pad_h, w + pad_w, width, element), free
            )
        outputs = []
        with thread_stream(self.device) as stream, torch.inference_mode():
            for first in range(0, n, step):
                x = to_device(channels[first : first + step], self.device)
                if pad_h or pad_w:
                    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
                    x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
                fed = "fp32" if self.takes_float32 else self.precision
                out = self.module(as_network_input(x, fed))[:, :, :h, :w]
                outputs.append(to_host(out, stream))
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)


def optimised(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """Freeze the module and fold batch-norm into the convolutions for inference.

    Measured on 2 CPU cores: 1.5-1.9x faster forward passes on 512-2048 px
    tiles, outputs equal to 1e-6. Falls back to the module as loaded.
    """
    try:
        with quiet_torchscript():
            frozen = torch.jit.freeze(module)
            return torch.jit.optimize_for_inference(frozen)
    except (RuntimeError, torch.jit.Error) as exc:  # pragma: no cover - depends on the build
        log.warning("inference optimisation unavailable (%s); using the model as loaded", exc)
        return module


def load_model(
    path: str | Path | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> CoherenceModel:
    """Load a model artefact after verifying it against its card.

    Args:
        path: the card (``.json``) or TorchScript file (``.pt``, card beside it);
            default: the model shipped with cohcube.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a ``torch.device``.
        precision: ``fp32`` (default: the card's figures exactly), ``bf16``,
            ``fp16``, or ``auto`` (what ``device`` computes natively, see
            ``cohcube.model.learning.precision``); the module is converted to it.

    Raises:
        ModelArtefactError: missing files, an unreadable or incompatible card,
            or a TorchScript file whose sha256 differs from the card's.
    """
    card_path = card_path_for(path)
    card = read_card(path)
    model_path = card_path.parent / card.artefact.file
    if not model_path.is_file():
        raise ModelArtefactError(f"model file {model_path} named by {card_path} does not exist")
    actual = sha256_of(model_path)
    if actual != card.artefact.sha256:
        raise ModelArtefactError(
            f"model file {model_path} has sha256 {actual[:12]}..., but its card {card_path} "
            f"says {card.artefact.sha256[:12]}...: the file was changed or replaced; "
            "refusing to load it (re-export the model or restore the original file)"
        )
    torch_device = torch.device(device)
    with quiet_torchscript():
        module = torch.jit.load(str(model_path), map_location=torch_device)  # type: ignore[no-untyped-call]
    chosen = resolve_precision(precision, device_capability(torch_device), card.precision_parity)
    tuned = chosen == "bf16" and card.bf16_weights is not None
    if tuned:
        module = optimised(_tuned_bf16(module, card, card_path).to(torch_device))
    else:
        module = optimised(converted(module.eval(), chosen))
    log.debug(
        "loaded model %s (%s) on %s at %s%s",
        card.name,
        actual[:12],
        torch_device,
        chosen,
        " (tuned bf16 weights)" if tuned else "",
    )
    return CoherenceModel(
        module=module,
        card=card,
        contract=card.input,
        device=torch_device,
        precision=chosen,
        takes_float32=tuned,
    )


def _tuned_bf16(
    module: torch.jit.ScriptModule, card: ModelCard, card_path: Path
) -> torch.jit.ScriptModule:
    """The bf16 network of ``module`` with the weights its card's ``bf16_weights`` names.

    Imported here: it rebuilds the eager network, which fp32 inference never needs.
    """
    from .bf16_network import tuned_bf16_module

    assert card.bf16_weights is not None
    weights_path = card_path.parent / card.bf16_weights.file
    if not file_matches(weights_path, card.bf16_weights.sha256):
        raise ModelArtefactError(
            f"bf16 weights {weights_path} named by {card_path} are missing or differ from the "
            "card's sha256: restore them, run cohcube tune-bf16 again, or use precision fp32"
        )
    with quiet_torchscript():
        return tuned_bf16_module(module.cpu(), card.network_style, weights_path)
