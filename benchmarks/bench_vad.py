"""The voice activity detector's cost, on one core, against the trimming it replaced.

Baseline (same process): ``librosa.effects.trim`` (peak-relative energy, the trimming before the
noise-aware detector) over each recording. Then :func:`snnapp.core.vad.find_word` over the same
recordings, and the streaming :class:`snnapp.core.vad.Segmenter` fed 50 ms chunks of a long
session (FSDD words with pauses, engine noise 15 dB below them all the time), as ``listen`` and the
app feed it. Prints a Markdown table: milliseconds per second of audio and per 10 ms hop (the
aim: under 1 ms per 10 ms), and the ratio to the baseline.

    python benchmarks/bench_vad.py [--data-dir D] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the aim says

import numpy as np

from snnapp.core.data import list_fsdd, resolve_data_dir
from snnapp.core.preprocess import load_wav, make_noise, room_mix, to_mono
from snnapp.core.vad import Segmenter, find_word

RATE = 8000


def _per_second(fn, clips: list[np.ndarray], repeats: int = 3) -> float:
    """Median over repeats of the milliseconds ``fn`` takes per second of audio in ``clips``."""
    seconds = sum(c.size for c in clips) / RATE
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        for c in clips:
            fn(c)
        runs.append((time.process_time() - t0) * 1000 / seconds)
    return float(np.median(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--limit", type=int, default=300)
    args = ap.parse_args()
    import librosa

    paths = [c.path for c in list_fsdd(resolve_data_dir(args.data_dir), "test")[: args.limit]]
    words = [to_mono(*load_wav(p), RATE) for p in paths]
    rng = np.random.default_rng(0)
    rooms = [room_mix(w, RATE, "pink", 10.0, rng) for w in words]
    librosa.effects.trim(rooms[0], top_db=30, frame_length=256, hop_length=64)  # its first call compiles
    base = _per_second(lambda x: librosa.effects.trim(x, top_db=30, frame_length=256, hop_length=64), rooms)
    word = _per_second(lambda x: find_word(x, RATE), rooms)
    session = np.concatenate([np.concatenate([np.zeros(int(0.7 * RATE), np.float32), w]) for w in words])
    session = session + make_noise("engine", session.size, RATE, rng) * 0.01
    chunk = int(0.05 * RATE)

    def stream(x: np.ndarray) -> None:
        seg = Segmenter(RATE)
        for i in range(0, x.size, chunk):
            seg.push(x[i: i + chunk])
        seg.flush()

    streamed = _per_second(stream, [session], repeats=3)
    print(f"{len(words)} FSDD test words in pink noise at 10 dB; a session of {session.size / RATE:.0f} s for the stream")
    print()
    print("| cutting the word | ms per s of audio | ms per 10 ms | x baseline time |")
    print("|---|---:|---:|---:|")
    for name, ms in (("baseline: librosa.effects.trim (peak-relative)", base), ("find_word", word),
                     ("Segmenter, 50 ms chunks", streamed)):
        print(f"| {name} | {ms:.2f} | {ms / 100:.4f} | {ms / base:.2f} |")


if __name__ == "__main__":
    main()
