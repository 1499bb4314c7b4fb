"""The camera panel: live frames with the detected digit's box, its crop, a freeze button.

Capture and digit finding run on the camera's own thread (``_camera.CameraSource``); frames
reach this panel through a queued Qt signal, so a slow or stuck camera never blocks the window.
The panel asks for an inference at most ``SUBMIT_HZ`` times a second.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from ._camera import CameraSource

SUBMIT_HZ = 5.0
VIEW_W, VIEW_H = 320, 240


def array_to_pixmap(a: np.ndarray, w: int, h: int) -> QPixmap:
    """A uint8 gray ``[H, W]`` or BGR ``[H, W, 3]`` array (or float gray in [0, 1]) as a scaled pixmap."""
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).astype(np.uint8)
    a = np.ascontiguousarray(a)
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_BGR888
    # PyQt6 takes any buffer here; its stubs name bytes only
    img = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], fmt)  # type: ignore[call-overload]
    return QPixmap.fromImage(img.copy()).scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.FastTransformation)


class _Bridge(QObject):
    frame = pyqtSignal(object, object)  # BGR frame, Detection | None
    error = pyqtSignal(str)


class CameraPanel(QWidget):
    """Emits ``digit(image)`` with the found digit as a 28x28 MNIST-style image for the network."""

    digit = pyqtSignal(object)
    status_changed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source_spec: str = ""
        self.loop = False
        self.frames_seen = 0
        self.last_detection = None
        self._source: CameraSource | None = None
        self._last_submit = 0.0
        self._bridge = _Bridge()
        self._bridge.frame.connect(self._on_frame)
        self._bridge.error.connect(self._on_error)
        self.view = QLabel("no camera")
        self.view.setFixedSize(VIEW_W, VIEW_H)
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.setStyleSheet("background: #222; color: #ddd;")
        self.crop = QLabel()
        self.crop.setFixedSize(112, 112)
        self.crop.setStyleSheet("background: black;")
        self.start_button = QPushButton("Start camera")
        self.start_button.setCheckable(True)
        self.start_button.toggled.connect(self._toggle)
        self.freeze = QPushButton("Freeze")
        self.freeze.setCheckable(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(QLabel("digit found (28x28)"))
        side.addWidget(self.crop)
        side.addWidget(self.start_button)
        side.addWidget(self.freeze)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.view)
        row.addLayout(side)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.status)

    # ------------------------------------------------------------------ control
    def set_source(self, spec: str, loop: bool = False) -> None:
        """A device index ("0") or a video file; empty for none. Restarts a running capture."""
        running = self.running
        self.stop()
        self.source_spec, self.loop = spec, loop
        if running and spec:
            self.start()

    @property
    def running(self) -> bool:
        return self._source is not None and self._source.running

    def start(self) -> None:
        if not self.source_spec:
            self._on_error("no camera chosen: pick a device or a video file in Settings")
            return
        try:
            from ._camera import CameraSource, find_digit
        except ImportError as exc:
            self._on_error(f"the camera needs opencv-python-headless ({exc})")
            return
        spec = int(self.source_spec) if self.source_spec.isdigit() else self.source_spec

        def on_frame(frame: np.ndarray) -> None:  # camera thread: find the digit there, not in the UI
            self._bridge.frame.emit(frame, find_digit(frame))

        self._source = CameraSource(spec, on_frame, self._bridge.error.emit, on_end=self._bridge.error.emit,
                                    loop=self.loop)
        self._source.start()
        self.status.setText(f"camera: {self._source.name}")
        self.start_button.blockSignals(True)
        self.start_button.setChecked(True)
        self.start_button.setText("Stop camera")
        self.start_button.blockSignals(False)

    def stop(self) -> None:
        if self._source is not None:
            self._source.stop()
            self._source = None
        self.start_button.blockSignals(True)
        self.start_button.setChecked(False)
        self.start_button.setText("Start camera")
        self.start_button.blockSignals(False)

    def _toggle(self, on: bool) -> None:
        self.start() if on else self.stop()

    # ------------------------------------------------------------------ frames
    def _on_frame(self, frame: np.ndarray, det) -> None:
        if self.freeze.isChecked() or self._source is None:
            return
        self.frames_seen += 1
        shown = frame.copy() if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2)
        if det is not None:
            x, y, w, h = det.box
            shown[max(0, y):y + h, max(0, x):max(0, x) + 2] = (0, 200, 0)
            shown[max(0, y):y + h, max(0, x + w - 2):x + w] = (0, 200, 0)
            shown[max(0, y):max(0, y) + 2, max(0, x):x + w] = (0, 200, 0)
            shown[max(0, y + h - 2):y + h, max(0, x):x + w] = (0, 200, 0)
            self.crop.setPixmap(array_to_pixmap(det.crop, 112, 112))
        self.view.setPixmap(array_to_pixmap(shown, VIEW_W, VIEW_H))
        self.last_detection = det
        now = time.monotonic()
        if det is not None and now - self._last_submit >= 1.0 / SUBMIT_HZ:
            self._last_submit = now
            self.digit.emit(det.crop)  # already MNIST-style, clutter painted over; the core path keeps it

    def _on_error(self, message: str) -> None:
        self.status.setText(message)
        self.status_changed.emit(message)
