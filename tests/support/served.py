"""The sample catalog's assets behind the (optionally faulty) loopback HTTP asset server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.processes import free_port, start_server, stop_server

from cohcube.pipeline.sample import SampleCatalog, rebase_asset_hrefs

SUPPORT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ServedCatalog:
    """The small sample published over HTTP: the STAC API URL and its items (assets on HTTP)."""

    api_url: str
    items_file: Path


@contextmanager
def served_assets(sample: SampleCatalog, folder: Path, *faults: str) -> Iterator[Path]:
    """Yield an ItemCollection whose assets are served over HTTP with ``faults``.

    ``faults`` are the asset server's options (``503=3``, ``missing=NAME``, ...).
    The server is stopped by its PID on exit.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    items = rebase_asset_hrefs(sample.items, str(sample.root.resolve()), url, folder / "items.json")
    server = start_server(
        [sys.executable, str(SUPPORT / "asset_server.py"), str(sample.root), str(port), *faults],
        f"{url}/sample.json",
    )
    try:
        yield items
    finally:
        stop_server(server)


@contextmanager
def proxied_api(api_url: str, *faults: str, token: str | None = None) -> Iterator[str]:
    """Yield the URL of a fault-injecting proxy in front of the STAC API at ``api_url``.

    ``faults`` are the proxy's options (``503=3``, ``reset=4``, ``always=503``);
    with ``token``, requests without ``Authorization: Bearer <token>`` get 401.
    The proxy is stopped by its PID on exit.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proxy = start_server(
        [sys.executable, str(SUPPORT / "stac_proxy.py"), api_url, str(port), *faults],
        f"{url}/__ready",
        env={"PROXY_REQUIRED_TOKEN": token} if token else None,
    )
    try:
        yield url
    finally:
        stop_server(proxy)


@contextmanager
def stac_api(collection: Path, items: Path) -> Iterator[str]:
    """Yield the URL of a real STAC API (``rustac serve``) holding ``items``; stopped by PID."""
    port = free_port()
    rustac = Path(sys.executable).with_name("rustac")
    url = f"http://127.0.0.1:{port}"
    api = start_server(
        [
            str(rustac if rustac.exists() else "rustac"),
            "serve",
            str(collection),
            str(items),
            "--addr",
            f"127.0.0.1:{port}",
        ],
        f"{url}/collections",
    )
    try:
        yield url
    finally:
        stop_server(api)
