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
