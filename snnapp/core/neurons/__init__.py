"""Spiking neuron models: pure one-step functions with explicit state, and module wrappers.

- :func:`spike`: Heaviside forward, surrogate derivative backward; plain comparison for export.
- :func:`lif_step` / :class:`LIF`: current-based leaky integrate-and-fire (snnTorch ``Leaky``);
  :func:`lif_sequence`: all steps of one from rest as a single autograd node, for training.
- :func:`cond_lif_step` / :class:`CondLIF`: conductance-based LIF with reversal potentials
  and an absolute refractory period, integrated exactly per step.

Every module maps ``(x_t, state) -> (spikes_t, new_state)`` with ``state`` a tuple of tensors
(``state_size`` of them) that the caller owns.
"""

from ._conductance import (
    CondLIFParameters,
    CondState,
    cond_lif_initial_state,
    cond_lif_step,
    cond_lif_step_current,
    drive_to_conductances,
)
from ._lif import LIFParameters, Reset, lif_initial_state, lif_rest_step, lif_step
from ._lif_sequence import fusable, lif_sequence
from ._modules import LIF, CondLIF, NeuronKind, State, make_neuron
from ._surrogate import SURROGATES, Surrogate, heaviside, no_surrogate, spike, surrogate_enabled

__all__ = [
    "SURROGATES",
    "CondLIF",
    "CondLIFParameters",
    "CondState",
    "LIF",
    "LIFParameters",
    "NeuronKind",
    "Reset",
    "State",
    "Surrogate",
    "cond_lif_initial_state",
    "cond_lif_step",
    "cond_lif_step_current",
    "drive_to_conductances",
    "fusable",
    "heaviside",
    "lif_initial_state",
    "lif_sequence",
    "lif_rest_step",
    "lif_step",
    "make_neuron",
    "no_surrogate",
    "spike",
    "surrogate_enabled",
]
