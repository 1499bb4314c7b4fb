"""Conductance LIF against the ODE it discretises (scipy solve_ivp) and its analytic spike timing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from torch import Tensor

from snnapp.core.neurons import (
    CondLIFParameters,
    cond_lif_step,
    cond_lif_step_current,
    drive_to_conductances,
)

FINE = CondLIFParameters(dt=0.05)  # tau_v = 2, t_ref = 1 in the same time unit


def _rhs(g_e: float, g_i: float, p: CondLIFParameters):
    def f(_t: float, v: np.ndarray) -> np.ndarray:
        return ((p.E_r - v) + g_e * (p.E_e - v) + g_i * (p.E_i - v)) / p.tau_v

    return f


def _ode_spike_times(g_e: float, g_i: float, p: CondLIFParameters, t_end: float) -> list[float]:
    """Event-driven reference: integrate to V = V_th, reset, hold for t_ref, repeat."""

    def hit(_t: float, v: np.ndarray) -> float:
        return v[0] - p.V_th

    hit.terminal, hit.direction = True, 1.0  # type: ignore[attr-defined]
    t, v, times = 0.0, p.V_reset, []
    while t < t_end:
        sol = solve_ivp(
            _rhs(g_e, g_i, p), (t, t_end), [v], events=hit, rtol=1e-11, atol=1e-12, method="LSODA"
        )
        if sol.t_events[0].size == 0:
            break
        times.append(float(sol.t_events[0][0]))
        t, v = times[-1] + p.t_ref, p.V_reset
    return times


def _simulate(
    g_e: float, g_i: float, p: CondLIFParameters, steps: int, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    ge, gi = torch.tensor([g_e], dtype=dtype), torch.tensor([g_i], dtype=dtype)
    state = (torch.full((1,), p.V_reset, dtype=dtype), torch.zeros(1, dtype=dtype))
    spikes, volts = [], []
    for _ in range(steps):
        s, state = cond_lif_step(ge, gi, state, p)
        spikes.append(s.item())
        volts.append(state[0].item())
    return torch.tensor(spikes), torch.tensor(volts, dtype=torch.float64)


def _time_to_threshold(g_e: float, g_i: float, p: CondLIFParameters) -> float:
    g = 1.0 + g_e + g_i
    v_inf = (p.E_r + g_e * p.E_e + g_i * p.E_i) / g
    return p.tau_v / g * math.log((v_inf - p.V_reset) / (v_inf - p.V_th))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_subthreshold_trajectory_matches_ode_at_every_step(dtype: torch.dtype, tol: float) -> None:
    # Constant conductances, several starting voltages (above and below V_inf).
    p = CondLIFParameters(dt=0.25)
    g_e, g_i = 0.2, 0.1  # V_inf = 0.7 / 1.3 < V_th
    v0 = [-0.8, 0.0, 0.95]
    steps = 40
    t_eval = p.dt * np.arange(1, steps + 1)
    state = (torch.tensor(v0, dtype=dtype), torch.zeros(3, dtype=dtype))
    ge, gi = torch.full((3,), g_e, dtype=dtype), torch.full((3,), g_i, dtype=dtype)
    ours = []
    for _ in range(steps):
        s, state = cond_lif_step(ge, gi, state, p)
        assert s.sum() == 0
        ours.append(state[0].double().numpy())
    sol = solve_ivp(_rhs(g_e, g_i, p), (0, t_eval[-1]), v0, t_eval=t_eval, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.stack(ours), sol.y.T, rtol=0, atol=tol)


def test_piecewise_constant_conductances_are_integrated_exactly() -> None:
    rng = np.random.default_rng(0)
    p = CondLIFParameters()  # dt = 1: a coarse step, where Euler would be far off
    f64 = torch.float64
    v, ref, v_ode = torch.tensor([0.3], dtype=f64), torch.zeros(1, dtype=f64), 0.3
    for _ in range(30):
        g_e, g_i = rng.uniform(0, 0.3), rng.uniform(0, 2.0)  # V_inf < V_th throughout
        ge, gi = torch.tensor([g_e], dtype=f64), torch.tensor([g_i], dtype=f64)
        _, (v, ref) = cond_lif_step(ge, gi, (v, ref), p)
        sol = solve_ivp(_rhs(g_e, g_i, p), (0, p.dt), [v_ode], rtol=1e-11, atol=1e-12)
        v_ode = float(sol.y[0, -1])
        assert v.item() == pytest.approx(v_ode, abs=1e-9)


@pytest.mark.parametrize("g_e,g_i", [(0.5, 0.0), (1.0, 0.3), (3.0, 1.0)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_suprathreshold_spike_times_match_ode_events(g_e: float, g_i: float, dtype: torch.dtype) -> None:
    steps = 1000
    spikes, _ = _simulate(g_e, g_i, FINE, steps, dtype)
    ours = (torch.nonzero(spikes).flatten().double() + 1.0) * FINE.dt  # end of the spiking step
    ref = np.array(_ode_spike_times(g_e, g_i, FINE, steps * FINE.dt))
    assert len(ref) >= 15
    assert len(ours) == len(ref)
    lag = ours.numpy() - ref  # each event must fall inside the step that reports it
    assert (lag >= -1e-6).all() and (lag < FINE.dt + 1e-6).all(), lag


def test_refractory_hold_and_isi_equal_t_ref_plus_time_to_threshold() -> None:
    p = CondLIFParameters(dt=0.1, t_ref=1.0)
    g_e, g_i = 2.0, 0.5
    t_th = _time_to_threshold(g_e, g_i, p)
    isi = p.t_ref + t_th
    steps = 400
    spikes, volts = _simulate(g_e, g_i, p, steps)
    events = t_th + isi * np.arange(int(steps * p.dt / isi) + 1)
    events = events[events < steps * p.dt]
    # The ODE reference agrees with the closed form...
    np.testing.assert_allclose(_ode_spike_times(g_e, g_i, p, steps * p.dt), events, atol=1e-7)
    # ...and the discrete neuron fires in exactly the steps that contain the events.
    assert np.min(np.abs(events / p.dt - np.round(events / p.dt))) > 1e-6  # no ties at step edges
    expected_steps = np.ceil(events / p.dt).astype(int) - 1
    assert torch.nonzero(spikes).flatten().tolist() == expected_steps.tolist()
    checked = 0
    for t_event, k in zip(events, expected_steps):
        assert volts[k] == p.V_reset
        if t_event + p.t_ref + p.dt >= steps * p.dt:
            continue  # refractory window runs past the end of the simulation
        # Steps that end before the refractory period does: silent, V held at V_reset.
        held = [j for j in range(k + 1, steps) if (j + 1) * p.dt <= t_event + p.t_ref]
        assert len(held) in (round(p.t_ref / p.dt) - 1, round(p.t_ref / p.dt))
        for j in held:
            assert spikes[j] == 0 and volts[j] == p.V_reset
        assert volts[held[-1] + 1] > p.V_reset  # integration resumes inside the next step
        checked += 1
    assert checked >= 10


def _count(g_e: float, g_i: float, steps: int = 200) -> int:
    spikes, _ = _simulate(g_e, g_i, CondLIFParameters(), steps)
    return int(spikes.sum().item())


@pytest.mark.parametrize("g_e,g_i", [(0.5, 0.0), (1.0, 0.5), (2.0, 0.0), (8.0, 1.0)])
def test_spike_count_at_the_coarse_network_step_matches_the_analytic_rate(g_e: float, g_i: float) -> None:
    # dt = 1 (the network's step) is coarse against tau_v = 2 and t_ref = 1, yet the count
    # is exact: first spike at T_th, then one every t_ref + T_th.
    p, steps = CondLIFParameters(), 200
    t_th = _time_to_threshold(g_e, g_i, p)
    expected = math.floor((steps * p.dt - t_th) / (p.t_ref + t_th)) + 1
    assert _count(g_e, g_i, steps) == expected


def test_rate_rises_with_excitation_and_falls_with_inhibition() -> None:
    rates_e = [_count(g, 0.0) / 200 for g in (0.3, 0.5, 1.0, 2.0, 8.0)]
    assert rates_e[0] == 0.0  # V_inf = 4*0.3/1.3 < V_th: silent
    assert all(a < b for a, b in zip(rates_e, rates_e[1:])), rates_e
    assert rates_e[-1] <= 1.0 / (1.0 + 1e-3)  # at most one spike per t_ref (= one step)
    rates_i = [_count(2.0, g) / 200 for g in (0.0, 0.5, 2.0, 6.0)]
    assert all(a > b for a, b in zip(rates_i[:-1], rates_i[1:])), rates_i
    assert rates_i[-1] == 0.0


def test_stable_for_huge_conductances_where_euler_diverges() -> None:
    p = CondLIFParameters()
    g_e, g_i = torch.tensor([10.0]), torch.tensor([40.0])  # V_inf = 0, h*g_tot/tau = 25.5
    state = (torch.tensor([0.9]), torch.zeros(1))
    euler = 0.9
    for _ in range(5):
        v_before = state[0].item()
        _, state = cond_lif_step(g_e, g_i, state, p)
        assert 0.0 <= state[0].item() <= v_before  # monotone relaxation, no overshoot
        euler += p.dt / p.tau_v * ((p.E_r - euler) + 10 * (p.E_e - euler) + 40 * (p.E_i - euler))
    assert abs(euler) > 1e5


def test_voltage_stays_between_inhibitory_reversal_and_threshold() -> None:
    torch.manual_seed(0)
    p = CondLIFParameters()
    state = (torch.zeros(256), torch.zeros(256))
    n_spikes = 0.0
    for _ in range(100):
        s, state = cond_lif_step_current(torch.randn(256) * 10.0, state, p)
        n_spikes += s.sum().item()
        assert (state[0] >= p.E_i - 1e-6).all() and (state[0] <= p.V_th).all()
        assert (state[1] >= 0).all() and (state[1] <= p.t_ref).all()
    assert n_spikes > 0


def test_current_helper_splits_drive_into_conductances() -> None:
    x = torch.tensor([-2.0, 0.0, 3.0])
    g_e, g_i = drive_to_conductances(x)
    assert g_e.tolist() == [0.0, 0.0, 3.0] and g_i.tolist() == [2.0, 0.0, 0.0]
    state = (torch.full((3,), 0.5), torch.zeros(3))
    a = cond_lif_step_current(x, state, CondLIFParameters())
    b = cond_lif_step(g_e, g_i, state, CondLIFParameters())
    assert torch.equal(a[0], b[0]) and all(torch.equal(u, w) for u, w in zip(a[1], b[1]))


def test_surrogate_gradient_reaches_the_drive() -> None:
    torch.manual_seed(1)
    x = (torch.rand(20, 4, 8) * 2.0).requires_grad_()
    state = (torch.zeros(4, 8), torch.zeros(4, 8))
    total = torch.zeros(())
    for t in range(20):
        s, state = cond_lif_step_current(x[t], state, CondLIFParameters())
        total = total + s.sum()
    assert total > 0
    total.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs", [{"tau_v": 0.0}, {"dt": -1.0}, {"t_ref": -0.5}, {"V_reset": 1.0}, {"surrogate": "x"}]
)
def test_invalid_parameters_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CondLIFParameters(**kwargs)
