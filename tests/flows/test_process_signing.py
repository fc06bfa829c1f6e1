"""`cohcube process` against a Planetary Computer-shaped catalog: a real STAC API whose
assets live in blob storage that refuses unsigned reads, signed by the real
planetary-computer package through a loopback SAS token API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support.process_jobs import job_settings, pairs_in_store, write_config
from support.processes import free_port, start_server, stop_server
from support.served import stac_api

from cohcube.flows.job_config import asset_signer
from cohcube.model.errors import ConfigError
from cohcube.pipeline.sample import SampleCatalog, rebase_asset_hrefs
from cohcube.pipeline.store.tile_set import open_tile

Run = Callable[..., subprocess.CompletedProcess[str]]
SUPPORT = Path(__file__).resolve().parents[1] / "support"
SECRET = "c29tZS1zYXMtc2lnbmF0dXJlLW5vdC1mb3ItbG9ncw"  # the SAS signature the storage wants
BLOB_HOST = "cohcubetest.blob.core.windows.net"


@dataclass(frozen=True)
class PlanetaryComputerShaped:
    api_url: str
    token_api: str
    env: dict[str, str]


@pytest.fixture
def planetary_computer_shaped(
    small_sample: SampleCatalog, three_pass_job: tuple[Path, Path], tmp_path: Path
) -> Iterator[PlanetaryComputerShaped]:
    certs = tmp_path / "tls"
    certs.mkdir()
    cert, key = certs / "blob.pem", certs / "blob.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={BLOB_HOST}",
            "-addext",
            "subjectAltName=DNS:*.blob.core.windows.net",
        ],
        check=True,
        capture_output=True,
    )
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    shutil.copy(small_sample.collection, catalog / "collection.json")
    rebase_asset_hrefs(
        three_pass_job[0],
        str(small_sample.root.resolve()),
        f"https://{BLOB_HOST}/sentinel1-grd-rtc",
        catalog / "items.json",
    )
    blob, sas, proxy = free_port(), free_port(), free_port()
    storage = start_server(
        [
            sys.executable,
            str(SUPPORT / "blob_storage.py"),
            str(small_sample.root),
            str(cert),
            str(key),
            str(blob),
            str(sas),
            str(proxy),
            SECRET,
        ],
        f"http://127.0.0.1:{sas}/__tokens",
    )
    try:
        with stac_api(catalog / "collection.json", catalog / "items.json") as api:
            yield PlanetaryComputerShaped(
                api_url=api,
                token_api=f"http://127.0.0.1:{sas}",
                env={
                    "PC_SDK_SAS_URL": f"http://127.0.0.1:{sas}/api/sas/v1/token",
                    "https_proxy": f"http://127.0.0.1:{proxy}",
                    "no_proxy": "127.0.0.1,localhost",
                    "GDAL_CURL_CA_BUNDLE": str(cert),  # rasterio wheels set their own otherwise
                },
            )
    finally:
        stop_server(storage)


def _counts(token_api: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{token_api}/__tokens", timeout=5) as response:
        counts: dict[str, int] = json.load(response)
    return counts


def test_a_signed_catalog_job_completes_and_never_records_the_signature(
    run_cohcube: Run,
    planetary_computer_shaped: PlanetaryComputerShaped,
    small_sample: SampleCatalog,
    tiny_artefact: Path,
    three_pass_job: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    shaped = planetary_computer_shaped
    store = tmp_path / "out" / "cube.zarr"
    settings = job_settings(small_sample, shaped.api_url, store, tiny_artefact)

    unsigned = run_cohcube(
        "process",
        str(write_config(tmp_path / "unsigned.yaml", **settings)),
        env=shaped.env,
        check=False,
    )
    assert unsigned.returncode == 2, unsigned.stderr
    assert "409" in unsigned.stderr.strip().splitlines()[-1]
    assert _counts(shaped.token_api)["unsigned"] > 0
    assert not store.exists()

    settings["sign_assets"] = "planetary-computer"
    config = write_config(tmp_path / "signed.yaml", **settings)
    signed = run_cohcube("process", str(config), "-v", "--no-progress", env=shaped.env)

    # The same scenes read from local files give the same cube.
    local_store = three_pass_job[1]
    held = pairs_in_store(store)
    assert held
    assert held == pairs_in_store(local_store), signed.stderr
    for tile in held:
        np.testing.assert_array_equal(
            open_tile(store, tile)["coherence"].values,
            open_tile(local_store, tile)["coherence"].values,
        )
    assert _counts(shaped.token_api)["issued"] >= 1
    assert SECRET not in signed.stdout + signed.stderr + unsigned.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any(p.name.endswith(".json") for p in written)  # the STAC catalog of the cubes
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_signing_without_its_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "planetary_computer", None)  # import fails as if absent
    with pytest.raises(ConfigError, match=r"pip install cohcube\[planetary-computer\]"):
        asset_signer("planetary-computer")
