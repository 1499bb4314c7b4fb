"""Hostile sample arrays and audio settings: every array of any type, shape and rate ends in finite
features or an :class:`InputError` about "audio samples"; out-of-range settings are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnapp.core.errors import ConfigError, InputError
from snnapp.core.preprocess import AudioConfig, audio_features
from snnapp.core.preprocess._audio import MAX_RATE, MIN_RATE

from .wav_kit import CFG, sensible

# ----------------------------------------------------------------------------------- sample arrays

_dtypes = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
                           np.uint16, np.uint64, bool, np.complex64, object, "U3", "M8[s]"])
_rates_any = st.one_of(st.integers(-10, 10), st.integers(MIN_RATE - 1, MAX_RATE + 1), st.sampled_from(
    [None, 0, -8000, 2**63, float("nan"), float("inf"), -float("inf"), 8000.5, "8000", b"x", [8000], True,
     np.int64(8000), np.float32(44100), 1e300]))


@st.composite
def _arrays(draw):
    dtype = draw(_dtypes)
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(0, 5000 if ndim == 1 else 80), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = int(np.prod(shape))
    if dtype in (object, "U3", "M8[s]"):
        return np.zeros(shape, dtype=dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, size).astype(bool).reshape(shape)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True).reshape(shape)
    scale = draw(st.sampled_from([1.0, 1e4, 1e30, 1e300]))
    with np.errstate(over="ignore"):
        x = (rng.standard_normal(size) * scale).astype(dtype).reshape(shape)
    for v in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=5)):
        if x.size:
            x.flat[int(rng.integers(x.size))] = v
    return x


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_arrays(), rate=_rates_any)
def test_any_sample_array(x: np.ndarray, rate):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow or invalid value slips through
        warnings.filterwarnings("error", category=np.exceptions.ComplexWarning)
        try:
            f = audio_features(x, CFG, rate=rate)
        except InputError as err:
            assert "audio samples" in str(err)
            return
    sensible(f)


def test_channels_first_array_is_named():
    with pytest.raises(InputError, match="channels first"):
        audio_features(np.zeros((2, 48000), np.float32), CFG, rate=48000)


# ----------------------------------------------------------------------------------- config


@pytest.mark.parametrize("bad", [
    {"sample_rate": 0}, {"sample_rate": 10**9}, {"n_mfcc": 0}, {"n_mfcc": 50, "n_mels": 40}, {"n_fft": 0},
    {"hop_length": 0}, {"hop_length": 512, "n_fft": 256}, {"fmin": -1.0}, {"fmin": 5000.0, "fmax": 6000.0},
    {"fmax": float("nan")}, {"trim_top_db": 0.0}, {"n_frames": 0}, {"n_frames": 10**12},
])
def test_config_ranges(bad: dict):
    with pytest.raises(ConfigError):
        AudioConfig(**bad)
