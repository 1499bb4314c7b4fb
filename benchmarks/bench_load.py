"""Load: ``snnapp predict`` over 10,000 inputs and ``snnapp listen`` over an hour of audio, in one process.

What it measures, for each run:
- **memory**: resident set size (RSS) after a warm-up, its largest value after that, and the slope
  over the run's second half (MB per 1,000 inputs, or per 10 minutes of audio); flat means the
  growth after warm-up stays within a few MB whatever the length of the run;
- **file handles**: open descriptors (``/proc/self/fd``) before and after, and the largest count
  during the run: a leak grows with every input;
- **throughput**: inputs/s (predict) or audio seconds per wall second (listen), for the whole run
  and for each quarter of the run after warm-up; last quarter / first quarter is the stability ratio;
- **accuracy**: the predicted digits against the known ones, so a fast run is also a correct one.

The predict runs go through what ``snnapp predict --image-dir`` (``--audio-dir``) runs: the folder
listing and one :class:`~snnapp.core.predict.Predictor`, on the onnx backend; the images are MNIST
test images written as PNG files, the recordings the FSDD clips. Inputs are fed in blocks so that
memory, handles and speed can be read between blocks. Two more runs go over the whole folder with
the output going to a counter: the CLI command itself, and the same loop over
``Predictor.iter_files`` (each line written as soon as its input is predicted). The listen run replays an hour made of FSDD
clips separated by pauses, written as one WAV file, through the core's ``file_chunks`` (not paced)
and ``listen``, one segmenter over the whole hour: what ``snnapp listen --audio-file F --fast`` runs.

    python benchmarks/bench_load.py                      # 10,000 images, 10,000 clips, one hour
    python benchmarks/bench_load.py --quick              # seconds; checks that it runs
    python benchmarks/bench_load.py --json-out load.json

The measurement plumbing (RSS, descriptors, samples, the per-run summary) and the inputs (the PNG
files, the clips, the hour of speech and its timeline) are in ``_load_kit.py`` beside this file.

Needs the data sets (``--data-dir`` or ``SNNAPP_DATA_DIR``) and Linux (``/proc``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from _load_kit import (
    LoadResult,
    Timeline,
    _LineCounter,
    _Probe,
    _wav_seconds,
    fsdd_clips,
    match,
    open_fds,
    rss_mb,
    summarise,
    write_hour,
    write_mnist_pngs,
)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------------------------- runs
def bench_predict(files: list[Path], labels: np.ndarray, *, kind: str = "image", backend: str = "onnx",
                  model: Path | None = None, block: int = 100, warmup: int | None = None, trace: bool = False,
                  on_block: Callable[[int], None] | None = None) -> LoadResult:
    """One Predictor over ``files`` in blocks of ``block`` (what ``snnapp predict --image-dir`` runs)."""
    from snnapp.core.predict import Predictor, shipped_model

    n = len(files)
    pred = Predictor(model or shipped_model(kind), device="cpu", backend=backend)
    digits = np.full(n, -1, np.int64)
    errors = 0
    res = LoadResult(f"predict {kind} ({backend})", "inputs", n, 0.0, warmup if warmup is not None else max(block, n // 10))
    fds_before = open_fds()
    with _Probe(trace) as probe:
        for start in range(0, n, block):
            part = files[start:start + block]
            rows = pred.predict_files(part, None) if kind == "image" else pred.predict_files(None, part)
            for i, row in enumerate(rows):
                if row.error:
                    errors += 1
                else:
                    digits[start + i] = row.digit
            del rows
            if on_block is not None:
                on_block(start)
            probe.take(start + len(part))
        res.wall_s = probe.samples[-1].t
    res.samples = probe.samples
    res.fds_before, res.fds_after = fds_before, open_fds()
    res.accuracy = float(np.mean(digits == labels))
    res.extra = {"errors": errors, "block": block}
    return summarise(res)


def bench_predict_cli(folder: Path, n: int, backend: str = "onnx", stream: bool = False) -> dict[str, Any]:
    """``snnapp predict --image-dir FOLDER --json --backend onnx`` in this process, output counted:
    wall time, lines out, RSS before/after and at its largest (sampled every 0.1 s), handles.

    With ``stream``, the command's own loop over :meth:`Predictor.iter_files` instead of
    :meth:`Predictor.predict_files` (each line written as soon as its input is predicted).
    Allocations are traced: the peak of Python memory held says what the run keeps per input.
    """
    from snnapp.cli._predict import predict_command

    peak = [rss_mb()]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], rss_mb())

    def streamed() -> None:
        from snnapp.core.predict import (
            IMAGE_SUFFIXES,
            Predictor,
            files_in,
            shipped_model,
        )

        for row in Predictor(shipped_model("image"), backend=backend).iter_files(files_in(folder, IMAGE_SUFFIXES)):
            sys.stdout.write(json.dumps(row.to_dict()) + "\n")

    gc.collect()
    before, fds_before = rss_mb(), open_fds()
    out = _LineCounter()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    tracemalloc.start()  # RSS keeps what the allocator once took; traced memory says what the run held
    traced0 = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        if stream:
            streamed()
        else:
            predict_command(model=None, image=None, audio=None, image_dir=folder, audio_dir=None, as_json=True,
                            device="cpu", backend=backend)
    wall = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stop.set()
    watcher.join()
    gc.collect()
    return {"run": "iter_files loop" if stream else "predict command", "n": n, "lines": out.lines, "wall_s": wall,
            "rate": n / wall, "traced_peak_mb": (traced_peak - traced0) / 2**20, "rss_before_mb": before,
            "rss_peak_mb": max(peak[0], rss_mb()), "rss_after_mb": rss_mb(), "fds_before": fds_before,
            "fds_after": open_fds()}


def bench_listen(path: Path, timeline: Timeline, *, backend: str = "onnx", model: Path | None = None,
                 every_s: float = 60.0, warmup_s: float | None = None, trace: bool = False) -> LoadResult:
    """What ``snnapp listen --audio-file PATH --fast`` runs: the core's ``file_chunks`` (not paced)
    into one ``listen`` loop, one segmenter over the whole recording; measured every ``every_s``
    seconds of audio."""
    from snnapp.core.predict import shipped_model
    from snnapp.core.runtime import file_chunks, listen, open_backend

    b = open_backend(model or shipped_model("audio"), backend, "cpu")
    stop = threading.Event()
    total_s = _wav_seconds(path) + 0.5  # file_chunks adds half a second of silence
    res = LoadResult(f"listen ({backend})", "audio s", total_s, 0.0,
                     warmup_s if warmup_s is not None else min(300.0, total_s / 10), slope_per=600.0)
    size = len(timeline.start) * 2 + 16  # the utterances, kept in arrays made before measuring starts
    starts, ends, latencies = np.zeros(size), np.zeros(size), np.zeros(size)
    digits = np.full(size, -1, np.int64)
    count = [0]

    def emit(row: dict) -> None:
        i = count[0]
        if i < size:
            starts[i], ends[i], latencies[i] = row["start_s"], row["end_s"], row["latency_ms"]
            digits[i] = -1 if row.get("digit") is None else row["digit"]
        count[0] += 1

    fds_before = open_fds()
    with _Probe(trace) as probe:
        rate, chunks = file_chunks(path, stop, realtime=False)
        if rate != b.config.audio.sample_rate:
            raise ValueError(f"{path}: {rate} Hz, the model listens at {b.config.audio.sample_rate} Hz")

        def counted() -> Iterator[np.ndarray]:
            heard, mark = 0, every_s
            for chunk in chunks:
                yield chunk
                heard += len(chunk)
                if heard / rate >= mark:
                    probe.take(heard / rate)
                    mark += every_s
            probe.take(heard / rate)

        n = listen(b, rate, counted(), emit, stop)
        res.wall_s = probe.samples[-1].t
    res.samples = probe.samples
    res.fds_before, res.fds_after = fds_before, open_fds()
    k = min(n, size)
    rows = [(float(starts[i]), float(ends[i]), None if digits[i] < 0 else int(digits[i])) for i in range(k)]
    hit, right, stray, split = match(timeline, rows)
    res.accuracy = right / hit if hit else 0.0
    res.extra = {"clips": len(timeline.start), "utterances": n, "found": hit, "right": right, "stray": stray,
                 "split": split, "latency_ms_median": float(np.median(latencies[:k])) if k else None,
                 "latency_ms_p99": float(np.percentile(latencies[:k], 99)) if k else None}
    return summarise(res)


# ---------------------------------------------------------------------------------------------- report
def table(results: list[LoadResult]) -> str:
    """Markdown: one row per run."""
    head = ("| run | n | wall s | rate | last/first quarter | RSS at warm-up MB | growth after warm-up MB "
            "| slope MB | fds before → after (max) | accuracy |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
    rows = []
    for r in results:
        per = f"/{r.slope_per:g} {'inputs' if r.unit == 'inputs' else 's audio'}"
        unit = "inputs/s" if r.unit == "inputs" else "audio s / s"
        rows.append(f"| {r.name} | {r.n:,.0f} {r.unit} | {r.wall_s:.1f} | {r.rate:,.1f} {unit} | {r.stability:.2f} "
                    f"| {r.rss_warm_mb:.1f} | {r.growth_mb:+.1f} | {r.slope_mb:+.2f}{per} "
                    f"| {r.fds_before} → {r.fds_after} ({r.fds_max}) | {100 * r.accuracy:.2f} % |")
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=os.environ.get("SNNAPP_DATA_DIR"))
    ap.add_argument("--images", type=int, default=10_000, help="Images for predict (MNIST test, repeated past 10,000).")
    ap.add_argument("--clips", type=int, default=10_000, help="FSDD recordings for predict, the 3,000 repeated "
                    "(0: skip).")
    ap.add_argument("--hours", type=float, default=1.0, help="Audio to listen to, in hours (0: skip).")
    ap.add_argument("--block", type=int, default=100, help="Inputs per predict call between measurements.")
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--no-cli", action="store_true", help="Skip the runs through the predict command itself.")
    ap.add_argument("--trace", action="store_true", help="Also trace Python allocations (slower).")
    ap.add_argument("--workdir", type=Path, help="Where the inputs are written (default: a temporary folder).")
    ap.add_argument("--quick", action="store_true", help="300 images, 100 clips, 3 minutes of audio.")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)
    if args.data_dir is None:
        ap.error("give --data-dir or set SNNAPP_DATA_DIR")
    if args.quick:
        args.images, args.clips, args.hours, args.block = 300, 100, 0.05, 25
    data_dir = args.data_dir.resolve()
    results: list[LoadResult] = []
    cli: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="snnapp-load-", dir=args.workdir) as tmp:
        work = Path(tmp)
        if args.images:
            t0 = time.perf_counter()
            labels = write_mnist_pngs(data_dir, work / "images", args.images)
            print(f"wrote {args.images:,} PNG files in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            from snnapp.core.predict import IMAGE_SUFFIXES, files_in

            files = files_in(work / "images", IMAGE_SUFFIXES)  # the listing --image-dir makes
            results.append(bench_predict(files, labels, backend=args.backend, block=args.block, trace=args.trace))
            print(table(results[-1:]), file=sys.stderr)
            if not args.no_cli:
                for stream in (False, True):
                    cli.append(bench_predict_cli(work / "images", args.images, args.backend, stream=stream))
                    print(cli[-1], file=sys.stderr)
        if args.clips:
            paths, digits = fsdd_clips(data_dir, args.clips)
            results.append(bench_predict(paths, digits, kind="audio", backend=args.backend, block=args.block,
                                         trace=args.trace))
            print(table(results[-1:]), file=sys.stderr)
        if args.hours:
            t0 = time.perf_counter()
            timeline = write_hour(data_dir, work / "hour.wav", args.hours * 3600)
            print(f"wrote {args.hours * 3600:,.0f} s of speech ({len(timeline.start):,} clips) in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
            results.append(bench_listen(work / "hour.wav", timeline, backend=args.backend, trace=args.trace))
            print(table(results[-1:]), file=sys.stderr)
    print(table(results))
    for r in results:
        q = ", ".join(f"{x:,.1f}" for x in r.quarter_rates)
        print(f"- {r.name}: quarters {q}; RSS start {r.rss_start_mb:.1f} MB, end {r.rss_end_mb:.1f} MB; "
              f"{', '.join(f'{k} {v}' for k, v in r.extra.items())}")
    for c in cli:
        print(f"- {c['run']} over the folder (allocations traced): {c['lines']:,} lines in {c['wall_s']:.1f} s "
              f"({c['rate']:,.1f} inputs/s); Python memory held at its peak {c['traced_peak_mb']:+.1f} MB; "
              f"RSS {c['rss_before_mb']:.1f} -> peak {c['rss_peak_mb']:.1f} -> {c['rss_after_mb']:.1f} MB; "
              f"fds {c['fds_before']} -> {c['fds_after']}")
    if args.json_out:
        payload = {"results": [{**asdict(r), "samples": [asdict(x) for x in r.samples]} for r in results],
                   "predict_command": cli, "threads": os.environ.get("OMP_NUM_THREADS"), "cpus": os.cpu_count()}
        args.json_out.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
