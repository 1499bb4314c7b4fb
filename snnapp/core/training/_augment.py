"""Augmentation of training batches. Images, in torch: small shifts, rotations, scaling, shear and
stroke thickness, so that digits drawn on a pad or photographed are recognised as well as MNIST's.

Audio is augmented on the waveform (see :mod:`snnapp.core.features`) and, optionally, on its
features: :func:`mask_features` blanks stretches of time and bands of coefficients (SpecAugment's
masking), so that no single stretch or coefficient, which may carry more of the speaker than of
the digit, can decide alone.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def augment_images(x: Tensor, gen: torch.Generator, strength: float = 1.0) -> Tensor:
    """Random affine warp and stroke thickening/thinning of ``[B, 1, 28, 28]`` images in [0, 1]."""
    b = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float) -> Tensor:
        return (torch.rand(b, generator=gen) * (hi - lo) + lo).to(dev)

    s = strength
    angle = u(-12 * s, 12 * s) * math.pi / 180
    scale = u(1 - 0.12 * s, 1 + 0.12 * s)
    shear = u(-0.15 * s, 0.15 * s)
    tx, ty = u(-0.12 * s, 0.12 * s), u(-0.12 * s, 0.12 * s)  # fraction of half the width: ~1.7 px
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos, -sin + shear, tx], 1),
        torch.stack([sin, cos, ty], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    # Stroke thickness: a third thicker (max-pool dilation), a third thinner (erosion), a third as is.
    which = (torch.rand(b, generator=gen) * 3).long().to(dev).view(b, 1, 1, 1)
    thick = F.max_pool2d(y, 3, 1, 1)
    thin = -F.max_pool2d(-y, 3, 1, 1)
    thick = 0.5 * (y + thick)
    thin = 0.5 * (y + thin)
    y = torch.where(which == 0, thick, torch.where(which == 1, thin, y))
    return y.clamp_(0.0, 1.0)


#: Widest mask, as a fraction of the frames (time) and of the coefficients.
MAX_TIME_MASK, MAX_COEF_MASK = 0.125, 0.15


def mask_features(frames: np.ndarray, rng: np.random.Generator, masks: int, blocks: int = 1) -> np.ndarray:
    """A copy of ``[B, frames, coefficients]`` features with ``masks`` time masks and ``masks``
    coefficient masks per example, each set to 0 (the features' mean after per-utterance
    normalisation). A mask's width is drawn from 0 up to an eighth of the frames (time) or 15 %
    of the coefficients, its start uniformly; masks may overlap.

    ``blocks``: the coefficients are that many equal blocks of the same bands (the MFCC, then
    their deltas: 2); a coefficient mask covers the same bands in every block, so it never
    straddles the boundary between two blocks, and a masked band is gone with its deltas."""
    out = np.array(frames, dtype=np.float32, copy=True)
    if masks <= 0 or out.size == 0:
        return out
    b, t, c = out.shape
    if blocks < 1 or c % blocks:
        raise ValueError(f"{c} coefficients do not split into {blocks} equal blocks")
    bands = c // blocks
    for axis, size, widest in ((1, t, max(1, int(MAX_TIME_MASK * t))), (2, bands, max(1, int(MAX_COEF_MASK * bands)))):
        width = rng.integers(0, widest + 1, size=(b, masks))
        start = np.floor(rng.random((b, masks)) * (size - width + 1)).astype(np.int64)
        pos = np.arange(size)
        hit = ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(axis=1)  # [B, size]
        if axis == 1:
            out[hit] = 0.0
        else:
            out.transpose(0, 2, 1)[np.tile(hit, (1, blocks))] = 0.0
    return out
