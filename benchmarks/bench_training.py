"""Training and inference samples/s, and time to 99 % MNIST test accuracy, against snnTorch.

All in one process, every side on the same batches, warm-up excluded, median of repeats:
baseline = snnTorch tutorial 6 network, rate coded (T=25), one call per step; pieces = the same
network from snnapp's LIF (per-step or time folded into the batch, channels_last, threads);
default = snnapp's shipped image network (T=4, direct input). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
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
from snnapp.core.encoders import EncoderConfig
from snnapp.core.examples import Examples, make_batch
from snnapp.core.modelio import load_model
from snnapp.core.network import SpikingDigitNet, decide
from snnapp.core.neurons import LIF, LIFParameters
from snnapp.core.predict import shipped_model
from snnapp.core.training import TrainConfig, make_loss
from snnapp.core.training._augment import augment_images  # the shipped training's augmentation

T_BASE, BETA, SLOPE = 25, 0.5, 25.0  # tutorial 6: beta 0.5, fast sigmoid slope 25
Step = Callable[[Tensor, Tensor], None]
Batches = list[tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class BenchConfig:
    batch_size: int = 128
    batches: int = 20  # timed batches per repeat
    warmup: int = 3
    repeats: int = 3
    infer_batch: int = 256
    profile_batches: int = 3
    time_budget: float = 1800.0  # training seconds per side for time-to-accuracy
    eval_every: int = 100  # batches between evaluations on the test subset
    eval_subset: int = 2000
    test_limit: int | None = None  # None: all 10,000 test images confirm a crossing


QUICK = BenchConfig(batch_size=8, batches=2, warmup=1, repeats=1, infer_batch=16, profile_batches=1,
                    time_budget=2.0, eval_every=2, eval_subset=32, test_limit=64)


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
    torch.manual_seed(0)
    net = SpikingDigitNet(tc.network)
    loss = make_loss(tc.loss, net.cfg.num_steps, tc.correct_rate, tc.incorrect_rate)
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    fwd = lambda x: net(x).counts  # noqa: E731
    return Side(net, opt, _train_step(net, opt, loss, fwd, tc.precision == "bf16"), fwd)


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


#: Variants of the default network measured beside it: (name, network settings, precision).
CANDIDATES = (
    ("pool currents before the neurons", {"pool_before_spike": True}, "fp32"),
    ("pool before + bf16 autocast", {"pool_before_spike": True}, "bf16"),
    ("pool before, 16c3-32c3", {"pool_before_spike": True, "image_channels": (16, 32)}, "fp32"),
    ("pool before, 32c3-32c3", {"pool_before_spike": True, "image_channels": (32, 32)}, "fp32"),
    ("pool before, 24c3-48c3, T=3", {"pool_before_spike": True, "image_channels": (24, 48), "num_steps": 3}, "fp32"),
    ("pool before, T=2", {"pool_before_spike": True, "num_steps": 2}, "fp32"),
)


def shipped_recipe() -> TrainConfig:
    """The network and training settings of the shipped image model: what "default" measures."""
    return TrainConfig.of_model(load_model(shipped_model("image")).config)


# ------------------------------------------------------------------------------------ measuring
def throughput(step: Step, batches: Batches, cfg: BenchConfig, threads: int | None = None) -> dict:
    """Median samples/s of ``step`` over ``batches[cfg.warmup:]`` after the warm-up batches,
    with ``threads`` torch threads (None: unchanged)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads or old)
    try:
        for x, y in batches[: cfg.warmup]:
            step(x, y)
        timed, rates = batches[cfg.warmup:], []
        for r in range(cfg.repeats):
            torch.manual_seed(r)  # the same rate-coded spikes for every side
            t0 = time.perf_counter()
            for x, y in timed:
                step(x, y)
            rates.append(sum(len(y) for _, y in timed) / (time.perf_counter() - t0))
    finally:
        torch.set_num_threads(old)
    return {"samples_per_s": statistics.median(rates), "repeats": rates}


_CATEGORIES = (("conv backward", ("convolution_backward",)), ("max-pool backward", ("max_pool2d_with_indices_backward",)),
               ("spike fn + surrogate (Python autograd)", ("FastSigmoid",)), ("autograd nodes", ("Backward",)),
               ("conv forward", ("conv",)), ("max-pool forward", ("max_pool",)), ("linear", ("addmm", "aten::mm")),
               ("optimizer", ("_foreach", "Optimizer", "adam")), ("rate encoding", ("bernoulli", "rand")))


def profile(step: Step, batches: Batches, top: int = 10) -> dict:
    """Self-CPU-time shares of the top ops and of op groups (the rest: mostly neuron updates)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for x, y in batches:
            step(x, y)
    ev = sorted((e for e in prof.key_averages() if e.self_cpu_time_total > 0), key=lambda e: -e.self_cpu_time_total)
    total, groups = sum(e.self_cpu_time_total for e in ev), defaultdict(float)
    for e in ev:
        g = next((c for c, keys in _CATEGORIES if any(k in e.key for k in keys)), "elementwise (neuron updates), other")
        groups[g] += e.self_cpu_time_total / total
    return {"groups": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
            "top_ops": [(e.key, e.self_cpu_time_total / total) for e in ev[:top]]}


def time_to_accuracy(kind: str, target: float = 0.99, max_seconds: float = 1800.0, data: Mnist | None = None,
                     cfg: BenchConfig = BenchConfig(), seed: int = 0) -> dict:
    """Train ``kind`` ("baseline" or "default") from scratch until MNIST test accuracy reaches
    ``target``: checked every ``cfg.eval_every`` batches on a fixed test subset, confirmed on the
    whole test set. Returns the training seconds (evaluation excluded) to reach it, or the best
    reached within ``max_seconds``. The default follows the shipped image model's recipe (AdamW,
    OneCycle over its epochs, augmentation); the baseline the tutorial's (Adam, fixed lr)."""
    data, tc, side = data or load_data(), shipped_recipe(), build_side(kind)
    ex, rng = Examples("image", data.train_y, images=data.train_x), np.random.default_rng(seed)
    n_test = min(cfg.test_limit or len(data.test_y), len(data.test_y))
    sub = rng.choice(n_test, min(cfg.eval_subset, n_test), replace=False)
    per_epoch = max(1, len(ex) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(side.opt, max_lr=tc.lr, total_steps=tc.epochs * per_epoch,
                                                pct_start=0.15) if kind == "default" else None
    gen = torch.Generator().manual_seed(seed)
    aug = (lambda x: augment_images(x, gen)) if tc.augment else None

    def train_batch(idx: np.ndarray) -> None:
        if sched is None:
            return side.step(to_tensor(data.train_x[idx]), torch.from_numpy(data.train_y[idx]))
        b = make_batch(ex, idx, side.net.cfg.num_steps, EncoderConfig(), torch.device("cpu"), image_aug=aug)
        side.step(b.image, b.labels)
        if sched.last_epoch + 1 < sched.total_steps:
            sched.step()

    @torch.no_grad()
    def accuracy(idx: np.ndarray) -> float:
        side.net.eval()
        ok = 0
        with torch.random.fork_rng():  # the same rate-coded test spikes each time; training RNG untouched
            torch.manual_seed(seed)
            for part in np.array_split(idx, max(1, len(idx) // 500)):
                if sched is None:  # the tutorial's accuracy: most output spikes
                    pred = side.forward(to_tensor(data.test_x[part])).sum(0).argmax(1).numpy()
                else:  # snnapp's readout: most spikes, ties to the higher membrane
                    out = side.net(to_tensor(data.test_x[part]))
                    pred = decide(out.counts.numpy(), out.out_mem[-1].numpy())
                ok += int((pred == data.test_y[part]).sum())
        return ok / len(idx)

    res = {"kind": kind, "reached": False, "max_seconds": max_seconds, "test_images": n_test, "history": []}
    train_s, batches, wall0 = 0.0, 0, time.perf_counter()
    while not res["reached"] and (batches == 0 or train_s < max_seconds):
        order = rng.permutation(len(ex))
        for b in range(per_epoch):
            t0 = time.perf_counter()
            train_batch(order[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            train_s, batches = train_s + time.perf_counter() - t0, batches + 1
            if batches % cfg.eval_every and train_s < max_seconds:
                continue
            h = {"batches": batches, "train_s": train_s, "subset_accuracy": accuracy(sub)}
            res["history"].append(h)
            if h["subset_accuracy"] >= target or train_s >= max_seconds:
                h["test_accuracy"] = accuracy(np.arange(n_test))
                res["reached"] = h["test_accuracy"] >= target
            if res["reached"] or train_s >= max_seconds:
                break
    final = res["history"][-1]
    return res | {"train_s": train_s, "wall_s": time.perf_counter() - wall0, "batches": batches,
                  "test_accuracy": final.get("test_accuracy"),
                  "best_subset_accuracy": max(h["subset_accuracy"] for h in res["history"])}


# ------------------------------------------------------------------------------------ the run
def run_throughput(cfg: BenchConfig, data: Mnist) -> dict:
    """Training and inference samples/s of every side, and the baseline's profile."""
    train_b = fixed_batches(data, cfg.batches + cfg.warmup, cfg.batch_size)
    infer_b = fixed_batches(data, cfg.batches + cfg.warmup, cfg.infer_batch)
    base, n = build_side("baseline"), torch.get_num_threads()
    res: dict = {"baseline": throughput(base.step, train_b, cfg),
                 "baseline_profile": profile(base.step, train_b[: cfg.profile_batches])}
    variants = [("per-step", False, False, False, None), ("folded", True, False, False, None),
                ("folded + channels_last", True, True, False, None), ("per-step + bf16 autocast", False, False, True, None)]
    variants += [(f"folded, {k} thread(s)", True, False, False, k) for k in sorted({1, n // 2} - {0, n})]  # never more than now
    res["pieces"] = {name: throughput(build_side("pieces", fold, cl, bf16).step, train_b, cfg, k)
                     for name, fold, cl, bf16, k in variants}
    res["default"] = throughput(build_side("default").step, train_b, cfg)
    res["candidates"] = {name: throughput(recipe_side(net, prec).step, train_b, cfg) for name, net, prec in CANDIDATES}
    res["inference"] = {}
    for kind in ("baseline", "default"):
        side = build_side(kind)
        side.net.eval()
        with torch.no_grad():
            res["inference"][kind] = throughput(lambda x, y: side.forward(x), infer_b, cfg)
    return res


def ratios(res: dict) -> dict:
    """Speed-ups against the baseline of the same run: samples/s, and time to target accuracy
    (a lower bound when only the baseline missed it within its budget)."""
    tp, base = res["throughput"], res["throughput"]["baseline"]["samples_per_s"]
    out = {f"pieces: {k}": v["samples_per_s"] / base for k, v in tp["pieces"].items()}
    out["default"] = tp["default"]["samples_per_s"] / base
    out |= {f"candidate: {k}": v["samples_per_s"] / base for k, v in tp.get("candidates", {}).items()}
    out["inference default"] = tp["inference"]["default"]["samples_per_s"] / tp["inference"]["baseline"]["samples_per_s"]
    tb, td = (res.get("time_to_accuracy") or {}).get("baseline"), (res.get("time_to_accuracy") or {}).get("default")
    if tb and td and td["reached"]:
        out["time to target" + ("" if tb["reached"] else " (lower bound)")] = tb["train_s"] / td["train_s"]
    return out


def report(res: dict) -> str:
    """The results as Markdown tables."""
    tp, r, c = res["throughput"], res["ratios"], res["config"]
    rows = [(f"baseline: snnTorch tutorial, T=25, batch {c['batch_size']}", tp["baseline"], 1.0)]
    rows += [(f"pieces: {k}", v, r[f"pieces: {k}"]) for k, v in tp["pieces"].items()]
    rows += [("snnapp default: T=4, direct", tp["default"], r["default"])]
    rows += [(f"default network, {k}", v, r[f"candidate: {k}"]) for k, v in tp.get("candidates", {}).items()]
    rows += [(f"inference, batch {c['infer_batch']}: baseline", tp["inference"]["baseline"], 1.0),
             ("inference: snnapp default", tp["inference"]["default"], r["inference default"])]
    lines = ["| training (forward+backward+step) | samples/s | x baseline |", "|---|---:|---:|"]
    lines += [f"| {name} | {v['samples_per_s']:,.1f} | {x:.2f} |" for name, v, x in rows]
    lines += ["", "| baseline profile, self CPU | share |", "|---|---:|"]
    lines += [f"| {k} | {v:.1%} |" for k, v in tp["baseline_profile"]["groups"].items()]
    lines += [f"| op `{k}` | {v:.1%} |" for k, v in tp["baseline_profile"]["top_ops"]]
    p = {k: v["samples_per_s"] for k, v in tp["pieces"].items()}
    helped = {"folded vs per-step": p["folded"] / p["per-step"], "channels_last (folded)": p["folded + channels_last"] / p["folded"],
              "bf16 autocast (per-step)": p["per-step + bf16 autocast"] / p["per-step"]}
    helped |= {f"{k.split(', ')[1]} vs {res['environment']['threads']} (folded)": v / p["folded"]
               for k, v in p.items() if "thread" in k}
    lines += ["", "| pieces option | speed-up | helped (> 5 %) |", "|---|---:|---|"]
    lines += [f"| {k} | {v:.2f} | {'yes' if v > 1.05 else 'no'} |" for k, v in helped.items()]
    if res.get("time_to_accuracy"):
        lines += ["", f"| time to {res['target']:.1%} test accuracy | training s | result |", "|---|---:|---|"]
    for k, t in (res.get("time_to_accuracy") or {}).items():
        got = "reached" if t["reached"] else f"not reached (best subset {t['best_subset_accuracy']:.4f}); final"
        acc = "n/a" if t["test_accuracy"] is None else f"{t['test_accuracy']:.4f}"
        lines.append(f"| {k} | {'' if t['reached'] else '> '}{t['train_s']:.0f} | {got} {acc} on {t['test_images']} images |")
    lines += [f"\n{k}, speed-up vs baseline: {v:.2f}" for k, v in r.items() if k.startswith("time to")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Parse the flags, run, print the Markdown report, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    ap.add_argument("--batches", type=int, help="timed batches per repeat")
    ap.add_argument("--time-budget", type=float, help="training seconds per side for time-to-accuracy")
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--skip-time-to-accuracy", action="store_true")
    ap.add_argument("--data-dir", help="default: env SNNAPP_DATA_DIR")
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args(argv)
    cfg = QUICK if a.quick else BenchConfig()
    cfg = replace(cfg, batches=a.batches or cfg.batches, time_budget=a.time_budget or cfg.time_budget)
    data = load_data(a.data_dir)
    res: dict = {"config": asdict(cfg), "target": a.target, "environment": {
        "torch": torch.__version__, "snntorch": snn.__version__, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(), "python": platform.python_version()}}
    res["throughput"] = run_throughput(cfg, data)
    if not a.skip_time_to_accuracy:
        res["time_to_accuracy"] = {k: time_to_accuracy(k, a.target, cfg.time_budget, data, cfg) for k in ("baseline", "default")}
    res["ratios"] = ratios(res)
    print(report(res))
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
