"""The spike function: exact step forward, the documented surrogate backward, a plain path for export."""

from __future__ import annotations

import math

import pytest
import torch
from snntorch import surrogate as snn_surrogate

from snnapp.core.neurons import no_surrogate, spike, surrogate_enabled

X = torch.tensor([-2.0, -0.3, -1e-4, 0.0, 1e-4, 0.05, 1.5], dtype=torch.float64)


@pytest.mark.parametrize("kind", ["fast_sigmoid", "atan"])
def test_forward_is_step_and_keeps_dtype(kind: str) -> None:
    s = spike(X, 25.0, kind)
    assert s.dtype == torch.float64
    assert s.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("slope", [5.0, 25.0])
def test_fast_sigmoid_backward_matches_formula_and_snntorch(slope: float) -> None:
    x = X.clone().requires_grad_()
    spike(x, slope, "fast_sigmoid").sum().backward()
    expected = 1.0 / (slope * X.abs() + 1.0) ** 2
    torch.testing.assert_close(x.grad, expected)
    ref = X.clone().requires_grad_()
    snn_surrogate.fast_sigmoid(slope=slope)(ref).sum().backward()
    torch.testing.assert_close(x.grad, ref.grad)


@pytest.mark.parametrize("slope", [2.0, 25.0])
def test_atan_backward_is_snntorch_atan_scaled_to_peak_one(slope: float) -> None:
    x = X.clone().requires_grad_()
    spike(x, slope, "atan").sum().backward()
    torch.testing.assert_close(x.grad, 1.0 / (1.0 + (math.pi / 2 * slope * X) ** 2))
    ref = X.clone().requires_grad_()
    snn_surrogate.atan(alpha=slope)(ref).sum().backward()
    torch.testing.assert_close(x.grad, ref.grad * 2.0 / slope)
    assert x.grad[X == 0].item() == pytest.approx(1.0)


def test_surrogate_none_is_plain_comparison_without_gradient() -> None:
    x = X.clone().requires_grad_()
    s = spike(x, 25.0, surrogate=None)
    assert s.grad_fn is None and not s.requires_grad
    assert torch.equal(s, (X > 0).double())


def test_no_surrogate_switch_is_scoped_and_restored_after_errors() -> None:
    x = X.clone().requires_grad_()
    assert surrogate_enabled()
    with no_surrogate():
        assert not surrogate_enabled()
        assert not spike(x).requires_grad
    assert surrogate_enabled() and spike(x).requires_grad
    with pytest.raises(RuntimeError), no_surrogate():
        raise RuntimeError("boom")
    assert surrogate_enabled()


def test_unknown_surrogate_is_rejected() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        spike(X, 25.0, "sigmoid")  # type: ignore[arg-type]
