"""The model on each Dask worker: fetched where it must be, loaded once, warmed at start.

The task graph carries only where the model card is (a path every worker can
read, or an ``http(s)://``, ``s3://``, ``gs://``... URL for workers that share
no filesystem with the driver) and its artefact's sha256. A worker given a URL
copies the card and its TorchScript file once into a local cache keyed by that
sha256 (``COHCUBE_MODEL_CACHE``, default ``~/.cache/cohcube/models``), checks
the file against the sha256, and loads it from there; every block after that
reuses the loaded module (``cached_model``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from distributed.diagnostics.plugin import WorkerPlugin

from cohcube.model.errors import InputDataError
from cohcube.model.learning.card import read_card

from .errors import first_line

if TYPE_CHECKING:  # torch: loaded in the workers, not in the job's driver
    from cohcube.model.learning.artefact import CoherenceModel

log = logging.getLogger(__name__)

_CACHE: dict[tuple[str, str], CoherenceModel] = {}
_CACHE_LOCK = threading.Lock()
_FETCH_LOCK = threading.Lock()


def is_url(reference: str | Path) -> bool:
    """Whether ``reference`` names a remote file (a scheme other than ``file`` or a drive)."""
    scheme = urlsplit(str(reference)).scheme.lower()
    return len(scheme) > 1 and scheme != "file"


def model_cache_folder() -> Path:
    """Where workers keep fetched model artefacts (``COHCUBE_MODEL_CACHE`` or the user cache)."""
    configured = os.environ.get("COHCUBE_MODEL_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "cohcube" / "models"


def local_card(reference: str, sha256: str) -> str:
    """A local path of the model card at ``reference`` (returned as is when it is a path).

    A URL is fetched once per machine: the card, then the artefact file it names
    (beside it) and its bf16 weights file if it names one, written atomically under
    ``model_cache_folder() / sha256`` after each file's sha256 matched.

    Raises:
        InputDataError: the URL cannot be read, or its artefact's sha256 is not ``sha256``
            (one line naming the URL).
    """
    if not is_url(reference):
        return reference
    folder = model_cache_folder() / sha256
    card_name = Path(urlsplit(reference).path).name or "model.json"
    card_file = folder / card_name
    with _FETCH_LOCK:
        if card_file.is_file():
            return str(card_file)
        problem = None
        extras: dict[str, tuple[bytes, str]] = {}  # file -> (bytes, sha256 the card says)
        try:
            card_bytes = _read_url(reference)
            card = json.loads(card_bytes)
            artefact = str(card["artefact"]["file"])
            model_bytes = _read_url(f"{reference.rsplit('/', 1)[0]}/{artefact}")
            if card.get("bf16_weights"):
                name = str(card["bf16_weights"]["file"])
                data = _read_url(f"{reference.rsplit('/', 1)[0]}/{name}")
                extras[name] = (data, str(card["bf16_weights"]["sha256"]))
        except FileNotFoundError as exc:
            problem = f"{exc.filename or exc} not found"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = first_line(exc)
        if problem is not None:  # raised here, without the HTTP client's unpicklable context
            raise InputDataError(
                f"cannot read the model at {reference}: {problem} (the URL must be readable "
                "from every worker, with the artefact file beside the card)"
            )
        actual = hashlib.sha256(model_bytes).hexdigest()
        if actual != sha256:
            raise InputDataError(
                f"the model at {reference} has sha256 {actual[:12]}..., not the job's "
                f"{sha256[:12]}...: publish the same artefact the job was started with"
            )
        for name, (data, expected) in extras.items():
            if hashlib.sha256(data).hexdigest() != expected:
                raise InputDataError(
                    f"the bf16 weights {name} beside {reference} differ from the sha256 its "
                    "card records: publish the card with the files it was written with"
                )
        folder.mkdir(parents=True, exist_ok=True)
        for name, (data, _) in extras.items():
            _write_atomically(folder / name, data)
        _write_atomically(folder / artefact, model_bytes)
        _write_atomically(card_file, card_bytes)  # last: its presence means both are complete
        log.info("fetched model %s into %s", reference, folder)
    return str(card_file)


def _read_url(url: str) -> bytes:
    import fsspec

    with fsspec.open(url, "rb") as handle:
        data: bytes = handle.read()
    return data


def _write_atomically(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as handle:
        handle.write(data)
    os.replace(handle.name, path)


def worker_device(cuda_available: bool, visible_devices: str | None = None) -> str:
    """Device for this worker: its (first visible) GPU if CUDA is usable, else the CPU.

    dask-cuda gives each worker one GPU through ``CUDA_VISIBLE_DEVICES``, so
    ``cuda:0`` is that worker's own GPU.
    """
    if not cuda_available or visible_devices == "":
        return "cpu"
    return "cuda:0"


def worker_threads() -> int | None:
    """Threads of the Dask worker running this code (None outside a distributed worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError):
        return None


def _this_device() -> str:
    import torch

    return worker_device(torch.cuda.is_available(), os.environ.get("CUDA_VISIBLE_DEVICES"))


#: Pairs per block (one forward call) when every worker has a GPU: ``forward_channels``
#: splits a call to fit the free device memory.
GPU_PAIR_BATCH = 4
#: Pairs per block otherwise. A batch is no faster on a CPU (``infer_block`` runs its pairs
#: one by one), so this only sets how work spreads and what a task holds. Measured with
#: ``bench_jobs.py`` (AMD EPYC with AVX-512-BF16, 2 workers x 1 thread, 4 pairs): 4 put
#: a region's pairs on one worker while the other idled; end-to-end / forward 0.89 at 1
#: and 0.88 at 2, back to back (0.69-0.82 in noisier runs of either); peak memory 4x area
#: / 1x area 1.29 at 1 and 1.16 at 2 in one run (a pair per block doubles the tasks and
#: the driver's graph per region).
CPU_PAIR_BATCH = 2


def pair_batch_for(client: Any | None) -> int:
    """Pairs per block for the workers of ``client`` (this process's device without one):
    ``pair_batch_for_devices`` of the devices they compute on."""
    devices = list(client.run(_this_device).values()) if client is not None else []
    return pair_batch_for_devices(devices or [_this_device()])


def pair_batch_for_devices(devices: Sequence[str]) -> int:
    """``GPU_PAIR_BATCH`` when every device (``"cpu"``, ``"cuda:0"``) is a GPU, else
    ``CPU_PAIR_BATCH``: a block may go to any worker."""
    if devices and all(d.startswith("cuda") for d in devices):
        return GPU_PAIR_BATCH
    return CPU_PAIR_BATCH


def cached_model(
    card_path: str, sha256: str, precision: str = "fp32", threads: int | None = None
) -> CoherenceModel:
    """The model of ``card_path`` (a path or URL) at ``precision``, loaded once per process,
    checked against ``sha256``; torch gets ``threads`` (default: the Dask worker's threads).
    Cached by the precision it resolves to, so ``auto`` and the precision it picks share one
    model (the card is read only on a miss: this runs for every block)."""
    with _CACHE_LOCK:
        asked = (sha256, precision)
        model = _CACHE.get(asked)
        if model is None:
            local = local_card(card_path, sha256)
            precision = resolved_precision(precision, local)
            model = _CACHE.get((sha256, precision))
        if model is None:
            import torch

            threads = threads or worker_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            device = _this_device()
            from cohcube.model.learning.artefact import load_model

            model = load_model(local, device=device, precision=precision)
            if model.sha256 != sha256:
                raise InputDataError(
                    f"model {card_path} changed since the job was planned (sha256 "
                    f"{model.sha256[:12]} != {sha256[:12]}); restart the job"
                )
            _CACHE[(sha256, precision)] = model
            log.info(
                "loaded model %s on %s at %s (pid %d)",
                model.name,
                device,
                model.precision,
                os.getpid(),
            )
        _CACHE[asked] = model
    return model


def resolved_precision(
    requested: str, card_path: str | Path | None = None, sha256: str | None = None
) -> str:
    """What ``requested`` resolves to for the model of ``card_path`` on this process's device
    (a URL needs the artefact's ``sha256`` to fetch it)."""
    import torch

    from cohcube.model.learning.precision import device_capability, resolve_precision

    if card_path is not None and is_url(card_path):
        if sha256 is None:
            raise InputDataError(f"the model at {card_path} needs its sha256 to be fetched")
        card_path = local_card(str(card_path), sha256)
    capability = device_capability(torch.device(_this_device()))
    return resolve_precision(requested, capability, read_card(card_path).precision_parity)


def precision_in_use(
    requested: str, card_path: str | Path | None = None, sha256: str | None = None
) -> str:
    """What ``requested`` resolves to where inference runs: on the workers of the current
    Dask client (``"fp32"``, or ``"bf16 on 2 workers, fp32 on 1"`` for a mixed fleet), else
    on this process's device."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return resolved_precision(requested, card_path, sha256)
    path = card_path if card_path is None or is_url(card_path) else str(Path(card_path).resolve())
    found = list(client.run(resolved_precision, requested, path, sha256).values())
    if not found:
        return resolved_precision(requested, card_path, sha256)
    counts = {p: found.count(p) for p in sorted(set(found))}
    if len(counts) == 1:
        return found[0]
    return ", ".join(f"{p} on {n} worker{'s' if n > 1 else ''}" for p, n in counts.items())


class ModelWarmup(WorkerPlugin):
    """Loads the job's model into each worker when it joins (before its first task), so
    model load and freeze happen once per worker at cluster start, not inside the tiles."""

    def __init__(self, card_path: str, sha256: str, precision: str) -> None:
        self.card_path, self.sha256, self.precision = card_path, sha256, precision
        self.name = f"cohcube-model-{sha256[:12]}-{precision}"

    def setup(self, worker: Any) -> None:
        # Ctrl-C in a terminal reaches the whole process group: the driver stops the job
        # and closes the cluster; a worker dying of the signal first would only be
        # restarted by its nanny and log over the driver's last line.
        with contextlib.suppress(ValueError):  # not the worker's main thread
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        cached_model(self.card_path, self.sha256, self.precision, threads=worker.state.nthreads)


def warm_workers(client: Any, card_path: str | Path, sha256: str, precision: str) -> str:
    """Load the model of ``card_path`` (a path every worker reads, or a URL) on every worker
    of ``client`` and on workers that join later; returns the precision the workers run at
    (``precision_in_use``).

    Raises:
        InputDataError: a worker cannot load the model (one line naming the path).
    """
    where = str(card_path) if is_url(card_path) else str(Path(card_path).resolve())
    plugin = ModelWarmup(where, sha256, precision)
    try:
        client.register_plugin(plugin)
    except Exception as exc:  # the worker's own error, re-raised by distributed
        detail = first_line(exc)
        fetch = re.search(r"cannot read the model at [^'\"]+", detail)
        if fetch:  # a URL: the fetch says it all
            raise InputDataError(f"a Dask worker {fetch.group(0)}") from None
        raise InputDataError(
            f"a Dask worker could not load the model {where}: {detail} "
            "(the artefact must be readable at that path or URL by every worker: set "
            "cluster.model_url for workers that do not share this machine's files)"
        ) from None
    chosen = precision_in_use(precision, where, sha256)
    log.info("workers loaded model %s at precision %s (asked: %s)", where, chosen, precision)
    return chosen
