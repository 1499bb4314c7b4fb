"""The main window: drawing pad, camera and microphone on the left; decision, bars and rasters on the right.

The window only routes: inputs from the panels go to the inference thread, decisions come back
and are shown. The latest image (pad or camera, whichever changed last) and the latest utterance
are the current inputs; each new one starts an inference with both, so the fused decision forms
as the second modality arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QAction, QCloseEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ._bars import ProbabilityBars
from ._camera_panel import CameraPanel, array_to_pixmap
from ._inference import Decision
from ._mic_panel import MicPanel
from ._pad import DrawingPad
from ._raster import RasterView
from ._settings import BACKEND_CHOICES, AppSettings, save_settings
from ._worker import InferenceThread

if TYPE_CHECKING:
    from ._teach_dialog import TeachDialog


class MainWindow(QMainWindow):
    """``decision`` holds the last :class:`Decision`; ``decisions`` counts them (tests, soak runs)."""

    def __init__(self, settings: AppSettings, store: QSettings | None = None, data_dir: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("snnapp: spiking digit recogniser")
        self.settings, self.store = settings, store
        self.data_dir = data_dir  # public data sets, for fine-tuning (None: SNNAPP_DATA_DIR or the user's)
        self.teach: TeachDialog | None = None
        self.image: np.ndarray | None = None
        self.audio: tuple[np.ndarray, int] | None = None
        self.decision: Decision | None = None
        self.decisions = 0
        self.inference = InferenceThread(self)
        self.inference.decided.connect(self._on_decision)
        self.inference.loaded.connect(self._on_loaded)
        self.inference.failed.connect(self.say)
        self._build()
        self.apply_settings()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.pad = DrawingPad()
        self.pad.changed.connect(self._on_drawing)
        self.pad.cleared.connect(self._on_pad_cleared)
        self.seen = QLabel()
        self.seen.setFixedSize(112, 112)
        self.seen.setStyleSheet("background: black;")
        clear, undo = QPushButton("Clear"), QPushButton("Undo")
        clear.clicked.connect(self.pad.clear)
        undo.clicked.connect(self.pad.undo)
        side = QVBoxLayout()
        side.addWidget(QLabel("what the network sees"))
        side.addWidget(self.seen)
        side.addWidget(undo)
        side.addWidget(clear)
        side.addStretch(1)
        draw = QWidget()
        row = QHBoxLayout(draw)
        row.addWidget(self.pad)
        row.addLayout(side)
        self.camera = CameraPanel()
        self.camera.digit.connect(self._on_camera_digit)
        self.tabs = QTabWidget()
        self.tabs.addTab(draw, "Draw")
        self.tabs.addTab(self.camera, "Camera")
        self.mic = MicPanel()
        self.mic.utterance.connect(self._on_utterance)
        mic_box = QGroupBox("Microphone")
        QVBoxLayout(mic_box).addWidget(self.mic)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.addWidget(self.tabs)
        lay.addWidget(mic_box)
        self.bars = ProbabilityBars()
        self.raster = RasterView()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.bars)
        right.addWidget(self.raster)
        right.setSizes([260, 520])
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        self.setCentralWidget(split)
        self._build_toolbar()
        self.resize(1280, 820)

    def _build_toolbar(self) -> None:
        bar = QToolBar("main")
        self.addToolBar(bar)
        bar.addWidget(QLabel(" backend "))
        self.backend_box = QComboBox()
        self.backend_box.addItems(BACKEND_CHOICES)
        self.backend_box.currentTextChanged.connect(self.set_backend)
        bar.addWidget(self.backend_box)
        prefs = QAction("Settings...", self)
        prefs.triggered.connect(self.open_settings)
        bar.addAction(prefs)
        for modality, label in (("audio", "Teach your voice..."), ("image", "Teach your handwriting...")):
            act = QAction(label, self)
            act.triggered.connect(lambda _=False, m=modality: self.open_teach(m))
            bar.addAction(act)
        forget = QAction("Clear inputs", self)
        forget.triggered.connect(self.clear_inputs)
        bar.addAction(forget)
        self.engine_label = QLabel("")
        bar.addWidget(self.engine_label)

    # ------------------------------------------------------------------ settings
    def apply_settings(self) -> None:
        """(Re)load models and sources from ``self.settings``."""
        s = self.settings
        self.backend_box.blockSignals(True)
        self.backend_box.setCurrentText(s.backend)
        self.backend_box.blockSignals(False)
        backend, device = s.backend_and_device()
        self.engine_label.setText(" loading models...")
        self.inference.configure(s.models(), backend, device, s.image_steps or None)
        self.camera.set_source(s.camera)
        self.mic.set_source(s.audio_device, self.mic.audio_file, self.mic.loop)
        self.mic.ptt.setChecked(s.push_to_talk)

    def open_settings(self) -> None:
        from ._settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.settings, self)
        if dlg.exec() == SettingsDialog.DialogCode.Accepted:
            self.change_settings(dlg.result_settings())

    def say(self, message: str) -> None:
        """Show ``message`` in the status bar."""
        bar = self.statusBar()
        if bar is not None:  # Qt makes the bar when first asked for it; the stubs allow None
            bar.showMessage(message)

    def open_teach(self, modality: str, **options) -> TeachDialog | None:
        """The guided session for ``modality``; utterances go to it while it is open. None, with a
        message, where there is no model of that modality to start from."""
        from ._teach_dialog import TeachDialog

        base = self.settings.models().get(modality)
        if base is None:
            self.say(f"no {modality} model to personalise: choose one in the settings")
            return None
        dlg = TeachDialog(modality, base, data_dir=self.data_dir, parent=self, **options)
        if modality == "audio":
            self.mic.utterance.connect(dlg.add_audio)
            dlg.finished.connect(lambda *_: self.mic.utterance.disconnect(dlg.add_audio))
        dlg.model_ready.connect(self._use_model)
        dlg.show()
        self.teach = dlg
        return dlg

    def _use_model(self, modality: str, folder: str) -> None:
        setattr(self.settings, f"model_{modality}", folder)
        self.change_settings(self.settings)
        self.say(f"now using your {modality} model {folder}")

    def change_settings(self, settings: AppSettings) -> None:
        """Adopt new settings: reload models and sources, and keep them for the next run."""
        self.settings = settings
        self.apply_settings()
        if self.store is not None:
            save_settings(self.store, settings)
        self._submit()

    def set_backend(self, choice: str) -> None:
        """Switch backend while running; the next inference uses it."""
        if choice not in BACKEND_CHOICES:
            return
        self.settings.backend = choice
        self.backend_box.blockSignals(True)
        self.backend_box.setCurrentText(choice)
        self.backend_box.blockSignals(False)
        backend, device = self.settings.backend_and_device()
        self.engine_label.setText(" loading models...")
        self.inference.configure(self.settings.models(), backend, device, self.settings.image_steps or None)
        self._submit()

    def _on_loaded(self, description: str, errors: dict) -> None:
        self.engine_label.setText(f" {description}")
        if errors:
            self.say(" · ".join(f"{k} model: {v}" for k, v in errors.items()))

    # ------------------------------------------------------------------ inputs
    def _submit(self) -> None:
        if self.image is not None or self.audio is not None:
            self.inference.submit(self.image, self.audio)

    def _on_drawing(self, drawing: np.ndarray) -> None:
        self.image = drawing
        self._submit()

    def _on_pad_cleared(self) -> None:
        self.image = None
        self.seen.clear()
        if self.audio is not None:
            self._submit()
        else:
            self.bars.clear()
            self.raster.show_trace(None)

    def _on_camera_digit(self, picture: np.ndarray) -> None:
        self.set_image(picture)

    def set_image(self, picture: np.ndarray) -> None:
        """Use a picture (any size, drawn or photographed) as the image input."""
        self.image = picture
        self._submit()

    def _on_utterance(self, samples: np.ndarray, rate: int) -> None:
        self.audio = (samples, rate)
        self._submit()

    def clear_inputs(self) -> None:
        self.audio = None
        self.mic.show_mfcc(None)
        self.pad.clear()

    # ------------------------------------------------------------------ results
    def _on_decision(self, d: Decision, _tag: object) -> None:
        self.decision = d
        self.decisions += 1
        self.bars.show_decision(d)
        self.raster.show_trace(d.trace)
        if d.seen_image is not None:
            self.seen.setPixmap(array_to_pixmap(d.seen_image, 112, 112))
        if d.seen_audio is not None:
            self.mic.show_mfcc(d.seen_audio)
        if d.errors:
            self.say(" · ".join(f"{k}: {v}" for k, v in d.errors.items()))

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop every thread and stream; safe to call twice."""
        if self.teach is not None:
            self.teach.close()
        self.camera.stop()
        self.mic.stop()
        self.inference.stop()
        if self.store is not None:
            save_settings(self.store, self.settings)

    def closeEvent(self, e: QCloseEvent) -> None:  # type: ignore[override]  # Qt passes an event; the stubs allow None
        self.shutdown()
        super().closeEvent(e)
