"""Module wrappers: uniform tuple state owned by the caller, factory from config values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnapp.core.errors import ConfigError
from snnapp.core.neurons import (
    LIF,
    CondLIF,
    CondLIFParameters,
    LIFParameters,
    cond_lif_step_current,
    lif_step,
    make_neuron,
)


@pytest.mark.parametrize("module,size", [(LIF(), 1), (CondLIF(), 2)])
def test_state_is_a_tuple_of_zeros_and_none_means_rest(module: nn.Module, size: int) -> None:
    x = torch.randn(3, 7, dtype=torch.float64) * 2
    assert module.state_size == size
    state = module.initial_state(x)
    assert isinstance(state, tuple) and len(state) == size
    assert all(t.shape == x.shape and t.dtype == x.dtype and not t.any() for t in state)
    s0, st0 = module(x, None)
    s1, st1 = module(x, state)
    assert torch.equal(s0, s1) and all(torch.equal(a, b) for a, b in zip(st0, st1))
    assert isinstance(st0, tuple) and len(st0) == size


@pytest.mark.parametrize("module", [LIF(LIFParameters(beta=0.7)), CondLIF()])
def test_module_equals_step_function_and_keeps_no_state(module: nn.Module) -> None:
    torch.manual_seed(0)
    x = torch.rand(5, 6) * 2
    state = tuple(torch.rand(5, 6) * 0.5 for _ in range(module.state_size))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    s, new = module(x, state)
    s_again, new_again = module(x, state)  # same inputs, same outputs: nothing carried over
    assert torch.equal(s, s_again) and all(torch.equal(a, b) for a, b in zip(new, new_again))
    if isinstance(module, LIF):
        s_ref, v_ref = lif_step(x, state[0], module.params)
        ref = (v_ref,)
    else:
        s_ref, ref = cond_lif_step_current(x, state, module.params)  # type: ignore[arg-type]
    assert torch.equal(s, s_ref) and all(torch.equal(a, b) for a, b in zip(new, ref))
    assert before.keys() == module.state_dict().keys()


def test_learnable_beta_is_a_per_neuron_parameter_that_trains() -> None:
    lif = LIF(LIFParameters(beta=0.8), learn_beta=True, shape=(4,))
    params = dict(lif.named_parameters())
    assert list(params) == ["beta"] and params["beta"].shape == (4,)
    x = torch.rand(10, 2, 4)
    state = None
    total = torch.zeros(())
    for t in range(10):
        s, state = lif(x[t], state)
        total = total + s.sum()
    total.backward()
    assert lif.beta.grad is not None and lif.beta.grad.abs().sum() > 0
    assert dict(LIF().named_parameters()) == {}
    assert LIF(learn_beta=True).beta.shape == ()


def test_make_neuron_builds_from_config_values() -> None:
    lif = make_neuron("lif", beta=0.5, reset="zero", learn_beta=True, shape=3)
    assert isinstance(lif, LIF) and lif.params == LIFParameters(beta=0.5, reset="zero")
    assert lif.beta.shape == (3,)
    cond = make_neuron("cond", tau_v=3.0, t_ref=2.0)
    assert isinstance(cond, CondLIF) and cond.params == CondLIFParameters(tau_v=3.0, t_ref=2.0)
    assert isinstance(make_neuron("cond"), CondLIF)


@pytest.mark.parametrize(
    "kind,kwargs",
    [("izhikevich", {}), ("lif", {"tau_v": 2.0}), ("cond", {"beta": 0.9}), ("lif", {"beta": 2.0})],
)
def test_make_neuron_rejects_bad_config(kind: str, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        make_neuron(kind, **kwargs)  # type: ignore[arg-type]
