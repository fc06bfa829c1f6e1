"""The paper's released Keras weights imported: parity with Keras, verified artefact, refusals."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from cohcube.model.errors import ConfigError, MissingPathError, ModelArtefactError
from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.card import read_card
from cohcube.model.learning.keras_import import (
    KERAS3_LAYOUT,
    LEGACY_LAYOUT,
    check_weights,
    network_from_keras,
    read_keras_weights,
    read_paper_config,
)

keras_support = pytest.importorskip("support.keras_back2coh")


def _keras_model(weights: Path):  # type: ignore[no-untyped-def]
    model = keras_support.build()
    model.load_weights(str(weights))
    return model


def _assert_matches_keras(
    models: dict[str, Path], weights: Path, shapes: tuple[tuple[int, int], ...]
) -> None:
    """max |keras - cohcube| <= 1e-4 for both heads of every artefact, for each input shape."""
    reference = _keras_model(weights)
    loaded = {name: load_model(path) for name, path in models.items()}
    rng = np.random.default_rng(11)
    for shape in shapes:
        channels = rng.random((1, 2, *shape), dtype=np.float32)
        # cohcube pads bottom/right (reflect) to the size multiple; Keras gets the same input.
        pad = [(0, 0), (0, 0)] + [(0, (-n) % 16) for n in shape]
        padded = np.pad(channels, pad, mode="reflect")
        theirs = keras_support.predict(reference, padded.transpose(0, 2, 3, 1))
        theirs = theirs[:, : shape[0], : shape[1]].transpose(0, 3, 1, 2)
        assert theirs[:, 0].std() > 1e-3  # the comparison is not between constants
        for name, model in loaded.items():
            difference = np.abs(model.forward_channels(channels) - theirs).max(axis=(0, 2, 3))
            assert difference.max() <= 1e-4, (name, shape, difference)


def test_imported_network_matches_keras(
    keras_weights: dict[str, Path], imported_artefact: Path
) -> None:
    card = read_card(imported_artefact)
    assert card.provenance is not None
    assert card.provenance.source_layout == KERAS3_LAYOUT
    _assert_matches_keras({"keras3": imported_artefact}, keras_weights["keras3"], ((256, 256),))
    # The legacy layout holds the same weights, read by name instead of by position.
    keras3, _ = read_keras_weights(keras_weights["keras3"])
    legacy, layout = read_keras_weights(keras_weights["legacy"])
    assert layout == LEGACY_LAYOUT
    assert keras3.keys() == legacy.keys()
    for name, arrays in keras3.items():
        for ours, theirs in zip(arrays, legacy[name], strict=True):
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.slow  # ~2 min: Keras on 1008 x 784 px and a second import through the CLI
def test_both_layouts_match_keras_on_a_large_odd_sized_scene(
    keras_weights: dict[str, Path], imported_artefact: Path, cli_imported_legacy: Path
) -> None:
    models = {"keras3": imported_artefact, "legacy (cohcube import-keras)": cli_imported_legacy}
    _assert_matches_keras(models, keras_weights["keras3"], ((256, 256), (1000, 777)))


def test_imported_artefact_is_verified_like_the_shipped_one(
    imported_artefact: Path, keras_weights: dict[str, Path], tmp_path: Path
) -> None:
    card = read_card(imported_artefact)
    assert card.input.polarizations == ("VV",)
    assert card.input.quantity == "sigma0"
    assert card.tiling.seam_error_by_halo_px[str(card.tiling.recommended_halo_px)] <= 1e-3
    assert not card.output.calibrated_sigma
    assert card.calibration is None
    assert card.provenance is not None
    assert len(card.provenance.source_sha256) == 64
    assert "paper's authors" in card.provenance.source
    model = load_model(imported_artefact)
    eager = network_from_keras(read_keras_weights(keras_weights["keras3"])[0])
    x = torch.rand(1, 2, 96, 80)
    with torch.no_grad():
        np.testing.assert_allclose(model.forward_channels(x.numpy()), eager(x).numpy(), atol=1e-5)
    coherence, sigma = model.predict(np.full((64, 48), 0.05), np.full((64, 48), 0.04))
    assert np.isfinite(coherence).all()
    assert np.isnan(sigma).all()  # the uncalibrated head is never presented as a sigma
    data = bytearray(imported_artefact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / imported_artefact.name).write_bytes(bytes(data))
    card_file = imported_artefact.with_suffix(".json")
    (tmp_path / card_file.name).write_text(card_file.read_text())
    tampered = tmp_path / imported_artefact.name
    with pytest.raises(ModelArtefactError, match="sha256"):
        load_model(tampered)


def _copy_with(source: Path, target: Path, change: str) -> Path:
    """A copy of a weights file with one layer removed, reshaped or added."""
    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        for key in src:
            src.copy(key, dst)
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        if change == "missing":  # legacy layout: by name
            del dst["batch_normalization_3"]
            names = [n for n in src.attrs["layer_names"] if n != b"batch_normalization_3"]
            dst.attrs["layer_names"] = names
        elif change == "shape":
            del dst["conv2d_4/conv2d_4/kernel:0"]
            dst["conv2d_4/conv2d_4"].create_dataset(
                "kernel:0", data=np.zeros((3, 3, 64, 65), np.float32)
            )
        elif change == "extra":  # Keras 3 layout
            dst["layers"].create_group("dense/vars").create_dataset("0", data=np.zeros((4, 4)))
    return target


@pytest.mark.parametrize(
    ("change", "layout", "message"),
    [
        (
            "missing",
            "legacy",
            r"'batch_normalization_3' .* is missing \(expected weights of "
            r"shapes \[\[64\]",
        ),
        (
            "shape",
            "legacy",
            r"'conv2d_4' has weights of shapes \[\[3, 3, 64, 65\], \[64\]\], "
            r"expected \[\[3, 3, 32, 64\], \[64\]\]",
        ),
        ("extra", "keras3", r"layer 'dense' \(shapes \[\[4, 4\]\]\) is not part of Back2Coh"),
    ],
)
def test_another_architecture_is_refused_naming_the_layer(
    change: str, layout: str, message: str, keras_weights: dict[str, Path], tmp_path: Path
) -> None:
    broken = _copy_with(keras_weights[layout], tmp_path / f"{change}.weights.h5", change)
    weights, _ = read_keras_weights(broken)
    with pytest.raises(ModelArtefactError, match=message):
        check_weights(weights, broken)


def test_not_keras_weights_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError, match=r"missing\.h5 does not exist"):
        read_keras_weights(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ModelArtefactError, match="cannot read Keras weights"):
        read_keras_weights(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.create_dataset("x", data=[1])
    with pytest.raises(ModelArtefactError, match="not Keras weights"):
        read_keras_weights(tmp_path / "other.h5")


def test_their_config_sets_the_contract_and_unknown_keys_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "architecture: {name: resunet, input_shape: [128, 128, 2]}\n"
        "preprocessing: {clip_min_db: -25.0, clip_max_db: 0.0, channel_order: [t1, t2]}\n"
        "tiling: {patch_size: 128, stride: 32}\n"
    )
    paper, raw = read_paper_config(config)
    assert paper.contract().db_range == (-25.0, 0.0)
    assert paper.contract().channel_order == ("VV_t1", "VV_t2")
    assert paper.ignored_keys == ["architecture"]
    assert raw is not None
    assert raw["tiling"]["stride"] == 32
    config.write_text("preprocessing: {db_min: -20, db_max: 0, log_offset: 1e-6}\n")
    with pytest.raises(ConfigError, match=r"preprocessing.log_offset: Extra inputs"):
        read_paper_config(config)
    config.write_text("preprocessing: {channel_order: [t2, t1]}\n")
    with pytest.raises(ConfigError, match=r"channel_order \['t2', 't1'\]"):
        read_paper_config(config)[0].contract()


def test_an_imported_model_is_scored_without_a_made_up_sigma(imported_artefact: Path) -> None:
    from cohcube.model.learning.config import DataConfig
    from cohcube.model.learning.evaluation import evaluate, format_report

    data = DataConfig(scene_px=64, patch_px=64, workers=1)
    model = load_model(imported_artefact)
    report = evaluate(model, data, 3, baselines_days=(12.0,), test_scenes=1, validation_scenes=1)
    (entry,) = report["results"]
    assert entry["calibration_1sigma"] is None
    assert 0 < entry["model"]["vs_truth"]["rmse"] < 1
    assert "n/a" in format_report(report)
