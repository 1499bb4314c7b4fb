"""Hostile and clumsy audio files: WAV files with broken or lying headers and odd sample formats,
through ``load_wav`` and ``audio_features`` (sample arrays: test_fuzz_audio_arrays.py).

Every input must end in finite ``[n_frames, n_mfcc]`` features or an :class:`InputError` naming the
file (or "audio samples") and the problem: never another exception, a hang, or unbounded memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnapp.core.errors import InputError
from snnapp.core.preprocess import audio_features, load_wav
from snnapp.core.preprocess._audio import (
    MAX_CHANNELS,
    MAX_RATE,
    MAX_SAMPLES,
    MAX_SECONDS,
    MIN_RATE,
)

from .wav_kit import CFG, sensible, tone, wav_bytes

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _features_or_error(path: Path) -> np.ndarray | None:
    """Features of ``path``, or None after an InputError that names the file."""
    t0 = time.perf_counter()
    try:
        f = audio_features(path, CFG)
    except InputError as err:
        assert path.name in str(err), err
        return None
    finally:
        assert time.perf_counter() - t0 < 20, "one small file took over 20 s"
    sensible(f)
    return f


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_audio")


# ----------------------------------------------------------------------------------- headers

_PCM16 = (tone(2000) * 32767).astype("<i2").tobytes()


@FUZZ
@given(fmt=st.sampled_from([1, 3, 0xFFFE, 0, 2, 6, 7, 0x55, 0xFFFF]),
       channels=st.one_of(st.integers(0, 8), st.sampled_from([63, 64, 65, 1024, 1025, 65535])),
       rate=st.one_of(st.sampled_from([0, 1, 999, 1000, 8000, 44100, 384000, 384001, 2**31 - 1, 2**32 - 1]),
                      st.integers(0, 2**32 - 1)),
       bits=st.sampled_from([0, 1, 4, 7, 8, 12, 16, 20, 24, 32, 48, 64, 65535]),
       data_size=st.one_of(st.none(), st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1)),
       riff_size=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       block_align=st.one_of(st.none(), st.integers(0, 65535)),
       payload=st.sampled_from([b"", b"\x00", _PCM16[:3], _PCM16]))
def test_any_header_gives_features_or_input_error(wav_dir: Path, fmt, channels, rate, bits, data_size, riff_size,
                                                  block_align, payload):
    p = wav_dir / "header.wav"
    p.write_bytes(wav_bytes(payload, rate, channels, bits, fmt, data_size, riff_size, block_align))
    _features_or_error(p)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=12),
       cut=st.one_of(st.none(), st.integers(0, 4096)), subtype=st.sampled_from(["PCM_16", "FLOAT", "PCM_U8", "PCM_24"]))
def test_damaged_bytes_give_features_or_input_error(wav_dir: Path, edits, cut, subtype):
    p = wav_dir / f"damaged_{subtype}.wav"
    sf.write(p, tone(2000), 8000, subtype=subtype)
    data = bytearray(p.read_bytes())
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    p.write_bytes(bytes(data[:cut]) if cut is not None else bytes(data))
    _features_or_error(p)


_SUBTYPES = ["PCM_U8", "PCM_S8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
_odd_values = st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -3e38, 1e6, 0.0, 1.0, -1.0])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subtype=st.sampled_from(_SUBTYPES), channels=st.integers(1, 8),
       rate=st.sampled_from([MIN_RATE, 8000, 11025, 44100, 96000, MAX_RATE]),
       n=st.integers(1, 6000), odd=st.lists(st.tuples(st.integers(0, 5999), _odd_values), max_size=20),
       container=st.sampled_from(["WAV", "WAVEX", "FLAC", "AIFF"]))
def test_every_sample_format_and_layout(wav_dir: Path, subtype, channels, rate, n, odd, container):
    if container == "FLAC" and subtype not in ("PCM_S8", "PCM_16", "PCM_24"):
        subtype = "PCM_16"
    if container == "AIFF" and subtype == "PCM_U8":
        subtype = "PCM_S8"
    if container != "FLAC" and subtype == "PCM_S8" and container.startswith("WAV"):
        subtype = "PCM_U8"
    x = np.repeat(tone(n, rate)[:, None], channels, 1)
    for i, v in odd:
        if i < n:
            x[i, i % channels] = v
    p = wav_dir / f"format.{container.lower()[:4]}"
    with np.errstate(invalid="ignore", over="ignore"):
        sf.write(p, x if subtype in ("FLOAT", "DOUBLE") else np.nan_to_num(np.clip(x, -1, 1)), rate,
                 subtype=subtype, format=container)
    f = _features_or_error(p)
    assert f is not None, "a well-formed recording was refused"


# ----------------------------------------------------------------------------------- hand-made files

@pytest.mark.parametrize("case", [
    "zero_bytes", "riff_only", "no_data_chunk", "empty_data", "one_odd_byte", "rate_0", "rate_1", "rate_999",
    "rate_2e31", "rate_u32max", "channels_0", "channels_65535", "bits_0", "pcm_64bit", "unknown_format",
    "text", "gzip", "png_named_wav",
])
def test_broken_files_raise_input_error_naming_the_file(wav_dir: Path, case: str):
    tone16 = (tone() * 32767).astype("<i2").tobytes()
    content = {
        "zero_bytes": b"", "riff_only": b"RIFF", "no_data_chunk": wav_bytes(tone16)[:36],
        "empty_data": wav_bytes(b""), "one_odd_byte": wav_bytes(b"\x01"), "rate_0": wav_bytes(tone16, rate=0),
        "rate_1": wav_bytes(tone16, rate=1), "rate_999": wav_bytes(tone16, rate=999),
        "rate_2e31": wav_bytes(tone16, rate=2**31 - 1), "rate_u32max": wav_bytes(tone16, rate=2**32 - 1),
        "channels_0": wav_bytes(tone16, channels=0), "channels_65535": wav_bytes(tone16, channels=65535),
        "bits_0": wav_bytes(tone16, bits=0), "pcm_64bit": wav_bytes(tone16, bits=64),
        "unknown_format": wav_bytes(tone16, fmt=0x1234), "text": b"hello, this is not audio\n" * 40,
        "gzip": b"\x1f\x8b\x08\x00" + bytes(200), "png_named_wav": b"\x89PNG\r\n\x1a\n" + bytes(100),
    }[case]
    p = wav_dir / f"{case}.wav"
    p.write_bytes(content)
    with pytest.raises(InputError, match=p.name):
        audio_features(p, CFG)


@pytest.mark.parametrize("keep", [4, 12, 20, 36, 43, 44, 45, 100, 1000, 8043])
def test_truncated_anywhere(wav_dir: Path, keep: int):
    p = wav_dir / f"cut{keep}.wav"
    sf.write(p, tone(8000), 8000, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[:keep])
    _features_or_error(p)


@pytest.mark.parametrize("claimed", [2**31 - 1, 2**31, 2**32 - 1, 10**9])
def test_data_chunk_longer_than_the_file(wav_dir: Path, claimed: int):
    p = wav_dir / f"lying{claimed}.wav"
    p.write_bytes(wav_bytes((tone() * 32767).astype("<i2").tobytes(), data_size=claimed, riff_size=claimed + 36))
    data, rate = load_wav(p)
    assert data.shape == (8000, 1) and rate == 8000  # what the file holds, not what the header says
    sensible(audio_features(p, CFG))


@pytest.mark.parametrize("rate", [MIN_RATE, 8000, MAX_RATE])
def test_extreme_accepted_rates(wav_dir: Path, rate: int):
    p = wav_dir / f"rate{rate}.wav"
    sf.write(p, tone(rate // 2, rate), rate, subtype="PCM_16")
    sensible(audio_features(p, CFG))


@pytest.mark.parametrize("subtype", _SUBTYPES)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_sample_formats_agree(wav_dir: Path, subtype: str, channels: int):
    """The same vowel-like sound in every format and channel count gives nearly the same features."""
    t = np.arange(8000) / 8000
    x = sum(np.sin(2 * np.pi * k * (120 + 40 * t) * t) / k for k in range(1, 12)) * np.hanning(8000)
    x = (0.9 * x / np.abs(x).max()).astype(np.float32)
    ref = audio_features(x, CFG, rate=8000)
    p = wav_dir / f"{subtype}_{channels}.wav"
    sf.write(p, np.repeat(x[:, None], channels, 1), 8000, subtype=subtype if subtype != "PCM_S8" else "PCM_U8")
    f = audio_features(p, CFG)
    sensible(f)
    assert np.corrcoef(f.ravel(), ref.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 3.4e38])
def test_float_wav_full_of_non_finite_or_huge_values(wav_dir: Path, value: float):
    p = wav_dir / "bad_values.wav"
    x = tone()
    x[::3] = value
    sf.write(p, x, 8000, subtype="FLOAT")
    sensible(audio_features(p, CFG))
    sf.write(p, np.full(8000, value, np.float32), 8000, subtype="FLOAT")
    sensible(audio_features(p, CFG))


def test_silence_gives_finite_zero_features(wav_dir: Path):
    """The contract for silence: a valid input, whose normalised features are all zero."""
    p = wav_dir / "silence.wav"
    for subtype in ("PCM_16", "FLOAT", "PCM_U8"):
        sf.write(p, np.zeros(8000, np.float32), 8000, subtype=subtype)
        f = audio_features(p, CFG)
        sensible(f)
        assert np.all(f == 0)
    sensible(audio_features(np.zeros(16000), CFG, rate=16000))


def test_too_many_channels(wav_dir: Path):
    p = wav_dir / "many.wav"
    sf.write(p, np.zeros((100, MAX_CHANNELS + 1), np.float32), 8000, subtype="PCM_16")
    with pytest.raises(InputError, match=rf"many\.wav.*{MAX_CHANNELS + 1} channels"):
        audio_features(p, CFG)


def test_ten_minute_wav_is_refused_quickly(wav_dir: Path):
    """Ten minutes is not one digit: refused from the header, before decoding, with the reason."""
    p = wav_dir / "ten_minutes.wav"
    with sf.SoundFile(p, "w", 8000, 1, subtype="PCM_16") as f:
        block = (tone(8000) * 0.1).reshape(-1, 1)
        for _ in range(600):
            f.write(block)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=rf"ten_minutes\.wav: 600 s long; at most {MAX_SECONDS:.0f} s"):
        audio_features(p, CFG)
    with pytest.raises(InputError, match="600 s"):
        load_wav(p)
    assert time.perf_counter() - t0 < 2.0


def test_not_a_regular_file(wav_dir: Path):
    with pytest.raises(InputError, match="not a regular file"):
        audio_features(wav_dir, CFG)
    with pytest.raises(InputError, match="no such audio file"):
        audio_features(wav_dir / "absent.wav", CFG)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_does_not_hang(wav_dir: Path):
    fifo = wav_dir / "pipe.wav"
    if not fifo.exists():
        os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            audio_features(fifo, CFG)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - recorded and checked below
            outcome.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so the thread can end, then fail
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(5)
        pytest.fail("reading a named pipe blocked")
    assert isinstance(outcome[0], InputError) and "pipe.wav" in str(outcome[0])


# ----------------------------------------------------------------------------------- memory

_MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys, struct
    from pathlib import Path
    import numpy as np, soundfile as sf
    from snnapp.core.errors import InputError
    from snnapp.core.preprocess import AudioConfig, audio_features
    folder = Path(sys.argv[1]); cfg = AudioConfig()
    sf.write(folder / "warm.wav", np.zeros(8000, np.float32), 8000)
    audio_features(folder / "warm.wav", cfg)  # imports, JIT
    audio_features(np.zeros(8000, np.float32), cfg, rate=8000)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name in sys.argv[2:]:
        try:
            audio_features(folder / name, cfg)
            print(name, "accepted")
        except InputError as err:
            print(name, "refused:", err)
    for shape, rate in (((MAX_SAMPLES // 8 + 1, 8), 48000), ((10**6, 2000), 8000), ((MAX_RATE * 600,), MAX_RATE)):
        try:
            audio_features(np.broadcast_to(np.float32(0.1), shape), cfg, rate=rate)
            print(shape, "accepted")
        except InputError as err:
            print(shape, "refused:", err)
    print("GROWTH_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
""").replace("MAX_SAMPLES", str(MAX_SAMPLES)).replace("MAX_RATE", str(MAX_RATE))


def test_memory_stays_bounded_whatever_the_header_says(wav_dir: Path):
    """Lying sizes, ten minutes, and more samples than the bound allows: no big allocation.

    Measured in a fresh process as the growth of its peak resident memory after a warm-up.
    """
    folder = wav_dir / "memory"
    folder.mkdir(exist_ok=True)
    tone16 = (tone() * 32767).astype("<i2").tobytes()
    (folder / "lying.wav").write_bytes(wav_bytes(tone16, data_size=2**32 - 1, riff_size=2**32 - 1))
    (folder / "lying_channels.wav").write_bytes(wav_bytes(tone16, channels=1024, bits=8, data_size=2**32 - 2))
    with sf.SoundFile(folder / "ten_minutes.wav", "w", 8000, 1, subtype="PCM_U8") as f:
        f.write(np.zeros((600 * 8000, 1), np.float32))
    # 32 channels x 20 s at 48 kHz: 30.7 M samples, over MAX_SAMPLES though under 60 s and 64 channels
    # (decoded as float32 it would take 123 MB, plus the mix-down).
    with sf.SoundFile(folder / "wide.wav", "w", 48000, 32, subtype="PCM_U8") as f:
        block = np.zeros((48000, 32), np.float32)
        for _ in range(20):
            f.write(block)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(folder), "lying.wav", "lying_channels.wav",
                          "ten_minutes.wav", "wide.wav"], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "lying.wav accepted" in out
    for name in ("lying_channels.wav", "ten_minutes.wav", "wide.wav"):
        assert f"{name} refused" in out, out
    assert "wide.wav refused" in out and "samples in all" in out
    assert out.count("refused") == 6, out
    growth = float(out.rsplit("GROWTH_MB", 1)[1])
    assert growth < 48, f"peak memory grew by {growth:.0f} MB\n{out}"
