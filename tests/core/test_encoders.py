"""Spike encoders: shapes, determinism, and what each kind of spike means."""

from __future__ import annotations

import numpy as np
import pytest

from snnapp.core.encoders import (
    ENCODERS,
    EncoderConfig,
    audio_features_per_step,
    encode_audio,
    encode_image,
    frames_per_step,
    image_channels,
)
from snnapp.core.errors import ConfigError

T = 8


def _images(b: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((b, 28, 28), dtype=np.float32)
    x[:, 6:22, 8:20] = rng.random((b, 16, 12))  # MNIST-like: ink in the middle, black border
    return x


def _frames(b: int = 3, n_frames: int = 16, n_mfcc: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(b, n_frames, n_mfcc)).astype(np.float32)


@pytest.mark.parametrize("kind", ENCODERS)
def test_image_shapes(kind: str) -> None:
    out = encode_image(_images(3), T, EncoderConfig(image=kind), seed=0)
    assert out.shape == (T, 3, image_channels(kind), 28, 28)
    assert out.dtype == np.float32
    if kind != "direct":
        assert set(np.unique(out)) <= {0.0, 1.0}


@pytest.mark.parametrize("kind", ["direct", "rate", "delta"])
@pytest.mark.parametrize("steps", [4, 8])
def test_audio_shapes(kind: str, steps: int) -> None:
    frames = _frames(3, 16, 5)
    out = encode_audio(frames, steps, EncoderConfig(audio=kind), seed=0)
    assert out.shape == (steps, 3, audio_features_per_step(kind, 16, 5, steps))
    assert out.shape[2] == (2 if kind == "delta" else 1) * (16 // steps) * 5


def test_direct_image_is_the_image_at_every_step() -> None:
    x = _images(2)
    out = encode_image(x, T, EncoderConfig())
    for t in range(T):
        np.testing.assert_array_equal(out[t, :, 0], x)


def test_direct_audio_puts_consecutive_frames_on_consecutive_steps() -> None:
    frames = _frames(2, 12, 3)
    out = encode_audio(frames, 4, EncoderConfig())
    for t in range(4):
        for b in range(2):
            np.testing.assert_array_equal(out[t, b], frames[b, 3 * t:3 * t + 3].ravel())


@pytest.mark.parametrize("kind", ["rate", "delta"])
def test_image_encoding_is_seeded(kind: str) -> None:
    cfg = EncoderConfig(image=kind)
    x = _images(2)
    a = encode_image(x, T, cfg, seed=1)
    np.testing.assert_array_equal(a, encode_image(x, T, cfg, seed=1))
    np.testing.assert_array_equal(a, encode_image(x, T, cfg, seed=np.random.default_rng(1)))
    assert not np.array_equal(a, encode_image(x, T, cfg, seed=2))


def test_audio_rate_encoding_is_seeded() -> None:
    cfg = EncoderConfig(audio="rate")
    f = _frames(4, 16, 5)
    a = encode_audio(f, 4, cfg, seed=7)
    np.testing.assert_array_equal(a, encode_audio(f, 4, cfg, seed=7))
    assert not np.array_equal(a, encode_audio(f, 4, cfg, seed=8))


@pytest.mark.parametrize("kind", ["direct", "latency"])
def test_deterministic_kinds_ignore_the_seed(kind: str) -> None:
    cfg = EncoderConfig(image=kind)
    x = _images(2)
    np.testing.assert_array_equal(encode_image(x, T, cfg, seed=1), encode_image(x, T, cfg, seed=2))


def test_rate_spike_frequency_follows_intensity() -> None:
    steps = 4000
    x = np.linspace(0.0, 1.0, 28 * 28, dtype=np.float32).reshape(1, 28, 28)
    freq = encode_image(x, steps, EncoderConfig(image="rate"), seed=3).mean(axis=0)[0, 0]
    p = x[0]
    tol = 5 * np.sqrt(p * (1 - p) / steps) + 1e-6
    assert np.all(np.abs(freq - p) <= tol)
    assert freq[p == 0].sum() == 0 and np.all(freq[p == 1] == 1)
    # and overall the frequency is a close linear function of intensity
    assert abs(np.corrcoef(freq.ravel(), p.ravel())[0, 1] - 1) < 1e-3


def test_audio_rate_frequency_is_logistic_of_the_coefficient() -> None:
    values = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=np.float32)
    frames = np.broadcast_to(values, (4000, 4, 5)).copy()  # many samples of the same frames
    freq = encode_audio(frames, 4, EncoderConfig(audio="rate"), seed=0).mean(axis=1)  # [T, F]
    want = np.tile(1 / (1 + np.exp(-values)), 1)
    for t in range(4):
        assert np.all(np.abs(freq[t] - want) < 0.04)


def test_latency_one_spike_per_bright_pixel_brighter_earlier() -> None:
    cfg = EncoderConfig(image="latency", latency_threshold=0.05)
    x = np.zeros((1, 28, 28), dtype=np.float32)
    levels = np.linspace(0.05, 1.0, 20, dtype=np.float32)
    x[0, 5, 4:24] = levels
    x[0, 10, 10] = 0.04  # below the threshold: silent
    out = encode_image(x, 10, cfg)[:, 0, 0]  # [T, 28, 28]
    counts = out.sum(axis=0)
    np.testing.assert_array_equal(counts, (x[0] >= 0.05).astype(np.float32))
    times = out[:, 5, 4:24].argmax(axis=0)
    assert np.all(np.diff(times) <= 0)  # brighter (to the right) never later
    assert times[-1] == 0 and times[0] == 9 and times[0] > times[10] > times[-1]


def test_delta_image_on_for_bright_centre_off_for_dark_centre() -> None:
    cfg = EncoderConfig(image="delta")
    x = np.zeros((2, 28, 28), dtype=np.float32)
    x[0, 14, 14] = 1.0  # a bright dot on black
    x[1] = 0.8
    x[1, 14, 14] = 0.0  # a dark dot on grey
    out = encode_image(x, 50, cfg, seed=0)
    on, off = out[:, :, 0], out[:, :, 1]
    # bright dot: ON at every step there, never OFF there; no ON far away from it
    assert on[:, 0, 14, 14].all() and not off[:, 0, 14, 14].any()
    assert on[:, 0].sum() == on[:, 0, 14, 14].sum()
    # its black neighbours are darker than their surround: OFF, never ON
    assert off[:, 0, 13:16, 13:16].sum() > 0 and not on[:, 0, 13, 14].any()
    # dark dot: OFF at every step there, never ON
    assert off[:, 1, 14, 14].all() and not on[:, 1, 14, 14].any()
    # ON and OFF never fire together at one pixel
    assert not (on * off).any()


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
def test_delta_image_flat_picture_gives_no_spikes(level: float) -> None:
    x = np.full((1, 28, 28), level, dtype=np.float32)
    out = encode_image(x, 20, EncoderConfig(image="delta"), seed=0)
    assert out.sum() == 0


def test_delta_audio_on_and_off_from_frame_changes() -> None:
    cfg = EncoderConfig(audio="delta", delta_threshold=0.3)
    frames = np.zeros((1, 4, 2), dtype=np.float32)
    frames[0, 2:, 0] = 1.0  # coefficient 0 rises at frame 2
    frames[0, 3:, 1] = -1.0  # coefficient 1 falls at frame 3
    frames[0, 1, 1] = 0.2  # a change below the threshold: nothing
    frames[0, 2, 1] = 0.0
    out = encode_audio(frames, 4, cfg)[:, 0]  # [T, ON c0, ON c1, OFF c0, OFF c1]
    want = np.zeros((4, 4), dtype=np.float32)
    want[2, 0] = 1  # ON of c0 at step 2
    want[3, 3] = 1  # OFF of c1 at step 3
    np.testing.assert_array_equal(out, want)
    # two frames per step: the same spikes, laid out frame after frame
    out2 = encode_audio(frames, 2, cfg)[:, 0]
    np.testing.assert_array_equal(out2.reshape(2, 2, 4), want.reshape(2, 2, 4))


def test_delta_audio_constant_frames_are_silent() -> None:
    frames = np.ones((2, 8, 3), dtype=np.float32) * 5.0
    assert encode_audio(frames, 4, EncoderConfig(audio="delta")).sum() == 0


def test_audio_latency_is_refused() -> None:
    with pytest.raises(ConfigError, match="latency"):
        encode_audio(_frames(1, 8, 2), 4, EncoderConfig(audio="latency"))


def test_frames_must_divide_into_steps() -> None:
    with pytest.raises(ConfigError, match="10 MFCC frames.*4 time steps"):
        encode_audio(_frames(1, 10, 2), 4, EncoderConfig())
    with pytest.raises(ConfigError):
        frames_per_step(32, 5)
    assert frames_per_step(32, 8) == 4


@pytest.mark.parametrize("field", ["image", "audio"])
def test_config_rejects_unknown_kind(field: str) -> None:
    with pytest.raises(ConfigError, match="unknown"):
        EncoderConfig(**{field: "poisson"})


def test_config_round_trip_ignores_unknown_keys() -> None:
    cfg = EncoderConfig(image="delta", audio="rate", delta_gain=2.5)
    assert EncoderConfig.from_dict({**cfg.to_dict(), "future_field": 1}) == cfg
    with pytest.raises(ConfigError):
        EncoderConfig.from_dict({"image": "bogus"})
