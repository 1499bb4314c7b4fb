"""Conductance-based leaky integrate-and-fire neuron, one time step as a pure function.

    tau_v dV/dt = (E_r - V) + g_e (E_e - V) + g_i (E_i - V)

Conductances are in units of the leak conductance, so they are dimensionless and >= 0.
For conductances held constant over a step the ODE is linear with the closed-form solution

    V(t + h) = V_inf + (V(t) - V_inf) exp(-h (1 + g_e + g_i) / tau_v),
    V_inf    = (E_r + g_e E_e + g_i E_i) / (1 + g_e + g_i),

which this step uses instead of forward Euler. It is exact for piecewise-constant input and
unconditionally stable: V moves monotonically towards V_inf and never overshoots, however
large the conductances or the step. Euler with ``h (1 + g) / tau_v > 2`` oscillates and
diverges -- with a learned drive and ``dt`` of one step, large ``g`` is routine. The price is
one ``exp`` per neuron and step.

Spiking: a spike is emitted in the step where V crosses V_th; V is set to V_reset and held
there for the absolute refractory period ``t_ref``. The crossing time inside the step is
known in closed form, so the refractory clock starts at the crossing, not at the end of
the step: spike times then match the continuous model to within one step with no
drift, and the ISI is exactly ``t_ref + time-to-threshold``. The neuron fires at most once
per step; the timing is exact when ``t_ref >= dt`` (always true with the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._surrogate import SURROGATES, Surrogate, spike

CondState = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class CondLIFParameters:
    """Parameters of :func:`cond_lif_step`, in normalised units.

    Voltages are scaled so that rest and reset are 0 and threshold 1; time is in units of
    the network step (``dt = 1``). E_e = 4 lies well above threshold so excitation can fire
    the neuron; E_i = -1 lies below rest so inhibition hyperpolarises it (and shunts: it
    shortens the membrane time constant too). tau_v = 2 steps gives a per-step decay of
    exp(-1/2) ~ 0.61 at rest. The refractory period caps the rate at one spike per t_ref
    (timing is exact, so with t_ref = dt a strongly driven neuron fires in most steps).
    """

    tau_v: float = 2.0
    dt: float = 1.0
    E_r: float = 0.0
    E_e: float = 4.0
    E_i: float = -1.0
    V_th: float = 1.0
    V_reset: float = 0.0
    t_ref: float = 1.0
    slope: float = 25.0
    surrogate: Surrogate = "fast_sigmoid"

    def __post_init__(self) -> None:
        if not (self.tau_v > 0.0 and self.dt > 0.0):
            raise ValueError(f"tau_v and dt must be positive, not {self.tau_v}, {self.dt}")
        if not self.t_ref >= 0.0:
            raise ValueError(f"t_ref must be >= 0, not {self.t_ref}")
        if not self.V_reset < self.V_th:
            raise ValueError(f"V_reset ({self.V_reset}) must lie below V_th ({self.V_th})")
        if not self.slope > 0.0:
            raise ValueError(f"slope must be positive, not {self.slope}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, not {self.surrogate!r}")


def cond_lif_step(
    g_e: Tensor,
    g_i: Tensor,
    state: CondState,
    p: CondLIFParameters = CondLIFParameters(),
) -> tuple[Tensor, CondState]:
    """Advance ``state = (v, refractory_time_left)`` by one step ``p.dt`` of constant conductances.

    ``g_e``, ``g_i`` must be >= 0. Returns ``(spikes, (v', ref'))``. The surrogate gradient
    flows through V (and from it to the conductances); the reset and the refractory clock
    are not differentiated.
    """
    v, ref = state
    g_tot = 1.0 + g_e + g_i
    v_inf = (p.E_r + g_e * p.E_e + g_i * p.E_i) / g_tot
    # Time of this step outside the refractory period; V is held during the rest. Written as an
    # increment so that ``free == 0`` leaves V bit-for-bit unchanged (1 - exp(0) == 0).
    free = (p.dt - ref).clamp(0.0, p.dt)
    v_new = v + (v_inf - v) * (1.0 - torch.exp(-free * g_tot / p.tau_v))
    s = spike(v_new - p.V_th, p.slope, p.surrogate)
    s_d = s.detach()

    # Refractory clock. Where a spike occurred, the crossing came ``t_cross`` into the free part
    # of the step, so ``free - t_cross`` of the refractory period has already elapsed.
    v_d, inf_d, g_d = v.detach(), v_inf.detach(), g_tot.detach()
    below = v_d < p.V_th
    den = torch.where(inf_d > p.V_th, p.V_th - inf_d, -torch.ones_like(inf_d))  # < 0
    ratio = ((v_d - inf_d) / den).clamp(min=1.0)  # > 1 when V rises through V_th
    t_cross = torch.where(below, (p.tau_v / g_d) * torch.log(ratio), torch.zeros_like(ratio))
    t_cross = torch.minimum(t_cross, free)
    ref_after_spike = (p.t_ref - (free - t_cross)).clamp(min=0.0)
    ref_new = torch.where(s_d > 0, ref_after_spike, (ref - p.dt).clamp(min=0.0))

    v_out = v_new * (1.0 - s_d) + p.V_reset * s_d
    return s, (v_out, ref_new)


def drive_to_conductances(x: Tensor) -> tuple[Tensor, Tensor]:
    """Split a signed synaptic drive into excitatory ``relu(x)`` and inhibitory ``relu(-x)`` parts.

    Lets a plain linear/conv layer, whose weights have either sign, feed a neuron whose
    conductances must be non-negative.
    """
    return torch.relu(x), torch.relu(-x)


def cond_lif_step_current(
    x: Tensor,
    state: CondState,
    p: CondLIFParameters = CondLIFParameters(),
) -> tuple[Tensor, CondState]:
    """:func:`cond_lif_step` driven by a signed drive ``x`` (e.g. a linear layer's output)."""
    g_e, g_i = drive_to_conductances(x)
    return cond_lif_step(g_e, g_i, state, p)


def cond_lif_initial_state(reference: Tensor) -> CondState:
    """Membrane at 0 and no refractoriness, shaped, typed and placed like ``reference``.

    0 is V_reset = E_r with the default parameters; with other values pass your own state.
    """
    return torch.zeros_like(reference), torch.zeros_like(reference)
