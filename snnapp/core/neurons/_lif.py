"""Current-based leaky integrate-and-fire neuron, one time step as a pure function.

Same dynamics as snnTorch's ``Leaky``: the membrane decays by ``beta`` per step and sums
its input current; a spike is emitted when it exceeds the threshold, then the membrane is
reset by subtracting the threshold (keeps the overshoot, so rate tracks input better) or
to zero. The reset uses the detached spike, as snnTorch does, so the gradient flows only
through the spike non-linearity and not through the reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ._surrogate import SURROGATES, Surrogate, heaviside, spike

Reset = Literal["subtract", "zero"]


@dataclass(frozen=True)
class LIFParameters:
    """Parameters of :func:`lif_step`.

    beta: membrane decay per step, in [0, 1]; a tensor (e.g. learnable, one per neuron) is
        clamped to [0, 1] at every step, as snnTorch does.
    threshold: firing threshold.
    reset: ``"subtract"`` the threshold, or reset to ``"zero"``.
    slope: steepness of the surrogate derivative.
    surrogate: which surrogate derivative; see :func:`spike`.
    reset_delay: False (default): the returned membrane is already reset, the natural state
        to carry between steps; equals snnTorch ``Leaky(..., reset_delay=False)``.
        True: the returned membrane is the pre-reset value and the reset is applied at the
        start of the next step, without decay -- snnTorch's default ``Leaky``. The two
        give different spike trains for ``"subtract"`` (the subtracted threshold is, or is
        not, multiplied by beta).
    """

    beta: float | Tensor = 0.9
    threshold: float = 1.0
    reset: Reset = "subtract"
    slope: float = 25.0
    surrogate: Surrogate = "fast_sigmoid"
    reset_delay: bool = False

    def __post_init__(self) -> None:
        if self.reset not in ("subtract", "zero"):
            raise ValueError(f"reset must be 'subtract' or 'zero', not {self.reset!r}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, not {self.surrogate!r}")
        if not isinstance(self.beta, Tensor) and not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must lie in [0, 1], not {self.beta}")
        if not self.threshold > 0.0:
            raise ValueError(f"threshold must be positive, not {self.threshold}")
        if not self.slope > 0.0:
            raise ValueError(f"slope must be positive, not {self.slope}")


def _beta(p: LIFParameters) -> float | Tensor:
    return p.beta.clamp(0.0, 1.0) if isinstance(p.beta, Tensor) else p.beta


def lif_step(x: Tensor, v: Tensor, p: LIFParameters = LIFParameters()) -> tuple[Tensor, Tensor]:
    """Advance the membrane ``v`` by one step of input current ``x``; returns ``(spikes, new_v)``.

    ``v' = beta*v + x``, ``s = H(v' - threshold)``, then ``v'' = v' - s*threshold``
    (subtract) or ``v'' = v'*(1 - s)`` (zero), with ``s`` detached in the reset.
    With ``p.reset_delay`` the reset of the previous spike happens here instead (see
    :class:`LIFParameters`).
    """
    beta, thr = _beta(p), p.threshold
    if p.reset_delay:
        # v is the previous pre-reset membrane: its own comparison is the previous spike.
        r = heaviside(v - thr).detach()
        if p.reset == "subtract":
            v_new = beta * v + x - r * thr
        else:
            v_new = beta * (v * (1.0 - r)) + x
        return spike(v_new - thr, p.slope, p.surrogate), v_new

    return _fire(beta * v + x, p)


def lif_rest_step(x: Tensor, p: LIFParameters = LIFParameters()) -> tuple[Tensor, Tensor]:
    """:func:`lif_step` from the resting membrane (``v = 0``, no delayed reset): the same numbers,
    without allocating the zeros or decaying them (the first step of every sequence)."""
    if p.reset_delay:
        raise ValueError("lif_rest_step: with reset_delay, start from lif_step and zeros")
    return _fire(x, p)


def _fire(v_new: Tensor, p: LIFParameters) -> tuple[Tensor, Tensor]:
    """Spike where the integrated membrane ``v_new`` exceeds the threshold, then reset it."""
    thr = p.threshold
    s = spike(v_new - thr, p.slope, p.surrogate)
    s_d = s.detach()
    if p.reset == "subtract":
        v_new = v_new - s_d * thr
    else:
        v_new = v_new * (1.0 - s_d)
    return s, v_new


def lif_initial_state(reference: Tensor) -> Tensor:
    """Resting membrane (zeros) shaped, typed and placed like ``reference``."""
    return torch.zeros_like(reference)
