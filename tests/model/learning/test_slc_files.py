"""Finding the SLC files a training config names: globs and ``{pol}`` templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohcube.model.errors import SlcPairError
from cohcube.model.learning.slc_files import expand_slc_paths


def test_pol_goes_back_only_where_the_pattern_has_it(tmp_path: Path) -> None:
    # A folder that spells a polarisation, and a date-like name that holds one too.
    stack = tmp_path / "VV_stack"
    stack.mkdir()
    for name in ("20240301_VV.tif", "20240301_VH.tif", "20240313_VV.tif", "20240313_VH.tif"):
        (stack / name).touch()
    (stack / "notes_VV.txt").touch()
    found = expand_slc_paths(str(stack / "2024????_{pol}.tif"), ("VV", "VH"))
    assert found == [str(stack / "20240301_{pol}.tif"), str(stack / "20240313_{pol}.tif")]
    # Two {pol}s, a character class and a wildcard in a folder name.
    nested = tmp_path / "VV" / "20240301"
    nested.mkdir(parents=True)
    (nested / "slc_VV.vrt").touch()
    pattern = str(tmp_path / "{pol}" / "2024030[0-9]" / "slc_{pol}.vrt")
    assert expand_slc_paths(pattern, ("VV",)) == [
        str(tmp_path / "{pol}" / "20240301" / "slc_{pol}.vrt")
    ]
    # Without {pol} the files are the glob's; a plain template is kept as given.
    assert expand_slc_paths(str(stack / "*_VH.tif"), ("VV",)) == [
        str(stack / "20240301_VH.tif"),
        str(stack / "20240313_VH.tif"),
    ]
    plain = str(stack / "20240301_{pol}.tif")
    assert expand_slc_paths(plain, ("VV", "VH")) == [plain]


def test_a_plain_path_that_is_not_there_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "20240301_{pol}.tif"
    with pytest.raises(SlcPairError, match=r"20240301_VV\.tif does not exist"):
        expand_slc_paths(str(missing), ("VV",))
