"""STAC metadata of coherence cubes, so catalogs and downstream tools can find them.

``write_cube_catalog`` describes one or more coherence cubes (the tiles of a
tile set, or a single cube) as a self-contained static STAC catalog beside
the store (``<store>.stac/collection.json``, one Item per cube): footprint
and time span, the Zarr group as the ``zarr`` asset, the grid (projection
extension) and the cube's dimensions and variables (datacube extension).
It is rewritten from the store's coordinates after every run, so it always
describes the committed pairs. Remote stores are written through fsspec.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pystac
import xarray as xr
from pystac.extensions.datacube import (
    AdditionalDimension,
    DatacubeExtension,
    Dimension,
    HorizontalSpatialDimension,
    Variable,
)
from pystac.extensions.projection import ProjectionExtension
from pystac.stac_io import DefaultStacIO

from cohcube.pipeline.grid import footprint

from .schema import DATA_VARIABLES, PAIR_COORDINATES

log = logging.getLogger(__name__)

ZARR_MEDIA_TYPE = "application/vnd+zarr"


class FsspecStacIO(DefaultStacIO):
    """pystac I/O through fsspec, so catalogs can live beside stores on object storage."""

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        with fsspec.open(str(source), "r") as handle:
            return str(handle.read())

    def write_text(self, dest: Any, txt: str, *args: Any, **kwargs: Any) -> None:
        with fsspec.open(str(dest), "w", auto_mkdir=True) as handle:
            handle.write(txt)


def catalog_location(store: str) -> str:
    """Where the STAC catalog of ``store`` goes: ``<store>.stac/collection.json``."""
    return f"{store.rstrip('/')}.stac/collection.json"


def _iso(value: np.datetime64) -> dt.datetime:
    return pd.Timestamp(value).tz_localize("UTC").to_pydatetime()


def _dimensions(cube: xr.Dataset) -> dict[str, Dimension]:
    """The datacube extension's dimensions: pairs, then the grid's y and x."""
    crs = cube.rio.crs
    transform = cube.rio.transform()
    left, bottom, right, top = cube.rio.bounds()
    reference = crs.to_epsg() or crs.to_wkt()

    def spatial(axis: str, extent: list[float], step: float) -> HorizontalSpatialDimension:
        return HorizontalSpatialDimension(
            {
                "type": "spatial",
                "axis": axis,
                "extent": extent,
                "step": step,
                "reference_system": reference,
            }
        )

    return {
        "pair": AdditionalDimension(
            {
                "type": "pair",
                "description": PAIR_COORDINATES["pair"].description,
                "values": [str(p) for p in cube["pair"].values],
            }
        ),
        "y": spatial("y", [bottom, top], transform.e),
        "x": spatial("x", [left, right], transform.a),
    }


def _variables(cube: xr.Dataset) -> dict[str, Variable]:
    """The datacube extension's variables: the data variables and the pair coordinates."""
    variables = {}
    for name, spec in DATA_VARIABLES.items():
        props: dict[str, Any] = {
            "dimensions": ["pair", "y", "x"],
            "type": "data",
            "description": spec.description,
        }
        if spec.stac_unit:
            props["unit"] = spec.stac_unit
        if spec.valid_range:
            props["extent"] = [int(v) for v in spec.valid_range]
        variables[name] = Variable(props)
    for name, spec in PAIR_COORDINATES.items():
        if name == "pair" or name not in cube.coords:
            continue
        props = {"dimensions": ["pair"], "type": "auxiliary", "description": spec.description}
        if spec.stac_unit:
            props["unit"] = spec.stac_unit
        variables[name] = Variable(props)
    return variables


def cube_item(cube: xr.Dataset, item_id: str, href: str) -> pystac.Item:
    """A STAC Item for one coherence cube (committed pairs only).

    Args:
        cube: the cube (``open_coherence_cube``), with a CRS (rioxarray).
        item_id: the Item id (the tile id for tiles).
        href: where the cube's Zarr group lives (path or URL), the ``zarr`` asset.
    """
    crs = cube.rio.crs
    if crs is None:
        raise ValueError(f"cube {href} has no CRS; cannot describe its footprint")
    shape = (cube.sizes["y"], cube.sizes["x"])
    transform = cube.rio.transform()
    geometry, bbox = footprint(crs, transform, shape, decimals=7)
    pairs = cube.sizes["pair"]
    start = _iso(cube["reference_time"].values.min()) if pairs else None
    end = _iso(cube["secondary_time"].values.max()) if pairs else None
    baselines = sorted({float(v) for v in cube["temporal_baseline"].values}) if pairs else []
    item = pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=bbox,
        datetime=None if pairs else dt.datetime.now(dt.UTC),
        start_datetime=start,
        end_datetime=end,
        properties={
            "title": f"InSAR coherence cube {item_id}",
            "cohcube:pairs": int(pairs),
            "cohcube:baselines_days": baselines,
            "cohcube:model": cube.attrs.get("model_name"),
            "cohcube:model_sha256": cube.attrs.get("model_sha256"),
        },
    )
    epsg = crs.to_epsg()
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        code=f"EPSG:{epsg}" if epsg else None,
        wkt2=None if epsg else crs.to_wkt(),
        shape=list(shape),
        transform=list(transform)[:6],
        bbox=list(cube.rio.bounds()),
    )
    DatacubeExtension.ext(item, add_if_missing=True).apply(_dimensions(cube), _variables(cube))
    item.add_asset(
        "zarr",
        pystac.Asset(
            href=href if "://" in href else str(Path(href).resolve()),
            media_type=ZARR_MEDIA_TYPE,
            roles=["data"],
            title="coherence cube (Zarr group; open with xarray.open_zarr)",
        ),
    )
    return item


def write_cube_catalog(
    store: str, cubes: dict[str, tuple[xr.Dataset, str]], description: str
) -> str:
    """Write the STAC Collection + Items of ``cubes`` beside ``store``; return its href.

    Args:
        store: the output store (path or URL); the catalog goes to ``catalog_location(store)``.
        cubes: Item id -> (cube, href of its Zarr group).
        description: the Collection's description.
    """
    items = [cube_item(cube, item_id, href) for item_id, (cube, href) in sorted(cubes.items())]
    if not items:
        raise ValueError(f"no cube in {store} to describe")
    boxes = np.array([i.bbox for i in items if i.bbox])
    starts = [i.common_metadata.start_datetime for i in items if i.common_metadata.start_datetime]
    ends = [i.common_metadata.end_datetime for i in items if i.common_metadata.end_datetime]
    name = store.rstrip("/").rsplit("/", 1)[-1]
    collection = pystac.Collection(
        id=f"cohcube-{name}".replace(".", "-"),
        title=f"cohcube coherence cubes {name}",
        description=description,
        extent=pystac.Extent(
            pystac.SpatialExtent(
                [[*map(float, boxes[:, :2].min(axis=0)), *map(float, boxes[:, 2:].max(axis=0))]]
            ),
            pystac.TemporalExtent([[min(starts) if starts else None, max(ends) if ends else None]]),
        ),
        license="other",
    )
    collection.add_items(items)
    href = catalog_location(store)
    href = href if "://" in href else str(Path(href).resolve())
    # Given the collection file, pystac lays items out beside it (``<id>/<id>.json``).
    collection.normalize_hrefs(href)
    collection.save(pystac.CatalogType.SELF_CONTAINED, stac_io=FsspecStacIO())
    log.info("STAC catalog of %d cube(s): %s", len(items), href)
    return href
