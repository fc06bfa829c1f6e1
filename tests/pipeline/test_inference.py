"""Chunked inference on a real Dask cluster equals whole-image prediction."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed import Client, LocalCluster

from cohcube.model.errors import InputDataError
from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.card import card_path_for, read_card
from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.worker_model import resolved_precision, warm_workers, worker_device


def _forget_models() -> None:
    from cohcube.pipeline import worker_model

    worker_model._CACHE.clear()


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="module")
def cube(small_sample: SampleCatalog):  # type: ignore[no-untyped-def]
    return build_cube(search_scenes(small_sample.items, SceneQuery()), chunk_px=160)


def _whole(model_path: Path, cube, pairs, k: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    model = load_model(model_path)
    ref = cube.isel(time=int(pairs.reference_index.iloc[k])).values
    sec = cube.isel(time=int(pairs.secondary_index.iloc[k])).values
    return model.predict(ref[:1], sec[:1])[0]


def test_chunked_equals_whole_image_on_a_process_cluster(
    client: Client,
    cube,
    tiny_artefact: Path,  # type: ignore[no-untyped-def]
) -> None:
    pairs = select_pairs(cube, (12,)).iloc[:3]
    dataset = predict_coherence(cube, pairs, tiny_artefact, chunk=160, pair_batch=2)
    y_chunks = dataset.coherence.data.chunks[1]
    assert len(y_chunks) >= 3
    assert len(set(y_chunks)) > 1  # an uneven last chunk
    assert len(dataset.coherence.data.chunks[2]) >= 3
    computed = dataset.compute()
    workers = client.run(os.getpid)
    assert len(workers) == 2
    for k in range(len(pairs)):
        whole = _whole(tiny_artefact, cube, pairs, k)
        assert np.nanmax(np.abs(computed.coherence.values[k] - whole)) <= 1e-3
    assert computed.coherence.dims == ("pair", "y", "x")
    assert list(computed.pair.values) == list(pairs.pair_id)
    assert computed.rio.crs.to_epsg() == 32633
    assert computed.attrs["model_sha256"] == load_model(tiny_artefact).sha256
    # The model is never shipped inside the graph: only its path and hash are.
    graph_bytes = sum(len(repr(v)) for v in dict(dataset.coherence.data.dask).values())
    assert graph_bytes < 2_000_000


def test_short_and_tiny_chunks_still_match(client: Client, cube, tiny_artefact: Path) -> None:  # type: ignore[no-untyped-def]
    pairs = select_pairs(cube, (24,)).iloc[:1]
    whole = _whole(tiny_artefact, cube, pairs, 0)
    # Last chunk (512 - 5 * 96 = 32 px) narrower than the 48 px halo; and chunks
    # (16 px) smaller than the halo: both handled.
    for chunk, halo in ((96, 48), (16, 32)):
        dataset = predict_coherence(cube, pairs, tiny_artefact, chunk=chunk, halo=halo)
        assert min(dataset.coherence.data.chunks[1]) >= halo
        assert np.nanmax(np.abs(dataset.coherence.values[0] - whole)) <= 1e-3


def test_a_speckle_channel_model_is_seam_free_at_the_halo_its_card_records(
    client: Client,
    cube,
    tiny_speckle_artefact: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Each block makes its speckle-correlation channels from its own pixels: the halo that
    export measured (tile by tile, channels per tile) covers their reach too."""
    card = read_card(card_path_for(tiny_speckle_artefact))
    assert card.input.speckle_window_px == 5
    assert card.input.channels == 2 + 9
    pairs = select_pairs(cube, (12,)).iloc[:2]
    dataset = predict_coherence(cube, pairs, tiny_speckle_artefact, chunk=96, pair_batch=1)
    assert len(dataset.coherence.data.chunks[1]) >= 3
    computed = dataset.compute()
    for k in range(len(pairs)):
        whole = _whole(tiny_speckle_artefact, cube, pairs, k)
        assert np.nanmax(np.abs(computed.coherence.values[k] - whole)) <= 1e-3


def test_a_margin_is_read_for_context_and_never_output(
    client: Client,
    cube,
    tiny_artefact: Path,  # type: ignore[no-untyped-def]
) -> None:
    """A window inferred with its neighbours' ground as margin equals whole-image inference;
    the same window inferred from its own ground alone does not, near its edges."""
    pairs = select_pairs(cube, (12,)).iloc[:1]
    whole = _whole(tiny_artefact, cube, pairs, 0)
    halo = read_card(card_path_for(tiny_artefact)).tiling.recommended_halo_px
    margin = max(halo, 16)
    inner = slice(128, 384)
    window = slice(inner.start - margin, inner.stop + margin)
    seamless = predict_coherence(
        cube.isel(y=window, x=window), pairs, tiny_artefact, chunk=128, margin_px=margin
    )
    assert seamless.sizes == {"pair": 1, "y": 256, "x": 256}
    assert seamless.coherence.data.chunks[1:] == ((128, 128), (128, 128))
    np.testing.assert_array_equal(seamless["x"].values, cube["x"].values[inner])
    assert np.nanmax(np.abs(seamless.coherence.values[0] - whole[inner, inner])) <= 1e-3
    alone = predict_coherence(cube.isel(y=inner, x=inner), pairs, tiny_artefact, chunk=128)
    assert np.nanmax(np.abs(alone.coherence.values[0] - whole[inner, inner])) > 1e-2
    with pytest.raises(InputDataError, match="margin_px 8 must be a multiple"):
        predict_coherence(cube, pairs, tiny_artefact, margin_px=8)


def test_device_selection() -> None:
    assert worker_device(cuda_available=False) == "cpu"
    assert worker_device(cuda_available=True, visible_devices="3") == "cuda:0"
    assert worker_device(cuda_available=True, visible_devices="") == "cpu"


def test_missing_polarisation_is_refused(cube, tiny_artefact: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json
    import shutil

    card = json.loads(tiny_artefact.with_suffix(".json").read_text())
    card["input"]["polarizations"] = ["HH"]
    card["input"]["channel_order"] = ["HH_t1", "HH_t2"]
    shutil.copy(tiny_artefact, tmp_path / "tiny.pt")
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(InputDataError, match=r"needs polarisation\(s\) \['HH'\]"):
        predict_coherence(cube, select_pairs(cube), tmp_path / "tiny.json")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inference_matches_cpu(cube, tiny_artefact: Path) -> None:  # type: ignore[no-untyped-def]
    pairs = select_pairs(cube, (12,)).iloc[:1]
    ref = cube.isel(time=int(pairs.reference_index.iloc[0])).values[:1]
    sec = cube.isel(time=int(pairs.secondary_index.iloc[0])).values[:1]
    cpu = load_model(tiny_artefact, device="cpu").predict(ref, sec)[0]
    gpu = load_model(tiny_artefact, device="cuda").predict(ref, sec)[0]
    assert np.nanmax(np.abs(cpu - gpu)) <= 1e-3


def test_sigma_follows_each_pairs_baseline_calibration(
    cube, tiny_artefact: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import json
    import shutil

    card = json.loads(tiny_artefact.with_suffix(".json").read_text())
    card["calibration"]["sigma_factor_by_baseline_days"] = {"12": 1.0, "24": 2.0}
    shutil.copy(tiny_artefact, tmp_path / "tiny.pt")
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    pairs = select_pairs(cube, (12, 24))
    pairs = pairs.groupby("temporal_baseline_days").head(1)
    assert sorted(pairs.temporal_baseline_days) == [12, 24]
    plain = predict_coherence(cube, pairs, tiny_artefact, chunk=256).compute()
    calibrated = predict_coherence(cube, pairs, tmp_path / "tiny.json", chunk=256).compute()
    np.testing.assert_array_equal(plain.coherence.values, calibrated.coherence.values)
    for k, days in enumerate(pairs.temporal_baseline_days):
        expected = plain.coherence_sigma.values[k] * (2.0 if days == 24 else 1.0)
        np.testing.assert_allclose(calibrated.coherence_sigma.values[k], expected, rtol=1e-6)


def test_imported_model_is_seam_free_reads_vv_and_claims_no_sigma(
    client: Client,
    cube,
    imported_artefact: Path,  # type: ignore[no-untyped-def]
) -> None:
    pairs = select_pairs(cube, (12,)).iloc[:1]
    lazy = predict_coherence(cube, pairs, imported_artefact, chunk=160)
    assert len(lazy.coherence.data.chunks[1]) >= 3  # chunked: seams would show
    dataset = lazy.compute()
    model = load_model(imported_artefact)
    ref = cube.isel(time=int(pairs.reference_index.iloc[0])).sel(band="VV").values
    sec = cube.isel(time=int(pairs.secondary_index.iloc[0])).sel(band="VV").values
    whole = model.predict(ref, sec)[0]
    assert np.nanmax(np.abs(dataset.coherence.values[0] - whole)) <= 1e-3
    assert dataset.attrs["polarizations"] == ["VV"]
    assert np.isnan(dataset.coherence_sigma.values).all()
    assert dataset.attrs["coherence_sigma"].startswith("not available")


def test_workers_load_the_model_at_start_and_report_their_precision(
    client: Client,
    cube,
    tiny_artefact: Path,  # type: ignore[no-untyped-def]
) -> None:
    card = read_card(tiny_artefact)

    def loaded() -> list[str]:
        from cohcube.pipeline import worker_model

        return sorted(f"{sha[:12]}:{precision}" for sha, precision in worker_model._CACHE)

    chosen = warm_workers(client, card_path_for(tiny_artefact), card.artefact.sha256, "auto")
    assert chosen == resolved_precision("auto", tiny_artefact)  # workers run on this machine
    for held in client.run(loaded).values():
        assert f"{card.artefact.sha256[:12]}:{chosen}" in held
    # Ctrl-C reaches the workers too; they leave stopping to the driver (no restart noise).
    ignoring = client.run(lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
    assert list(ignoring.values()) == [True, True]
    pairs = select_pairs(cube, (12,)).iloc[:1]
    dataset = predict_coherence(cube, pairs, tiny_artefact, chunk=160, precision="auto")
    assert dataset.attrs["inference_precision"] == chosen


def test_a_worker_that_cannot_read_the_model_fails_in_one_line(
    client: Client, tiny_artefact: Path, tmp_path: Path
) -> None:
    card_path = card_path_for(tiny_artefact)
    copy = tmp_path / card_path.name
    shutil.copy(card_path, copy)  # the card, without its TorchScript file
    sha256 = read_card(copy).artefact.sha256
    # A cached, verified model of the same sha256 is served without reading the path again:
    # start from workers that hold none (earlier tests warmed them at whatever `auto` picks).
    client.run(_forget_models)
    with pytest.raises(InputDataError) as raised:
        warm_workers(client, copy, sha256, "fp32")
    message = str(raised.value)
    assert "\n" not in message
    assert str(copy) in message
    assert "does not exist" in message
    assert "readable at that path or URL by every worker" in message
