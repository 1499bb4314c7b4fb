"""Audio preprocessing: any WAV -> mono 8 kHz -> trimmed -> a fixed number of MFCC frames.

This is the one audio path of the project: training, evaluation, ``predict``, the live app and
the edge runtime all call :func:`audio_features`. Its parameters live in :class:`AudioConfig`,
which is saved in every model's ``config.json``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from snnapp.core._atomic import shown
from snnapp.core._dictconfig import DictConfig, check_settings, setting
from snnapp.core.errors import ConfigError, InputError

#: Longest recording accepted, in seconds: a digit is under two seconds; ten minutes is a mistake.
MAX_SECONDS = 60.0
MIN_RATE, MAX_RATE = 1_000, 384_000
#: Most channels accepted (libsndfile's own limit is 1024; an array with more is likely channels-first).
MAX_CHANNELS = 64
#: Most samples accepted, all channels together: 60 s of mono at 384 kHz, or of 8 channels at 48 kHz.
#: It bounds the memory of one recording (float32: 96 MB) whatever its header or shape says.
MAX_SAMPLES = 24_000_000
#: Samples are clipped to this magnitude (float WAVs may hold anything): beyond it the power
#: spectrum would overflow float32 and the features turn NaN.
MAX_AMPLITUDE = 1e4


@dataclass(frozen=True)
class AudioConfig(DictConfig):
    """Parameters of the audio path; saved with the model so that inference matches training."""

    sample_rate: int = setting(8000, "Sample rate (Hz) recordings are resampled to.", ge=MIN_RATE, le=MAX_RATE)
    n_mfcc: int = setting(20, "MFCC coefficients per frame. Fewer keep the vocal tract's broad shape and drop "
                              "the fine detail that differs between speakers.", ge=1, le=512)
    n_mels: int = setting(40, "Mel bands the MFCC are computed from.", ge=1, le=512)
    n_fft: int = setting(256, "FFT window (samples).", ge=16, le=65536)
    hop_length: int = setting(64, "Samples between frames.", ge=1, le=65536)
    fmin: float = setting(20.0, "Lowest frequency of the mel bands (Hz).", ge=0.0)
    fmax: float = setting(4000.0, "Highest frequency of the mel bands (Hz).", gt=0.0)
    trim: Literal["noise", "peak"] = setting(
        "noise", "How the word is cut out of the recording: noise (the voice activity detector of "
                 "snnapp.core.vad, against each band's noise floor; holds up in a noisy room) or peak (frames "
                 "quieter than the loudest by trim_top_db dropped from both ends; models made before noise).",
        absent="peak")
    trim_top_db: float = setting(30.0, "With trim = peak: silence trimmed around the word, quieter than the peak "
                                       "by this (dB).", gt=0.0)
    n_frames: int = setting(32, "Frames the word is resampled to in time.", ge=1, le=10_000)
    normalize: bool = setting(True, "Per-utterance normalisation of each coefficient (mean 0, std 1): removes the "
                                    "speaker's and the microphone's spectral tilt.")
    preemphasis: float = setting(0.0, "Pre-emphasis of the waveform before the MFCC, x[n] - a x[n-1]: lifts the "
                                      "high frequencies that a distant or muffled microphone loses (0: none).",
                                 ge=0.0, lt=1.0)
    deltas: bool = setting(False, "Append each coefficient's rate of change over the frames: how the spectrum "
                                  "moves through the word, which varies less between voices than where it sits.")

    @property
    def n_features(self) -> int:
        """Values per frame: the coefficients, and as many deltas when ``deltas`` is set."""
        return self.n_mfcc * (2 if self.deltas else 1)

    def __post_init__(self) -> None:
        check_settings(self, "audio")
        if not self.n_mfcc <= self.n_mels:
            raise ConfigError(f"audio needs n_mfcc ({self.n_mfcc}) <= n_mels ({self.n_mels})")
        if not self.hop_length <= self.n_fft:
            raise ConfigError(f"audio needs hop_length ({self.hop_length}) <= n_fft ({self.n_fft})")
        if not self.fmin < min(self.fmax, self.sample_rate / 2):
            raise ConfigError(f"audio needs fmin ({self.fmin}) < fmax ({self.fmax}) and fmin below half "
                              f"the sample rate ({self.sample_rate} Hz)")


def _check_rate(rate: object, name: str) -> int:
    """``rate`` as an int in the accepted range, or :class:`InputError`."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, float, np.integer, np.floating)) \
            or not np.isfinite(rate) or not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(f"{name}: sample rate {rate!r} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    return int(round(float(rate)))


def _check_length(frames: int, channels: int, rate: int, name: str) -> None:
    if frames <= 0 or channels <= 0:
        raise InputError(f"{name}: the recording is empty")
    if channels > MAX_CHANNELS:
        raise InputError(f"{name}: {channels} channels; at most {MAX_CHANNELS} are accepted "
                         "(samples are [samples] or [samples, channels], not channels first)")
    if frames > MAX_SECONDS * rate:
        raise InputError(f"{name}: {frames / rate:.0f} s long; at most {MAX_SECONDS:.0f} s is accepted")
    if frames * channels > MAX_SAMPLES:
        raise InputError(f"{name}: {channels} channels of {frames} samples is more audio than accepted "
                         f"({MAX_SAMPLES} samples in all)")


def _path(path: str | bytes | Path) -> Path:
    """``path`` as a Path; bytes (a name that need not be UTF-8) are decoded as the OS does."""
    return Path(os.fsdecode(path)) if isinstance(path, bytes) else Path(path)


def _reason(exc: Exception) -> str:
    """What soundfile says is wrong, on one line, without its repr of the file object (the name is given apart)."""
    return shown(getattr(exc, "error_string", None) or str(exc) or type(exc).__name__)


@contextlib.contextmanager
def _sound_file(path: Path) -> Iterator[tuple[Any, int]]:
    """The open recording at ``path`` (soundfile over a file this module opens, so that a name of
    any bytes works: libsndfile's own open wants UTF-8) and its checked rate; nothing is decoded yet."""
    import soundfile as sf

    name = shown(path)
    if not path.is_file():  # also keeps FIFOs and devices, which would block or never end, out
        raise InputError(f"{name}: no such audio file" if not path.exists() else f"{name}: not a regular file")
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{name}: cannot be opened ({exc.strerror or exc})") from None
    with f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # replaced after the check above
            raise InputError(f"{name}: not a regular file")
        try:
            snd = sf.SoundFile(f)
        except Exception as exc:  # soundfile raises several types for broken headers
            raise InputError(f"{name}: not a readable audio file ({_reason(exc)})") from None
        with snd:
            yield snd, _check_rate(snd.samplerate, name)


def load_wav(path: str | bytes | Path) -> tuple[np.ndarray, int]:
    """Read a WAV (any rate, any channel count, int or float) as float32 ``[samples, channels]``.

    Anything libsndfile reads is accepted (WAV as 8/16/24/32-bit integers or 32/64-bit floats,
    FLAC, OGG...). The header is checked before any sample is decoded: a rate outside
    1 kHz-384 kHz, more than 64 channels, more than 60 s, or more than :data:`MAX_SAMPLES`
    samples in all (the memory bound) is refused with :class:`InputError` rather than trimmed,
    since a long recording is not one spoken digit and cutting it would guess which part is
    meant. The samples are returned as stored: NaN, inf and out-of-range values are dealt with
    by :func:`to_mono`. ``path`` may be bytes, or a str holding undecodable bytes as
    ``os.fsdecode`` does: any name the file system allows.
    """
    path = _path(path)
    name = shown(path)
    with _sound_file(path) as (snd, rate):
        _check_length(snd.frames, snd.channels, rate, name)
        try:
            data = snd.read(snd.frames, dtype="float32", always_2d=True)
        except Exception as exc:
            raise InputError(f"{name}: cannot decode the audio ({_reason(exc)})") from None
    if data.size == 0:
        raise InputError(f"{name}: the recording is empty")
    return data, int(rate)


def stream_wav(path: str | bytes | Path, block_s: float) -> tuple[int, Iterator[np.ndarray]]:
    """A recording of any length as mono float32 blocks of ``block_s`` seconds, in bounded memory.

    For replaying a long recording (many spoken digits) as if it were a microphone: unlike
    :func:`load_wav` there is no length limit, since only one block is held at a time. Rate and
    channels are checked from the header; NaN and inf samples become silence.
    """
    path = _path(path)
    name = shown(path)
    with _sound_file(path) as (snd, rate):
        frames, channels = snd.frames, snd.channels
    if frames <= 0 or channels <= 0:
        raise InputError(f"{name}: the recording is empty")
    if channels > MAX_CHANNELS:
        raise InputError(f"{name}: {channels} channels; at most {MAX_CHANNELS} are accepted")
    block = max(1, int(rate * block_s))

    def blocks() -> Iterator[np.ndarray]:
        try:
            with _sound_file(path) as (snd, _):
                for b in snd.blocks(blocksize=block, dtype="float32", always_2d=True):
                    with np.errstate(over="ignore", invalid="ignore"):
                        mono = b.mean(axis=1)
                        yield np.clip(np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0),
                                      -MAX_AMPLITUDE, MAX_AMPLITUDE).astype(np.float32)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{name}: cannot decode the audio ({_reason(exc)})") from None

    return rate, blocks()


def to_mono(data: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Mix down to mono, replace NaN/inf by silence, clip to :data:`MAX_AMPLITUDE`, resample to ``target_rate``."""
    import librosa

    x = np.asarray(data)
    if x.ndim == 2:
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf, then silence below
            x = x.mean(axis=1, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), -MAX_AMPLITUDE, MAX_AMPLITUDE)
    x = x.astype(np.float32, copy=False)
    if rate != target_rate:
        x = librosa.resample(x, orig_sr=rate, target_sr=target_rate, res_type="soxr_hq")
    return x.astype(np.float32, copy=False)


def trim_silence(x: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """The word cut out of the recording ``x`` (see ``AudioConfig.trim``); where no word is found
    (silence, noise alone) ``x`` is returned unchanged (a valid, odd input)."""
    if x.size == 0 or float(np.max(np.abs(x))) == 0.0:
        return x
    if cfg.trim == "noise":
        from snnapp.core.vad import find_word

        span = find_word(x, cfg.sample_rate)
        return x[span[0]: span[1]] if span is not None and span[1] - span[0] >= cfg.n_fft else x
    import librosa

    trimmed, _ = librosa.effects.trim(x, top_db=cfg.trim_top_db, frame_length=cfg.n_fft, hop_length=cfg.hop_length)
    return trimmed if trimmed.size >= cfg.n_fft else x


def frame_deltas(frames: np.ndarray, width: int = 9) -> np.ndarray:
    """First-order deltas of ``[frames, coefficients]`` along time (librosa's regression over
    ``width`` frames, narrowed to fit short inputs; zeros for fewer than 3 frames)."""
    import librosa

    n = frames.shape[0]
    width = min(width, n if n % 2 else n - 1)
    if width < 3:
        return np.zeros_like(frames)
    return librosa.feature.delta(frames, width=width, axis=0, mode="interp").astype(frames.dtype)


def mfcc_frames(x: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """MFCC of a mono signal at ``cfg.sample_rate``, resampled in time to ``cfg.n_frames``.

    Stretching every utterance to the same number of frames maps it onto the network's time
    steps and removes speaking rate as a nuisance variable. Returns float32
    ``[n_frames, cfg.n_features]``: the coefficients, then their deltas when ``cfg.deltas``.
    """
    import librosa

    if cfg.preemphasis and x.size > 1:
        x = np.concatenate([x[:1], x[1:] - np.float32(cfg.preemphasis) * x[:-1]]).astype(x.dtype, copy=False)
    if x.size < cfg.n_fft:
        x = np.pad(x, (0, cfg.n_fft - x.size))
    m = librosa.feature.mfcc(
        y=x,
        sr=cfg.sample_rate,
        n_mfcc=cfg.n_mfcc,
        n_mels=cfg.n_mels,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        fmin=cfg.fmin,
        fmax=min(cfg.fmax, cfg.sample_rate / 2),
        center=True,
    ).T  # [frames, n_mfcc]
    src = np.linspace(0.0, 1.0, m.shape[0])
    dst = np.linspace(0.0, 1.0, cfg.n_frames)
    out = np.stack([np.interp(dst, src, m[:, k]) for k in range(m.shape[1])], axis=1)
    if cfg.deltas:
        out = np.concatenate([out, frame_deltas(out)], axis=1)
    if cfg.normalize:
        out = (out - out.mean(axis=0)) / (out.std(axis=0) + 1e-3)
    return out.astype(np.float32)


def audio_features(source: str | bytes | Path | np.ndarray, cfg: AudioConfig, rate: int | None = None) -> np.ndarray:
    """The whole audio path: a WAV file, or samples at ``rate``, to ``[n_frames, n_features]`` MFCC.

    Samples are a real-valued ``[samples]`` or ``[samples, channels]`` array; the limits of
    :func:`load_wav` apply to them too. Silence is a valid input: it gives finite features (all
    zero when normalised), and the network makes of them what it will.
    """
    if isinstance(source, (str, bytes, Path)):
        data, rate = load_wav(source)
    else:
        rate = _check_rate(rate, "audio samples")
        data = np.asarray(source)
        if data.dtype == object or not (np.issubdtype(data.dtype, np.number) or data.dtype == bool) \
                or np.iscomplexobj(data):
            raise InputError(f"audio samples: unsupported element type {data.dtype}; expected real numbers")
        if data.ndim not in (1, 2) or data.size == 0:
            raise InputError(f"audio samples must be a non-empty [samples] or [samples, channels] array, got shape {data.shape}")
        _check_length(data.shape[0], 1 if data.ndim == 1 else data.shape[1], rate, "audio samples")
    x = to_mono(data, int(rate), cfg.sample_rate)
    return mfcc_frames(trim_silence(x, cfg), cfg)
