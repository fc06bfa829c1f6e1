"""The TorchScript artefact: self-contained, verified before loading, predict() contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cohcube.model import simulate_pair
from cohcube.model.errors import ModelArtefactError
from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.card import Calibration, read_card
from cohcube.model.learning.checkpoints import load_checkpoint
from cohcube.model.learning.export import ExportedNetwork
from cohcube.model.learning.preprocessing import network_input

LOAD_IN_CLEAN_PROCESS = """
import sys, numpy as np
from cohcube.model.learning.artefact import load_model
model = load_model(sys.argv[1])
channels = np.load(sys.argv[2])
np.save(sys.argv[3], model.forward_channels(channels))
forbidden = [m for m in sys.modules
             if m.startswith(("cohcube.model.learning.training", "cohcube.model.learning.network",
                              "cohcube.model.learning.export", "cohcube.pipeline"))]
assert not forbidden, forbidden
"""


def test_card_describes_the_artefact(tiny_artefact: Path) -> None:
    card = read_card(tiny_artefact)
    assert card.artefact.file == "tiny.pt"
    assert len(card.artefact.sha256) == 64
    assert card.input.channel_order == ("VV_t1", "VV_t2")
    assert card.input.db_range == (-20.0, 0.0)
    assert card.tiling.size_multiple == 4
    assert card.tiling.receptive_field_px > 10
    errors = {int(k): v for k, v in card.tiling.seam_error_by_halo_px.items()}
    halo = card.tiling.recommended_halo_px
    assert errors[halo] <= 1e-3
    assert all(errors[h] > 1e-3 for h in errors if h < halo)
    assert card.training is not None
    assert card.training.config.network.width == 4
    assert card.training.wall_time_s > 0
    assert card.calibration.sigma_scale > 0
    on_disk = json.loads(tiny_artefact.with_suffix(".json").read_text())
    assert card.model_dump(mode="json") == on_disk  # the typed card loses nothing


def test_card_sections_are_validated(tiny_artefact: Path, tmp_path: Path) -> None:
    card = json.loads(tiny_artefact.with_suffix(".json").read_text())
    card["tiling"]["recommended_halo_px"] = "wide"
    card["calibration"]["unknown"] = 1
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(ModelArtefactError, match=r"tiling.recommended_halo_px") as info:
        read_card(tmp_path / "tiny.json")
    assert "calibration.unknown" in str(info.value)


def test_missing_model_or_card_named_as_the_user_gave_it(tmp_path: Path) -> None:
    with pytest.raises(ModelArtefactError, match=r"model .*missing\.pt does not exist") as info:
        read_card(tmp_path / "missing.pt")
    assert "missing.json" not in str(info.value)
    (tmp_path / "alone.pt").write_bytes(b"")
    with pytest.raises(ModelArtefactError, match=r"alone\.json \(for .*alone\.pt\) does not"):
        read_card(tmp_path / "alone.pt")


def test_torchscript_matches_eager_in_a_process_without_training_code(
    tiny_artefact: Path, tiny_run: Path, tmp_path: Path
) -> None:
    pair = simulate_pair((96, 80), 12.0, seed=77)
    model = load_model(tiny_artefact)
    channels, _ = network_input(pair.reference, pair.secondary, model.contract)
    np.save(tmp_path / "in.npy", channels[None])
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_IN_CLEAN_PROCESS,
            str(tiny_artefact),
            str(tmp_path / "in.npy"),
            str(tmp_path / "out.npy"),
        ],
        check=True,
    )
    scripted = np.load(tmp_path / "out.npy")
    network, _, _ = load_checkpoint(sorted((tiny_run / "checkpoints").glob("*.pt"))[-1])
    assert model.card is not None
    eager = ExportedNetwork(network, model.card.calibration.sigma_scale).eval()
    with torch.no_grad():
        expected = eager(torch.from_numpy(channels[None])).numpy()
    assert np.abs(scripted - expected).max() <= 1e-5


def test_tampered_artefact_is_refused(tiny_artefact: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tiny.pt"
    shutil.copy(tiny_artefact, copy)
    shutil.copy(tiny_artefact.with_suffix(".json"), copy.with_suffix(".json"))
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelArtefactError, match="sha256") as info:
        load_model(copy)
    assert "refusing to load" in str(info.value)


def test_incompatible_card_version_is_refused(tiny_artefact: Path, tmp_path: Path) -> None:
    card = json.loads(tiny_artefact.with_suffix(".json").read_text())
    card["format_version"] = 99
    shutil.copy(tiny_artefact, tmp_path / "tiny.pt")
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(ModelArtefactError, match="format version 99"):
        load_model(tmp_path / "tiny.json")
    with pytest.raises(ModelArtefactError, match="does not exist"):
        load_model(tmp_path / "missing.json")


def test_predict_any_size_and_nan(tiny_artefact: Path) -> None:
    model = load_model(tiny_artefact)
    pair = simulate_pair((1000, 777), 12.0, seed=3)
    t1, t2 = pair.reference[0].copy(), pair.secondary[0].copy()
    t1[100:150, 200:260] = np.nan
    t2[-5:, :] = np.nan
    coherence, sigma = model.predict(t1, t2)
    assert coherence.shape == sigma.shape == (1000, 777)
    assert coherence.dtype == np.float32
    nodata = np.isnan(t1) | np.isnan(t2)
    assert np.array_equal(np.isnan(coherence), nodata)
    assert np.array_equal(np.isnan(sigma), nodata)
    assert (coherence[~nodata] >= 0).all()
    assert (coherence[~nodata] <= 1).all()
    assert (sigma[~nodata] > 0).all()


def test_all_nan_input_gives_all_nan_quietly(tiny_artefact: Path) -> None:
    model = load_model(tiny_artefact)
    empty = np.full((40, 50), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coherence, sigma = model.predict(empty, empty)
    assert np.isnan(coherence).all()
    assert np.isnan(sigma).all()


def test_sigma_factor_interpolates_in_log_days_and_clamps() -> None:
    plain = Calibration(sigma_scale=0.9, raw_coverage=0.7, validation_scenes=10)
    table = plain.model_copy(
        update={"sigma_factor_by_baseline_days": {"6": 2.0, "12": 1.0, "24": 1.5}}
    )
    assert table.sigma_factor(12.0) == pytest.approx(1.0)
    assert table.sigma_factor(6.0) == pytest.approx(2.0)
    assert table.sigma_factor(float(np.sqrt(6 * 12))) == pytest.approx(1.5)  # halfway in log
    assert table.sigma_factor(3.0) == pytest.approx(2.0)
    assert table.sigma_factor(48.0) == pytest.approx(1.5)
    assert table.sigma_factor(None) == 1.0
    assert plain.sigma_factor(24.0) == 1.0
    with pytest.raises(ValueError, match="baseline_days"):
        table.sigma_factor(-12.0)


def test_predict_rescales_sigma_by_the_cards_baseline_calibration(
    tiny_artefact: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(tiny_artefact, folder / tiny_artefact.name)
    card = json.loads(tiny_artefact.with_suffix(".json").read_text())
    card["calibration"]["sigma_factor_by_baseline_days"] = {"12": 1.0, "24": 1.8}
    (folder / "tiny.json").write_text(json.dumps(card))
    pair = simulate_pair((48, 64), 24.0, seed=5)
    plain = load_model(tiny_artefact)
    calibrated = load_model(folder / "tiny.json")
    c0, s0 = plain.predict(pair.reference, pair.secondary, 24.0)
    c1, s1 = calibrated.predict(pair.reference, pair.secondary, 24.0)
    _, s2 = calibrated.predict(pair.reference, pair.secondary)
    np.testing.assert_array_equal(c0, c1)
    np.testing.assert_allclose(s1, 1.8 * s0, rtol=1e-6)
    np.testing.assert_array_equal(s2, s0)
