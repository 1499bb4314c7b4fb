"""Waveform augmentation for training the audio branch to generalise across speakers and rooms.

:func:`augment_waveform` applies, each with some probability, the changes a new speaker, room and
microphone bring: speaking rate and vocal pitch (speed change by resampling), pitch alone
(resampling followed by a small phase-vocoder time stretch back to the original length), a room
(convolution with a synthetic exponentially decaying noise response), a microphone's colour (a
smooth random tilt and bumps of its frequency response), a time offset (silence before and after),
a noisy room (one of the project's noises before, under and after the word, at 0-30 dB SNR, as a
microphone records it: :func:`~snnapp.core.preprocess.room_mix`), or else a little white or pink
noise under the word, and level.

Numpy and scipy only, and cheap: about a millisecond per second of 8 kHz audio. Deterministic
given the generator: the same ``rng`` state and input give the same output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from snnapp.core.errors import ConfigError, InputError
from snnapp.core.preprocess._noise import NOISE_KINDS, room_mix, speech_power

#: Probability of each effect at strength 1 (scaled by ``min(strength, 1)``).
P_SPEED, P_PITCH, P_REVERB, P_SHIFT, P_NOISE, P_GAIN = 0.5, 0.5, 0.3, 0.5, 0.5, 0.8
P_ROOM, P_COLOUR = 0.6, 0.5
#: SNR range (dB) of a noisy room at strength 1.
ROOM_SNR = (0.0, 30.0)


def augment_waveform(x: np.ndarray, rate: int, rng: np.random.Generator, strength: float = 1.0,
                     pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    """A randomly changed copy of the mono waveform ``x`` (float, about [-1, 1]) sampled at ``rate``.

    ``strength`` scales how often and how much (0: an unchanged copy; 1: the ranges below; up
    to 2). At strength 1: speed factor 0.85-1.15 (length changes by its inverse), or else pitch
    within +-2 semitones at constant length; reverberation with RT60 0.1-0.5 s and a wet share
    up to 0.5; a microphone colour within about +-6 dB; then either a noisy room (probability
    0.6: a noise kind drawn from the project's, babble only where ``pool`` holds talkers, 0.25-0.75 s
    around the word, 0-30 dB SNR) or up to 0.1 s of silence added before and after and white or
    pink noise at 10-40 dB SNR; gain within +-6 dB, the result kept within [-1, 1]. Returns
    float32; the length stays within about 0.8x-1.5x of the input's plus 1.5 s of room.
    """
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and 0.0 <= strength <= 2.0):
        raise ConfigError(f"augmentation strength must be between 0 and 2, not {strength!r}")
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise InputError(f"audio samples: sample rate {rate!r} is not a positive integer")
    y = np.asarray(x, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise InputError(f"audio samples: shape {np.shape(x)} is not a mono or [samples, channels] signal")
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    if strength == 0.0 or y.size == 0:
        return y.copy()

    s = float(strength)
    p = min(s, 1.0)
    # Every draw is made whether or not its effect applies, in a fixed order: the result then
    # depends only on the generator's state, and effects do not shift each other's randomness.
    u = rng.random(6)
    speed = 1.0 + rng.uniform(-0.15, 0.15) * s
    semitones = rng.uniform(-2.0, 2.0) * s
    rt60 = rng.uniform(0.1, 0.1 + 0.4 * p)
    wet = rng.uniform(0.1, 0.5) * p
    ir_seed = int(rng.integers(0, 2**31 - 1))
    pad = rng.uniform(0.0, 0.1 * s, size=2)
    pink = rng.random() < 0.5
    snr_db = rng.uniform(40.0 - 30.0 * p, 40.0)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    gain_db = rng.uniform(-6.0, 6.0) * s
    v = rng.random(2)
    kinds = [k for k in NOISE_KINDS if pool or k != "babble"]
    kind = kinds[int(rng.integers(0, len(kinds)))]
    room_snr = rng.uniform(ROOM_SNR[1] - (ROOM_SNR[1] - ROOM_SNR[0]) * p, ROOM_SNR[1])
    room_seed = int(rng.integers(0, 2**31 - 1))
    colour = rng.uniform(-1.0, 1.0, size=6) * s

    if u[0] < P_SPEED * p:
        y = change_speed(y, speed)
    elif u[1] < P_PITCH * p:
        y = shift_pitch(y, semitones)
    if u[2] < P_REVERB * p:
        y = reverberate(y, rate, rt60, wet, np.random.default_rng(ir_seed))
    if v[1] < P_COLOUR * p:
        y = colour_microphone(y, rate, colour)
    if v[0] < P_ROOM * p:
        y = room_mix(y, rate, kind, room_snr, np.random.default_rng(room_seed), pool)
    else:
        if u[3] < P_SHIFT * p:
            before, after = (int(round(t * rate)) for t in pad)
            y = np.pad(y, (before, after))
        if u[4] < P_NOISE * p:
            y = add_noise(y, snr_db, pink, np.random.default_rng(noise_seed))
    if u[5] < P_GAIN * p:
        y = y * np.float32(10.0 ** (gain_db / 20.0))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        y = y / np.float32(peak)
    return y.astype(np.float32, copy=False)


def _ratio(factor: float, max_den: int = 40) -> tuple[int, int]:
    r = Fraction(factor).limit_denominator(max_den)
    return r.numerator, r.denominator


def resample(x: np.ndarray, factor: float) -> np.ndarray:
    """Resample by ``factor`` (output length about ``len(x) * factor``) with a polyphase filter."""
    from scipy.signal import resample_poly

    up, down = _ratio(factor)
    if up == down or x.size == 0:
        return x.astype(np.float32, copy=True)
    return resample_poly(x, up, down, window=("kaiser", 5.0)).astype(np.float32)


def change_speed(x: np.ndarray, speed: float) -> np.ndarray:
    """Play ``speed`` times faster, as a tape would: tempo and pitch both change."""
    return resample(x, 1.0 / speed)


def shift_pitch(x: np.ndarray, semitones: float, n_fft: int = 256, hop: int = 64) -> np.ndarray:
    """Shift the pitch by ``semitones`` at (nearly) the same length.

    Resampling by ``2 ** (-semitones / 12)`` shifts the pitch and changes the length; a phase
    vocoder with a short window then stretches the result back to the input's length.
    """
    if x.size < n_fft or semitones == 0.0:
        return x.astype(np.float32, copy=True)
    y = resample(x, 2.0 ** (-semitones / 12.0))
    return time_stretch(y, x.size, n_fft, hop)


def time_stretch(x: np.ndarray, length: int, n_fft: int = 256, hop: int = 64) -> np.ndarray:
    """Phase-vocoder time stretch of ``x`` to ``length`` samples, pitch unchanged (vectorised)."""
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    n_frames = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    spec = np.fft.rfft(x[idx] * window, axis=1)  # [frames, bins]
    n_out = max(2, int(math.ceil((length - n_fft) / hop)) + 1)
    # positions of the output frames in the input's frame index
    pos = np.linspace(0.0, n_frames - 1, n_out)
    i0 = np.minimum(pos.astype(np.int64), n_frames - 2) if n_frames > 1 else np.zeros(n_out, np.int64)
    i1 = np.minimum(i0 + 1, n_frames - 1)
    frac = (pos - i0)[:, None]
    mag = (1.0 - frac) * np.abs(spec[i0]) + frac * np.abs(spec[i1])
    # phase: start from the first frame's, advance by each bin's measured frequency per hop
    expected = 2.0 * np.pi * hop * np.arange(spec.shape[1]) / n_fft
    dphi = np.angle(spec[i1]) - np.angle(spec[i0]) - expected
    dphi = dphi - 2.0 * np.pi * np.round(dphi / (2.0 * np.pi))
    advance = expected + dphi
    phase = np.angle(spec[0])[None, :] + np.concatenate([np.zeros((1, spec.shape[1])), np.cumsum(advance[:-1], axis=0)])
    frames = np.fft.irfft(mag * np.exp(1j * phase), n=n_fft, axis=1).astype(np.float32) * window
    out_len = n_fft + hop * (n_out - 1)
    out = np.zeros(out_len, np.float32)
    norm = np.zeros(out_len, np.float32)
    oidx = np.arange(n_fft)[None, :] + hop * np.arange(n_out)[:, None]
    np.add.at(out, oidx.ravel(), frames.ravel())
    np.add.at(norm, oidx.ravel(), np.broadcast_to(window * window, frames.shape).ravel())
    out /= np.maximum(norm, 1e-3 * norm.max())
    if out.size < length:
        out = np.pad(out, (0, length - out.size))
    return out[:length]


def reverberate(x: np.ndarray, rate: int, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Mix ``x`` with itself convolved by noise decaying 60 dB in ``rt60`` seconds; same length."""
    from scipy.signal import fftconvolve

    n = max(2, int(rt60 * rate))
    t = np.arange(n) / rate
    ir = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 60 dB
    ir[0] = 0.0  # the direct sound is the dry part
    ir /= np.sqrt(np.sum(ir * ir)) + 1e-12
    rev = fftconvolve(x, ir.astype(np.float32))[: x.size]
    # keep the level of the wet part equal to the dry one's, then mix
    dry_rms, rev_rms = float(np.sqrt(np.mean(x * x))), float(np.sqrt(np.mean(rev * rev)))
    if rev_rms > 0:
        rev *= dry_rms / rev_rms
    return ((1.0 - wet) * x + wet * rev).astype(np.float32)


def colour_microphone(x: np.ndarray, rate: int, shape: np.ndarray) -> np.ndarray:
    """``x`` through a microphone's frequency response: a smooth curve over log frequency (100 Hz
    to half the rate) through ``shape``'s values, each -1..1 meaning -6..+6 dB; same length."""
    if x.size < 4:
        return x.astype(np.float32, copy=True)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    pos = np.log(np.clip(f, 100.0, rate / 2) / 100.0) / np.log(rate / 200.0)  # 0 at 100 Hz, 1 at rate/2
    gain_db = 6.0 * np.interp(pos, np.linspace(0.0, 1.0, len(shape)), shape)
    return np.fft.irfft(spec * 10.0 ** (gain_db / 20.0), n=x.size).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, pink: bool, rng: np.random.Generator) -> np.ndarray:
    """Add white or pink (1/f power) noise ``snr_db`` below the power of the signal's louder half."""
    n = rng.standard_normal(x.size)
    if pink and x.size > 2:
        spec = np.fft.rfft(n)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        n = np.fft.irfft(spec / np.sqrt(f), n=x.size)
    p_noise = float(np.mean(n * n))
    p_sig = speech_power(x)
    if p_noise <= 0.0 or p_sig <= 0.0:
        return x.copy()
    n *= math.sqrt(p_sig / p_noise / 10.0 ** (snr_db / 10.0))
    return (x + n).astype(np.float32)
