"""Training and inference samples/s, and time to 99 % MNIST test accuracy, against snnTorch.

All in one process, every side on the same batches, warm-up excluded, median of repeats:
baseline = snnTorch tutorial 6 network, rate coded (T=25), one call per step; pieces = the same
network from snnapp's LIF (per-step or time folded into the batch, channels_last, threads);
default = snnapp's shipped image network and recipe (few steps, direct input). See benchmarks/README.md.

The sides themselves (the networks, their optimizers and training steps, the shared batches) are
built in ``_training_sides.py`` beside this file; this file measures them.
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

import numpy as np
import snntorch as snn
import torch
from _training_sides import (
    CANDIDATES,
    Batches,
    Mnist,
    Step,
    build_side,
    fixed_batches,
    load_data,
    recipe_side,
    shipped_recipe,
    to_tensor,
)
from _training_sides import PiecesNet, tutorial_net  # noqa: F401  (the smoke test checks them against snnTorch)
from snntorch import utils  # noqa: F401  (the smoke test resets the tutorial network with it)

from snnapp.core.encoders import EncoderConfig
from snnapp.core.examples import Examples, make_batch
from snnapp.core.network import decide
from snnapp.core.training._augment import augment_images  # the shipped training's augmentation


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
    default = build_side("default")
    res["default"] = throughput(default.step, train_b, cfg) | {"num_steps": default.net.cfg.num_steps,
                                                                "precision": default.precision}
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
    rows += [(f"snnapp default: T={tp['default']['num_steps']}, direct, {tp['default']['precision']}", tp["default"],
              r["default"])]
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
