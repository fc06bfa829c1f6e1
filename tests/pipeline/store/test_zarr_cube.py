"""The Zarr cube: resumable, idempotent, appendable, whole pairs only, readable by GDAL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
import zarr
from dask.callbacks import Callback
from distributed import Client, LocalCluster
from distributed.client import ClosedClientError
from support.store_job import LAYOUT, job_dataset
from zarr.errors import ZarrUserWarning

from cohcube.model.errors import StoreError
from cohcube.pipeline.inference import infer_block
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store import PAIR_COORDS, StoreLayout, open_coherence_cube, write_coherence
from cohcube.pipeline.store.zarr_cube import DONE_PREFIX

SUPPORT = Path(__file__).resolve().parents[2] / "support"


def _is_forward(key: object) -> bool:
    """A task of the network's map_overlap step (named after ``infer_block``; the per-baseline
    calibration fuses with it into one task per block, named after it too)."""
    name = key[0] if isinstance(key, tuple) else key
    return str(name).startswith(infer_block.__name__)


def _done_count(store: Path) -> int:
    # Polls while the driver creates the store: a member folder can exist a moment
    # before its metadata (zarr then warns that it is "not recognized"); not counted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZarrUserWarning)
        try:
            group = zarr.open_group(str(store), mode="r")
        except Exception:
            return 0
        return sum(
            int(np.asarray(a[:]).sum())
            for name, a in group.arrays()
            if name.startswith(DONE_PREFIX)
        )


@pytest.fixture(scope="module")
def clean(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path_factory: pytest.TempPathFactory
) -> xr.Dataset:
    """A reference cube written in one uninterrupted run."""
    store = tmp_path_factory.mktemp("clean") / "cube.zarr"
    with dask.config.set(scheduler="single-threaded"):
        report = write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
    assert report.regions_computed == report.regions_total > 0
    return open_coherence_cube(store).load()


def _assert_same(store: Path, clean: xr.Dataset) -> None:
    cube = open_coherence_cube(store).load()
    assert list(cube.pair.values) == list(clean.pair.values)
    np.testing.assert_allclose(cube.coherence.values, clean.coherence.values, atol=1e-6)
    np.testing.assert_allclose(cube.coherence_sigma.values, clean.coherence_sigma.values, atol=1e-6)
    xr.testing.assert_equal(cube.reference_time, clean.reference_time)


def _plain_open(store: Path) -> xr.Dataset:
    """``xarray.open_zarr`` as a user calls it; any warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_zarr(store)


def test_plain_xarray_opens_the_cube_quietly(
    small_sample: SampleCatalog, tiny_artefact: Path, clean: xr.Dataset, tmp_path: Path
) -> None:
    store = tmp_path / "cube.zarr"
    with dask.config.set(scheduler="single-threaded"):
        write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
    opened = _plain_open(store)
    assert list(opened.pair.values) == list(clean.pair.values)
    np.testing.assert_allclose(opened.coherence.values, clean.coherence.values, atol=1e-6)
    assert not [v for v in opened.variables if str(v).startswith(DONE_PREFIX)]


def test_schema(clean: xr.Dataset) -> None:
    assert clean.coherence.dims == ("pair", "y", "x")
    assert clean.coherence.dtype == np.float32
    assert clean.sizes["pair"] == 12
    for name in PAIR_COORDS:
        assert clean[name].dims == ("pair",)
    assert float(clean.temporal_baseline[0]) == 12.0
    assert clean.temporal_baseline.attrs["units"] == "days"
    assert clean.coherence.attrs["units"] == "1"
    assert clean.coherence.attrs["valid_range"] == [0.0, 1.0]
    assert clean.attrs["proj:code"] == "EPSG:32633"
    assert clean.attrs["spatial:transform"] == [10.0, 0.0, 600000.0, 0.0, -10.0, 5200000.0]
    assert clean.attrs["model_sha256"]
    assert clean.attrs["software"].startswith("cohcube ")
    assert clean.rio.crs.to_epsg() == 32633
    assert tuple(clean.rio.transform())[:6] == (10.0, 0.0, 600000.0, 0.0, -10.0, 5200000.0)
    finite = clean.coherence.values[np.isfinite(clean.coherence.values)]
    assert finite.size > 0
    assert finite.min() >= 0
    assert finite.max() <= 1


def test_interrupted_driver_resumes_without_recomputing(
    small_sample: SampleCatalog, tiny_artefact: Path, clean: xr.Dataset, tmp_path: Path
) -> None:
    store = tmp_path / "cube.zarr"
    driver = subprocess.Popen(
        [
            sys.executable,
            str(SUPPORT / "store_job.py"),
            str(small_sample.items),
            str(tiny_artefact),
            str(store),
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _done_count(store) < 5 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = _done_count(store)
    assert finished >= 5
    # Nothing of the interrupted batch is visible yet, also to a plain xarray reader.
    assert open_coherence_cube(store).sizes["pair"] == 0
    assert _plain_open(store).sizes["pair"] == 0
    forward_passes = []  # the network's blocks this run computes, seen by the scheduler
    counter = Callback(
        pretask=lambda key, *_: forward_passes.append(key) if _is_forward(key) else None
    )
    with dask.config.set(scheduler="single-threaded"), counter:
        report = write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
    assert report.regions_computed == report.regions_total - finished
    assert len(forward_passes) == report.regions_computed
    _assert_same(store, clean)
    with dask.config.set(scheduler="single-threaded"):
        third = write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
    assert third.new_pairs == []
    assert third.regions_computed == 0
    assert len(third.skipped_pairs) == 12
    _assert_same(store, clean)


def test_a_cube_whose_creation_was_cut_off_is_made_again(
    small_sample: SampleCatalog,
    tiny_artefact: Path,
    clean: xr.Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cohcube.pipeline.store import zarr_cube

    store = tmp_path / "cube.zarr"

    def killed(url: str) -> zarr.Group:
        raise SystemExit("killed after the template, before the format marker")

    with monkeypatch.context() as patched:
        patched.setattr(zarr_cube, "open_for_writing", killed)
        with pytest.raises(SystemExit), dask.config.set(scheduler="single-threaded"):
            write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
    # What a kill part-way through the coordinates leaves: an x axis not yet written.
    zarr.open_array(str(store / "x"), mode="r+")[:] = 0
    assert not zarr_cube.is_coherence_cube(str(store))

    with dask.config.set(scheduler="single-threaded"):
        report = write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
    assert report.regions_computed == report.regions_total > 0
    _assert_same(store, clean)


def test_new_acquisitions_append_pairs(
    small_sample: SampleCatalog, tiny_artefact: Path, clean: xr.Dataset, tmp_path: Path
) -> None:
    store = tmp_path / "cube.zarr"
    with dask.config.set(scheduler="single-threaded"):
        first = write_coherence(job_dataset(small_sample.items, tiny_artefact, 7), store, LAYOUT)
        assert len(first.new_pairs) == 7
        second = write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
    assert len(second.new_pairs) == 5
    assert len(second.skipped_pairs) == 7
    _assert_same(store, clean)


# ~20 s, slow for CI time: the driver's own interruption (test_interrupted_driver_resumes...)
# and the soak's faults cover resuming; this one adds Dask's rescheduling of a killed worker.
@pytest.mark.slow
def test_killed_worker_does_not_change_the_result(
    small_sample: SampleCatalog, tiny_artefact: Path, clean: xr.Dataset, tmp_path: Path
) -> None:
    store = tmp_path / "cube.zarr"
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    write_coherence(job_dataset(small_sample.items, tiny_artefact), store, LAYOUT)
                except BaseException as exc:
                    errors.append(exc)

            job = threading.Thread(target=run)
            job.start()
            deadline = time.monotonic() + 120
            while _done_count(store) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(pids[0], signal.SIGKILL)
            job.join(timeout=300)
            assert not job.is_alive()
            assert not errors, errors
    finally:
        cluster.close()
    _assert_same(store, clean)


def test_a_closed_client_stops_the_write_instead_of_computing_in_the_driver(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    """A tile still running when Ctrl-C closed the job's cluster: its next batch must not
    fall back to dask's local scheduler (the driver would load the model and run it)."""
    cluster = LocalCluster(n_workers=1, processes=False, dashboard_address=":0")
    client = Client(cluster)
    client.close()
    cluster.close()
    forward_here: list[object] = []

    class Forwards(Callback):
        def _pretask(self, key: object, dask: object, state: object) -> None:
            if _is_forward(key):
                forward_here.append(key)

    with Forwards(), pytest.raises(ClosedClientError):
        write_coherence(
            job_dataset(small_sample.items, tiny_artefact, n_pairs=2),
            tmp_path / "cube.zarr",
            LAYOUT,
            client=client,
        )
    assert not forward_here


def test_gdal_reads_the_georeferencing(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    store = tmp_path / "cube-v2.zarr"
    layout = StoreLayout(shard_px=128, chunk_px=64, zarr_format=2)
    with dask.config.set(scheduler="single-threaded"):
        write_coherence(job_dataset(small_sample.items, tiny_artefact, 2), store, layout)
    with rasterio.open(f'ZARR:"{store}":/coherence') as src:
        assert src.crs.to_epsg() == 32633
        assert tuple(src.transform)[:6] == (10.0, 0.0, 600000.0, 0.0, -10.0, 5200000.0)
        assert src.count == 2  # one band per pair
        band = src.read(2)
    expected = open_coherence_cube(store).coherence.isel(pair=1).values
    np.testing.assert_allclose(band, expected, equal_nan=True)


def test_gdal_reads_v3_when_it_can(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    version = tuple(int(v) for v in rasterio.__gdal_version__.split(".")[:2])
    if version < (3, 11):
        pytest.skip(
            f"GDAL {rasterio.__gdal_version__} predates Zarr v3 'bytes'/'zstd' "
            "support (GDAL 3.11); the v2 layout is read above"
        )
    store = tmp_path / "cube.zarr"
    with dask.config.set(scheduler="single-threaded"):
        write_coherence(job_dataset(small_sample.items, tiny_artefact, 1), store, LAYOUT)
    with rasterio.open(f'ZARR:"{store}":/coherence') as src:
        assert src.crs.to_epsg() == 32633


def test_refusals(small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path) -> None:
    other = tmp_path / "not-a-cube"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    dataset = job_dataset(small_sample.items, tiny_artefact, 1)
    with pytest.raises(StoreError, match="not a cohcube coherence cube"):
        write_coherence(dataset, other, LAYOUT)
    assert (other / "notes.txt").read_text() == "keep me"
    store = tmp_path / "cube.zarr"
    lock = tmp_path / "cube.zarr.lock"
    lock.write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    with pytest.raises(StoreError, match="being written by another job"):
        write_coherence(dataset, store, LAYOUT)
    lock.write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename}))
    with dask.config.set(scheduler="single-threaded"):
        write_coherence(dataset, store, LAYOUT)  # a dead job's lock is taken over
    assert not lock.exists()
    changed = dataset.assign_attrs(model_sha256="0" * 64, model_name="other")
    with pytest.raises(StoreError, match="made with model"):
        write_coherence(changed, store, LAYOUT)
