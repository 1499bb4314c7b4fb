"""Camera input: find a handwritten digit in a camera frame, and a capture loop on its own thread.

Qt-free on purpose: the window wraps :class:`CameraSource` callbacks in signals, and tests drive
both parts with a video file played through OpenCV as if it were a live camera. The digit found
is turned into the model's input by the project's one image path, :func:`image_features`.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from snnapp.core.errors import InputError
from snnapp.core.preprocess import ImageConfig, image_features

log = logging.getLogger(__name__)

#: Failed reads in a row after which a live camera counts as lost (and is reopened at ~1 Hz).
FAILED_READS = 5
#: Seconds between attempts to reopen a lost camera.
REOPEN_EVERY = 1.0


@dataclass
class Detection:
    """A digit found in a frame: where it is, and the model's input made from it."""

    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    crop: np.ndarray  # float32 [28, 28] MNIST-style, white digit on black


# ---------------------------------------------------------------------------------------------
# Finding the digit


def _gray_u8(frame: np.ndarray) -> np.ndarray | None:
    """BGR/BGRA/gray frame of any numeric type -> 2-D uint8, or None when it holds no picture."""
    a = np.asarray(frame)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or a.size == 0:
        return None
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] in (3, 4):
        if a.dtype != np.uint8:
            a = cv2.normalize(a.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        return cv2.cvtColor(a, cv2.COLOR_BGR2GRAY if a.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if a.ndim != 2:
        return None
    if a.dtype != np.uint8:
        a = cv2.normalize(np.nan_to_num(a.astype(np.float32)), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return a


def find_digit(frame: np.ndarray | None, cfg: ImageConfig = ImageConfig()) -> Detection | None:
    """The handwritten digit (dark ink on light paper) in a camera frame, or None when none is seen.

    Adaptive thresholding follows the ink against the local paper brightness, so uneven lighting
    and a dark table around the sheet do not count as ink. Of the ink blobs whose size, shape
    and position could be a digit, the one with the most ink is kept, with the strokes close to
    it (a 5's detached bar); everything else in the crop is painted over as paper before the
    crop goes through :func:`image_features`, which inverts, cleans and centres it like MNIST.
    """
    if frame is None:
        return None
    gray = _gray_u8(frame)
    if gray is None or min(gray.shape) < 16:
        return None
    h, w = gray.shape
    side = min(h, w)
    blur = cv2.GaussianBlur(gray, (5, 5), 0)
    block = max(15, (side // 8) | 1)
    ink = cv2.adaptiveThreshold(blur, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)
    k = max(3, side // 60)
    ink = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    edge = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    on_edge = np.bincount(edge, minlength=n)
    # the most ink wins (a thin stray line has little), with a mild preference for the centre,
    # where the user holds the sheet: a blob in a corner counts half
    best, best_score = 0, 0.0
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if not _plausible(bw, bh, int(on_edge[i]), w, h):
            continue
        off = math.hypot((x + bw / 2) / w - 0.5, (y + bh / 2) / h - 0.5) / math.hypot(0.5, 0.5)
        score = area * (1.0 - 0.5 * off)
        if score > best_score:
            best, best_score = i, score
    if best == 0:
        return None
    # strokes of the same digit that the closing left apart (a 5's bar, a 4's stem): smaller
    # blobs reaching into the chosen box, grown by a quarter of its size
    x, y, bw, bh, best_ink = (int(v) for v in stats[best])
    grow = max(bw, bh) // 4
    keep = [best]
    for i in range(1, n):
        cx, cy, cw, ch, area = (int(v) for v in stats[i])
        if i != best and 0.01 * best_ink <= area <= best_ink and cx < x + bw + grow and cx + cw > x - grow \
                and cy < y + bh + grow and cy + ch > y - grow and on_edge[i] <= 0.05 * (cw + ch):
            keep.append(i)
    mask = np.isin(labels, keep).astype(np.uint8)
    bx, by, bw, bh = cv2.boundingRect(mask)
    margin = max(4, int(0.15 * max(bw, bh)))
    x0, y0 = max(0, bx - margin), max(0, by - margin)
    x1, y1 = min(w, bx + bw + margin), min(h, by + bh + margin)
    crop = gray[y0:y1, x0:x1]
    # other marks within the margin become paper: the local paper brightness is what a grey
    # dilation (wider than a stroke) leaves
    near = cv2.dilate(mask[y0:y1, x0:x1], cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    paper = cv2.dilate(crop, cv2.getStructuringElement(cv2.MORPH_RECT, (4 * k + 1, 4 * k + 1)))
    paper = cv2.blur(paper, (4 * k + 1, 4 * k + 1))
    crop = np.where(near > 0, crop, np.maximum(crop, paper))
    digit = image_features(crop, cfg)
    if not digit.any():
        return None
    return Detection(box=(bx, by, bw, bh), crop=digit)


def _plausible(bw: int, bh: int, on_edge: int, w: int, h: int) -> bool:
    """Could a blob of this size and shape, with ``on_edge`` pixels on the frame's edge, be a digit?

    Specks, the sheet's edge, shadows and a digit cut off by the frame are not: a blob may
    graze the frame's edge (a stroke's tip), not run along it.
    """
    if not (0.002 * w * h <= bw * bh <= 0.6 * w * h):
        return False
    if not (1 / 15 <= bw / bh <= 2.5):
        return False
    return on_edge <= 0.05 * (bw + bh)


# ---------------------------------------------------------------------------------------------
# Capture

_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log while probing devices: a missing camera is an answer, not a warning."""
    global _quiet_depth, _quiet_saved
    logging_ = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_ is None:
        yield
        return
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = logging_.getLogLevel()
            logging_.setLogLevel(logging_.LOG_LEVEL_SILENT)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                logging_.setLogLevel(_quiet_saved)


def _open_capture(target: int | str) -> cv2.VideoCapture | None:
    """An opened capture, or None (OpenCV answers a bad source with a closed capture or an exception)."""
    try:
        with _quiet_opencv():
            cap = cv2.VideoCapture(target)
    except cv2.error:
        return None
    if not cap.isOpened():
        cap.release()
        return None
    return cap


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    """Whatever the driver hands over (gray, BGRA, 16-bit) as the BGR uint8 the rest expects."""
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def list_cameras(max_index: int = 4) -> list[int]:
    """Device indices 0 .. ``max_index - 1`` that open, for the window's camera menu.

    On Linux an index without its ``/dev/videoN`` node is not even tried, so a machine without
    cameras answers at once.
    """
    found = []
    for index in range(max(0, max_index)):
        if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
            continue
        cap = _open_capture(index)
        if cap is not None:
            cap.release()
            found.append(index)
    return found


class CameraSource:
    """Frames from a camera, or from a video file played as if it were one, on a thread of its own.

    ``source``: a device index (``cv2.VideoCapture(index)``), a video file, or a stream URL /
    device path such as ``rtsp://...`` or ``/dev/video2``. Frames go to ``on_frame`` as BGR
    uint8 arrays, at most ``max_fps`` a second; the callbacks run on the capture thread.

    Problems go to ``on_error`` as one-line messages and never raise: a source that cannot be
    opened ends the thread; a live camera that stops giving frames is reported once and then
    reopened about once a second until it is back or :meth:`stop` is called; an exception
    raised by ``on_frame`` is reported (at most once a second) and capture carries on.

    A file is paced at its own frame rate. At its end, ``loop=True`` starts it again; otherwise
    ``on_end("end of <file>")`` is called (when given) and the thread ends. The end of a file is
    not an error, so it never goes to ``on_error``.
    """

    def __init__(self, source: int | str | Path, on_frame: Callable[[np.ndarray], None],
                 on_error: Callable[[str], None], *, on_end: Callable[[str], None] | None = None,
                 loop: bool = False, max_fps: float = 30.0) -> None:
        if isinstance(source, bool) or not isinstance(source, (int, str, Path)):
            raise InputError(f"camera source {source!r}: expected a device index, a video file or a stream URL")
        if isinstance(source, int) and source < 0:
            raise InputError(f"camera {source}: a device index is 0 or more")
        if not (isinstance(max_fps, (int, float)) and math.isfinite(max_fps) and max_fps > 0):
            raise InputError(f"camera source {source}: max_fps must be a positive number, not {max_fps!r}")
        text = str(source)
        self._live = isinstance(source, int) or "://" in text or text.startswith("/dev/")
        self._target: int | str = source if isinstance(source, int) else text
        self._path = None if self._live else Path(text)
        #: Human-readable name of the source, for menus and messages.
        self.name = f"camera {source}" if isinstance(source, int) else text if self._live else Path(source).name
        self._on_frame, self._on_error, self._on_end = on_frame, on_error, on_end
        self.loop, self.max_fps = loop, float(max_fps)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cap: cv2.VideoCapture | None = None
        self._handler_failures, self._handler_reported = 0, -math.inf

    @property
    def running(self) -> bool:
        """Whether the capture thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start capturing; a no-op while already running. A stopped source may be started again."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"capture {self.name}", daemon=False)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to end and wait up to ``timeout`` s; True when it has ended.

        The thread releases the capture itself (releasing it under a read in progress crashes
        some drivers). Called from a callback, it only asks.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        if thread is not threading.current_thread():
            thread.join(timeout)
        return not thread.is_alive()

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        try:
            if self._live:
                self._capture_live()
            else:
                self._play_file()
        except Exception as exc:  # a last resort: the thread reports rather than dies in silence
            log.exception("capture from %s failed", self.name)
            self._report(f"{self.name}: capture failed ({type(exc).__name__}: {exc})")
        finally:
            self._release()

    def _open(self) -> bool:
        self._release()
        self._cap = _open_capture(self._target)
        return self._cap is not None

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _report(self, message: str) -> None:
        try:
            self._on_error(message)
        except Exception:
            log.exception("error callback failed on: %s", message)

    def _deliver(self, frame: np.ndarray) -> None:
        try:
            self._on_frame(_as_bgr(frame))
        except Exception as exc:  # noqa: BLE001 - whatever the handler raises, capture goes on
            self._handler_failures += 1
            now = time.monotonic()
            if now - self._handler_reported >= 1.0:
                more = self._handler_failures - 1
                self._report(f"{self.name}: the frame handler failed ({type(exc).__name__}: {exc})"
                             + (f"; {more} more failures since the last report" if more else ""))
                self._handler_failures, self._handler_reported = 0, now

    def _capture_live(self) -> None:
        if not self._open():
            self._report(f"{self.name}: cannot be opened (no such device?)")
            return
        min_gap, last, failed = 1.0 / self.max_fps, -math.inf, 0
        while not self._stop.is_set():
            if self._cap is None:  # lost: try again about once a second, no busy loop
                if self._stop.wait(REOPEN_EVERY):
                    break
                if self._open():
                    log.info("%s is back", self.name)
                continue
            # grab() waits for the camera's next frame; retrieve() decodes only what is shown
            ok = self._cap.grab()
            now = time.monotonic()
            if ok and now - last < 0.9 * min_gap:
                continue  # faster than max_fps: drop this one
            frame = self._cap.retrieve()[1] if ok else None
            if frame is None or frame.size == 0:
                failed += 1
                if failed >= FAILED_READS:
                    self._report(f"{self.name}: no frames ({failed} failed reads in a row; unplugged?), "
                                 "trying to reopen it every second")
                    self._release()
                    failed = 0
                else:
                    self._stop.wait(0.05)
                continue
            failed, last = 0, now
            self._deliver(frame)

    def _play_file(self) -> None:
        path = self._path
        assert path is not None
        if not path.is_file():
            self._report(f"{path}: no such video file")
            return
        if not self._open():
            self._report(f"{path}: cannot be opened as a video (unknown format or damaged)")
            return
        cap = self._cap
        assert cap is not None  # just opened
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (math.isfinite(fps) and 0.5 <= fps <= 1000.0):
            fps = min(25.0, self.max_fps)  # the file does not say: a usual camera rate
        period, min_gap = 1.0 / fps, 1.0 / self.max_fps
        start, index, last_due = time.monotonic(), 0, -math.inf
        while not self._stop.is_set():
            due = start + index * period
            # what a live camera would not show: frames over max_fps, frames already a frame late
            skip = due - last_due < min_gap - 0.25 * period or time.monotonic() > due + period
            if not skip and self._stop.wait(max(0.0, due - time.monotonic())):
                break
            if not cap.grab():
                if index == 0:
                    self._report(f"{path}: no frame of the video can be decoded")
                    return
                if not self.loop:
                    if self._on_end is not None:
                        try:
                            self._on_end(f"end of {path}")
                        except Exception:
                            log.exception("end callback failed for %s", path)
                    return
                if not self._open():  # reopening is more reliable than seeking, whatever the codec
                    self._report(f"{path}: cannot be reopened to loop")
                    return
                cap = self._cap
                assert cap is not None
                start, index = due, 0
                continue
            index += 1
            if skip:
                continue
            ok, frame = cap.retrieve()
            if not ok or frame is None or frame.size == 0:
                continue
            last_due = due
            self._deliver(frame)
