"""Inference speed of the shipped models: torch eager vs onnxruntime, side by side in one run.

For each model: batch-1 latency of the network alone (preprocessed input -> digit) and of the
whole pipeline (file -> MFCC or 28x28 image -> spikes -> network -> digit), and throughput at
batch 256. onnxruntime runs the one-step graph in a host loop (what the app streams) and the
whole-window graph (batch work). Ratios are against torch eager in the same process.

    python benchmarks/bench_inference.py [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np

from snnapp.core.predict import shipped_model
from snnapp.core.preprocess import audio_features, image_features
from snnapp.core.runtime import OnnxBackend, TorchBackend
from snnapp.core.modelio import load_model

SAMPLES = Path(__file__).resolve().parents[1] / "snnapp" / "assets" / "samples"


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bench_model(mode: str, repeats: int, threads: int) -> list[tuple[str, str, float]]:
    import torch

    torch.set_num_threads(threads)
    folder = load_model(shipped_model(mode))
    backends = {"torch eager": TorchBackend(folder),
                "onnx step loop": OnnxBackend(folder, threads=threads, use_window=False),
                "onnx window": OnnxBackend(folder, threads=threads)}
    if mode == "audio":
        src = SAMPLES / "audio" / "7_espeak.wav"
        feats = lambda: (None, audio_features(src, folder.config.audio)[None])  # noqa: E731
    else:
        src = SAMPLES / "image" / "7_drawn.png"
        feats = lambda: (image_features(src, folder.config.image)[None], None)  # noqa: E731
    img, aud = feats()
    big = (None if img is None else np.repeat(img, 256, 0), None if aud is None else np.repeat(aud, 256, 0))
    rows = []
    for name, be in backends.items():
        # The step loop is what the host runs when it streams: force it by passing a state.
        run = (lambda b=be, i=img, a=aud: b.readout(*b.simulate(b.encode(i, a), b.initial_state(1))[:2])) \
            if name == "onnx step loop" else (lambda b=be, i=img, a=aud: b.run(i, a))
        rows.append((name, "network, batch 1 (ms)", median_ms(run, repeats)))
        rows.append((name, "whole pipeline, batch 1 (ms)", median_ms(lambda b=be: b.run(*feats()), repeats)))
        t = median_ms(lambda b=be: b.run(*big), max(3, repeats // 10))
        rows.append((name, "throughput, batch 256 (samples/s)", 256 / (t / 1000)))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    ap.add_argument("--modes", default="audio,image")
    args = ap.parse_args(argv)
    for mode in args.modes.split(","):
        rows = bench_model(mode, args.repeats, args.threads)
        base = {m: v for n, m, v in rows if n == "torch eager"}
        print(f"\n### {mode} model ({args.threads} thread(s))\n\n| backend | measure | value | vs torch eager |\n|---|---|---:|---:|")
        for name, measure, value in rows:
            ratio = value / base[measure] if "samples/s" in measure else base[measure] / value
            print(f"| {name} | {measure} | {value:.2f} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
