"""All T steps of a current-based LIF layer from rest as one autograd node, for training.

Looping :func:`lif_step` records about a dozen autograd nodes per step (decay, integrate,
compare, surrogate, detach, reset), each keeping its own copy of a full-size tensor, and the
backward pass walks them one by one. Here the forward runs the same arithmetic without
recording, keeps only the integrated membrane of each step, and the backward pass is the
hand-written back-propagation through time of the same equations:

    v_t = beta * u_(t-1) + x_t          (u_(-1) = 0: from rest)
    s_t = H(v_t - threshold)            (surrogate derivative backward)
    u_t = v_t - s_t * threshold         (subtract; the reset uses the detached spike)
    u_t = v_t * (1 - s_t)               (zero)

so dL/dv_t = dL/ds_t * sg(v_t - threshold) + beta * dL/dv_(t+1) * du_t/dv_t, with du/dv = 1
(subtract) or 1 - s_t (zero). The spikes are bit-identical to the step loop's, the gradients
equal up to the order of floating-point additions (tested). A fixed beta only: learnable
decays and the delayed reset keep the step loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._lif import LIFParameters
from ._surrogate import _DERIVATIVES


def fusable(p: LIFParameters) -> bool:
    """Whether :func:`lif_sequence` computes these parameters' dynamics."""
    return not isinstance(p.beta, Tensor) and not p.reset_delay


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, drive: Tensor, steps: int, constant: bool, p: LIFParameters) -> Tensor:
        beta, thr = float(p.beta), p.threshold
        v_all = torch.empty((steps,) + drive.shape[int(not constant):], dtype=drive.dtype, device=drive.device)
        spikes = torch.empty_like(v_all)
        u = None
        for t in range(steps):
            x = drive if constant else drive[t]
            v = v_all[t]
            if u is None:
                v.copy_(x)
            else:
                torch.add(beta * u, x, out=v)  # the step loop's order of operations, so equal bits
            s = spikes[t]
            s.copy_(v > thr)
            u = v - s * thr if p.reset == "subtract" else v * (1.0 - s)
        ctx.save_for_backward(v_all, spikes)
        ctx.p, ctx.constant = p, constant
        return spikes

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor) -> tuple[Tensor | None, None, None, None]:
        v_all, spikes = ctx.saved_tensors
        p: LIFParameters = ctx.p
        beta, thr = float(p.beta), p.threshold
        derivative = _DERIVATIVES[p.surrogate]
        steps = v_all.shape[0]
        grad_drive = torch.empty_like(v_all) if not ctx.constant else None
        total = None
        g_next = None  # dL/dv of the following step
        for t in reversed(range(steps)):
            g = grad_spikes[t] * derivative(v_all[t] - thr, p.slope)
            if g_next is not None:
                carry = g_next if p.reset == "subtract" else g_next * (1.0 - spikes[t])
                g = g.add_(carry, alpha=beta)
            if grad_drive is not None:
                grad_drive[t] = g
            else:
                total = g.clone() if total is None else total.add_(g)
            g_next = g
        return (grad_drive if grad_drive is not None else total), None, None, None


def lif_sequence(drive: Tensor, steps: int, p: LIFParameters = LIFParameters(), *, constant: bool = False) -> Tensor:
    """Spikes ``[steps, ...]`` of a LIF layer started from rest; ``drive`` is ``[steps, ...]``
    (one input current per step) or, with ``constant``, the same current ``[...]`` at every step.

    Only for :func:`fusable` parameters; the result equals looping :func:`lif_step`.
    """
    if not fusable(p):
        raise ValueError("lif_sequence: learnable beta and the delayed reset need the step loop")
    if not constant and drive.shape[0] != steps:
        raise ValueError(f"lif_sequence: drive has {drive.shape[0]} steps, not {steps}")
    return _LIFSequence.apply(drive, steps, constant, p)
