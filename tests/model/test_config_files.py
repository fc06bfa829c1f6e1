"""The one config loader: YAML and TOML, one-line errors naming file and field, templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohcube.model.config_files import commented_template, load_config_file
from cohcube.model.errors import ConfigError
from cohcube.model.learning.config import TrainingConfig, load_training_config


def test_yaml_and_toml_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("seed: 3\noptim:\n  epochs: 2\n")
    (tmp_path / "a.toml").write_text("seed = 3\n[optim]\nepochs = 2\n")
    from_yaml = load_config_file(tmp_path / "a.yaml", TrainingConfig.model_validate)
    assert from_yaml == load_config_file(tmp_path / "a.toml", TrainingConfig.model_validate)
    assert from_yaml.optim.epochs == 2


def test_every_problem_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: -1\noptim:\n  epoch: 2\n")
    with pytest.raises(ConfigError) as info:
        load_training_config(bad)
    message = str(info.value)
    assert "\n" not in message
    assert str(bad) in message
    assert "seed:" in message
    assert "optim.epoch:" in message
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_training_config(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_training_config(tmp_path / "missing.yaml")
    (tmp_path / "broken.toml").write_text("seed = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_training_config(tmp_path / "broken.toml")


def test_template_lists_every_field_with_its_description(tmp_path: Path) -> None:
    text = commented_template(TrainingConfig, "title")
    for section in ("network", "data", "optim"):
        model = TrainingConfig.model_fields[section].annotation
        assert isinstance(model, type)
        for name in model.model_fields:  # type: ignore[attr-defined]
            assert f"  {name}:" in text
    assert "# Seed of scenes, initialisation and batch order." in text
    path = tmp_path / "template.yaml"
    path.write_text(text)
    assert load_training_config(path) == TrainingConfig()
