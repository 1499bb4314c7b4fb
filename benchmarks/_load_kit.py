"""Measurement plumbing and inputs for ``bench_load.py``, kept apart so that the script holds only the runs.

Here: this process's resident memory and open file descriptors (read from ``/proc``), the
:class:`Sample` taken between blocks of inputs and the :class:`_Probe` that takes them, the
per-run :class:`LoadResult` and :func:`summarise` (warm-up, growth, slope, quarter rates), a stdout
that only counts lines; and the inputs: MNIST test images written as PNG files, FSDD clips, an hour
of speech written as one WAV file with the :class:`Timeline` of its clips, and :func:`match`, which
scores utterances against that timeline. ``bench_load.py`` imports these by name: running it puts
this folder on ``sys.path``, and so does the tests' ``load_script``.
"""

from __future__ import annotations

import gc
import io
import itertools
import os
import random
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

# ---------------------------------------------------------------------------------------------- measuring
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Resident set size of this process, MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Sample:
    t: float  # seconds since the start of the run
    done: float  # inputs done (or audio seconds replayed)
    rss_mb: float
    fds: int
    traced_mb: float | None = None  # Python allocations (tracemalloc), where traced


@dataclass
class LoadResult:
    """One run's numbers; ``done`` counts inputs, or audio seconds for listen."""

    name: str
    unit: str
    n: float
    wall_s: float
    warmup: float  # the inputs (or seconds) after which memory is read as the baseline
    rss_start_mb: float = 0.0
    rss_warm_mb: float = 0.0
    rss_max_after_warm_mb: float = 0.0
    rss_end_mb: float = 0.0
    growth_mb: float = 0.0  # largest RSS after warm-up minus RSS at warm-up
    slope_mb: float = 0.0  # RSS slope over the second half, MB per `slope_per` units
    slope_per: float = 1000.0
    traced_growth_mb: float | None = None
    fds_before: int = 0
    fds_after: int = 0
    fds_max: int = 0
    rate: float = 0.0  # units per wall second
    quarter_rates: list[float] = field(default_factory=list)
    stability: float = 0.0  # last quarter / first quarter (after warm-up)
    accuracy: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list, repr=False)

    @property
    def fd_leak(self) -> int:
        return self.fds_after - self.fds_before


def _at(samples: list[Sample], done: float) -> Sample:
    """The first sample at or past ``done``."""
    return next((s for s in samples if s.done >= done), samples[-1])


def summarise(res: LoadResult) -> LoadResult:
    """Memory, handle and throughput figures from the run's samples."""
    s = res.samples
    warm = _at(s, res.warmup)
    after = [x for x in s if x.done >= warm.done]
    res.rss_start_mb, res.rss_warm_mb, res.rss_end_mb = s[0].rss_mb, warm.rss_mb, s[-1].rss_mb
    res.rss_max_after_warm_mb = max(x.rss_mb for x in after)
    res.growth_mb = res.rss_max_after_warm_mb - warm.rss_mb
    half = [x for x in s if x.done >= res.n / 2]
    if len(half) >= 2 and half[-1].done > half[0].done:
        slope = np.polyfit([x.done for x in half], [x.rss_mb for x in half], 1)[0]
        res.slope_mb = float(slope * res.slope_per)
    if warm.traced_mb is not None and s[-1].traced_mb is not None:
        res.traced_growth_mb = max(x.traced_mb or 0.0 for x in after) - warm.traced_mb
    res.fds_max = max(x.fds for x in s)
    res.rate = res.n / res.wall_s if res.wall_s > 0 else 0.0
    # quarters of the run after warm-up (the first inputs pay for loading and compiling kernels)
    span = s[-1].done - warm.done
    marks = [warm] + [_at(s, warm.done + span * q / 4) for q in range(1, 5)]
    res.quarter_rates = [(b.done - a.done) / (b.t - a.t) if b.t > a.t else 0.0 for a, b in itertools.pairwise(marks)]
    res.stability = res.quarter_rates[-1] / res.quarter_rates[0] if res.quarter_rates[0] else 0.0
    return res


class _Probe:
    """Takes samples: time, progress, RSS, handles and (with ``trace``) Python-allocated memory."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.samples: list[Sample] = []
        self.t0 = 0.0

    def __enter__(self) -> Self:
        gc.collect()
        if self.trace:
            tracemalloc.start()
        self.t0 = time.perf_counter()
        self.take(0)
        return self

    def take(self, done: float) -> None:
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if self.trace else None
        self.samples.append(Sample(time.perf_counter() - self.t0, done, rss_mb(), open_fds(), traced))

    def __exit__(self, *exc: object) -> None:
        if self.trace:
            tracemalloc.stop()


class _LineCounter(io.TextIOBase):
    """A stdout that counts lines and keeps nothing."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)


# ---------------------------------------------------------------------------------------------- inputs
def write_mnist_pngs(data_dir: Path, folder: Path, n: int) -> np.ndarray:
    """``n`` MNIST test images as PNG files named in order (repeating past 10,000); their labels."""
    from PIL import Image

    from snnapp.core.data import load_mnist

    images, labels = load_mnist(data_dir, "test")
    folder.mkdir(parents=True, exist_ok=True)
    out = np.empty(n, np.int64)
    for i in range(n):
        k = i % len(images)
        Image.fromarray(images[k]).save(folder / f"{i:06d}.png")
        out[i] = labels[k]
    return out


def fsdd_clips(data_dir: Path, n: int | None = None) -> tuple[list[Path], np.ndarray]:
    """``n`` FSDD recordings in the data set's order (all 3,000 again and again past 3,000; default:
    each once) and their digits."""
    from snnapp.core.data import list_fsdd

    every = list_fsdd(data_dir, "all")
    clips = [every[i % len(every)] for i in range(len(every) if n is None else n)]
    return [c.path for c in clips], np.array([c.digit for c in clips], np.int64)


@dataclass
class Timeline:
    """Where each clip lies in the replayed stream: start and end (s) and digit."""

    start: np.ndarray
    end: np.ndarray
    digit: np.ndarray


def write_hour(data_dir: Path, path: Path, seconds: float, pause_s: float = 0.6, rate: int = 8000,
               seed: int = 0) -> Timeline:
    """One WAV file of FSDD clips (shuffled, repeated as needed), each after a pause of near silence,
    until ``seconds`` of audio; and where each clip lies in it. Written clip by clip: memory stays at
    one clip."""
    import soundfile as sf

    from snnapp.core.preprocess import load_wav, to_mono

    paths, digits = fsdd_clips(data_dir)
    order = list(range(len(paths)))
    random.Random(seed).shuffle(order)
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    starts: list[float] = []
    ends: list[float] = []
    labels: list[int] = []
    written = 0
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        for k in itertools.cycle(order):
            if written >= seconds * rate:
                break
            data, r = load_wav(paths[k])
            clip = to_mono(data, r, rate)
            pause = (rng.standard_normal(int(pause_s * rate)) * 1e-4).astype(np.float32)
            out.write(pause)
            out.write(clip)
            starts.append((written + len(pause)) / rate)
            written += len(pause) + len(clip)
            ends.append(written / rate)
            labels.append(int(digits[k]))
    return Timeline(np.array(starts), np.array(ends), np.array(labels))


def _wav_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


# ---------------------------------------------------------------------------------------------- scoring
def match(timeline: Timeline, rows: list[tuple[float, float, int | None]]) -> tuple[int, int, int, int]:
    """Utterances against clips by overlap: (clips found, of which with the right digit, utterances
    that overlap no clip, clips cut into more than one utterance). A clip's digit is its first
    utterance's."""
    hits = np.zeros(len(timeline.start), np.int64)
    right = np.zeros(len(timeline.start), bool)
    stray = 0
    for s, e, digit in rows:
        lo = int(np.searchsorted(timeline.end, s))  # the first clip that ends after the utterance starts
        best, best_ov = -1, 0.0
        for k in range(max(0, lo - 1), min(len(timeline.start), lo + 2)):
            ov = min(e, timeline.end[k]) - max(s, timeline.start[k])
            if ov > best_ov:
                best, best_ov = k, ov
        if best < 0:
            stray += 1
            continue
        hits[best] += 1
        if hits[best] == 1:
            right[best] = digit is not None and int(digit) == int(timeline.digit[best])
    return int((hits > 0).sum()), int(right.sum()), stray, int((hits > 1).sum())
