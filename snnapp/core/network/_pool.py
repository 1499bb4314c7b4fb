"""2x2 max pooling from four strided slices, with max_pool2d's gradient routing.

On CPU, PyTorch's ``max_pool2d`` on contiguous NCHW tensors is slow: in a profile of the image
network's training it was the largest single cost after the convolutions' backward pass. Three
element-wise maxima of strided slices give the same values without a layout copy; forward and
backward together run 1.2-1.5x faster on the image network's sizes (benchmarks/bench_kernels.py).
The backward pass sends each output's gradient to the first maximum of its window in row-major
order, as ``max_pool2d`` does, which matters for spikes, where ties are the rule.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def _corners(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four corners of every 2x2 window, in row-major order."""
    return x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        a, b, c, d = _corners(x)
        y = torch.maximum(torch.maximum(a, b), torch.maximum(c, d))
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, y = ctx.saved_tensors
        out = torch.zeros_like(x)
        taken = None
        for corner, (i, j) in zip(_corners(x), ((0, 0), (0, 1), (1, 0), (1, 1))):
            won = corner == y
            if taken is None:
                taken = won
            else:
                won = won & ~taken
                taken = taken | won
            out[..., i::2, j::2] = grad * won
        return out


def max_pool2x2(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, 2)`` for ``[..., H, W]`` with even H and W: the same values and gradients
    (for inputs without NaN); odd sizes, and ONNX export (a MaxPool node), use ``max_pool2d``."""
    if x.shape[-1] % 2 or x.shape[-2] % 2 or torch.onnx.is_in_onnx_export():
        return F.max_pool2d(x, 2)
    return _MaxPool2x2.apply(x)
