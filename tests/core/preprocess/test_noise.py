"""The project's own noises, and a word placed in a room of one (noise before, under and after it)."""

from __future__ import annotations

import numpy as np
import pytest

from snnapp.core.errors import ConfigError
from snnapp.core.preprocess import NOISE_KINDS, in_room, make_noise, room_mix, speech_power

RATE = 8000
POOL = [np.sin(2 * np.pi * 150 * np.arange(3000) / RATE) * np.hanning(3000) for _ in range(3)]


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_each_noise_is_seeded_finite_and_at_unit_rms(kind):
    a = make_noise(kind, 12_000, RATE, np.random.default_rng(3), POOL)
    b = make_noise(kind, 12_000, RATE, np.random.default_rng(3), POOL)
    c = make_noise(kind, 12_000, RATE, np.random.default_rng(4), POOL)
    assert a.dtype == np.float32 and a.shape == (12_000,) and np.isfinite(a).all()
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _band_share(x: np.ndarray, low: float, high: float) -> float:
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(p[(f >= low) & (f < high)].sum() / p.sum())


def test_the_noises_sound_like_their_names():
    rng = np.random.default_rng(0)
    noise = {k: make_noise(k, 16_000, RATE, rng, POOL) for k in NOISE_KINDS}
    # coloured noises: ever more of the power low down
    shares = [_band_share(noise[k], 0, 500) for k in ("white", "pink", "brown")]
    assert shares[0] < 0.2 < shares[1] < shares[2] and shares[2] > 0.9
    assert _band_share(noise["hum"], 40, 1000) > 0.95  # mains and its harmonics
    assert _band_share(noise["engine"], 0, 500) > 0.8
    # clicks are sparse: a few loud moments, a quiet rest
    env = np.abs(noise["clicks"])
    assert np.percentile(env, 99.9) > 10 * np.median(env)
    # babble is made of the pool's speech: its spectrum peaks where the pool's voice does (150 Hz)
    assert _band_share(noise["babble"], 140, 160) > 0.5


def test_babble_needs_a_pool_and_unknown_kinds_are_named():
    with pytest.raises(ConfigError, match="babble"):
        make_noise("babble", 100, RATE, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="'thunder'.*white"):
        make_noise("thunder", 100, RATE, np.random.default_rng(0))


def test_a_word_in_a_room_has_noise_around_it_at_the_asked_snr():
    rng = np.random.default_rng(1)
    word = (0.3 * np.sin(2 * np.pi * 300 * np.arange(4000) / RATE)).astype(np.float32)
    noise = make_noise("pink", 10_000, RATE, rng)
    mixed = in_room(word, noise, 10.0, 2000, 3000)
    assert mixed.shape == (9000,)
    around = np.concatenate([mixed[:2000], mixed[-3000:]])
    snr = 10 * np.log10(speech_power(word) / np.mean(around.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.3)  # the noise before and after is the noise under the word
    assert np.allclose(mixed[2000:6000] - word, noise[2000:6000] * np.sqrt(np.mean(around ** 2)), atol=0.05)


def test_a_mix_louder_than_full_scale_is_scaled_down_whole():
    word = np.ones(1000, np.float32) * 0.9
    mixed = in_room(word, make_noise("white", 3000, RATE, np.random.default_rng(0)), -10.0, 1000, 1000)
    assert np.max(np.abs(mixed)) == pytest.approx(1.0)


def test_room_mix_draws_the_room_from_its_generator():
    word = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    a = room_mix(word, RATE, "hum", 5.0, np.random.default_rng(9))
    b = room_mix(word, RATE, "hum", 5.0, np.random.default_rng(9))
    assert np.array_equal(a, b) and 4000 + 2 * 2000 <= a.size <= 4000 + 2 * 6000
