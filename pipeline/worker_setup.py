"""Dask worker preload: what every local worker process sets up when it starts.

Local workers ignore SIGINT: Ctrl-C in a terminal reaches the whole process
group, and the job (not each worker) is what answers it -- it stops, closes
the cluster, and says in one line how to resume. Without this every worker
would print its own KeyboardInterrupt traceback.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any


def dask_setup(worker: Any) -> None:
    """Called by Dask in each worker process at start-up (``preload``)."""
    with contextlib.suppress(ValueError):  # not the main thread: leave the default
        signal.signal(signal.SIGINT, signal.SIG_IGN)
