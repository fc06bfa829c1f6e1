"""Planetary Computer's storage on loopback: blob containers that refuse unsigned reads, the
SAS token API that signs them, and the HTTPS proxy that routes ``*.blob.core.windows.net``.

Run: ``python blob_storage.py ROOT CERT KEY BLOB_PORT SAS_PORT PROXY_PORT SECRET``.

- ``https://127.0.0.1:BLOB_PORT/<container>/<path>`` serves ``ROOT/<path>`` (Range requests
  honoured) only when the query carries ``sig=SECRET`` and an ``se=`` expiry still ahead;
  any other read gets 409 ``PublicAccessNotPermitted``, as Azure answers an unsigned one.
- ``http://127.0.0.1:SAS_PORT/api/sas/v1/token/<account>/<container>`` answers the JSON
  the real token API does (``msft:expiry``, ``token``); ``/__tokens`` counts the requests.
- ``PROXY_PORT`` tunnels ``CONNECT <account>.blob.core.windows.net:443`` to BLOB_PORT, so
  GDAL reads the catalog's real-looking URLs through ``https_proxy`` with the test CA.

Started and stopped (by PID) by the tests.
"""

from __future__ import annotations

import datetime as dt
import json
import select
import socket
import ssl
import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from asset_server import RangeRequestHandler

SECRET = ""
TOKENS = {"issued": 0}
REFUSED = {"unsigned": 0}
_LOCK = threading.Lock()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BlobHandler(RangeRequestHandler):
    """A container path ``/<container>/<blob>`` read with a valid SAS token, else 409."""

    def send_head(self):  # type: ignore[no-untyped-def]
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        expiry = query.get("se", [""])[0]
        try:
            valid = dt.datetime.fromisoformat(expiry.replace("Z", "+00:00")) > _now()
        except ValueError:
            valid = False
        if query.get("sig", [""])[0] != SECRET or not valid:
            with _LOCK:
                REFUSED["unsigned"] += 1
            body = b"<Error><Code>PublicAccessNotPermitted</Code></Error>"
            self.send_response(HTTPStatus.CONFLICT)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        _container, _, blob = parts.path.lstrip("/").partition("/")
        self.path = f"/{blob}"
        return super().send_head()


class TokenHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/__tokens":
            body = json.dumps({**TOKENS, **REFUSED}).encode()
        elif self.path.startswith("/api/sas/v1/token/"):
            expiry = (_now() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            with _LOCK:
                TOKENS["issued"] += 1
            token = (
                f"st={_now():%Y-%m-%dT%H:%M:%SZ}&se={expiry}&sp=rl&sv=2024-05-04&sr=c&sig={SECRET}"
            )
            body = json.dumps({"msft:expiry": expiry, "token": token}).encode()
        else:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TunnelHandler(BaseHTTPRequestHandler):
    """An HTTPS proxy: every CONNECT to a blob storage host goes to the loopback blob server."""

    blob_port = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_CONNECT(self) -> None:
        host = self.path.rsplit(":", 1)[0]
        if not host.endswith(".blob.core.windows.net"):
            self.send_error(HTTPStatus.FORBIDDEN)
            return
        upstream = socket.create_connection(("127.0.0.1", self.blob_port))
        self.send_response(HTTPStatus.OK, "Connection Established")
        self.end_headers()
        sockets = [self.connection, upstream]
        try:
            while True:
                readable, _, broken = select.select(sockets, [], sockets, 30)
                if broken or not readable:
                    break
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True


def main() -> None:
    global SECRET
    root, cert, key = sys.argv[1:4]
    blob_port, sas_port, proxy_port = (int(p) for p in sys.argv[4:7])
    SECRET = sys.argv[7]
    blobs = ThreadingHTTPServer(("127.0.0.1", blob_port), partial(BlobHandler, directory=root))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    blobs.socket = context.wrap_socket(blobs.socket, server_side=True)
    TunnelHandler.blob_port = blob_port
    servers = [
        blobs,
        ThreadingHTTPServer(("127.0.0.1", proxy_port), TunnelHandler),
        ThreadingHTTPServer(("127.0.0.1", sas_port), TokenHandler),
    ]
    for server in servers[:-1]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[-1].serve_forever()


if __name__ == "__main__":
    main()
