"""Feature extraction of all FSDD recordings: a plain librosa loop vs snnapp's feature cache.

Baseline (same process): ``librosa.load`` at 8 kHz and ``librosa.feature.mfcc`` one clip at a time,
the way a tutorial does it. Then snnapp's :func:`compute_features`: the project's own audio path
(trim, MFCC, frames), computed in worker processes and written to the cache, then read back from
it, as a second training run does. Prints a Markdown table of times and ratios.

    python benchmarks/bench_features.py [--data-dir D] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import librosa

from snnapp.core.data import list_fsdd, resolve_data_dir
from snnapp.core.features import compute_features
from snnapp.core.preprocess import AudioConfig


def plain_librosa(paths: list[Path]) -> float:
    """Seconds for the tutorial-style loop over ``paths``."""
    warnings.filterwarnings("ignore", message="n_fft=")  # librosa's default n_fft exceeds short clips
    t0 = time.perf_counter()
    for p in paths:
        y, sr = librosa.load(p, sr=8000)
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N recordings")
    args = ap.parse_args(argv)
    paths = [c.path for c in list_fsdd(resolve_data_dir(args.data_dir), "all")][: args.limit]
    cfg = AudioConfig()
    plain_librosa(paths[:5])  # warm-up: numba compilation, file cache
    rows = [("plain librosa loop, one clip at a time", plain_librosa(paths))]
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        compute_features(paths, cfg, cache_dir=Path(cache), workers=1)
        rows.append(("snnapp audio path, 1 process", time.perf_counter() - t0))
        for f in (Path(cache) / "features").iterdir():
            f.unlink()
        t0 = time.perf_counter()
        compute_features(paths, cfg, cache_dir=Path(cache))
        rows.append((f"snnapp audio path, {min(4, os.cpu_count() or 1)} processes", time.perf_counter() - t0))
        t0 = time.perf_counter()
        compute_features(paths, cfg, cache_dir=Path(cache))
        rows.append(("snnapp, second run (from the cache)", time.perf_counter() - t0))
    base = rows[0][1]
    print(f"{len(paths)} recordings\n\n| method | seconds | speed-up vs plain loop |\n|---|---:|---:|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} | {base / sec:.1f}x |")


if __name__ == "__main__":
    main()
