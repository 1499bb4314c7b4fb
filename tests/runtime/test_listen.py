"""The voice activity segmenter and ``snnapp listen --audio-file`` (fast and real-time, SIGTERM)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from snnapp.core import runtime
from snnapp.core.preprocess import load_wav
from snnapp.core.runtime import Segmenter, file_chunks, listen

SAMPLES = Path(__file__).resolve().parents[2] / "snnapp" / "assets" / "samples" / "audio"


@pytest.fixture(scope="module")
def sequence(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """Four sample digits separated by 0.6 s of quiet noise, as one WAV."""
    rng = np.random.default_rng(0)
    wavs = sorted(SAMPLES.glob("*.wav"))[:4]
    parts = []
    for w in wavs:
        d, rate = load_wav(w)
        parts += [rng.normal(0, 1e-4, int(0.6 * rate)).astype(np.float32), d.mean(axis=1)]
    parts.append(np.zeros(int(0.6 * rate), np.float32))
    path = tmp_path_factory.mktemp("wav") / "digits.wav"
    sf.write(path, np.concatenate(parts), rate)
    return path, len(wavs)


def test_segmenter_finds_each_utterance(sequence) -> None:
    path, n = sequence
    data, rate = load_wav(path)
    seg = Segmenter(rate)
    cuts = [u for i in range(0, len(data), 400) for u in seg.push(data[i:i + 400])] + seg.flush()
    assert len(cuts) == n
    assert all(0.2 < u.end_s - u.start_s < 1.5 for u in cuts)
    assert all(a.end_s <= b.start_s for a, b in zip(cuts, cuts[1:]))
    assert Segmenter(rate).push(np.zeros(rate, np.float32)) == []  # silence is no utterance


def test_listening_is_public_in_the_runtime() -> None:
    from snnapp.core import vad

    names = {"listen", "file_chunks", "mic_chunks", "CHUNK_S", "Segmenter", "Utterance", "VadConfig"}
    assert names <= set(runtime.__all__) and all(hasattr(runtime, n) for n in runtime.__all__)
    assert runtime.Segmenter is vad.Segmenter  # the one segmenter, under its public name


def test_listen_predicts_each_utterance_of_a_replay(exported, sequence) -> None:
    import threading

    path, n = sequence
    backend = runtime.open_backend(exported("audio"), "onnx")
    rate, chunks = file_chunks(path, threading.Event(), realtime=False)
    rows: list[dict] = []
    assert listen(backend, rate, chunks, rows.append, threading.Event()) == n == len(rows)
    assert all(r["digit"] in range(10) for r in rows)


def test_listen_replay_prints_one_json_line_per_utterance(exported, sequence) -> None:
    path, n = sequence
    res = subprocess.run([sys.executable, "-c", "from snnapp.cli import main; main()", "listen", "--model", str(exported("audio")),
                          "--audio-file", str(path), "--fast"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == n
    for r in rows:
        assert r["digit"] in range(10) and len(r["probabilities"]) == 10 and r["latency_ms"] < 1000


def test_listen_stops_cleanly_on_sigterm(exported, sequence) -> None:
    path, _ = sequence
    proc = subprocess.Popen([sys.executable, "-c", "from snnapp.cli import main; main()", "listen", "--model", str(exported("audio")),
                             "--audio-file", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_a_recording_longer_than_one_digit_replays_in_bounded_memory(tmp_path) -> None:
    """Replay takes a recording of any length (many digits), block by block, unlike the one-digit reader."""
    import threading

    from snnapp.core.errors import InputError

    rng = np.random.default_rng(1)
    wavs = sorted(SAMPLES.glob("*.wav"))
    parts, n = [], 0
    rate = None
    while sum(len(p) for p in parts) < 90 * (rate or 22050):  # 90 s: beyond load_wav's 60 s for one digit
        d, rate = load_wav(wavs[n % len(wavs)])
        parts += [rng.normal(0, 1e-4, int(0.6 * rate)).astype(np.float32), d.mean(axis=1)]
        n += 1
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate(parts), rate)
    with pytest.raises(InputError, match="at most 60 s"):
        load_wav(path)
    got_rate, chunks = file_chunks(path, threading.Event(), realtime=False)
    sizes = [len(c) for c in chunks]
    assert got_rate == rate and max(sizes) == int(rate * 0.05)
    assert sum(sizes) == sum(len(p) for p in parts) + rate // 2  # every sample, then the trailing silence
    seg = Segmenter(rate)
    _, chunks = file_chunks(path, threading.Event(), realtime=False)
    cuts = [u for c in chunks for u in seg.push(c)] + seg.flush()
    assert abs(len(cuts) - n) <= 1
