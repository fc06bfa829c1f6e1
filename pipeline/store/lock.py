"""One writer per store: a lock file beside local stores, stale locks taken over.

A second job on the same store refuses with the first one's pid and host; a
lock left by a dead process on this host is taken over. Remote stores have
no cross-process lock (object stores offer none portable): one job per store.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cohcube.model.errors import StoreError

log = logging.getLogger(__name__)


@contextmanager
def store_lock(url: str) -> Iterator[None]:
    """One writer per store: a lock file beside local stores (stale locks are taken over)."""
    if "://" in url:
        log.warning("no cross-process lock for remote store %s: run one job per store", url)
        yield
        return
    lock = Path(url).with_name(Path(url).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = _read_lock(lock)
            if owner and owner.get("host") == socket.gethostname() and not _alive(owner["pid"]):
                log.warning("taking over the stale lock of pid %s on %s", owner["pid"], url)
                lock.unlink(missing_ok=True)
                continue
            raise StoreError(
                f"{url} is being written by another job (pid {owner.get('pid') if owner else '?'} "
                f"on {owner.get('host') if owner else '?'}; lock {lock}); wait for it to finish "
                "or, if it died on another machine, delete the lock file"
            ) from None
    with os.fdopen(fd, "w") as handle:
        json.dump({"pid": os.getpid(), "host": socket.gethostname()}, handle)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _read_lock(lock: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(lock.read_text())
        return value if isinstance(value, dict) else None
    except (OSError, json.JSONDecodeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
