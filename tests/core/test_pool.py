"""max_pool2x2: the values and gradients of F.max_pool2d(x, 2), for currents and for spikes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnapp.core.network._pool import max_pool2x2


def _both(x: torch.Tensor, w: torch.Tensor):
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = F.max_pool2d(xa, 2), max_pool2x2(xb)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    return ya, yb, xa.grad, xb.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_real_valued_maps_give_max_pool2d_values_and_gradients(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 8, 6, generator=g).to(dtype)
    ya, yb, ga, gb = _both(x, torch.randn(3, 4, 4, 3, generator=g).to(dtype))
    assert yb.shape == (3, 4, 4, 3) and yb.dtype == dtype
    assert torch.equal(ya, yb) and torch.equal(ga, gb)


def test_ties_send_the_gradient_to_the_first_maximum_in_row_major_order() -> None:
    """Binary spikes tie in almost every window; max_pool2d picks the first maximum, and so must we."""
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(5, 3, 28, 28, generator=g) < 0.3).float()
    ya, yb, ga, gb = _both(x, torch.randn(5, 3, 14, 14, generator=g))
    assert torch.equal(ya, yb) and torch.equal(ga, gb)
    window = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]]])
    _, _, _, g1 = _both(window, torch.ones(1, 1, 1, 1))
    assert g1.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    _, _, _, g2 = _both(torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]]), torch.ones(1, 1, 1, 1))
    assert g2.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]


def test_odd_sizes_fall_back_to_max_pool2d() -> None:
    x = torch.randn(2, 3, 7, 5, requires_grad=True)
    y = max_pool2x2(x)
    assert y.shape == (2, 3, 3, 2)
    assert torch.equal(y, F.max_pool2d(x, 2))
