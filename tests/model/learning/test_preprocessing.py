"""The preprocessing contract: dB scaling, channel order, no-data."""

from __future__ import annotations

import numpy as np
import pytest

from cohcube.model.learning.preprocessing import InputContract, network_input, scale_backscatter


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
