"""The audio path: any WAV -> [n_frames, n_mfcc] MFCC, robust to format and broken input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnapp.core.errors import InputError
from snnapp.core.preprocess import AudioConfig, audio_features
from snnapp.core.preprocess._audio import MAX_RATE, MIN_RATE, frame_deltas

CFG = AudioConfig()
SHAPE = (CFG.n_frames, CFG.n_mfcc)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _sensible(f: np.ndarray) -> None:
    assert f.shape == SHAPE and f.dtype == np.float32 and np.isfinite(f).all()


def test_fsdd_clip_shape(fsdd_clips: list[Path]):
    for p in fsdd_clips:
        _sensible(audio_features(p, CFG))


def test_path_and_samples_agree(fsdd_clips: list[Path]):
    x, rate = sf.read(fsdd_clips[0], dtype="float32")
    assert np.allclose(audio_features(x, CFG, rate=rate), audio_features(fsdd_clips[0], CFG), atol=1e-5)
    with pytest.raises(InputError):
        audio_features(x, CFG)  # samples without a rate


@pytest.mark.parametrize("variant", ["stereo", "int16", "float", "44k1", "int24", "6ch"])
def test_same_clip_other_formats(tmp_path: Path, fsdd_clips: list[Path], variant: str):
    import librosa

    src = fsdd_clips[1]
    x, rate = sf.read(src, dtype="float32")
    ref = audio_features(src, CFG)
    out = tmp_path / f"{variant}.wav"
    if variant == "stereo":
        sf.write(out, np.stack([x, x], 1), rate, subtype="PCM_16")
    elif variant == "int16":
        sf.write(out, x, rate, subtype="PCM_16")
    elif variant == "float":
        sf.write(out, x, rate, subtype="FLOAT")
    elif variant == "int24":
        sf.write(out, x, rate, subtype="PCM_24")
    elif variant == "44k1":
        sf.write(out, librosa.resample(x, orig_sr=rate, target_sr=44100), 44100, subtype="PCM_16")
    elif variant == "6ch":
        sf.write(out, np.repeat(x[:, None], 6, 1), rate, subtype="PCM_16")
    f = audio_features(out, CFG)
    _sensible(f)
    assert _corr(f, ref) > 0.95


def test_truncated_file(tmp_path: Path, fsdd_clips: list[Path]):
    data = fsdd_clips[2].read_bytes()
    for keep in (len(data) // 2, 60, 30, 10):
        p = tmp_path / f"cut{keep}.wav"
        p.write_bytes(data[:keep])
        try:
            f = audio_features(p, CFG)
        except InputError as err:
            assert p.name in str(err)
        else:
            _sensible(f)


def test_zero_length_file(tmp_path: Path):
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, np.float32), 8000)
    with pytest.raises(InputError, match="empty.wav"):
        audio_features(p, CFG)
    (tmp_path / "zero_bytes.wav").write_bytes(b"")
    with pytest.raises(InputError, match="zero_bytes.wav"):
        audio_features(tmp_path / "zero_bytes.wav", CFG)


def test_not_audio_and_missing(tmp_path: Path):
    p = tmp_path / "noise.wav"
    p.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(InputError, match="noise.wav"):
        audio_features(p, CFG)
    with pytest.raises(InputError, match="absent.wav"):
        audio_features(tmp_path / "absent.wav", CFG)


def test_nan_samples(tmp_path: Path, fsdd_clips: list[Path]):
    x, rate = sf.read(fsdd_clips[3], dtype="float32")
    x = x.copy()
    x[100:200] = np.nan
    x[500] = np.inf
    p = tmp_path / "nan.wav"
    sf.write(p, x, rate, subtype="FLOAT")
    _sensible(audio_features(p, CFG))
    _sensible(audio_features(x, CFG, rate=rate))


def test_deltas_follow_the_coefficients(fsdd_clips: list[Path]):
    plain = audio_features(fsdd_clips[1], AudioConfig(n_mfcc=13))
    both = audio_features(fsdd_clips[1], AudioConfig(n_mfcc=13, deltas=True))
    assert AudioConfig(n_mfcc=13, deltas=True).n_features == 26 and both.shape == (CFG.n_frames, 26)
    assert np.allclose(both[:, :13], plain, atol=1e-5)  # each column is normalised on its own
    raw = audio_features(fsdd_clips[1], AudioConfig(n_mfcc=13, deltas=True, normalize=False))
    assert np.isfinite(raw).all() and np.allclose(raw[:, 13:], frame_deltas(raw[:, :13]), atol=1e-4)
    assert _corr(raw[:, 13:], np.gradient(raw[:, :13], axis=0)) > 0.5  # a smoothed slope
    ramp = np.outer(np.arange(20.0), [1.0, -2.0])
    assert np.allclose(frame_deltas(ramp), [[1.0, -2.0]] * 20)
    assert np.allclose(frame_deltas(ramp[:5]), [[1.0, -2.0]] * 5)  # the window narrows to fit
    assert not frame_deltas(ramp[:2]).any()
    short = AudioConfig(n_frames=2, deltas=True)
    assert audio_features(fsdd_clips[1], short).shape == (2, 2 * short.n_mfcc)
    assert AudioConfig.from_dict({"n_mfcc": 13}).deltas is False  # configs saved before deltas existed


def test_preemphasis_lifts_the_high_bands_and_is_off_by_default(fsdd_clips: list[Path]):
    x, rate = sf.read(fsdd_clips[1], dtype="float32")
    plain = audio_features(x, AudioConfig(normalize=False), rate)
    assert np.array_equal(audio_features(x, AudioConfig(preemphasis=0.0, normalize=False), rate), plain)
    lifted = audio_features(x, AudioConfig(preemphasis=0.97, normalize=False), rate)
    assert lifted.shape == plain.shape and np.isfinite(lifted).all() and not np.allclose(lifted, plain)
    # the first coefficient (overall level) falls: most of a voice's energy is low, and is damped
    assert lifted[:, 0].mean() < plain[:, 0].mean()
    assert AudioConfig.from_dict({"n_mfcc": 13}).preemphasis == 0.0  # configs saved before it existed


def test_silence_and_tiny(tmp_path: Path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(8000, np.float32), 8000, subtype="PCM_16")
    _sensible(audio_features(p, CFG))
    _sensible(audio_features(np.zeros(3, np.float32), CFG, rate=8000))
    _sensible(audio_features(np.full(8000, 1e-9, np.float32), CFG, rate=8000))


# Sample rates within the accepted range, and values as callers produce them: floats in [-1, 1],
# raw int16, NaN and inf, and moderately out-of-range values.
_rates = st.one_of(st.sampled_from([8000, 16000, 22050, 44100, 48000, 11025]), st.integers(MIN_RATE, MAX_RATE))
_values = st.one_of(st.floats(-1e4, 1e4, width=32), st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))


@st.composite
def _signals(draw):
    n = draw(st.integers(0, 3000))
    channels = draw(st.sampled_from([None, 1, 2, 3]))
    kind = draw(st.sampled_from(["random", "values", "int16"]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    shape = (n,) if channels is None else (n, channels)
    if kind == "random":
        x = rng.uniform(-1, 1, shape).astype(np.float32)
    elif kind == "int16":
        x = rng.integers(-32768, 32767, shape, dtype=np.int16)
    else:
        vals = draw(st.lists(_values, min_size=1, max_size=8))
        x = np.resize(np.asarray(vals, np.float32), shape)
    return x


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_signals(), rate=_rates)
def test_property_only_input_errors(x: np.ndarray, rate: int):
    try:
        f = audio_features(x, CFG, rate=rate)
    except InputError:
        return
    _sensible(f)


# Odd sample arrays: each gives InputError or, for the loud one, finite features.
@pytest.mark.parametrize(
    "x, rate",
    [
        (np.zeros(100, np.float32), 0),
        (np.zeros(100, np.float32), -5),
        (np.zeros((2, 2, 2), np.float32), 8000),
        (np.full(3000, 1e29, np.float32), 8000),
        (np.zeros(1_000_000, np.float32), 1000),  # 1000 s: longer than MAX_SECONDS
    ],
    ids=["rate0", "negative_rate", "3d", "huge_values", "too_long"],
)
def test_odd_sample_arrays(x: np.ndarray, rate: int):
    try:
        f = audio_features(x, CFG, rate=rate)
    except InputError:
        return
    _sensible(f)
    if x.size >= 1_000_000:
        pytest.fail("a 1000 s array was accepted")
