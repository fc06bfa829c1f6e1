"""A reverse proxy in front of a STAC API that injects faults and may demand a bearer token.

Run: ``python stac_proxy.py UPSTREAM PORT [FAULT=N ...]``. Every N-th request
(counted over all requests, one fault per request, in the order given) gets
``503=N`` (Service Unavailable), ``429=N`` (Too Many Requests) or
``reset=N`` (connection closed without an answer). ``always=503`` answers
every request with 503. When the environment variable
``PROXY_REQUIRED_TOKEN`` is set, a request without
``Authorization: Bearer <that token>`` gets 401 (the token never appears on
the command line). Links in answers are rewritten to point at the proxy, so
paging goes through it too. ``/__faults`` answers the faults injected so far (JSON). Started
and stopped (by PID) by the tests.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
import threading
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS: dict[str, int] = {}
ALWAYS: list[int] = []
_COUNTER = itertools.count(1)
_LOCK = threading.Lock()
INJECTED: dict[str, int] = {}
HOP_HEADERS = {"connection", "transfer-encoding", "content-length", "content-encoding", "host"}


def _fault() -> str | None:
    with _LOCK:
        number = next(_COUNTER)
    for kind, every in FAULTS.items():
        if number % every == 0:
            with _LOCK:
                INJECTED[kind] = INJECTED.get(kind, 0) + 1
            return kind
    return None


class ProxyHandler(BaseHTTPRequestHandler):
    upstream = ""
    public = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        if self.path in ("/__ready", "/__faults"):  # for the tests: no fault, no auth
            report = json.dumps(INJECTED).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Length", str(len(report)))
            self.end_headers()
            self.wfile.write(report)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        required = os.environ.get("PROXY_REQUIRED_TOKEN")
        if required and self.headers.get("Authorization") != f"Bearer {required}":
            self.send_error(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")
            return
        if ALWAYS:
            self.send_error(ALWAYS[0])
            return
        fault = _fault()
        if fault == "reset":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if fault in ("503", "429"):
            self.send_response(int(fault))
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = urllib.request.Request(
            self.upstream + self.path,
            data=body if self.command == "POST" else None,
            method=self.command,
            headers={
                k: v
                for k, v in self.headers.items()
                if k.lower() not in HOP_HEADERS and k.lower() != "authorization"
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        payload = payload.replace(self.upstream.encode(), self.public.encode())
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in HOP_HEADERS:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main() -> None:
    upstream, port = sys.argv[1].rstrip("/"), int(sys.argv[2])
    for option in sys.argv[3:]:
        key, value = option.split("=", 1)
        if key == "always":
            ALWAYS.append(int(value))
        else:
            FAULTS[key] = int(value)
    ProxyHandler.upstream = upstream
    ProxyHandler.public = f"http://127.0.0.1:{port}"
    with ThreadingHTTPServer(("127.0.0.1", port), ProxyHandler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
