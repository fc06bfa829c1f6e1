"""Starting training from the shipped artefact: its exact weights, and widened inputs."""

from __future__ import annotations

import numpy as np
import torch

from cohcube.model.learning.artefact import quiet_torchscript
from cohcube.model.learning.card import card_path_for
from cohcube.model.learning.config import load_training_config
from cohcube.model.learning.fine_tuning import initial_weights
from cohcube.model.learning.network import build_network, load_weights

SHIPPED = card_path_for(None)


def _shipped_output(x: torch.Tensor) -> torch.Tensor:
    with quiet_torchscript():
        module = torch.jit.load(str(SHIPPED.parent / "cohcube-coherence.pt"), map_location="cpu")  # type: ignore[no-untyped-call]
    with torch.no_grad():
        out: torch.Tensor = module.network(x)
    return out


def test_training_starts_from_the_shipped_weights_as_exported() -> None:
    """The shipped export has biased decoder reduce convs; --init keeps them."""
    config = load_training_config(SHIPPED.parent / "train.yaml")
    network = load_weights(build_network(config), initial_weights(SHIPPED, config)).eval()
    x = torch.from_numpy(np.random.default_rng(0).random((1, 4, 64, 64), dtype=np.float32))
    with torch.no_grad():
        ours = network(x)
    assert torch.allclose(ours, _shipped_output(x), atol=1e-5)


def test_speckle_channels_widen_the_shipped_network_without_changing_its_output() -> None:
    config = load_training_config(SHIPPED.parent / "train.yaml")
    config = config.model_copy(
        update={"network": config.network.model_copy(update={"speckle_window_px": 7})}
    )
    network = load_weights(build_network(config), initial_weights(SHIPPED, config)).eval()
    assert network.in_channels == 22
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((1, 22, 64, 64), dtype=np.float32))
    with torch.no_grad():
        ours = network(x)
    assert torch.allclose(ours, _shipped_output(x[:, :4]), atol=1e-5)
