"""Voice activity: find the spoken digit in a recording, or cut a stream into utterances.

:func:`find_word` cuts the word out of a recording before its features (training, evaluation,
``predict``, and each utterance of ``listen`` and the app's microphone). Why not loudness alone: a
word in a quiet room is loud against the room, but a room with an engine, music or other talkers
is loud all the time, and a peak-relative threshold then keeps the noise around the word. It
compares each frame with the *noise floor of each frequency band*:

- every 10 ms, a 32 ms Hann-windowed spectrum is summed into 16 mel-spaced bands (100 Hz-4 kHz);
- a band's floor is a low percentile of its level over the recording;
- a frame's score is the mean over bands of how far each rises above its floor (dB, negatives
  as 0), averaged over three frames: speech lifts many bands at once, a stationary hum or engine
  lifts none over its floor;
- the threshold adapts: ``adapt_k`` robust deviations above the median score of the quieter
  frames, never below ``threshold_db``, so fluctuating noise (babble, rain) raises it;
- a gate opens after ``min_speech_ms`` of speech frames and closes after ``hangover_ms``; of the
  utterances it finds, the one that stands out most (the sum of its scores) is the word, short
  bursts (clicks) at its ends are dropped, and its edges grow while frames stay above a lower
  threshold (hysteresis).

The streaming :class:`Segmenter` of ``listen`` and the app's microphone uses the same bands, score
and gate, causally: each band's floor starts at the first frame's level, follows lower levels
quickly and rises at most ``rise_db_per_s``, and the threshold's noise statistics are a running
mean and variance of the frames it judges not to be speech. Every utterance it returns is cut
again by :func:`find_word` in the preprocessing. Numpy only: no torch, no JIT compiler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Changes whenever a change to the code below changes where words are cut: cached features
#: computed with an earlier detector are then recomputed (see :mod:`snnapp.core.features`).
VAD_VERSION = 2


@dataclass(frozen=True)
class VadConfig:
    hop_ms: float = 10.0
    window_ms: float = 32.0
    bands: int = 16
    fmin: float = 100.0
    fmax: float = 4000.0
    threshold_db: float = 3.0  # least mean band rise over the floor that counts as speech
    adapt_k: float = 3.0  # or this many standard deviations above the noise frames' mean score
    floor_db: float = -60.0  # dBFS per band: quieter is never speech
    top_db: float = 40.0  # find_word: frames this far below the recording's loudest are not speech
    rise_db_per_s: float = 3.0  # Segmenter: how fast a band's floor may rise
    min_speech_ms: float = 60.0
    hangover_ms: float = 250.0
    pre_roll_ms: float = 100.0
    max_ms: float = 1500.0
    margin_ms: float = 30.0  # find_word: kept before the first and after the last speech frame
    floor_percentile: float = 5.0  # find_word: the band floor, a percentile over the recording
    quiet_percentile: float = 40.0  # find_word: the noise statistics come from frames quieter than this
    smooth: int = 3  # frames each score is averaged over
    extend_k: float = 1.0  # find_word: the word's edges grow while frames score this many deviations up
    edge_run_ms: float = 80.0  # find_word: a shorter burst of speech frames at either end is no part of the word


@dataclass
class Utterance:
    samples: np.ndarray  # float32 mono
    start_s: float  # position in the stream
    end_s: float


class _Bands:
    """Band levels (dB) of the frames of a signal: the one spectral front end of the detector."""

    def __init__(self, rate: int, cfg: VadConfig) -> None:
        self.hop = max(1, int(round(rate * cfg.hop_ms / 1000)))
        self.win = max(self.hop, int(round(rate * cfg.window_ms / 1000)))
        self.window = np.hanning(self.win + 2)[1:-1].astype(np.float32)
        freqs = np.fft.rfftfreq(self.win, 1.0 / rate)
        top = min(cfg.fmax, rate / 2)
        mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)  # noqa: E731
        edges = 700.0 * (10 ** (np.linspace(mel(cfg.fmin), mel(top), cfg.bands + 1) / 2595.0) - 1.0)
        which = np.searchsorted(edges, freqs, side="right") - 1
        which[(freqs < cfg.fmin) | (freqs >= top)] = -1
        used = sorted(set(which[which >= 0].tolist()))
        self.matrix = np.zeros((freqs.size, max(1, len(used))), np.float32)  # bins -> bands that have bins
        for j, b in enumerate(used):
            self.matrix[which == b, j] = 1.0
        # dBFS of a band: a full-scale sine fills its band with (win * mean(window)/2)^2
        self.ref = float((self.win * self.window.mean() / 2) ** 2)

    def levels(self, frames: np.ndarray) -> np.ndarray:
        """``[n, win]`` samples -> ``[n, bands]`` band levels in dBFS."""
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
        return 10.0 * np.log10(power @ self.matrix / self.ref + 1e-12)


class _Gate:
    """The decision over frames: the adaptive threshold, onset, pre-roll, hangover and longest
    utterance. Fed one frame's decision at a time; says where utterances open and close (frame
    indices)."""

    def __init__(self, cfg: VadConfig, mean: float = 1.0, var: float = 1.0) -> None:
        self.cfg = cfg
        frames = lambda ms: max(1, int(round(ms / cfg.hop_ms)))  # noqa: E731
        self.need, self.hang, self.pre, self.most = (frames(cfg.min_speech_ms), frames(cfg.hangover_ms),
                                                     frames(cfg.pre_roll_ms), frames(cfg.max_ms))
        self.mean, self.var = mean, var
        self.run = self.quiet = 0
        self.start: int | None = None

    def threshold(self) -> float:
        return max(self.cfg.threshold_db, self.mean + self.cfg.adapt_k * float(np.sqrt(self.var)))

    def speech(self, score: float, loud: bool) -> bool:
        """Whether a frame of ``score`` is speech (above the threshold, and ``loud``). A frame whose
        score is at or under the threshold, outside an utterance, updates the noise statistics; one
        that is only too quiet does not (the soft onset of a word after digital silence would
        otherwise lift the threshold above the word)."""
        above = score > self.threshold()
        is_speech = loud and above
        if not above and self.start is None:
            d = score - self.mean
            self.mean += 0.05 * d
            self.var += 0.05 * (d * d - self.var)
        return is_speech

    def step(self, i: int, is_speech: bool) -> tuple[int, int] | None:
        """Frame ``i``'s decision in; a finished utterance ``(first, last)`` frame out, or None."""
        if self.start is None:
            self.run = self.run + 1 if is_speech else 0
            if self.run >= self.need:
                self.start, self.quiet = max(0, i - self.run + 1 - self.pre), 0
            return None
        self.quiet = 0 if is_speech else self.quiet + 1
        if self.quiet >= self.hang or i - self.start + 1 >= self.most:
            return self.close(i)
        return None

    def close(self, i: int) -> tuple[int, int] | None:
        if self.start is None:
            return None
        out, self.start, self.run = (self.start, i), None, 0
        return out


class Segmenter:
    """Feed chunks with :meth:`push`; finished utterances come back; :meth:`flush` ends the stream.

    Causal: the band floors start at the first frame's levels, follow lower levels quickly and
    rise slowly, so a room that gets louder is learnt within seconds and speech does not become
    the floor while it lasts.
    """

    def __init__(self, sample_rate: int, cfg: VadConfig = VadConfig()) -> None:
        self.rate, self.cfg = int(sample_rate), cfg
        self._bands = _Bands(self.rate, cfg)
        self._gate = _Gate(cfg)
        self._rise = cfg.rise_db_per_s * cfg.hop_ms / 1000
        self._floor: np.ndarray | None = None
        self._tail = np.zeros(0, np.float32)  # samples not yet a whole hop
        self._history = np.zeros(self._bands.win, np.float32)  # the window ending at the current hop
        self._kept: list[np.ndarray] = []  # the hops of the open utterance, with its pre-roll
        self._recent: list[np.ndarray] = []  # the last hops, for the pre-roll
        self._frame = 0  # hops consumed

    def push(self, chunk: np.ndarray) -> list[Utterance]:
        x = np.asarray(chunk, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        buf = np.concatenate([self._tail, x])
        hop = self._bands.hop
        n = len(buf) // hop
        self._tail = buf[n * hop:]
        out: list[Utterance] = []
        for h in buf[: n * hop].reshape(n, hop):
            u = self._hop(h)
            if u is not None:
                out.append(u)
        return out

    def _hop(self, h: np.ndarray) -> Utterance | None:
        c, g = self.cfg, self._gate
        self._history = np.concatenate([self._history[h.size:], h])
        level = self._bands.levels(self._history[None])[0]
        if self._floor is None:
            self._floor = level.copy()
        score = float(np.maximum(level - self._floor, 0.0).mean())
        is_speech = g.speech(score, bool((level > c.floor_db).any()))
        # the floor: down quickly, up slowly (so that a word never becomes the floor)
        lower = level < self._floor
        self._floor = np.where(lower, self._floor + 0.3 * (level - self._floor), self._floor + self._rise)
        i = self._frame
        self._frame += 1
        was_open = g.start is not None
        done = g.step(i, is_speech)
        if g.start is not None and not was_open:  # opened: the pre-roll becomes the utterance's start
            self._kept = self._recent[-(i - g.start):] if i > g.start else []
        self._recent = (self._recent + [h])[-(g.pre + g.need + 1):]
        if g.start is not None or done is not None:
            self._kept.append(h)
        return self._utterance(done) if done is not None else None

    def _utterance(self, span: tuple[int, int]) -> Utterance:
        samples = np.concatenate(self._kept) if self._kept else np.zeros(0, np.float32)
        self._kept = []
        end = (span[1] + 1) * self._bands.hop / self.rate
        return Utterance(samples, end - len(samples) / self.rate, end)

    def flush(self) -> list[Utterance]:
        """End of stream: an open utterance is closed and returned."""
        span = self._gate.close(self._frame - 1)
        return [self._utterance(span)] if span is not None and self._kept else []


def _smooth(score: np.ndarray, frames: int) -> np.ndarray:
    """The mean of each score with its neighbours (``frames`` in all, centred)."""
    if frames <= 1 or score.size < frames:
        return score
    return np.convolve(np.pad(score, (frames // 2, frames - 1 - frames // 2), mode="edge"),
                       np.ones(frames) / frames, mode="valid")


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """The ``[start, end)`` of each run of true values."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def find_word(x: np.ndarray, rate: int, cfg: VadConfig = VadConfig()) -> tuple[int, int] | None:
    """The samples ``[start, end)`` of the spoken word in recording ``x``, or None where the gate
    finds no speech (silence, or noise alone).

    Sees the whole recording: each band's floor is its ``floor_percentile`` over time, and the
    noise statistics of the threshold come from the quietest frames. Of the utterances the gate
    finds, the one whose frames rise furthest above the floor in sum is the word.
    """
    x = np.asarray(x, dtype=np.float32)
    bands = _Bands(rate, cfg)
    if x.size < bands.win:
        return None
    n = 1 + (x.size - bands.win) // bands.hop
    idx = np.arange(bands.win)[None, :] + bands.hop * np.arange(n)[:, None]
    level = bands.levels(x[idx])  # [n, bands]
    floor = np.percentile(level, cfg.floor_percentile, axis=0)
    score = _smooth(np.maximum(level - floor, 0.0).mean(axis=1), cfg.smooth)
    total = 10.0 * np.log10(np.mean(10.0 ** (level / 10.0), axis=1))
    loud = ((level > cfg.floor_db).any(axis=1)) & (total > total.max() - cfg.top_db)
    quiet = score[total <= np.percentile(total, cfg.quiet_percentile)]
    centre = float(np.median(quiet))
    spread = 1.4826 * float(np.median(np.abs(quiet - centre)))  # robust: a word in the quiet part moves it little
    gate = _Gate(cfg, centre, spread * spread + 1e-3)
    thr = gate.threshold()
    speech = loud & (score > thr)
    spans = []
    for i in range(n):
        done = gate.step(i, bool(speech[i]))
        if done is not None:
            spans.append(done)
    last = gate.close(n - 1)
    if last is not None:
        spans.append(last)
    best, best_sum = None, 0.0
    shortest = max(1, int(round(cfg.edge_run_ms / cfg.hop_ms)))
    for a, b in spans:
        runs = _runs(speech[a: b + 1])
        while len(runs) > 1 and runs[0][1] - runs[0][0] < shortest:  # a click before the word
            runs.pop(0)
        while len(runs) > 1 and runs[-1][1] - runs[-1][0] < shortest:  # or after it
            runs.pop()
        if not runs:
            continue
        first, final = a + runs[0][0], a + runs[-1][1] - 1
        total_score = float(score[first: final + 1].sum())
        if total_score > best_sum:
            best, best_sum = (first, final), total_score
    if best is None:
        return None
    # hysteresis: the word's soft edges (a fading vowel, a breathy onset) rise less above the floor;
    # grow the cut while frames stay above a lower threshold and within top_db of the word's peak
    low = max(cfg.threshold_db / 3, centre + cfg.extend_k * spread)
    keep = (score > low) & (total > total[best[0]: best[1] + 1].max() - cfg.top_db)
    first, final = best
    while first > 0 and keep[first - 1]:
        first -= 1
    while final < n - 1 and keep[final + 1]:
        final += 1
    best = (first, final)
    margin = int(round(rate * cfg.margin_ms / 1000))
    start = max(0, best[0] * bands.hop - margin)
    end = min(x.size, best[1] * bands.hop + bands.win + margin)
    return start, end
