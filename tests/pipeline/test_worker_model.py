"""The model on remote workers: fetched from a URL once, checked against its sha256, and
one clear line when a worker cannot have it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from support.processes import free_port, start_server, stop_server

from cohcube.model.errors import InputDataError
from cohcube.model.learning.card import Bf16Weights, card_path_for, read_card, write_card
from cohcube.pipeline.worker_model import (
    CPU_PAIR_BATCH,
    GPU_PAIR_BATCH,
    is_url,
    local_card,
    pair_batch_for,
    pair_batch_for_devices,
    warm_workers,
)

SUPPORT = Path(__file__).resolve().parents[1] / "support"


@pytest.fixture
def model_server(tiny_artefact: Path, tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback publishing the tiny model's card and file."""
    folder = tmp_path / "published"
    folder.mkdir()
    card = card_path_for(tiny_artefact)
    shutil.copy(card, folder / card.name)
    shutil.copy(tiny_artefact, folder / tiny_artefact.name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(
        [sys.executable, str(SUPPORT / "asset_server.py"), str(folder), str(port)],
        f"{url}/{card.name}",
    )
    try:
        yield f"{url}/{card.name}"
    finally:
        stop_server(server)


def _bytes_served(card_url: str) -> dict[str, int]:
    with urllib.request.urlopen(card_url.rsplit("/", 1)[0] + "/__bytes") as response:
        served: dict[str, int] = json.load(response)
    return served


def test_paths_and_urls_are_told_apart() -> None:
    assert is_url("https://models.example.org/cohcube.json")
    assert is_url("s3://bucket/models/cohcube.json")
    assert not is_url("/shared/models/cohcube.json")
    assert not is_url("C:/models/cohcube.json")
    assert not is_url("file:///shared/models/cohcube.json")


def test_a_url_is_fetched_once_and_checked(
    model_server: str, tiny_artefact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHCUBE_MODEL_CACHE", str(tmp_path / "cache"))
    sha256 = read_card(tiny_artefact).artefact.sha256
    before = _bytes_served(model_server).get("pt", 0)

    local = Path(local_card(model_server, sha256))

    assert local.parent == tmp_path / "cache" / sha256
    assert (local.parent / tiny_artefact.name).read_bytes() == tiny_artefact.read_bytes()
    assert read_card(local).artefact.sha256 == sha256
    served = _bytes_served(model_server).get("pt", 0) - before
    assert served == tiny_artefact.stat().st_size
    assert local_card(model_server, sha256) == str(local)  # cached: not fetched again
    assert _bytes_served(model_server).get("pt", 0) - before == served


def test_a_url_with_another_artefact_is_refused(
    model_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHCUBE_MODEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(InputDataError) as raised:
        local_card(model_server, "0" * 64)
    message = str(raised.value)
    assert "\n" not in message
    assert model_server in message
    assert "not the job's 000000000000" in message
    assert not (tmp_path / "cache" / ("0" * 64)).exists()  # nothing half-cached


def test_an_unreadable_url_names_it_in_one_line(
    model_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHCUBE_MODEL_CACHE", str(tmp_path / "cache"))
    missing = model_server.rsplit("/", 1)[0] + "/no-such-model.json"
    with pytest.raises(InputDataError) as raised:
        local_card(missing, "1" * 64)
    message = str(raised.value)
    assert "\n" not in message
    assert f"cannot read the model at {missing}" in message


def test_the_gpu_batch_only_where_every_worker_has_a_gpu() -> None:
    assert pair_batch_for_devices(["cuda:0", "cuda:0"]) == GPU_PAIR_BATCH > CPU_PAIR_BATCH
    assert pair_batch_for_devices(["cuda:0", "cpu"]) == CPU_PAIR_BATCH  # may land on the CPU
    assert pair_batch_for_devices(["cpu"]) == CPU_PAIR_BATCH
    assert pair_batch_for_devices([]) == CPU_PAIR_BATCH


def test_workers_load_the_model_from_a_url(
    model_server: str, tiny_artefact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Worker processes inherit the cache folder from this process's environment.
    monkeypatch.setenv("COHCUBE_MODEL_CACHE", str(tmp_path / "worker-cache"))
    sha256 = read_card(tiny_artefact).artefact.sha256
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        chosen = warm_workers(client, model_server, sha256, "fp32")
        batch = pair_batch_for(client)
        fetched = client.run(lambda: sorted(p.name for p in (tmp_path / "worker-cache").rglob("*")))
        missing = model_server.rsplit("/", 1)[0] + "/gone.json"
        with pytest.raises(InputDataError) as raised:
            warm_workers(client, missing, "2" * 64, "fp32")
    assert chosen == "fp32"
    assert batch == CPU_PAIR_BATCH
    for names in fetched.values():
        assert names == sorted([sha256, tiny_artefact.name, card_path_for(tiny_artefact).name])
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"a Dask worker cannot read the model at {missing}")


def test_the_job_driver_does_not_import_torch() -> None:
    """Only the workers run the network: the driver of `cohcube process` starts without
    torch (1.7 s of its start-up, measured) and never holds its memory."""
    probe = (
        "import sys, cohcube.flows.process, cohcube.pipeline.inference; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def _publish_with_bf16_weights(tiny_artefact: Path, folder: Path, corrupt: bool) -> str:
    """The tiny model published with a card naming a bf16 weights file; returns its URL."""
    folder.mkdir()
    weights = folder / "tiny.bf16.npz"
    weights.write_bytes(b"bf16 weights stand-in")
    entry = Bf16Weights(
        file=weights.name,
        sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
        bytes=weights.stat().st_size,
        fp32_layers=["encoder.0.conv1"],
        patches=1,
        steps=1,
        emulated_mean_abs_difference=(0.002, 0.001),
        wall_time_s=1.0,
    )
    if corrupt:
        weights.write_bytes(b"another file")
    card = card_path_for(tiny_artefact)
    write_card(read_card(card).with_bf16_weights(entry), folder / card.name)
    shutil.copy(tiny_artefact, folder / tiny_artefact.name)
    return card.name


@pytest.mark.parametrize("corrupt", [False, True])
def test_a_url_brings_the_bf16_weights_its_card_names(
    tiny_artefact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corrupt: bool
) -> None:
    monkeypatch.setenv("COHCUBE_MODEL_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "published"
    card_name = _publish_with_bf16_weights(tiny_artefact, folder, corrupt)
    sha256 = read_card(tiny_artefact).artefact.sha256
    port = free_port()
    url = f"http://127.0.0.1:{port}/{card_name}"
    server = start_server(
        [sys.executable, str(SUPPORT / "asset_server.py"), str(folder), str(port)], url
    )
    try:
        if corrupt:
            with pytest.raises(InputDataError, match=r"bf16 weights tiny\.bf16\.npz"):
                local_card(url, sha256)
            assert not (tmp_path / "cache" / sha256).exists()  # nothing half-cached
        else:
            local = Path(local_card(url, sha256))
            fetched = local.parent / "tiny.bf16.npz"
            assert fetched.read_bytes() == (folder / "tiny.bf16.npz").read_bytes()
    finally:
        stop_server(server)
