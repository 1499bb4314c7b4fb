"""Waveform augmentation: deterministic given the generator, sensible output, fast."""

from __future__ import annotations

import time

import numpy as np
import pytest

from snnapp.core.errors import ConfigError, InputError
from snnapp.core.preprocess import augment_waveform
from snnapp.core.preprocess._augment import add_noise, change_speed, reverberate, shift_pitch

RATE = 8000


def _speechlike(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic tone with silence around it."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 140 + 20 * np.sin(2 * np.pi * 2 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = np.exp(-(((t - seconds / 2) / (seconds / 5)) ** 2))
    x = 0.3 * x * env + np.random.default_rng(seed).normal(0, 1e-3, t.size)
    return x.astype(np.float32)


def _f0(y: np.ndarray) -> float:
    s = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.argmax(s) * RATE / y.size)


def test_deterministic_given_seed():
    x = _speechlike()
    for seed in range(5):
        a = augment_waveform(x, RATE, np.random.default_rng(seed))
        b = augment_waveform(x, RATE, np.random.default_rng(seed))
        assert np.array_equal(a, b)


def test_different_seeds_differ():
    x = _speechlike()
    outs = [augment_waveform(x, RATE, np.random.default_rng(seed)) for seed in range(8)]
    distinct = {o.tobytes() for o in outs}
    assert len(distinct) == len(outs)


def test_output_sensible():
    x = _speechlike()
    rng = np.random.default_rng(42)
    for _ in range(100):
        y = augment_waveform(x, RATE, rng, strength=1.0)
        assert y.dtype == np.float32 and y.ndim == 1
        assert np.isfinite(y).all() and np.abs(y).max() <= 1.0 + 1e-6
        assert 0.8 * x.size <= y.size <= 1.5 * x.size + 1.5 * RATE  # a noisy room adds up to 0.75 s each side
        assert np.abs(y).max() > 1e-3


def test_strength_zero_is_identity_and_bounds_checked():
    x = _speechlike()
    y = augment_waveform(x, RATE, np.random.default_rng(0), strength=0.0)
    assert np.array_equal(x, y) and y is not x
    for bad in (-0.1, 3.0, float("nan")):
        with pytest.raises(ConfigError):
            augment_waveform(x, RATE, np.random.default_rng(0), strength=bad)
    with pytest.raises(InputError):
        augment_waveform(x, 0, np.random.default_rng(0))
    with pytest.raises(InputError):
        augment_waveform(np.zeros((2, 2, 2)), RATE, np.random.default_rng(0))


def test_odd_inputs():
    rng = np.random.default_rng(0)
    assert augment_waveform(np.zeros(0, np.float32), RATE, rng).size == 0
    for x in (np.zeros(8000), np.ones(5) * 0.1, np.full(300, np.nan), np.stack([_speechlike()] * 2, 1)):
        for _ in range(10):
            y = augment_waveform(x, RATE, rng)
            assert y.ndim == 1 and np.isfinite(y).all()


def test_speed_change():
    x = _speechlike()
    y = change_speed(x, 1.1)
    assert abs(y.size - x.size / 1.1) < 2
    assert abs(_f0(y) / _f0(x) - 1.1) < 0.05


def test_pitch_shift_keeps_length():
    t = np.arange(RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for st in (-2.0, 2.0):
        y = shift_pitch(tone, st)
        assert y.size == tone.size
        assert abs(_f0(y) - 440 * 2 ** (st / 12)) < 5


def test_reverb_and_noise():
    x = _speechlike()
    y = reverberate(x, RATE, 0.4, 0.5, np.random.default_rng(0))
    assert y.size == x.size and np.isfinite(y).all() and not np.allclose(x, y)
    for pink in (False, True):
        y = add_noise(x, 20.0, pink, np.random.default_rng(0))
        noise = y - x
        assert y.size == x.size
        # noise power is 20 dB below the power of the loud half of the signal
        loud = np.mean(x[3000:5000] ** 2)
        assert 10 < 10 * np.log10(loud / np.mean(noise**2)) < 30


def test_fast_enough():
    """Target: under 5 ms per one-second clip at 8 kHz (median, on a shared machine)."""
    x = _speechlike()
    rng = np.random.default_rng(0)
    times = []
    for _ in range(40):
        t0 = time.perf_counter()
        augment_waveform(x, RATE, rng, strength=1.0)
        times.append(time.perf_counter() - t0)
    assert float(np.median(times)) < 0.005
