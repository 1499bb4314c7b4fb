"""The one voice activity detector: find_word cuts the digit out of a recording in a noisy room,
and the streaming Segmenter finds each word of a session with noise playing all the time."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from snnapp.core.data import list_fsdd
from snnapp.core.preprocess import AudioConfig, load_wav, make_noise, room_mix, to_mono, trim_silence
from snnapp.core.vad import Segmenter, find_word

RATE = 8000


@pytest.fixture(scope="module")
def words(data_dir: Path) -> list[np.ndarray]:
    """Twenty FSDD training recordings of all digits and speakers (never the test takes)."""
    clips = list_fsdd(data_dir, "train")[::135][:20]
    return [to_mono(*load_wav(c.path), RATE) for c in clips]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def _placed(word: np.ndarray, kind: str, snr: float, seed: int, pool: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """The word in a room and where it starts (room_mix draws the noise before the word first)."""
    mixed = room_mix(word, RATE, kind, snr, np.random.default_rng(seed), pool)
    return mixed, int(RATE * np.random.default_rng(seed).uniform(0.25, 0.75))


@pytest.mark.parametrize("kind", ["white", "pink", "hum", "engine", "clicks"])
def test_the_word_is_found_in_a_noisy_room(words, kind):
    hits = []
    for i, w in enumerate(words):
        ref, at = _placed(w, "white", 50.0, i, words)  # nearly silent room: where the word is
        clean = find_word(ref, RATE)
        assert clean is not None
        noisy, at2 = _placed(w, kind, 10.0, 100 + i, words)
        got = find_word(noisy, RATE)
        truth = (clean[0] - at + at2, clean[1] - at + at2)
        hits.append(got is not None and _overlap(truth, got) > 0.7)
    assert np.mean(hits) >= 0.7, hits


def test_a_quiet_room_keeps_the_whole_word(words):
    for i, w in enumerate(words):
        ref, at = _placed(w, "white", 50.0, i, words)
        start, end = find_word(ref, RATE)
        kept = w[max(0, start - at): max(0, end - at)]
        assert np.sum(kept.astype(np.float64) ** 2) >= 0.95 * np.sum(w.astype(np.float64) ** 2)
        assert end - start < len(w) + 0.2 * RATE  # and not much of the room


def test_noise_or_silence_alone_holds_no_word():
    rng = np.random.default_rng(0)
    assert find_word(np.zeros(RATE, np.float32), RATE) is None
    for kind in ("white", "pink", "hum", "engine"):
        assert find_word(0.05 * make_noise(kind, 2 * RATE, RATE, rng), RATE) is None, kind


def test_trimming_by_noise_is_the_new_default_and_old_models_keep_peak_trimming(words):
    from snnapp.core.modelio import ModelConfig

    assert AudioConfig().trim == "noise" and AudioConfig.from_dict({}).trim == "noise"
    assert AudioConfig.from_saved({}).trim == "peak"  # a model saved before the setting existed
    assert AudioConfig.from_saved({"trim": "noise"}).trim == "noise"
    noisy, _ = _placed(words[0], "pink", 10.0, 0, words)
    cut = trim_silence(noisy, AudioConfig())
    start, end = find_word(noisy, RATE)
    assert np.array_equal(cut, noisy[start:end])
    import json

    from snnapp.core.predict import shipped_model

    saved = json.loads((Path(shipped_model("audio")) / "config.json").read_text())
    saved["audio"].pop("trim", None)
    assert ModelConfig.from_dict(saved).audio.trim == "peak"


def test_the_segmenter_finds_each_word_of_a_session_in_a_noisy_room(words):
    """Ten words with pauses, engine noise 15 dB below the speech playing the whole time."""
    rng = np.random.default_rng(1)
    parts, starts = [], []
    pos = 0
    for w in words[:10]:
        gap = np.zeros(int(RATE * rng.uniform(0.6, 1.0)), np.float32)
        parts += [gap, w]
        starts.append(pos + gap.size)
        pos += gap.size + w.size
    parts.append(np.zeros(RATE, np.float32))
    speech = np.concatenate(parts)
    level = np.mean([np.mean(w.astype(np.float64) ** 2) for w in words[:10]])
    noise = make_noise("engine", speech.size, RATE, rng) * np.sqrt(level / 10 ** 1.5)
    stream = (speech + noise).astype(np.float32)
    seg = Segmenter(RATE)
    t0 = time.process_time()
    cuts = [u for i in range(0, stream.size, 400) for u in seg.push(stream[i: i + 400])] + seg.flush()
    per_10ms = (time.process_time() - t0) / (stream.size / RATE * 100)
    found = sum(any(u.start_s - 0.15 <= s / RATE <= u.end_s for u in cuts) for s in starts)
    assert found >= 9 and len(cuts) <= 11, [(round(u.start_s, 2), round(u.end_s, 2)) for u in cuts]
    assert per_10ms < 1e-3  # well under a millisecond per 10 ms of audio




def test_a_word_after_digital_silence_is_heard_from_its_soft_onset(words):
    """A virtual microphone gives exact zeros until the word: its first frames rise far above the
    floor while still too quiet to be speech, and must not be taken for noise (they once lifted
    the threshold above the whole word)."""
    for rate in (8000, 16000):
        w = np.interp(np.arange(int(len(words[3]) * rate / RATE)) * RATE / rate, np.arange(len(words[3])), words[3])
        w = w * np.minimum(1.0, np.arange(w.size) / (0.08 * rate))  # 80 ms fade-in
        w = (w * 10 ** (-50 / 20) / np.sqrt(np.mean(w ** 2))).astype(np.float32)  # a quiet voice: -50 dBFS
        stream = np.concatenate([np.zeros(rate // 2, np.float32), w, np.zeros(rate, np.float32)])
        seg = Segmenter(rate)
        cuts = [u for i in range(0, stream.size, rate // 20) for u in seg.push(stream[i: i + rate // 20])]
        cuts += seg.flush()
        assert len(cuts) == 1 and cuts[0].start_s < 0.5 + w.size / rate / 2, (rate, cuts)
