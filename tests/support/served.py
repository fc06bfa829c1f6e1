"""The sample catalog's assets behind the (optionally faulty) loopback HTTP asset server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.processes import free_port, start_server, stop_server

from cohcube.pipeline.sample_catalog import SampleCatalog, rebase_asset_hrefs

SUPPORT = Path(__file__).resolve().parent


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
