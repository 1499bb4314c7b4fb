"""Spike non-linearity: a Heaviside step forward, a smooth surrogate derivative backward.

The step has zero gradient almost everywhere, so training replaces its derivative by a
smooth bump around the threshold (Neftci, Mostafa & Zenke 2019). At export and inference
no gradient is needed, and an ``autograd.Function`` is an opaque op to some exporters, so
the same call can fall back to the plain comparison ``(x > 0).to(x.dtype)``, which ONNX
exports as ``Greater`` + ``Cast`` at any opset (``torch.heaviside`` has no mapping at low
opsets).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor

Surrogate = Literal["fast_sigmoid", "atan"]
SURROGATES: tuple[str, ...] = ("fast_sigmoid", "atan")

# Module-level switch read by ``spike``; flipped by ``no_surrogate``. A global rather than a
# thread-local so that an export started in one thread sees the same setting everywhere.
_SURROGATE_ENABLED: bool = True


def _fast_sigmoid(x: Tensor, slope: float) -> Tensor:
    """``1 / (slope*|x| + 1)^2``: peak 1, area 2/slope."""
    return 1.0 / (slope * x.abs() + 1.0) ** 2


def _atan(x: Tensor, slope: float) -> Tensor:
    """``1 / (1 + (pi/2*slope*x)^2)``.

    Scaled to peak 1 and area 2/slope, like the fast sigmoid with the same slope, so that
    switching surrogate does not rescale the gradients. snnTorch's ``ATan(alpha)`` is this
    times ``alpha/2`` (peak alpha/2, area 1).
    """
    return 1.0 / (1.0 + (0.5 * math.pi * slope * x) ** 2)


class _Spike(torch.autograd.Function):
    """Step forward; the given surrogate derivative backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, slope: float, derivative: Callable[[Tensor, float], Tensor]) -> Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        ctx.derivative = derivative
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad_out * ctx.derivative(x, ctx.slope), None, None


_DERIVATIVES = {"fast_sigmoid": _fast_sigmoid, "atan": _atan}


def heaviside(x: Tensor) -> Tensor:
    """The plain step ``(x > 0)`` in ``x``'s dtype; exports as Greater + Cast."""
    return (x > 0).to(x.dtype)


def surrogate_enabled() -> bool:
    """Whether ``spike`` currently uses a surrogate gradient (False inside ``no_surrogate``)."""
    return _SURROGATE_ENABLED


@contextmanager
def no_surrogate() -> Iterator[None]:
    """Within this block every ``spike`` is the plain comparison: for export and inference."""
    global _SURROGATE_ENABLED
    previous = _SURROGATE_ENABLED
    _SURROGATE_ENABLED = False
    try:
        yield
    finally:
        _SURROGATE_ENABLED = previous


def spike(
    v_minus_threshold: Tensor,
    slope: float = 25.0,
    surrogate: Surrogate | None = "fast_sigmoid",
) -> Tensor:
    """Spikes (0/1, same dtype) where ``v_minus_threshold > 0``.

    ``surrogate`` picks the backward pass; ``None`` -- or being inside ``no_surrogate()``,
    or inside ``torch.onnx.export`` -- gives the plain comparison without an
    ``autograd.Function`` (no surrogate gradient, exportable as Greater + Cast).
    """
    if surrogate is None or not _SURROGATE_ENABLED or torch.onnx.is_in_onnx_export():
        return heaviside(v_minus_threshold)
    try:
        derivative = _DERIVATIVES[surrogate]
    except KeyError:
        raise ValueError(f"unknown surrogate {surrogate!r}; choose one of {SURROGATES}") from None
    return _Spike.apply(v_minus_threshold, float(slope), derivative)
