"""Losses on output spike counts.

``mse_count`` is snnTorch's ``mse_count_loss``: the correct neuron should fire in a fraction
``correct_rate`` of the steps and every other neuron in ``incorrect_rate`` of them; the loss is
the mean squared error between spike counts and these targets, divided by the number of steps.
As in snnTorch, the targets are whole spike counts, ``int(rate * num_steps)`` (e.g. 3 and 0 for
rates 0.8 and 0.2 over 4 steps).

``mse_rate`` is the same loss without the truncation: targets ``rate * num_steps`` as real numbers
and no division by the number of steps (Adam is insensitive to that scale). With few time steps the
truncation matters: at T=4 every incorrect rate below 0.25 becomes a target of zero spikes, so the
incorrect rate could not be tuned at all. It is the default.

``ce_count`` is cross-entropy on the spike counts taken as logits.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from snnapp.core.errors import ConfigError

LossKind = Literal["mse_rate", "mse_count", "ce_count"]
LOSSES: tuple[str, ...] = ("mse_rate", "mse_count", "ce_count")
LossFn = Callable[[Tensor, Tensor], Tensor]


def mse_count_loss(counts: Tensor, labels: Tensor, num_steps: int, correct_rate: float, incorrect_rate: float) -> Tensor:
    target = torch.full_like(counts, float(int(num_steps * incorrect_rate)))
    target.scatter_(1, labels.view(-1, 1), float(int(num_steps * correct_rate)))
    return F.mse_loss(counts, target) / num_steps


def mse_rate_loss(counts: Tensor, labels: Tensor, num_steps: int, correct_rate: float, incorrect_rate: float) -> Tensor:
    target = torch.full_like(counts, incorrect_rate * num_steps)
    target.scatter_(1, labels.view(-1, 1), correct_rate * num_steps)
    return F.mse_loss(counts, target)


def make_loss(kind: str, num_steps: int, correct_rate: float, incorrect_rate: float) -> LossFn:
    """The loss by name, with its rates checked."""
    if kind in ("mse_count", "mse_rate"):
        if not 0.0 <= incorrect_rate < correct_rate <= 1.0:
            raise ConfigError(
                f"need 0 <= incorrect rate < correct rate <= 1, got {incorrect_rate} and {correct_rate}")
        fn = mse_count_loss if kind == "mse_count" else mse_rate_loss
        return lambda counts, labels: fn(counts, labels, num_steps, correct_rate, incorrect_rate)
    if kind == "ce_count":
        return lambda counts, labels: F.cross_entropy(counts, labels)
    raise ConfigError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")
