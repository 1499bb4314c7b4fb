"""Voice activity detection: cut a stream of samples into utterances (one spoken digit each).

Energy based, numpy only, causal: each 20 ms frame is speech when its level is ``margin_db``
above the running noise floor (a slow-rising, fast-falling minimum tracker) and above an absolute
floor. An utterance opens after ``min_speech_ms`` of speech, keeps ``pre_roll_ms`` before its
onset (soft consonants), and closes after ``hangover_ms`` of silence or at ``max_ms``. The same
segmenter serves the microphone and WAV replay, so both see the same cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VadConfig:
    frame_ms: float = 20.0
    margin_db: float = 12.0
    floor_db: float = -50.0  # dBFS: quieter frames are never speech
    min_speech_ms: float = 100.0
    hangover_ms: float = 250.0
    pre_roll_ms: float = 100.0
    max_ms: float = 1500.0


@dataclass
class Utterance:
    samples: np.ndarray  # float32 mono
    start_s: float  # position in the stream
    end_s: float


class Segmenter:
    """Feed chunks with :meth:`push`; finished utterances come back; :meth:`flush` ends the stream."""

    def __init__(self, sample_rate: int, cfg: VadConfig = VadConfig()) -> None:
        self.rate, self.cfg = int(sample_rate), cfg
        self.frame = max(1, int(round(sample_rate * cfg.frame_ms / 1000)))
        self._pending = np.zeros(0, np.float32)
        self._frames: list[np.ndarray] = []  # current utterance (incl. pre-roll)
        self._pre: list[np.ndarray] = []
        self._speech = self._silence = 0
        self._active = False
        self._noise_db = cfg.floor_db
        self._pos = 0  # frames consumed

    def _ms(self, frames: int) -> float:
        return frames * self.cfg.frame_ms

    def push(self, chunk: np.ndarray) -> list[Utterance]:
        x = np.asarray(chunk, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        buf = np.concatenate([self._pending, x])
        n = len(buf) // self.frame
        self._pending = buf[n * self.frame:]
        out: list[Utterance] = []
        for f in buf[: n * self.frame].reshape(n, self.frame):
            u = self._frame(f)
            if u is not None:
                out.append(u)
        return out

    def _frame(self, f: np.ndarray) -> Utterance | None:
        c = self.cfg
        level = 10 * np.log10(float(np.mean(f * f)) + 1e-12)
        # noise floor: follows quiet frames at once, rises slowly (about 3 dB per second)
        self._noise_db = level if level < self._noise_db else self._noise_db + 3.0 * c.frame_ms / 1000
        speech = level > max(c.floor_db, self._noise_db + c.margin_db)
        self._pos += 1
        if not self._active:
            self._pre.append(f)
            keep = int(c.pre_roll_ms / c.frame_ms) + int(c.min_speech_ms / c.frame_ms) + 1
            self._pre = self._pre[-keep:]
            self._speech = self._speech + 1 if speech else 0
            if self._ms(self._speech) >= c.min_speech_ms:
                self._active, self._frames, self._silence = True, list(self._pre), 0
            return None
        self._frames.append(f)
        self._silence = 0 if speech else self._silence + 1
        if self._ms(self._silence) >= c.hangover_ms or self._ms(len(self._frames)) >= c.max_ms:
            return self._close()
        return None

    def _close(self) -> Utterance:
        samples = np.concatenate(self._frames)
        end = self._pos * self.frame / self.rate
        self._active, self._frames, self._pre, self._speech = False, [], [], 0
        return Utterance(samples, end - len(samples) / self.rate, end)

    def flush(self) -> list[Utterance]:
        """End of stream: an open utterance is closed and returned."""
        return [self._close()] if self._active and self._frames else []
