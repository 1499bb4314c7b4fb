"""The project's own background noises, and a word placed in a room full of one.

A microphone in a room hears the noise before, under and after the word; a clip cut tight
around the word with noise added only under it measures a much easier problem. :func:`in_room`
therefore pads the clean word with noise on both sides, at a signal-to-noise ratio measured
against the speech itself (the louder half of its frames), so that the segmenter has to find the
word as it would in a live recording.

Every noise is made here from seeded random numbers, so that benchmarks, training and tests
need no download and no recording whose licence or content is unknown:

- ``white``, ``pink`` (1/f power), ``brown`` (1/f^2, above 20 Hz): coloured noises;
- ``babble``: six talkers at once, each a chain of recordings from the pool given (FSDD
  *training* recordings, so that the speakers under test are not the noise);
- ``hum``: mains hum at 50 or 60 Hz with its harmonics, slowly wavering, on a faint hiss;
- ``engine``: firing pulses at a slowly varying 20-45 Hz through a low-pass body, with rumble;
- ``music``: a two-voice melody of harmonic notes from a pentatonic scale over a beat of kick
  drum and hi-hat at 80-140 beats per minute;
- ``rain``: many short high-passed drops over a soft pink bed;
- ``clicks``: sparse keyboard- or clock-like clicks, short decaying resonances, on a faint hiss.

Numpy only. Each noise comes back at unit RMS; the caller sets its level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from snnapp.core.errors import ConfigError

NOISE_KINDS = ("white", "pink", "brown", "babble", "hum", "engine", "music", "rain", "clicks")
#: Noise before and after the word in :func:`in_room`, seconds (drawn per clip in this range).
AROUND_S = (0.25, 0.75)


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """``kinds`` as a tuple, each one of :data:`NOISE_KINDS`, or :class:`ConfigError`."""
    out = tuple(kinds)
    bad = [k for k in out if k not in NOISE_KINDS]
    if bad or not out:
        raise ConfigError(f"unknown noise {', '.join(map(repr, bad)) or '(none given)'}; "
                          f"choose from {', '.join(NOISE_KINDS)}")
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    return (x / rms if rms > 0 else x).astype(np.float32)


def _shaped(n: int, rng: np.random.Generator, exponent: float, rate: int, low_hz: float = 0.0) -> np.ndarray:
    """Gaussian noise whose power falls as 1/f**exponent, nothing below ``low_hz``."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / rate)
    f[0] = f[1] if f.size > 1 else 1.0
    spec = spec / f ** (exponent / 2)
    spec[f < low_hz] = 0.0
    return np.fft.irfft(spec, n=n)


def _lowpass(x: np.ndarray, cutoff: float, rate: int) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    return np.fft.irfft(spec / np.sqrt(1.0 + (f / cutoff) ** 4), n=x.size)


def _highpass(x: np.ndarray, cutoff: float, rate: int) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    return np.fft.irfft(spec / np.sqrt(1.0 + (cutoff / np.maximum(f, 1e-3)) ** 4), n=x.size)


def _wander(n: int, rate: int, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A smooth random curve in about [-1, 1] that changes over ``seconds``."""
    knots = max(2, int(n / rate / seconds) + 2)
    return np.interp(np.arange(n), np.linspace(0, n, knots), rng.uniform(-1, 1, knots))


def _babble(n: int, rate: int, rng: np.random.Generator, pool: Sequence[np.ndarray], talkers: int = 6) -> np.ndarray:
    if not pool:
        raise ConfigError("babble noise needs recordings to mix (a pool of training speech)")
    lead = rate  # made one second longer and the first second dropped: no talker starts with the noise
    n += lead
    out = np.zeros(n)
    for _ in range(talkers):
        voice, filled = np.zeros(n), int(rng.integers(0, rate // 2))  # talkers do not start together
        while filled < n:
            clip = np.asarray(pool[int(rng.integers(0, len(pool)))], dtype=np.float64)
            rms = math.sqrt(float(np.mean(clip * clip))) if clip.size else 0.0
            if rms > 0:
                take = clip[: n - filled] / rms * 10 ** (rng.uniform(-6, 6) / 20)
                voice[filled: filled + take.size] = take
            filled += clip.size + int(rng.integers(0, rate // 10))
        out += voice
    return out[lead:]


def _hum(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / rate
    mains = 50.0 if rng.random() < 0.5 else 60.0
    x = np.zeros(n)
    for k in range(1, int(min(1000.0, rate / 2) // mains)):
        amp = (1.0 if k % 2 else 0.4) / k * rng.uniform(0.5, 1.5)
        x += amp * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
    x *= 1.0 + 0.2 * _wander(n, rate, rng, 0.7)
    return _unit(x) + 0.03 * rng.standard_normal(n)


def _engine(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(20.0, 45.0) * (1.0 + 0.15 * _wander(n, rate, rng, 1.5))
    phase = np.cumsum(f0 / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0) * (1.0 + 0.3 * rng.standard_normal(n))
    body = _lowpass(pulses, rng.uniform(150.0, 400.0), rate)
    rumble = _lowpass(_shaped(n, rng, 2.0, rate, 20.0), 300.0, rate)
    return _unit(body) + 0.5 * _unit(rumble)


def _music(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    x = np.zeros(n)
    root = rng.uniform(180.0, 300.0)
    scale = root * 2.0 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    for voice in range(2):
        pos = 0
        while pos < n:
            length = int(rate * rng.uniform(0.15, 0.5))
            m = min(length, n - pos)
            t = np.arange(m) / rate
            f = scale[int(rng.integers(0, scale.size))] * (0.5 if voice else 1.0)
            env = np.minimum(1.0, t / 0.01) * np.exp(-t / (length / rate * 0.6))
            note = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 5) if f * h < rate / 2)
            x[pos: pos + m] += env * note * (0.6 if voice else 1.0)
            pos += length
    beat = int(rate * 60.0 / rng.uniform(80.0, 140.0))
    kick_t = np.arange(int(0.12 * rate)) / rate
    kick = np.sin(2 * np.pi * 60.0 * kick_t * (1.0 + 1.5 * np.exp(-kick_t / 0.02))) * np.exp(-kick_t / 0.05)
    hat = _highpass(rng.standard_normal(int(0.03 * rate)), 3000.0 if rate > 7000 else rate / 3, rate)
    hat *= np.exp(-np.arange(hat.size) / (0.008 * rate))
    for start in range(int(rng.integers(0, beat)), n, beat):
        x[start: start + kick.size] += 1.5 * kick[: n - start]
        off = start + beat // 2
        if off < n:
            x[off: off + hat.size] += 0.8 * hat[: n - off] / (np.abs(hat).max() + 1e-9)
    return x


def _drops(n: int, rate: int, rng: np.random.Generator, per_s: float, ms: tuple[float, float]) -> np.ndarray:
    """Sparse short resonant bursts (decaying sines at random pitches) at ``per_s`` a second."""
    x = np.zeros(n)
    for start in np.sort(rng.integers(0, n, size=rng.poisson(per_s * n / rate))):
        m = int(rate * rng.uniform(*ms) / 1000)
        t = np.arange(min(m, n - start)) / rate
        f = rng.uniform(0.1, 0.45) * rate
        x[start: start + t.size] += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * t) * np.exp(-t / (m / rate / 4))
    return x


def make_noise(kind: str, n: int, rate: int, rng: np.random.Generator,
               pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``n`` samples of noise ``kind`` (one of :data:`NOISE_KINDS`) at ``rate``, unit RMS, float32.

    ``pool``: recordings at ``rate`` that ``babble`` mixes (other kinds ignore it).
    """
    check_kinds([kind])
    if n <= 0:
        return np.zeros(0, np.float32)
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = _shaped(n, rng, 1.0, rate)
    elif kind == "brown":
        x = _shaped(n, rng, 2.0, rate, 20.0)
    elif kind == "babble":
        x = _babble(n, rate, rng, pool)
    elif kind == "hum":
        x = _hum(n, rate, rng)
    elif kind == "engine":
        x = _engine(n, rate, rng)
    elif kind == "music":
        x = _music(n, rate, rng)
    elif kind == "rain":
        x = _unit(_highpass(_drops(n, rate, rng, 300.0, (1.0, 4.0)), 1000.0, rate)) \
            + 0.5 * _unit(_shaped(n, rng, 1.0, rate, 50.0))
    else:  # clicks
        x = _drops(n, rate, rng, rng.uniform(3.0, 8.0), (2.0, 10.0)) + 0.01 * rng.standard_normal(n)
    return _unit(np.asarray(x, dtype=np.float64))


def speech_power(x: np.ndarray, frame: int = 256) -> float:
    """Mean power of the louder half of ``x``'s frames: the speech, not the pauses around it."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2 * frame:
        return float(np.mean(x * x)) if x.size else 0.0
    m = x.size // frame
    power = np.mean(x[: m * frame].reshape(m, frame) ** 2, axis=1)
    return float(np.mean(power[power >= np.median(power)]))


def in_room(x: np.ndarray, noise: np.ndarray, snr_db: float, before: int, after: int) -> np.ndarray:
    """The word ``x`` with ``before`` and ``after`` samples of room around it and ``noise`` over all
    of it, scaled to ``snr_db`` below the word's speech power (``noise`` is cut or tiled to length).

    Returns float32 of ``before + len(x) + after`` samples; peaks above 1 are scaled down with the
    whole mix, as a recorder's gain would be.
    """
    x = np.asarray(x, dtype=np.float32)
    n = before + x.size + after
    noise = np.asarray(noise, dtype=np.float32)
    if noise.size == 0:
        raise ConfigError("in_room needs noise samples")
    if noise.size < n:
        noise = np.tile(noise, n // noise.size + 1)
    noise = noise[:n]
    p_speech, p_noise = speech_power(x), float(np.mean(noise.astype(np.float64) ** 2))
    scale = math.sqrt(p_speech / p_noise / 10 ** (snr_db / 10)) if p_noise > 0 and p_speech > 0 else 0.0
    out = noise * np.float32(scale)
    out[before: before + x.size] += x
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return (out / peak if peak > 1.0 else out).astype(np.float32)


def room_mix(x: np.ndarray, rate: int, kind: str, snr_db: float, rng: np.random.Generator,
             pool: Sequence[np.ndarray] = (), around_s: tuple[float, float] = AROUND_S) -> np.ndarray:
    """``x`` placed in a room of noise ``kind`` at ``snr_db``: a random ``around_s`` of noise
    before and after the word, drawn from ``rng``, as a microphone would record it."""
    before, after = (int(rate * rng.uniform(*around_s)) for _ in range(2))
    noise = make_noise(kind, before + len(x) + after, rate, rng, pool)
    return in_room(x, noise, snr_db, before, after)
