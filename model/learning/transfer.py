"""Host <-> device traffic of inference: batch sizes that fit, pinned copies, one stream per thread.

On a CPU these are plain tensor views. On a CUDA device each calling thread
(a Dask worker thread) gets its own stream, inputs go through pinned host
memory with non-blocking copies, and the output comes back the same way, so
one thread's copies overlap another's forward pass; the batch of pairs sent
in one forward call is sized to the device memory free at the time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

#: Peak activation bytes per input pixel and pair of a w16 d4 ResUNet forward pass at fp32,
#: measured on the CPU (peak RSS growth / pixels: 406 B at 1024 px, 356 B at 2048 px, 2
#: pairs of 1024 px 360 B). Scaled by width/16 and by the dtype's size.
ACTIVATION_BYTES_PER_PX_W16 = 410
_STREAMS = threading.local()


def activation_bytes(h: int, w: int, width: int, element_bytes: int) -> int:
    """Estimated peak activation memory of one pair's forward pass on ``h x w`` px, bytes."""
    return int(h * w * ACTIVATION_BYTES_PER_PX_W16 * (width / 16) * (element_bytes / 4))


def pairs_per_forward(pairs: int, pair_bytes: int, free_bytes: int, percent: int = 70) -> int:
    """How many of ``pairs`` go through one forward call: as many as ``percent`` % of the
    free memory holds (at least one)."""
    usable = free_bytes * percent // 100
    return max(1, min(pairs, usable // max(pair_bytes, 1)))


def free_device_bytes(device: torch.device) -> int | None:
    """Free memory of a CUDA device, bytes (None for a CPU: batches there are not capped)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


@contextmanager
def thread_stream(device: torch.device) -> Iterator[Any]:
    """This thread's own CUDA stream on ``device`` (nothing on a CPU)."""
    if device.type != "cuda":
        yield None
        return
    streams: dict[torch.device, torch.cuda.Stream] = _STREAMS.__dict__.setdefault("by_device", {})
    stream = streams.get(device)
    if stream is None:
        stream = streams[device] = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
    with torch.cuda.stream(stream):
        yield stream


def to_device(array: NDArray[np.float32], device: torch.device) -> torch.Tensor:
    """A float32 host array as a tensor on ``device`` (pinned, non-blocking copy to a GPU)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def to_host(tensor: torch.Tensor, stream: Any = None) -> NDArray[np.float32]:
    """A tensor back as a float32 NumPy array (through pinned memory from a GPU)."""
    tensor = tensor.float()
    if tensor.device.type != "cuda":
        return np.asarray(tensor.numpy(), dtype=np.float32)
    host = torch.empty(tensor.shape, dtype=torch.float32, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    if stream is not None:
        stream.synchronize()
    else:
        torch.cuda.synchronize(tensor.device)
    return host.numpy()
