"""Asset hrefs a catalog may send the job to; a remote catalog cannot make it read local files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.processes import free_port, start_server, stop_server

from cohcube.pipeline.asset_policy import UnsafeAssetError, asset_allowed, redacted
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import SceneQuery, search_scenes

REMOTE = "https://planetarycomputer.microsoft.com/api/stac/v1"
LOOPBACK = "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("href", "catalog", "allowed"),
    [
        ("https://data.example/a.tif", REMOTE, True),
        ("s3://bucket/a.tif", REMOTE, True),
        ("gs://bucket/a.tif", REMOTE, True),
        ("az://container/a.tif", REMOTE, True),
        ("/etc/passwd", REMOTE, False),
        ("file:///etc/passwd", REMOTE, False),
        ("http://169.254.169.254/latest/meta-data", REMOTE, False),
        ("http://127.0.0.1:9000/a.tif", REMOTE, False),
        ("ftp://host/a.tif", REMOTE, False),
        ("/data/a.tif", "/data/catalog.json", True),
        ("file:///data/a.tif", "/data/catalog.json", True),
        ("http://127.0.0.1:9000/a.tif", LOOPBACK, True),
        ("http://10.0.0.5/a.tif", LOOPBACK, False),
        ("/data/a.tif", LOOPBACK, False),
    ],
)
def test_asset_allow_list(href: str, catalog: str, allowed: bool) -> None:
    assert asset_allowed(href, catalog) is allowed


def test_redaction_drops_tokens() -> None:
    signed = "https://user:pw@acct.blob.core.windows.net/c/a.tif?st=2026&sig=SECRET#x"
    assert redacted(signed) == "https://acct.blob.core.windows.net/c/a.tif"
    assert redacted("/data/a.tif") == "/data/a.tif"


def test_remote_catalog_cannot_point_at_local_files(
    small_sample: SampleCatalog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A STAC API (rustac) whose items reference local paths is refused, tokens unlogged."""
    features = json.loads(small_sample.items.read_text())
    features["features"][0]["assets"]["vv"]["href"] = "file:///etc/passwd?token=SECRET"
    items = tmp_path / "items.json"
    items.write_text(json.dumps(features))
    port = free_port()
    rustac = Path(sys.executable).with_name("rustac")
    server = start_server(
        [
            str(rustac if rustac.exists() else "rustac"),
            "serve",
            str(small_sample.collection),
            str(items),
            "--addr",
            f"127.0.0.1:{port}",
        ],
        f"http://127.0.0.1:{port}/collections",
    )
    try:
        with caplog.at_level("DEBUG"), pytest.raises(UnsafeAssetError) as raised:
            search_scenes(f"http://127.0.0.1:{port}", SceneQuery())
    finally:
        stop_server(server)
    message = str(raised.value)
    assert "file:///etc/passwd" in message
    assert "may not reference" in message
    assert "SECRET" not in message
    assert "SECRET" not in caplog.text
    # The same items from a local file are the user's own choice: allowed.
    assert search_scenes(small_sample.items, SceneQuery())
