"""``nn.Module`` wrappers around the step functions, with one uniform state interface.

Each module is a function ``(x_t, state) -> (spikes_t, new_state)``; the state is a tuple of
plain tensors owned by the caller (the training loop, the app, or the host of an ONNX
graph), never stored on the module. Both neurons use a tuple -- one tensor for LIF, two
for CondLIF -- so a network can treat its layers alike and flatten their states into
graph inputs and outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ._conductance import CondLIFParameters, cond_lif_step_current
from ._lif import LIFParameters, lif_rest_step, lif_step

State = tuple[Tensor, ...]


def _zeros(reference: Tensor, n: int) -> State:
    return tuple(torch.zeros_like(reference) for _ in range(n))


class LIF(nn.Module):
    """Current-based LIF layer (see :func:`lif_step`); state ``(v,)``.

    ``learn_beta`` makes beta a trainable parameter, one per neuron when ``shape`` (the
    trailing feature shape, e.g. ``(hidden,)`` or ``(channels, 1, 1)``) is given, else one
    for the layer. It is clamped to [0, 1] in the step.
    """

    state_size: int = 1

    def __init__(
        self,
        params: LIFParameters = LIFParameters(),
        learn_beta: bool = False,
        shape: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.params = params
        self.learn_beta = learn_beta
        if learn_beta:
            size = () if shape is None else ((shape,) if isinstance(shape, int) else tuple(shape))
            beta = torch.as_tensor(params.beta, dtype=torch.get_default_dtype()).detach()
            self.beta: nn.Parameter | None = nn.Parameter(beta.expand(size).clone() if size else beta.clone())
        else:
            self.beta = None

    def _params(self) -> LIFParameters:
        if self.beta is None:
            return self.params
        return dataclasses.replace(self.params, beta=self.beta)

    def initial_state(self, reference: Tensor) -> State:
        """Resting state, zeros shaped like ``reference`` (the layer's input at one step)."""
        return _zeros(reference, self.state_size)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One step: ``(spikes, (v',))``; ``state=None`` starts from rest."""
        p = self._params()
        if state is None and not p.reset_delay:
            # from rest, beta * 0 + x is x: no zeros to allocate, no decay to compute (same numbers)
            s, v = lif_rest_step(x, p)
            return s, (v,)
        (v,) = self.initial_state(x) if state is None else state
        s, v = lif_step(x, v, p)
        return s, (v,)

    def extra_repr(self) -> str:
        return f"{self.params}, learn_beta={self.learn_beta}"


class CondLIF(nn.Module):
    """Conductance-based LIF layer driven by a signed drive (see :func:`cond_lif_step_current`).

    State ``(v, refractory_time_left)``.
    """

    state_size: int = 2

    def __init__(self, params: CondLIFParameters = CondLIFParameters()) -> None:
        super().__init__()
        self.params = params

    def initial_state(self, reference: Tensor) -> State:
        """Resting state (v = 0, not refractory), zeros shaped like ``reference``."""
        return _zeros(reference, self.state_size)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One step: ``(spikes, (v', ref'))``; ``state=None`` starts from rest."""
        v, ref = self.initial_state(x) if state is None else state
        s, (v, ref) = cond_lif_step_current(x, (v, ref), self.params)
        return s, (v, ref)

    def extra_repr(self) -> str:
        return str(self.params)


NeuronKind = Literal["lif", "cond"]
_MODULE_ARGS = {"lif": ("learn_beta", "shape"), "cond": ()}


def make_neuron(kind: NeuronKind, **params: Any) -> nn.Module:
    """Build a neuron layer by name, e.g. from a model's config.

    ``params`` are fields of :class:`LIFParameters` (plus ``learn_beta``, ``shape``) for
    ``"lif"``, or of :class:`CondLIFParameters` for ``"cond"``. Unknown kinds, unknown names
    and invalid values raise :class:`~snnapp.core.errors.ConfigError`.
    """
    if kind not in _MODULE_ARGS:
        raise ConfigError(f"unknown neuron kind {kind!r}; choose 'lif' or 'cond'")
    module_args = {k: params.pop(k) for k in _MODULE_ARGS[kind] if k in params}
    cls = LIFParameters if kind == "lif" else CondLIFParameters
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ConfigError(
            f"unknown {kind!r} neuron parameters {unknown}; expected {sorted(fields)}"
        )
    try:
        if kind == "lif":
            return LIF(LIFParameters(**params), **module_args)
        return CondLIF(CondLIFParameters(**params))
    except ValueError as e:
        raise ConfigError(f"invalid {kind!r} neuron parameters: {e}") from e
