"""The preprocessing contract: dB scaling, channel order, no-data."""

from __future__ import annotations

import numpy as np
import pytest

from cohcube.model.learning.preprocessing import (
    InputContract,
    network_input,
    scale_backscatter,
    scale_db,
)
from cohcube.model.physics.radiometry import linear_to_db


def test_scaling_maps_the_db_range_onto_unit_interval() -> None:
    linear = np.array([1e-3, 1e-2, 10 ** (-1.5), 1.0, 10.0, 0.0, np.nan])
    scaled = scale_backscatter(linear, (-20.0, 0.0))
    np.testing.assert_allclose(scaled[:5], [0.0, 0.0, 0.25, 1.0, 1.0], atol=1e-6)
    assert np.isnan(scaled[5:]).all()  # zero power and NaN are no data


def test_channel_order_and_validity() -> None:
    contract = InputContract(polarizations=("VV", "VH"))
    assert contract.channel_order == ("VV_t1", "VV_t2", "VH_t1", "VH_t2")
    t1 = np.stack([np.full((4, 5), 0.1), np.full((4, 5), 0.01)])
    t2 = t1 * 10
    t2[1, 0, 0] = np.nan
    channels, valid = network_input(t1, t2, contract)
    assert channels.shape == (4, 4, 5)
    np.testing.assert_allclose(channels[:, 1, 1], [0.5, 1.0, 0.0, 0.5], atol=1e-6)
    assert not valid[0, 0]
    assert valid.sum() == 19
    assert channels[3, 0, 0] == contract.nodata_fill


def test_contract_round_trip_and_shape_errors() -> None:
    contract = InputContract(polarizations=("VV",), size_multiple=8)
    stored = contract.model_dump(mode="json")
    assert stored["channel_order"] == ["VV_t1", "VV_t2"]
    assert InputContract.model_validate(stored) == contract
    with pytest.raises(ValueError, match="channel order"):
        InputContract.model_validate({**stored, "channel_order": ["VH_t1", "VH_t2"]})
    with pytest.raises(ValueError, match="differ in shape"):
        network_input(np.ones((4, 4)), np.ones((4, 5)), contract)
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        network_input(np.ones((4, 4)), np.ones((4, 4)), InputContract(polarizations=("VV", "VH")))


def test_in_place_scaling_is_the_db_definition_to_the_bit() -> None:
    rng = np.random.default_rng(5)
    linear = rng.gamma(1.0, 0.05, (64, 64)).astype(np.float32)
    linear[0, :8] = [0.0, -1.0, np.nan, np.inf, 1e-12, 1e6, 1.0, 0.01]
    expected = scale_db(linear_to_db(np.where(linear > 0, linear, np.nan), np.float32), (-25, 5))
    np.testing.assert_array_equal(scale_backscatter(linear, (-25.0, 5.0)), expected)


def test_channels_fill_the_array_given_and_refuse_one_of_another_shape() -> None:
    contract = InputContract(polarizations=("VV", "VH"), speckle_window_px=5)
    rng = np.random.default_rng(6)
    t1 = rng.exponential(0.05, (2, 24, 20)).astype(np.float32)
    t2 = rng.exponential(0.05, (2, 24, 20)).astype(np.float32)
    t1[0, 3, 4] = np.nan
    fresh, fresh_valid = network_input(t1, t2, contract)
    into = np.full((contract.channels, 24, 20), np.nan, dtype=np.float32)
    channels, valid = network_input(t1, t2, contract, out=into)
    assert channels is into
    np.testing.assert_array_equal(channels, fresh)
    np.testing.assert_array_equal(valid, fresh_valid)
    assert np.isfinite(channels).all()
    assert not valid[3, 4]
    assert valid.sum() == 24 * 20 - 1
    with pytest.raises(ValueError, match="out has shape"):
        network_input(t1, t2, contract, out=np.empty((4, 24, 20), dtype=np.float32))
