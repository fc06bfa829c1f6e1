"""STAC metadata of coherence cubes: a static catalog that pystac reads and a search finds."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import numpy as np
import pystac
import pytest
from pystac.extensions.datacube import DatacubeExtension
from pystac.extensions.projection import ProjectionExtension
from support.store_job import LAYOUT, job_dataset

from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store import open_coherence_cube, write_coherence
from cohcube.pipeline.store.cube_stac import catalog_location, write_cube_catalog


@pytest.fixture(scope="module")
def cubes(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stac")
    made = {}
    with dask.config.set(scheduler="single-threaded"):
        for name, pairs in (("a", 3), ("b", 5)):
            made[name] = folder / "tiles.zarr" / name
            write_coherence(
                job_dataset(small_sample.items, tiny_artefact, n_pairs=pairs), made[name], LAYOUT
            )
    return made


def test_the_catalog_describes_each_cube(
    cubes: dict[str, Path], small_sample: SampleCatalog
) -> None:
    sample_bbox = json.loads(small_sample.collection.read_text())["extent"]["spatial"]["bbox"][0]
    store = str(cubes["a"].parent)
    href = write_cube_catalog(
        store,
        {name: (open_coherence_cube(path), str(path)) for name, path in cubes.items()},
        "test cubes",
    )
    assert href == catalog_location(store)
    collection = pystac.read_file(href)
    assert isinstance(collection, pystac.Collection)
    items = {item.id: item for item in collection.get_items()}
    assert sorted(items) == ["a", "b"]
    for name, path in cubes.items():
        cube = open_coherence_cube(path)
        item = items[name]
        assert item.properties["cohcube:pairs"] == cube.sizes["pair"]
        assert item.common_metadata.start_datetime is not None
        assert np.datetime64(item.common_metadata.start_datetime.replace(tzinfo=None), "ns") == (
            cube["reference_time"].values.min()
        )
        datacube = DatacubeExtension.ext(item)
        assert set(datacube.dimensions) == {"pair", "y", "x"}
        assert datacube.dimensions["pair"].to_dict()["values"] == list(cube["pair"].values)
        assert datacube.dimensions["x"].to_dict()["step"] == 10.0
        assert datacube.variables is not None
        assert datacube.variables["coherence"].dimensions == ["pair", "y", "x"]
        assert datacube.variables["temporal_baseline"].unit == "d"
        projection = ProjectionExtension.ext(item)
        assert projection.code == "EPSG:32633"
        assert projection.shape == [cube.sizes["y"], cube.sizes["x"]]
        # The footprint (the sample's north-west corner) lies inside the sample's area.
        west, south, east, north = item.bbox or []
        assert sample_bbox[0] - 1e-4 <= west < east < sample_bbox[2]
        assert sample_bbox[1] < south < north <= sample_bbox[3] + 1e-4
        # The asset opens as the cube it describes.
        reopened = open_coherence_cube(item.assets["zarr"].href)
        assert list(reopened["pair"].values) == list(cube["pair"].values)
    # A STAC search over the catalog finds the cubes by place and time.
    found = search_scenes(
        href,
        SceneQuery(collection=collection.id, bbox=items["a"].bbox, polarizations=()),
    )
    assert sorted(i.id for i in found) == ["a", "b"]
