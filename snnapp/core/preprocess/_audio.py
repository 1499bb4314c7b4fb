"""Audio preprocessing: any WAV -> mono 8 kHz -> trimmed -> a fixed number of MFCC frames.

This is the one audio path of the project: training, evaluation, ``predict``, the live app and
the edge runtime all call :func:`audio_features`. Its parameters live in :class:`AudioConfig`,
which is saved in every model's ``config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnapp.core._dictconfig import DictConfig
from snnapp.core.errors import InputError

#: Longest recording accepted, in seconds: a digit is under two seconds; ten minutes is a mistake.
MAX_SECONDS = 60.0
MIN_RATE, MAX_RATE = 1_000, 384_000


@dataclass(frozen=True)
class AudioConfig(DictConfig):
    """Parameters of the audio path; saved with the model so that inference matches training."""

    sample_rate: int = 8000
    n_mfcc: int = 20
    n_mels: int = 40
    n_fft: int = 256
    hop_length: int = 64
    fmin: float = 20.0
    fmax: float = 4000.0
    trim_top_db: float = 30.0
    n_frames: int = 32
    #: Per-utterance normalisation of each coefficient (mean 0, std 1): removes the speaker's
    #: and the microphone's spectral tilt, which helps speaker independence.
    normalize: bool = True



def load_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV (any rate, any channel count, int or float) as float32 ``[samples, channels]``."""
    import soundfile as sf

    path = Path(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for broken headers
        raise InputError(f"{path}: not a readable audio file ({exc})") from None
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise InputError(f"{path}: sample rate {info.samplerate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if info.frames <= 0:
        raise InputError(f"{path}: the recording is empty")
    if info.frames > MAX_SECONDS * info.samplerate:
        raise InputError(f"{path}: {info.frames / info.samplerate:.0f} s long; at most {MAX_SECONDS:.0f} s is accepted")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise InputError(f"{path}: cannot decode the audio ({exc})") from None
    if data.size == 0:
        raise InputError(f"{path}: the recording is empty")
    return data, int(rate)


def to_mono(data: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Mix down to mono, replace NaN/inf by silence, and resample to ``target_rate``."""
    import librosa

    x = np.asarray(data, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    if rate != target_rate:
        x = librosa.resample(x, orig_sr=rate, target_sr=target_rate, res_type="soxr_hq")
    return x.astype(np.float32, copy=False)


def trim_silence(x: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Cut leading and trailing silence; silence alone is returned unchanged (a valid, odd input)."""
    import librosa

    if x.size == 0 or float(np.max(np.abs(x))) == 0.0:
        return x
    trimmed, _ = librosa.effects.trim(x, top_db=cfg.trim_top_db, frame_length=cfg.n_fft, hop_length=cfg.hop_length)
    return trimmed if trimmed.size >= cfg.n_fft else x


def mfcc_frames(x: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """MFCC of a mono signal at ``cfg.sample_rate``, resampled in time to ``cfg.n_frames``.

    Stretching every utterance to the same number of frames maps it onto the network's time
    steps and removes speaking rate as a nuisance variable. Returns float32 ``[n_frames, n_mfcc]``.
    """
    import librosa

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
    if cfg.normalize:
        out = (out - out.mean(axis=0)) / (out.std(axis=0) + 1e-3)
    return out.astype(np.float32)


def audio_features(source: str | Path | np.ndarray, cfg: AudioConfig, rate: int | None = None) -> np.ndarray:
    """The whole audio path: a WAV file, or samples at ``rate``, to ``[n_frames, n_mfcc]`` MFCC."""
    if isinstance(source, (str, Path)):
        data, rate = load_wav(source)
    else:
        data = np.asarray(source)
        if rate is None or not MIN_RATE <= int(rate) <= MAX_RATE:
            raise InputError(f"audio samples need a sample rate in {MIN_RATE}-{MAX_RATE} Hz, got {rate}")
        if data.ndim not in (1, 2) or data.size == 0:
            raise InputError(f"audio samples must be a non-empty [samples] or [samples, channels] array, got shape {data.shape}")
        if data.shape[0] > MAX_SECONDS * int(rate):
            raise InputError(f"{data.shape[0] / int(rate):.0f} s of audio; at most {MAX_SECONDS:.0f} s is accepted")
        data = np.clip(np.nan_to_num(data.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0), -1e4, 1e4)
    x = to_mono(data, int(rate), cfg.sample_rate)
    return mfcc_frames(trim_silence(x, cfg), cfg)
