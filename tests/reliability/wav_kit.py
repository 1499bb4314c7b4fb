"""Audio inputs for the audio fuzz tests: WAV bytes with every header field under control, a tone,
and the check that features are sensible."""

from __future__ import annotations

import struct

import numpy as np

from snnapp.core.preprocess import AudioConfig

CFG = AudioConfig()
SHAPE = (CFG.n_frames, CFG.n_mfcc)


def wav_bytes(payload: bytes, rate: int = 8000, channels: int = 1, bits: int = 16, fmt: int = 1,
              data_size: int | None = None, riff_size: int | None = None, block_align: int | None = None,
              byte_rate: int | None = None) -> bytes:
    """A RIFF/WAVE file with every header field under the caller's control (lies included)."""
    ba = channels * ((bits + 7) // 8) if block_align is None else block_align
    br = rate * ba if byte_rate is None else byte_rate
    fmt_chunk = struct.pack("<HHIIHH", fmt & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF, br & 0xFFFFFFFF,
                            ba & 0xFFFF, bits & 0xFFFF)
    size = len(payload) if data_size is None else data_size
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
            + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + payload)
    return b"RIFF" + struct.pack("<I", (len(body) if riff_size is None else riff_size) & 0xFFFFFFFF) + body


def sensible(f: np.ndarray) -> None:
    """Finite features of the configured shape and type."""
    assert isinstance(f, np.ndarray) and f.shape == SHAPE and f.dtype == np.float32
    assert np.isfinite(f).all()


def tone(n: int = 8000, rate: int = 8000) -> np.ndarray:
    """A second of 440 Hz at half scale."""
    return (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
