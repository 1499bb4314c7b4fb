"""lif_sequence: all steps of a LIF layer as one autograd node equal the step loop, spikes and gradients."""

from __future__ import annotations

import pytest
import torch

from snnapp.core.neurons import LIF, LIFParameters, fusable, lif_sequence

T, SHAPE = 7, (5, 3, 4)


def _loop(x: torch.Tensor, p: LIFParameters, constant: bool) -> torch.Tensor:
    m, state, out = LIF(p), None, []
    for t in range(T):
        s, state = m(x if constant else x[t], state)
        out.append(s)
    return torch.stack(out)


def _pair(p: LIFParameters, constant: bool, dtype: torch.dtype, seed: int = 0):
    """Spikes and input gradients of the loop and of lif_sequence for the same input and loss."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(SHAPE if constant else (T,) + SHAPE, generator=g) * 1.2 + 0.5).to(dtype)
    w = torch.randn((T,) + SHAPE, generator=g).to(dtype)  # a loss that weighs every spike differently
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = _loop(xa, p, constant), lif_sequence(xb, T, p, constant=constant)
    (a * w).sum().backward()
    (b * w).sum().backward()
    return a, b, xa.grad, xb.grad


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("constant", [False, True], ids=["per-step", "constant"])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan"])
def test_equals_the_step_loop_in_double_precision(reset: str, constant: bool, surrogate: str) -> None:
    p = LIFParameters(beta=0.85, threshold=1.0, reset=reset, slope=5.0, surrogate=surrogate)
    a, b, ga, gb = _pair(p, constant, torch.float64)
    assert 0.1 < a.mean() < 0.9  # neither silent nor saturated: the comparison means something
    assert torch.equal(a, b)
    assert ga.abs().max() > 0.1
    torch.testing.assert_close(gb, ga, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 0.02)])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_spikes_are_bit_identical_and_gradients_close_at_training_precisions(dtype, tol, reset: str) -> None:
    p = LIFParameters(beta=0.9, threshold=1.0, reset=reset, slope=5.0)
    for constant in (False, True):
        a, b, ga, gb = _pair(p, constant, dtype, seed=3)
        assert b.dtype == dtype and torch.equal(a, b)
        scale = float(ga.abs().max())
        assert float((gb.float() - ga.float()).abs().max()) <= tol * scale


def test_the_reset_shapes_the_spike_train() -> None:
    """A constant drive of 0.7 without decay: subtract keeps the overshoot, so it fires more often."""
    x = torch.full((1,), 0.7)
    sub = lif_sequence(x, 6, LIFParameters(beta=1.0, reset="subtract"), constant=True).flatten().tolist()
    zero = lif_sequence(x, 6, LIFParameters(beta=1.0, reset="zero"), constant=True).flatten().tolist()
    assert sub == [0, 1, 1, 0, 1, 1]  # v: 0.7, 1.4 -> 0.4, 1.1 -> 0.1, 0.8, 1.5 -> 0.5, 1.2
    assert zero == [0, 1, 0, 1, 0, 1]  # v: 0.7, 1.4 -> 0, 0.7, ...


def test_learnable_beta_and_the_delayed_reset_are_refused() -> None:
    assert fusable(LIFParameters())
    assert not fusable(LIFParameters(reset_delay=True))
    assert not fusable(LIFParameters(beta=torch.tensor(0.9)))
    with pytest.raises(ValueError, match="step loop"):
        lif_sequence(torch.zeros(T, 2), T, LIFParameters(reset_delay=True))
    with pytest.raises(ValueError, match="3 steps, not 7"):
        lif_sequence(torch.zeros(3, 2), T, LIFParameters())
