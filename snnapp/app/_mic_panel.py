"""The microphone panel: a level meter, automatic or push-to-talk cutting, the last utterance's MFCC.

Capture and voice-activity detection run on the microphone's own thread
(``_microphone.MicSource``, the core's segmenter); utterances and levels reach the window
through queued Qt signals. Errors (no PortAudio, no device, a device that goes away) are shown
here in words; the rest of the window carries on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from ._microphone import MicSource

FLOOR_DB = -60.0


class _Bridge(QObject):
    utterance = pyqtSignal(object, int)
    level = pyqtSignal(float)
    error = pyqtSignal(str)


def level_percent(level: float) -> int:
    """A level in dBFS (or linear RMS in [0, 1]) as 0-100 for the meter, -60 dBFS at the bottom."""
    db = level if level <= 0 else 20 * np.log10(max(level, 1e-6))
    return int(round(100 * np.clip((db - FLOOR_DB) / -FLOOR_DB, 0, 1)))


class MicPanel(QWidget):
    """Emits ``utterance(samples, rate)`` for every spoken digit."""

    utterance = pyqtSignal(object, int)
    status_changed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.device: str = ""
        self.audio_file: str = ""
        self.loop = False
        self.utterances = 0
        self.levels = 0  # chunks measured: the capture is live once this moves
        self._source: MicSource | None = None
        self._bridge = _Bridge()
        self._bridge.utterance.connect(self._on_utterance)
        self._bridge.level.connect(self._on_level)
        self._bridge.error.connect(self._on_error)
        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.start_button = QPushButton("Start microphone")
        self.start_button.setCheckable(True)
        self.start_button.toggled.connect(self._toggle)
        self.ptt = QCheckBox("push to talk")
        self.ptt.toggled.connect(self._ptt_mode)
        self.talk = QPushButton("Hold to talk")
        self.talk.setEnabled(False)
        self.talk.pressed.connect(self._talk_pressed)
        self.talk.released.connect(self._talk_released)
        self.mfcc = pg.PlotWidget(background="w", title="MFCC of the last utterance")
        self.mfcc.setMouseEnabled(False, False)
        self.mfcc.hideButtons()
        self.mfcc.setFixedHeight(150)
        self.mfcc_image = pg.ImageItem(axisOrder="row-major")
        self.mfcc_image.setColorMap(pg.colormap.get("viridis"))
        self.mfcc.addItem(self.mfcc_image)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.start_button)
        row.addWidget(self.ptt)
        row.addWidget(self.talk)
        lay = QVBoxLayout(self)
        lay.addWidget(self.meter)
        lay.addLayout(row)
        lay.addWidget(self.mfcc)
        lay.addWidget(self.status)

    # ------------------------------------------------------------------ control
    @property
    def running(self) -> bool:
        return self._source is not None and self._source.running

    def set_source(self, device: str = "", audio_file: str = "", loop: bool = False) -> None:
        running = self.running
        self.stop()
        self.device, self.audio_file, self.loop = device, audio_file, loop
        if running:
            self.start()

    def start(self) -> None:
        try:
            from ._microphone import MicSource
        except ImportError as exc:  # pragma: no cover - the module itself imports no optional package
            self._on_error(f"microphone unavailable: {exc}")
            return
        dev = int(self.device) if self.device.isdigit() else (self.device or None)
        b = self._bridge
        self._source = MicSource(b.utterance.emit, b.level.emit, b.error.emit, device=dev,
                                 audio_file=self.audio_file or None, loop=self.loop)
        self._source.set_push_to_talk(self.ptt.isChecked())
        self._source.start()
        self.status.setText(f"listening: {self._source.name}")
        self._set_checked(True)

    def stop(self) -> None:
        if self._source is not None:
            self._source.stop()
            self._source = None
        self.meter.setValue(0)
        self._set_checked(False)

    def _set_checked(self, on: bool) -> None:
        self.start_button.blockSignals(True)
        self.start_button.setChecked(on)
        self.start_button.setText("Stop microphone" if on else "Start microphone")
        self.start_button.blockSignals(False)

    def _toggle(self, on: bool) -> None:
        self.start() if on else self.stop()

    def _ptt_mode(self, on: bool) -> None:
        self.talk.setEnabled(on)
        if self._source is not None:
            self._source.set_push_to_talk(on)

    def _talk_pressed(self) -> None:
        if self._source is not None:
            self._source.press()

    def _talk_released(self) -> None:
        if self._source is not None:
            self._source.release()

    # ------------------------------------------------------------------ from the capture thread
    def show_mfcc(self, frames: np.ndarray | None) -> None:
        """Coefficients up (their deltas above them, where the model uses deltas), frames across."""
        if frames is None:
            self.mfcc_image.clear()
        else:
            self.mfcc_image.setImage(np.asarray(frames, np.float32).T)

    def _on_utterance(self, samples: np.ndarray, rate: int) -> None:
        self.utterances += 1
        self.status.setText(f"utterance {self.utterances}: {len(samples) / rate:.2f} s")
        self.utterance.emit(samples, rate)

    def _on_level(self, level: float) -> None:
        self.levels += 1
        self.meter.setValue(level_percent(level))

    def _on_error(self, message: str) -> None:
        self.status.setText(message)
        self.status_changed.emit(message)
