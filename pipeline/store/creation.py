"""A cube's creation, recognisable when a kill cuts it off.

The empty cube is written with ``cohcube:creating`` instead of its format marker;
the marker replaces it once every coordinate array is written. A group that still
says ``creating`` holds no committed pair (nothing is committed before creation
ends), so the next writer may delete it and start again.
"""

from __future__ import annotations

from typing import Any

import zarr

from .schema import FORMAT

CREATING = "cohcube:creating"
FORMAT_KEY = "cohcube:format"


def being_created(attrs: dict[str, Any]) -> dict[str, Any]:
    """The template's attributes while it is written: the format marker held back."""
    return {CREATING: True} | {k: v for k, v in attrs.items() if k != FORMAT_KEY}


def mark_created(group: zarr.Group) -> None:
    """Make the written template a coherence cube."""
    group.attrs[FORMAT_KEY] = FORMAT
    del group.attrs[CREATING]


def creation_cut_off(url: str) -> bool:
    """Whether ``url`` holds a cube whose creation did not finish."""
    try:
        group = zarr.open_group(url, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        return False
    return bool(group.attrs.get(CREATING)) and FORMAT_KEY not in group.attrs


def remove_cube(url: str) -> None:
    """Delete the cube at ``url`` (only ever one that holds no committed pair)."""
    import fsspec

    filesystem, path = fsspec.core.url_to_fs(url)
    filesystem.rm(path, recursive=True)
