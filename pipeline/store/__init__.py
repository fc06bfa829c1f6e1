"""Where coherence lives: the cube schema, the Zarr commit protocol, the lock, tile sets, STAC.

- ``schema``: the one definition of a coherence cube (variables, pair
  coordinates, CF attributes, CRS encoding);
- ``zarr_cube``: ``write_coherence`` (region by region, resumable, pairs
  visible only once complete) and ``open_coherence_cube``;
- ``lock``: one writer per store;
- ``tile_set``: one cube per tile of a fixed grid, in one store;
- ``cube_stac``: the static STAC catalog that describes the cubes.
"""

from .schema import DATA_VARS, PAIR_COORDS, pair_coords
from .zarr_cube import (
    StoreLayout,
    WriteReport,
    committed_pairs,
    open_coherence_cube,
    write_coherence,
)

__all__ = [
    "DATA_VARS",
    "PAIR_COORDS",
    "StoreLayout",
    "WriteReport",
    "committed_pairs",
    "open_coherence_cube",
    "pair_coords",
    "write_coherence",
]
