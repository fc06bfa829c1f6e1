"""Training configuration files: validation, unknown keys, both formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohcube.model.errors import ConfigError
from cohcube.model.learning.config import dump_training_config, load_training_config


def test_yaml_and_toml_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("seed: 3\nnetwork:\n  width: 8\n  depth: 3\n")
    (tmp_path / "a.toml").write_text("seed = 3\n[network]\nwidth = 8\ndepth = 3\n")
    a = load_training_config(tmp_path / "a.yaml")
    b = load_training_config(tmp_path / "a.toml")
    assert a == b
    assert a.network.width == 8
    assert a.data.baseline_days == 12.0
    (tmp_path / "dump.yaml").write_text(dump_training_config(a))
    assert load_training_config(tmp_path / "dump.yaml") == a


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("netwrok:\n  width: 8\n", "netwrok"),
        ("network:\n  widht: 8\n", "network.widht"),
        ("optim:\n  epochs: many\n", "optim.epochs"),
        ("data:\n  scene_px: 64\n  patch_px: 128\n", "data"),
        ("network:\n  db_range: [0, -20]\n", "network.db_range"),
        ("- a list\n", "mapping"),
    ],
)
def test_bad_configs_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=field) as info:
        load_training_config(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_training_config(tmp_path / "nope.yaml")


def test_real_sources_resolve_paths_from_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "slc.yaml").write_text(
        """\
data:
  sources:
    - {kind: simulator, weight: 1}
    - kind: slc_pairs
      weight: 2
      files: ["stack/merged/SLC/*/*.slc.full.vrt", "/abs/20240101.tif"]
      lat: stack/geom_reference/lat.rdr
      lon: stack/geom_reference/lon.rdr
    - kind: opera_cslc
      pairs: [{reference: a.h5, secondary: b.h5}]
  split: {by: area, block_m: 2560}
"""
    )
    config = load_training_config(folder / "slc.yaml")
    sim, slc, opera = config.data.sources
    assert sim.kind == "simulator"
    assert slc.kind == "slc_pairs"
    assert slc.files == [str(folder / "stack/merged/SLC/*/*.slc.full.vrt"), "/abs/20240101.tif"]
    assert slc.lat == str(folder / "stack/geom_reference/lat.rdr")
    assert opera.kind == "opera_cslc"
    assert opera.pairs[0].secondary == str(folder / "b.h5")
    (folder / "dump.yaml").write_text(dump_training_config(config))
    assert load_training_config(folder / "dump.yaml") == config


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ("[{kind: opera_cslc, file: [a.h5]}]", "data.sources.0.opera_cslc.file"),
        ("[{kind: slc_pairs, files: [a.tif], lat: lat.rdr}]", "lat and lon lookup rasters"),
        ("[{kind: opera_cslc}]", "needs files"),
        ("[{kind: grd}]", "data.sources.0"),
        ("[]", "data.sources"),
    ],
)
def test_bad_sources_are_one_line_naming_the_field(
    tmp_path: Path, sources: str, message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(f"data:\n  sources: {sources}\n")
    with pytest.raises(ConfigError, match=message):
        load_training_config(tmp_path / "bad.yaml")
