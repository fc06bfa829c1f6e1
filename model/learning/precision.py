"""Numeric precision of inference: which one a device runs fast, and the module converted to it.

``auto`` picks what the hardware computes natively -- bfloat16 on CPUs that
report AMX or AVX-512-BF16, float16 (then bfloat16) on CUDA GPUs -- provided
the model card records that precision within ``PARITY_TOLERANCE`` of fp32;
float32 otherwise. Elsewhere bf16 is
emulated and slower than fp32: on an AMD EPYC with AVX2 only (torch 2.13, 2
threads, 256 px) a bf16 forward pass takes 4.6x the fp32 time with a
channels-last input and 110x without. Autocast around a frozen fp32 module
changes nothing, so the TorchScript module itself is converted (before it is
frozen), and reduced-precision inputs go in channels-last, the layout oneDNN's
bf16 convolutions and cuDNN's tensor cores want.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch

from cohcube.model.errors import ModelArtefactError

from .card import PrecisionParity

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "fp16"]
#: The precisions a module runs at (``auto`` resolves to one of them).
CONCRETE_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: Largest mean and max |coherence - fp32 coherence| at which ``auto`` uses a reduced precision.
PARITY_TOLERANCE = (0.001, 0.01)
_CPU_FLAGS = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class DeviceCapability:
    """What a device computes natively, as far as precision goes.

    Attributes:
        kind: ``"cpu"`` or ``"cuda"``.
        bf16: native bfloat16 (CPU: AMX or AVX-512-BF16; CUDA: compute capability >= 8).
        fp16: native float16 (CUDA: compute capability >= 5.3; CPUs: no).
        description: what was found, for logs and cube attributes.
    """

    kind: str
    bf16: bool
    fp16: bool
    description: str


def _cpu_flags() -> set[str]:
    try:
        for line in _CPU_FLAGS.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_capability() -> DeviceCapability:
    """This CPU: bf16 is native with AMX tiles or AVX-512-BF16 (torch's probe, or cpuinfo)."""
    probes = {
        "AMX": getattr(torch.cpu, "_is_amx_tile_supported", None),
        "AVX-512-BF16": getattr(torch.cpu, "_is_avx512_bf16_supported", None),
    }
    found = [name for name, probe in probes.items() if probe is not None and probe()]
    if not found:
        flags = _cpu_flags()
        found = [
            name
            for name, flag in (("AMX", "amx_bf16"), ("AVX-512-BF16", "avx512_bf16"))
            if flag in flags
        ]
    vector = torch.backends.cpu.get_cpu_capability()
    description = f"cpu ({', '.join(found) if found else f'{vector}, no native bf16'})"
    return DeviceCapability("cpu", bf16=bool(found), fp16=False, description=description)


def cuda_capability(device: torch.device) -> DeviceCapability:
    """A CUDA GPU: bf16 from compute capability 8.0 (Ampere), fp16 from 5.3."""
    major, minor = torch.cuda.get_device_capability(device)
    name = torch.cuda.get_device_name(device)
    return DeviceCapability(
        "cuda",
        bf16=major >= 8,
        fp16=(major, minor) >= (5, 3),
        description=f"cuda ({name}, compute capability {major}.{minor})",
    )


def device_capability(device: torch.device) -> DeviceCapability:
    """The capability of ``device`` (a CPU or a CUDA GPU)."""
    return cuda_capability(device) if device.type == "cuda" else cpu_capability()


def within_tolerance(parity: PrecisionParity | None) -> bool:
    """Whether a recorded parity meets ``PARITY_TOLERANCE`` (mean, max |difference|)."""
    if parity is None:
        return False
    mean, largest = PARITY_TOLERANCE
    return parity.mean_abs_difference <= mean and parity.max_abs_difference <= largest


def resolve_precision(
    requested: str,
    capability: DeviceCapability,
    parity: Mapping[str, PrecisionParity] | None = None,
) -> str:
    """The precision to run at: ``requested`` itself, or what ``auto`` picks.

    ``auto`` picks the first precision the device computes natively (GPU: fp16,
    then bf16 -- fp16's 10-bit mantissa is the closer to fp32 at the same
    tensor-core rate; CPU: bf16) whose difference from fp32, as the model card
    records it (``parity``), is within ``PARITY_TOLERANCE``; else fp32. A card
    without that record gets fp32: a precision is never used unmeasured.

    Raises:
        ModelArtefactError: an unknown precision, or fp16 asked of a CUDA GPU without it.
    """
    if requested not in get_args(Precision):
        raise ModelArtefactError(
            f"precision {requested!r} is not one of {', '.join(get_args(Precision))}"
        )
    if requested == "auto":
        native = [p for p in ("fp16", "bf16") if getattr(capability, p)]
        if capability.kind == "cpu":
            native = ["bf16"] if capability.bf16 else []
        for candidate in native:
            if within_tolerance((parity or {}).get(candidate)):
                return candidate
            log.info(
                "precision auto: %s is native on %s but the model card records %s; using fp32",
                candidate,
                capability.description,
                "no parity for it"
                if candidate not in (parity or {})
                else f"a difference from fp32 beyond {PARITY_TOLERANCE} (mean, max)",
            )
        return "fp32"
    if requested == "fp16" and capability.kind == "cuda" and not capability.fp16:
        raise ModelArtefactError(
            f"precision fp16 needs a GPU of compute capability >= 5.3; {capability.description} "
            "has not: use precision fp32 or auto"
        )
    if requested != "fp32" and not getattr(capability, requested):
        log.warning(
            "precision %s is emulated on %s and slower than fp32 there; 'auto' picks fp32",
            requested,
            capability.description,
        )
    return requested


def uses_channels_last(precision: str) -> bool:
    """Whether inputs of ``precision`` go in channels-last memory format.

    Measured (torch 2.13, 2 threads, the shipped w16 network): bf16 on an
    AMD EPYC 16.5 s plain vs 0.68 s channels-last at 256 px; fp32 gains
    nothing from it on the same cores, so fp32 keeps the contiguous layout.
    """
    return precision != "fp32"


def converted(module: torch.jit.ScriptModule, precision: str) -> torch.jit.ScriptModule:
    """``module`` with its parameters and buffers in ``precision`` (before it is frozen)."""
    if precision == "fp32":
        return module
    module = module.to(DTYPES[precision])
    if uses_channels_last(precision):
        module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return module


def as_network_input(x: torch.Tensor, precision: str) -> torch.Tensor:
    """A float32 ``(N, C, H, W)`` batch in the dtype and memory format of ``precision``."""
    if precision == "fp32":
        return x
    x = x.to(DTYPES[precision])
    return x.contiguous(memory_format=torch.channels_last) if uses_channels_last(precision) else x
