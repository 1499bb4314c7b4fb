"""Current-based LIF against snnTorch's Leaky, and gradient flow through the surrogate."""

from __future__ import annotations

import pytest
import snntorch as snn
import torch
from snntorch import surrogate as snn_surrogate
from torch import Tensor

from snnapp.core.neurons import LIF, LIFParameters, lif_rest_step, lif_step

STEPS = 20


def _run_ours(x: Tensor, p: LIFParameters) -> tuple[Tensor, Tensor]:
    v = torch.zeros_like(x[0])
    spikes, mems = [], []
    for t in range(x.shape[0]):
        s, v = lif_step(x[t], v, p)
        spikes.append(s)
        mems.append(v)
    return torch.stack(spikes), torch.stack(mems)


def _run_snntorch(x: Tensor, leaky: snn.Leaky) -> tuple[Tensor, Tensor]:
    mem = torch.zeros_like(x[0])
    spikes, mems = [], []
    for t in range(x.shape[0]):
        s, mem = leaky(x[t], mem)
        spikes.append(s)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("beta", [0.9, 0.5])
def test_matches_snntorch_leaky_without_reset_delay(reset: str, beta: float) -> None:
    # snnTorch's reset_delay=False resets within the step, as lif_step does by default.
    # Inputs below one threshold keep the reset membrane below threshold, where snnTorch's
    # "avoid double reset" correction (a spike owed from the previous step) never fires.
    torch.manual_seed(0)
    x = torch.rand(STEPS, 8, 32) * 1.8 - 0.8  # in [-0.8, 1)
    p = LIFParameters(beta=beta, threshold=1.0, reset=reset)  # type: ignore[arg-type]
    leaky = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism=reset, reset_delay=False)
    s, v = _run_ours(x, p)
    s_ref, v_ref = _run_snntorch(x, leaky)
    assert s.sum() > 100  # the comparison covers many spikes and resets
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reset_delay_matches_default_snntorch_leaky_with_gradients(reset: str) -> None:
    torch.manual_seed(1)
    x = (torch.randn(STEPS, 4, 16) * 1.5 + 0.4).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    p = LIFParameters(beta=0.85, threshold=1.2, reset=reset, reset_delay=True)  # type: ignore[arg-type]
    leaky = snn.Leaky(
        beta=0.85, threshold=1.2, reset_mechanism=reset, spike_grad=snn_surrogate.fast_sigmoid(25)
    )
    s, v = _run_ours(x, p)
    s_ref, v_ref = _run_snntorch(x_ref, leaky)
    assert s.sum() > 100
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref, rtol=0, atol=1e-5)
    w = torch.randn_like(s)
    (s * w).sum().backward()
    (s_ref * w).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)


def test_reset_delay_changes_the_subtract_dynamics() -> None:
    # The two conventions differ (the subtracted threshold decays, or does not): guard
    # against one silently falling back to the other.
    x = torch.full((STEPS, 1), 0.7)
    s0, _ = _run_ours(x, LIFParameters(beta=0.5))
    s1, _ = _run_ours(x, LIFParameters(beta=0.5, reset_delay=True))
    assert not torch.equal(s0, s1)


def test_hand_computed_trace() -> None:
    p = LIFParameters(beta=0.5, threshold=1.0)
    v = torch.tensor([0.0])
    out = []
    for xt in [0.8, 0.8, 0.8, 0.0]:
        s, v = lif_step(torch.tensor([xt]), v, p)
        out.append((s.item(), round(v.item(), 6)))
    # 0.8 -> 1.2 spike -> 0.2 -> 0.9 -> 0.45
    assert out == [(0.0, 0.8), (1.0, 0.2), (0.0, 0.9), (0.0, 0.45)]
    s, v = lif_step(torch.tensor([1.5]), torch.tensor([0.0]), LIFParameters(reset="zero"))
    assert (s.item(), v.item()) == (1.0, 0.0)


def test_gradients_flow_to_input_and_per_neuron_beta() -> None:
    torch.manual_seed(2)
    x = (torch.rand(STEPS, 3, 5) * 0.8).requires_grad_()
    beta = torch.full((5,), 0.9, requires_grad=True)
    s, _ = _run_ours(x, LIFParameters(beta=beta))
    assert s.sum() > 0
    s.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert beta.grad is not None and (beta.grad.abs() > 0).all()


def test_detached_reset_gives_no_gradient_through_the_reset() -> None:
    # One spike at step 1; the membrane after the reset depends on x only via beta*v + x.
    x = torch.tensor([1.5], requires_grad=True)
    s, v = lif_step(x, torch.zeros(1), LIFParameters(beta=0.9))
    v.sum().backward()
    assert x.grad is not None and x.grad.item() == pytest.approx(1.0)


def test_tensor_beta_is_clamped_like_snntorch() -> None:
    x = torch.ones(1)
    _, v = lif_step(x, torch.ones(1) * 0.5, LIFParameters(beta=torch.tensor([1.7]), threshold=5.0))
    assert v.item() == pytest.approx(1.5)


@pytest.mark.parametrize(
    "kwargs",
    [{"beta": 1.2}, {"reset": "none"}, {"threshold": 0.0}, {"slope": -1.0}, {"surrogate": "x"}],
)
def test_invalid_parameters_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        LIFParameters(**kwargs)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("learn_beta", [False, True])
def test_the_first_step_from_rest_equals_a_step_from_zeros(reset: str, learn_beta: bool) -> None:
    torch.manual_seed(0)
    drive = (torch.randn(3, 5, 7) * 2).requires_grad_()
    layer = LIF(LIFParameters(beta=0.8, reset=reset, slope=5.0), learn_beta=learn_beta, shape=(7,))
    s_rest, (v_rest,) = layer(drive[0])  # from rest: lif_rest_step
    s_zero, (v_zero,) = layer(drive[0], (torch.zeros(5, 7),))
    assert torch.equal(s_rest, s_zero) and torch.equal(v_rest, v_zero)
    g_rest = torch.autograd.grad((s_rest * 3 + v_rest).sum(), drive)[0]
    g_zero = torch.autograd.grad((s_zero * 3 + v_zero).sum(), drive)[0]
    assert torch.equal(g_rest, g_zero)
    s, v = lif_rest_step(drive[1], LIFParameters(reset=reset))
    assert torch.equal(v, lif_step(drive[1], torch.zeros(5, 7), LIFParameters(reset=reset))[1])
    with pytest.raises(ValueError, match="reset_delay"):
        lif_rest_step(drive[1], LIFParameters(reset_delay=True))
