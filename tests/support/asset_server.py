"""A static HTTP file server that honours Range requests, as object stores do, and injects faults.

Run: ``python asset_server.py ROOT PORT [FAULT=N ...] [missing=NAME] [corrupt=NAME]``.
GDAL reads COGs through it with HTTP range requests, exactly as from cloud
storage. Faults hit every N-th request for a ``.tif`` (counted per kind, in
the order given, one fault per request): ``503=N`` (Service Unavailable),
``reset=N`` (connection closed without an answer), ``stall=N`` (no answer
for 20 s), ``truncate=N`` (half the promised bytes, then close).
``missing=NAME`` answers 404 for files whose name contains NAME;
``corrupt=NAME`` serves garbage for them. ``KIND_limit=K`` injects fault
KIND at most K times (``stall_limit=1``: one stall). ``/__faults`` answers the
faults injected so far (JSON); ``/__bytes`` the bytes served so far per file
extension (JSON, e.g. ``{"tiff": 123, "xml": 45}``). Started and stopped (by PID) by
the test fixtures.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import socket
import sys
import threading
import time
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


FAULTS: dict[str, int] = {}
MISSING: list[str] = []
CORRUPT: list[str] = []
LIMITS: dict[str, int] = {}
INJECTED: dict[str, int] = {}
SERVED: dict[str, int] = {}
_COUNTER = itertools.count(1)
_LOCK = threading.Lock()


def _fault_for_next_request() -> str | None:
    with _LOCK:
        number = next(_COUNTER)
        for kind, every in FAULTS.items():
            if number % every == 0 and LIMITS.get(kind, 1) > 0:
                if kind in LIMITS:
                    LIMITS[kind] -= 1
                INJECTED[kind] = INJECTED.get(kind, 0) + 1
                return kind
    return None


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Serves files with ``Accept-Ranges: bytes`` and 206 partial content."""

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the tests read their own output

    def send_head(self):  # type: ignore[no-untyped-def]
        counters = {"/__faults": INJECTED, "/__bytes": SERVED}
        if self.path in counters:
            with _LOCK:
                report = json.dumps(counters[self.path]).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(report)))
            self.end_headers()
            return io.BytesIO(report)
        path = self.translate_path(self.path)
        if os.path.isdir(path) or not os.path.isfile(path):
            return super().send_head()
        name = os.path.basename(path)
        if any(m in self.path for m in MISSING):
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        fault = _fault_for_next_request() if name.endswith(".tif") else None
        if fault == "503":
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE)
            return None
        if fault == "reset":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return None
        if fault == "stall":
            time.sleep(20)
            self.close_connection = True
            return None
        if any(c in self.path for c in CORRUPT):
            garbage = bytes(range(256)) * 64
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Length", str(len(garbage)))
            self.end_headers()
            self.wfile.write(garbage)
            return None
        if fault == "truncate":
            return self._truncated(path)
        size = os.path.getsize(path)
        match = RANGE.match(self.headers.get("Range", ""))
        handle = open(path, "rb")  # noqa: SIM115 - closed by the base class after copying
        extension = name.rsplit(".", 1)[-1]
        if not match:
            if self.command == "GET":  # a HEAD answers the headers only
                _count(extension, size)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Content-Length", str(size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return handle
        first, last = match.groups()
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        if start >= size or start > end:
            handle.close()
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        handle.seek(start)
        if self.command == "GET":
            _count(extension, end - start + 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Limited(handle, end - start + 1)

    def _truncated(self, path: str):  # type: ignore[no-untyped-def]
        size = os.path.getsize(path)
        match = RANGE.match(self.headers.get("Range", ""))
        start = int(match.group(1)) if match and match.group(1) else 0
        end = min(int(match.group(2)), size - 1) if match and match.group(2) else size - 1
        length = end - start + 1
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(max(1, length // 2))
        self.send_response(HTTPStatus.PARTIAL_CONTENT if match else HTTPStatus.OK)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True
        return None


def _count(extension: str, size: int) -> None:
    with _LOCK:
        SERVED[extension] = SERVED.get(extension, 0) + size


class _Limited:
    """A file object that stops after ``remaining`` bytes (for copyfile)."""

    def __init__(self, handle, remaining: int) -> None:  # type: ignore[no-untyped-def]
        self.handle = handle
        self.remaining = remaining

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size < 0 else min(size, self.remaining)
        data = self.handle.read(size)
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


def main() -> None:
    root, port = sys.argv[1], int(sys.argv[2])
    for option in sys.argv[3:]:
        key, value = option.split("=", 1)
        if key == "missing":
            MISSING.append(value)
        elif key == "corrupt":
            CORRUPT.append(value)
        elif key.endswith("_limit"):
            LIMITS[key.removesuffix("_limit")] = int(value)
        else:
            FAULTS[key] = int(value)
    handler = partial(RangeRequestHandler, directory=root)
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
