"""The Residual U-Net: the paper's shape, outputs and size constraints."""

from __future__ import annotations

import pytest
import torch

from cohcube.model.learning.network import ResUNet, parameter_count


def test_paper_configuration_has_the_published_widths() -> None:
    net = ResUNet(in_channels=2, width=32, depth=4)
    widths = [block.conv1.out_channels for block in net.encoder]
    assert widths == [32, 64, 128, 256, 512]
    assert [step.block.conv2.out_channels for step in net.decoder] == [256, 128, 64, 32]
    assert parameter_count(net) > 5_000_000


@pytest.mark.parametrize(("width", "depth"), [(4, 1), (4, 3), (6, 4)])
def test_outputs_coherence_and_unbounded_log_variance(width: int, depth: int) -> None:
    torch.manual_seed(0)
    net = ResUNet(in_channels=2, width=width, depth=depth).eval()
    size = 2**depth * 3
    with torch.no_grad():
        out = net(torch.rand(2, 2, size, 2 * size) * 10)
    assert out.shape == (2, 2, size, 2 * size)
    assert ((out[:, 0] >= 0) & (out[:, 0] <= 1)).all()
    # The log-variance head is a plain convolution: it takes any real value.
    net.log_variance_head.bias.data.fill_(-50.0)
    with torch.no_grad():
        assert (net(torch.rand(1, 2, size, size))[:, 1] < -10).all()


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        ResUNet(width=0)
