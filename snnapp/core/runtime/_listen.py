"""Headless listening: microphone or WAV replay -> voice activity -> one prediction per utterance.

The loop owns no signal handling: it stops when ``stop`` is set (the CLI sets it on SIGINT and
SIGTERM), at the end of a replayed file, or when the source fails. Latency is measured from the
end of the utterance (the moment the segmenter closes it) to the decision.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from snnapp.core.errors import Hint, InputError, SnnappError
from snnapp.core.preprocess import audio_features, stream_wav
from snnapp.core.vad import Segmenter, Utterance, VadConfig

from ._base import Backend

CHUNK_S = 0.05


def file_chunks(path: str | Path, stop: threading.Event, realtime: bool = True) -> tuple[int, Iterator[np.ndarray]]:
    """A recording of any length as chunks of 50 ms, paced at real time (or as fast as read), then 0.5 s of silence.

    Read block by block, so an hour-long recording takes no more memory than a second of it.
    """
    rate, blocks = stream_wav(path, CHUNK_S)
    silence = np.zeros(rate // 2, np.float32)
    step = int(rate * CHUNK_S)

    def gen() -> Iterator[np.ndarray]:
        t0 = time.monotonic()
        tail = (silence[i:i + step] for i in range(0, len(silence), step))
        for i, chunk in enumerate(itertools.chain(blocks, tail)):
            if stop.is_set():
                return
            if realtime:
                delay = t0 + i * CHUNK_S - time.monotonic()
                if delay > 0:
                    stop.wait(delay)
            yield chunk

    return rate, gen()


def mic_chunks(device: int | str | None, rate: int, stop: threading.Event) -> tuple[int, Iterator[np.ndarray]]:
    """Microphone chunks of 50 ms through sounddevice (imported here: optional dependency).

    The device (an index, a name or part of one, None for the default) is looked up at once, so
    one that does not exist is an :class:`InputError` naming it and the input devices there are,
    before anything else starts.
    """
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise InputError(f"the microphone needs the sounddevice package and PortAudio ({exc})",
                         hint=Hint("audio_file")) from None
    _input_device(sd, device)
    q: queue.Queue[np.ndarray] = queue.Queue()

    def gen() -> Iterator[np.ndarray]:
        try:
            with sd.InputStream(samplerate=rate, channels=1, dtype="float32", device=device,
                                blocksize=int(rate * CHUNK_S), callback=lambda d, *_: q.put(d[:, 0].copy())):
                while not stop.is_set():
                    try:
                        yield q.get(timeout=0.2)
                    except queue.Empty:
                        continue
        except (sd.PortAudioError, ValueError) as exc:
            raise InputError(f"microphone {'default' if device is None else repr(device)}: {exc}") from None

    return rate, gen()


def _input_device(sd: Any, device: int | str | None) -> None:
    """:class:`InputError` unless ``device`` names an input device (None: there is a default one)."""
    try:
        sd.query_devices(device, "input")
        return
    except (ValueError, sd.PortAudioError):  # ValueError for a name, PortAudioError for an index
        pass
    try:
        inputs = [f"{d['index']} {str(d['name'])!r}" for d in sd.query_devices() if d["max_input_channels"] > 0]
    except (ValueError, sd.PortAudioError):
        inputs = []
    there = f"the input devices here: {', '.join(inputs)}" if inputs else "there is no input device here"
    see = "`python -m sounddevice` lists all devices"
    if device is None:
        raise InputError(f"no default microphone: {there} (on Linux PulseAudio or PipeWire must be running; "
                         f"{see})", hint=(Hint("mic"), Hint("audio_file")))
    raise InputError(f"microphone {device!r}: no such input device; {there} ({see})", hint=Hint("mic"))


def listen(backend: Backend, rate: int, chunks: Iterator[np.ndarray], emit: Callable[[dict], None],
           stop: threading.Event, vad: VadConfig = VadConfig()) -> int:
    """Segment, predict and ``emit`` one dict per utterance until the source ends or ``stop``; returns the count."""
    seg = Segmenter(rate, vad)
    n = 0
    # warm-up: the first MFCC call compiles librosa's kernels (seconds); not the first utterance's latency
    backend.run(None, audio_features(np.full(rate // 2, 1e-3, np.float32), backend.config.audio, rate)[None])

    def handle(u: Utterance) -> None:
        nonlocal n
        t0 = time.perf_counter()
        row: dict = {"start_s": round(u.start_s, 3), "end_s": round(u.end_s, 3)}
        try:
            feats = audio_features(u.samples, backend.config.audio, rate)
            r = backend.run(None, feats[None])
            row.update(digit=int(r.digits[0]), probabilities=[round(float(p), 6) for p in r.probabilities[0]])
        except SnnappError as exc:
            row.update(digit=None, error=str(exc))
        row["latency_ms"] = round(1000 * (time.perf_counter() - t0), 2)
        n += 1
        emit(row)

    for chunk in chunks:
        for u in seg.push(chunk):
            handle(u)
        if stop.is_set():
            break
    if not stop.is_set():
        for u in seg.flush():
            handle(u)
    return n
