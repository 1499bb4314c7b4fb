"""The sides that ``bench_training.py`` compares, kept apart so that the script holds only the measurements.

Here: the MNIST arrays and the seeded batches every side shares (:func:`load_data`,
:func:`fixed_batches`); the baseline, snnTorch tutorial 6 (:func:`tutorial_net`, rate coded, one
call per step in :func:`tutorial_forward`); the same network built from snnapp's LIF
(:class:`PiecesNet`); the shipped image model's recipe (:func:`shipped_recipe`,
:func:`recipe_side`) and the variants of it in :data:`CANDIDATES`. :func:`build_side` gives each as a
:class:`Side`: network, optimizer, one training step and a forward pass. ``bench_training.py``
imports these by name: running it puts this folder on ``sys.path``, and so does the tests'
``load_script``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import functional as SF
from snntorch import spikegen, surrogate, utils
from torch import Tensor, nn

from snnapp.core.data import load_mnist
from snnapp.core.network import SpikingDigitNet
from snnapp.core.neurons import LIF, LIFParameters
from snnapp.core.training import TrainConfig, load_recipe, make_loss
from snnapp.core.training._trainer import resolve_precision

T_BASE, BETA, SLOPE = 25, 0.5, 25.0  # tutorial 6: beta 0.5, fast sigmoid slope 25
Step = Callable[[Tensor, Tensor], None]
Batches = list[tuple[Tensor, Tensor]]


class Mnist(NamedTuple):
    train_x: np.ndarray  # [N, 28, 28] uint8
    train_y: np.ndarray  # [N] int64
    test_x: np.ndarray
    test_y: np.ndarray


def load_data(data_dir: str | Path | None = None) -> Mnist:
    """MNIST train and test from ``data_dir`` (default: env ``SNNAPP_DATA_DIR``)."""
    d = Path(data_dir or os.environ.get("SNNAPP_DATA_DIR", "../shared/data"))
    (a, b), (c, e) = load_mnist(d, "train"), load_mnist(d, "test")
    return Mnist(a, b.astype(np.int64), c, e.astype(np.int64))


def to_tensor(images: np.ndarray) -> Tensor:
    """uint8 ``[B, 28, 28]`` -> float ``[B, 1, 28, 28]`` in [0, 1]."""
    return torch.from_numpy(images).float().div_(255.0).unsqueeze(1)


def fixed_batches(data: Mnist, n: int, size: int, seed: int = 0) -> Batches:
    """``n`` seeded random training batches, shared by every side."""
    idx = np.random.default_rng(seed).permutation(len(data.train_y))[: n * size].reshape(n, size)
    return [(to_tensor(data.train_x[i]), torch.from_numpy(data.train_y[i])) for i in idx]


# ------------------------------------------------------------------------------------ networks
def tutorial_net() -> nn.Sequential:
    """snnTorch tutorial 6: 12C5-MP2-64C5-MP2-FC10 with hidden-state Leaky neurons."""
    g = surrogate.fast_sigmoid(slope=SLOPE)
    return nn.Sequential(
        nn.Conv2d(1, 12, 5), nn.MaxPool2d(2), snn.Leaky(beta=BETA, spike_grad=g, init_hidden=True),
        nn.Conv2d(12, 64, 5), nn.MaxPool2d(2), snn.Leaky(beta=BETA, spike_grad=g, init_hidden=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 10), snn.Leaky(beta=BETA, spike_grad=g, init_hidden=True, output=True))


def tutorial_forward(net: nn.Sequential, x: Tensor) -> Tensor:
    """Tutorial loop: rate-code ``x``, reset, one call per step; output spikes ``[T, B, 10]``."""
    data = spikegen.rate(x, num_steps=T_BASE)
    utils.reset(net)
    return torch.stack([net(data[t])[0] for t in range(T_BASE)])


class PiecesNet(nn.Module):
    """The tutorial network from snnapp's LIF with explicit state. ``fold``: conv, pool and
    linear run once over all T steps folded into the batch; only the neurons loop over time."""

    def __init__(self, fold: bool = True, channels_last: bool = False) -> None:
        super().__init__()
        self.fold, self.cl = fold, channels_last
        self.conv1, self.conv2, self.fc = nn.Conv2d(1, 12, 5), nn.Conv2d(12, 64, 5), nn.Linear(64 * 4 * 4, 10)
        p = LIFParameters(beta=BETA, slope=SLOPE, reset_delay=True)  # reset_delay: snnTorch's Leaky
        self.lif1, self.lif2, self.lif3 = LIF(p), LIF(p), LIF(p)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _conv(self, conv: nn.Conv2d, x: Tensor) -> Tensor:
        return F.max_pool2d(conv(x.contiguous(memory_format=torch.channels_last) if self.cl else x), 2)

    @staticmethod
    def _loop(lif: LIF, drive: Tensor) -> Tensor:
        state, out = None, []
        for t in range(drive.shape[0]):
            s, state = lif(drive[t], state)
            out.append(s)
        return torch.stack(out)

    def forward(self, spikes: Tensor) -> Tensor:
        """``[T, B, 1, 28, 28]`` input spikes -> ``[T, B, 10]`` output spikes."""
        T, B = spikes.shape[:2]
        if self.fold:
            s1 = self._loop(self.lif1, self._conv(self.conv1, spikes.flatten(0, 1)).unflatten(0, (T, B)))
            s2 = self._loop(self.lif2, self._conv(self.conv2, s1.flatten(0, 1)).unflatten(0, (T, B)))
            return self._loop(self.lif3, self.fc(s2.flatten(2)))
        st1 = st2 = st3 = None
        out = []
        for t in range(T):
            s1, st1 = self.lif1(self._conv(self.conv1, spikes[t]), st1)
            s2, st2 = self.lif2(self._conv(self.conv2, s1), st2)
            s3, st3 = self.lif3(self.fc(s2.flatten(1)), st3)
            out.append(s3)
        return torch.stack(out)

    def copy_from(self, tut: nn.Sequential) -> "PiecesNet":
        """Take the tutorial network's weights (numerically equal runs)."""
        for dst, src in ((self.conv1, tut[0]), (self.conv2, tut[3]), (self.fc, tut[7])):
            dst.load_state_dict(src.state_dict())
        return self


class Side(NamedTuple):
    net: nn.Module
    opt: torch.optim.Optimizer
    step: Step  # forward + backward + optimizer step on one batch
    forward: Callable[[Tensor], Tensor]  # images [B, 1, 28, 28] -> output spikes [T, B, 10] or counts [B, 10]
    precision: str = "fp32"  # the arithmetic of its training forward pass


def build_side(kind: str, fold: bool = True, channels_last: bool = False, bf16: bool = False) -> Side:
    """``baseline`` (snnTorch tutorial, Adam 2e-3), ``pieces`` (same network and initial weights,
    snnapp's LIF and loss) or ``default`` (the shipped image model's recipe, see :func:`recipe_side`).
    ``bf16``: the forward pass under bfloat16 autocast."""
    if kind == "default":
        return recipe_side()
    torch.manual_seed(0)
    tut = tutorial_net()
    if kind == "baseline":
        net, opt = tut, torch.optim.Adam(tut.parameters(), lr=2e-3)
        loss = SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)
        fwd = lambda x: tutorial_forward(tut, x)  # noqa: E731
    elif kind == "pieces":
        net, count_loss = PiecesNet(fold, channels_last).copy_from(tut), make_loss("mse_count", T_BASE, 0.8, 0.2)
        opt, loss = torch.optim.Adam(net.parameters(), lr=2e-3), lambda out, y: count_loss(out.sum(0), y)
        fwd = lambda x: net(spikegen.rate(x, num_steps=T_BASE))  # noqa: E731
    else:
        raise ValueError(f"unknown side {kind!r}")
    return Side(net, opt, _train_step(net, opt, loss, fwd, bf16), fwd)


def recipe_side(network: dict | None = None, precision: str | None = None) -> Side:
    """The shipped image model's network, loss and AdamW, with other ``network`` settings or
    ``precision`` if given; its forward pass returns spike counts."""
    tc = shipped_recipe()
    tc = replace(tc, network=replace(tc.network, **(network or {})), precision=precision or tc.precision)
    tc = replace(tc, precision=resolve_precision(tc.precision, torch.device("cpu")))  # auto: as train decides
    torch.manual_seed(0)
    net = SpikingDigitNet(tc.network)
    loss = make_loss(tc.loss, net.cfg.num_steps, tc.correct_rate, tc.incorrect_rate)
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    fwd = lambda x: net(x).counts  # noqa: E731
    return Side(net, opt, _train_step(net, opt, loss, fwd, tc.precision == "bf16"), fwd, tc.precision)


def _train_step(net: nn.Module, opt: torch.optim.Optimizer, loss: Callable, fwd: Callable[[Tensor], Tensor],
                bf16: bool) -> Step:
    def step(x: Tensor, y: Tensor) -> None:
        net.train()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = fwd(x)
        loss(out.float(), y).backward()
        opt.step()
    return step


#: Variants of the default network measured beside it: (name, network settings, precision; None:
#: the default's own). The default runs T=3, pools currents, trains in the recipe's precision
#: ("auto": bf16 where the CPU computes it natively, else fp32) and holds one dropout mask per
#: sample; the first two rows are the configurations shipped before it.
CANDIDATES = (
    ("T=4, spikes pooled, fp32, a dropout mask per step (an earlier default)",
     {"num_steps": 4, "pool_before_spike": False, "dropout_mask": "step"}, "fp32"),
    ("T=4 (the previous default)", {"num_steps": 4}, None),
    ("fp32", {}, "fp32"),
    ("bf16 (native only with AVX512-BF16 or AMX)", {}, "bf16"),
    ("a dropout mask per step", {"dropout_mask": "step"}, None),
    ("16c3-32c3", {"image_channels": (16, 32)}, None),
)


def shipped_recipe() -> TrainConfig:
    """What ``snnapp train --mode image`` trains with no flags (the recipe of the shipped image
    model, ``snnapp/assets/recipes/image.toml``): what "default" measures."""
    return load_recipe("image").config()

