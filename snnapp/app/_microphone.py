"""The app's microphone: a level meter and one utterance per spoken digit, from a worker thread.

Qt-free on purpose: the window wraps :class:`MicSource`'s three callbacks in signals. Audio comes
from sounddevice (PortAudio), or from a WAV replayed at real-time pace as if it were the microphone,
so a demo without a microphone behaves like one with. Utterances are cut by the same energy
segmenter as ``snnapp listen`` (:class:`snnapp.core.runtime.Segmenter`), or by the user in push-to-talk mode.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from snnapp.core.errors import InputError
from snnapp.core.runtime import CHUNK_S, Segmenter, VadConfig, file_chunks

from ._messages import error_text

log = logging.getLogger(__name__)

LEVEL_FLOOR_DB = -100.0  # on_level's value for digital silence
PTT_MIN_S = 0.15  # shorter push-to-talk presses are taps, not speech
PTT_MAX_S = 10.0  # a held button keeps only the first 10 s
FIRST_CHUNK_S = 10.0  # PortAudio's first callback after opening a stream can come seconds late
GAP_S = 2.0  # no audio for this long after the first chunk: the device is gone
RETRY_S = 1.0  # how often a lost microphone is reopened

_open_streams = 0  # streams of this module now open; re-initialising PortAudio would kill them
_open_lock = threading.Lock()


def _sounddevice() -> Any:
    """The sounddevice module, imported late: it is optional, and import fails without PortAudio."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise InputError(f"the microphone needs the sounddevice package and PortAudio ({exc})") from None
    return sd


def list_input_devices() -> list[tuple[int, str]]:
    """``(index, name)`` of every device with input channels; ``[]`` without sounddevice, PortAudio or devices."""
    try:
        sd = _sounddevice()
        return [(int(d["index"]), str(d["name"])) for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception:  # a device list is a convenience: never an error
        return []


def rescan() -> list[tuple[int, str]]:
    """Re-read PortAudio's device list (it is read once, at import) and return the input devices.

    Re-initialising PortAudio closes every open stream, so while a :class:`MicSource` records this
    only returns the list as it is; stop the source first to see devices plugged in since.
    """
    try:
        sd = _sounddevice()
        with _open_lock:
            if _open_streams == 0:
                sd._terminate()
                sd._initialize()
    except Exception:
        log.debug("PortAudio re-scan failed", exc_info=True)
    return list_input_devices()


def level_dbfs(chunk: np.ndarray) -> float:
    """RMS level of ``chunk`` in dBFS (0 = a full-scale square wave), at least ``LEVEL_FLOOR_DB``."""
    x = np.asarray(chunk, dtype=np.float64)
    if x.size == 0:
        return LEVEL_FLOOR_DB
    return max(LEVEL_FLOOR_DB, 10.0 * float(np.log10(np.mean(x * x) + 1e-20)))


class MicSource:
    """Reads 50 ms chunks on a worker thread; calls ``on_level(dBFS)`` for each chunk and
    ``on_utterance(float32 mono samples, rate)`` for each utterance.

    All three callbacks run on the worker thread; an exception in one is logged and ignored. No
    method raises: errors reach ``on_error`` as one line. A device that cannot be opened ends the
    thread; one lost while recording (unplugged, sound server gone) is reported once and reopened
    about once a second until it is back or :meth:`stop` is called.
    """

    def __init__(self, on_utterance: Callable[[np.ndarray, int], None], on_level: Callable[[float], None],
                 on_error: Callable[[str], None], *, device: int | str | None = None,
                 audio_file: str | Path | None = None, loop: bool = False, rate: int = 16000,
                 vad: VadConfig = VadConfig()) -> None:
        self._on_utterance, self._on_level, self._on_error = on_utterance, on_level, on_error
        self._device, self._loop, self._vad = device, loop, vad
        self._file = Path(audio_file) if audio_file is not None else None
        self._requested = self._rate = int(rate)
        self._name = self._file.name if self._file else ("default" if device is None else str(device))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ptt = False
        self._events: collections.deque[tuple[str, float]] = collections.deque()  # (what, monotonic time)
        self._seg = Segmenter(self._rate, vad)
        self._ptt_buf: list[np.ndarray] | None = None  # None: button up

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def name(self) -> str:
        """The device's name once opened (the file name when replaying)."""
        return self._name

    @property
    def rate(self) -> int:
        """The sample rate in use: the requested one, the device's default if it refused, or the file's."""
        return self._rate

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._events.clear()
        self._thread = threading.Thread(target=self._run, name=f"mic {self._name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop recording and join the thread (its stream is closed on the way out); False if it did not end in time."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True

    def set_push_to_talk(self, enabled: bool) -> None:
        """Push to talk: no automatic cuts; :meth:`press` and :meth:`release` delimit one utterance."""
        self._ptt = bool(enabled)
        self._events.append(("ptt", time.monotonic()))

    def press(self) -> None:
        if self._ptt:
            self._events.append(("press", time.monotonic()))

    def release(self) -> None:
        """Ends the push-to-talk utterance; it is delivered unless shorter than ``PTT_MIN_S``."""
        if self._ptt:
            self._events.append(("release", time.monotonic()))

    # -- worker thread ------------------------------------------------------------------------

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("microphone callback %r failed", getattr(fn, "__name__", fn))

    def _error(self, what: str) -> None:
        kind = "audio file" if self._file else "microphone"
        self._call(self._on_error, f"{kind} {self._name!r}: {what}")

    def _run(self) -> None:
        try:
            if self._file is not None:
                self._run_file(self._file)
            else:
                self._run_mic()
        except Exception as exc:  # last resort: nothing may escape the thread unreported
            log.exception("microphone thread failed")
            self._error(f"stopped after an unexpected error ({type(exc).__name__}: {exc})")

    def _reset(self, rate: int) -> None:
        self._rate = rate
        self._seg, self._ptt_buf = Segmenter(rate, self._vad), None

    def _chunk(self, chunk: np.ndarray | None, at: float) -> None:
        """Apply button events up to ``at``, then meter and segment ``chunk`` (None: only the events)."""
        while self._events and (chunk is None or self._events[0][1] <= at):
            what, _ = self._events.popleft()
            if what == "ptt":
                self._seg, self._ptt_buf = Segmenter(self._rate, self._vad), None
            elif what == "press":
                self._ptt_buf = []
            elif self._ptt_buf is not None:  # release
                samples = np.concatenate(self._ptt_buf) if self._ptt_buf else np.zeros(0, np.float32)
                self._ptt_buf = None
                if len(samples) >= PTT_MIN_S * self._rate:
                    self._call(self._on_utterance, samples, self._rate)
        if chunk is None:
            return
        self._call(self._on_level, level_dbfs(chunk))
        if self._ptt:
            buf = self._ptt_buf
            if buf is not None and sum(map(len, buf)) < PTT_MAX_S * self._rate:
                buf.append(chunk)
        else:
            for u in self._seg.push(chunk):
                self._call(self._on_utterance, u.samples, self._rate)

    def _run_file(self, path: Path) -> None:
        """Replay at real-time pace; with ``loop`` start again at the end, else end the thread."""
        while not self._stop.is_set():
            try:
                rate, chunks = file_chunks(path, self._stop, realtime=True)
            except InputError as exc:
                self._call(self._on_error, error_text(exc))
                return
            self._reset(rate)
            for c in chunks:
                self._chunk(c, time.monotonic())
            if self._stop.is_set() or not self._loop:
                break
            self._end_of_stream()
        if not self._stop.is_set():
            self._end_of_stream()

    def _end_of_stream(self) -> None:
        self._chunk(None, time.monotonic())
        if not self._ptt:
            for u in self._seg.flush():
                self._call(self._on_utterance, u.samples, self._rate)

    def _run_mic(self) -> None:
        try:
            sd = _sounddevice()
            stream, q, finished = self._open(sd)
        except InputError as exc:
            self._error(error_text(exc))
            return
        while True:
            try:
                lost = self._pump(stream, q, finished)
            finally:
                self._close(stream)
            if lost is None or self._stop.is_set():
                return
            self._error(f"{lost}; trying to reopen it every {RETRY_S:g} s")
            while not self._stop.wait(RETRY_S):
                try:
                    stream, q, finished = self._open(sd)
                    break
                except InputError:
                    continue
            else:
                return

    def _open(self, sd: Any) -> tuple[Any, queue.Queue, threading.Event]:
        """Open and start the input stream at the requested rate, else at the device's default rate."""
        global _open_streams
        with _open_lock:  # counted from the first query: rescan() must not re-initialise under it
            _open_streams += 1
        try:
            return self._open_counted(sd)
        except BaseException:
            with _open_lock:
                _open_streams -= 1
            raise

    def _open_counted(self, sd: Any) -> tuple[Any, queue.Queue, threading.Event]:
        try:
            info = sd.query_devices(self._device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            if self._device is None:
                raise InputError("no input device found; connect a microphone (on Linux, PulseAudio or "
                                 "PipeWire must be running) or replay a WAV file") from None
            raise InputError(f"no such input device ({exc}); available: "
                             f"{', '.join(f'{i} {n}' for i, n in list_input_devices()) or 'none'}") from None
        self._name, index = str(info["name"]), int(info["index"])
        rate = self._requested
        try:
            sd.check_input_settings(index, channels=1, dtype="float32", samplerate=rate)
        except (ValueError, sd.PortAudioError):
            rate = int(info["default_samplerate"])
        q: queue.Queue[tuple[float, np.ndarray]] = queue.Queue()
        finished = threading.Event()

        def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
            # overflow flags only mean a dropped block: not worth an error; loss shows as the stream ending
            q.put((time.monotonic(), indata[:, 0].copy()))

        try:
            stream = sd.InputStream(device=index, samplerate=rate, channels=1, dtype="float32",
                                    blocksize=int(rate * CHUNK_S), callback=callback,
                                    finished_callback=finished.set)
        except (ValueError, sd.PortAudioError) as exc:
            raise InputError(f"cannot open it at {rate} Hz ({exc})") from None
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            raise InputError(f"cannot start recording ({exc})") from None
        self._reset(rate)
        return stream, q, finished

    def _close(self, stream: Any) -> None:
        global _open_streams
        try:
            stream.close(ignore_errors=True)
        except Exception:
            log.debug("closing the input stream failed", exc_info=True)
        with _open_lock:
            _open_streams -= 1

    def _pump(self, stream: Any, q: queue.Queue, finished: threading.Event) -> str | None:
        """Feed chunks until stop (None) or until the stream dies (the reason, in words)."""
        wait = FIRST_CHUNK_S
        deadline = time.monotonic() + wait
        while not self._stop.is_set():
            try:
                at, chunk = q.get(timeout=0.1)
            except queue.Empty:
                self._chunk(None, time.monotonic())
                if finished.is_set() or not stream.active:
                    return "the input stream stopped (device unplugged or sound server gone?)"
                if time.monotonic() > deadline:
                    return f"no audio for {wait:g} s"
                continue
            wait = GAP_S
            deadline = time.monotonic() + wait
            self._chunk(chunk, at)
        return None
