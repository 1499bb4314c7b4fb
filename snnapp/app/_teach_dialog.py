"""Teach it your voice or your handwriting: a guided recording session, then fine-tuning on a thread.

The dialog asks for each digit in turn (``_teach.TeachSession`` keeps every example on disk as
it comes, so closing the dialog loses nothing), then calls the core's
``snnapp.core.training.personalise`` on a worker thread: the app holds no training code of its
own. Fine-tuning needs torch (the ``[train]`` extra) and the public data set of the modality; the
dialog says so when either is missing. The new model folder is selected when it is done, and the
accuracy on the user's own held-back examples before and after is shown.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QThread, pyqtSignal
from PyQt6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ._messages import error_text
from ._pad import DrawingPad
from ._teach import TeachSession


class Cancelled(Exception):
    """Raised from the progress callback to stop fine-tuning; the core then leaves nothing behind."""


class _Progress:
    """The core's training progress protocol, forwarded as Qt signals; raises to cancel."""

    def __init__(self, job: "_TuneJob") -> None:
        self.job = job

    def _check(self) -> None:
        if self.job.cancelled:
            raise Cancelled()

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self._check()
        self.job.progress.emit(f"epoch {epoch + 1} of {epochs}", int(100 * epoch / max(1, epochs)))

    def batch_end(self, loss: float, accuracy: float, samples_per_s: float) -> None:
        self._check()

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self._check()
        self.job.progress.emit(f"epoch {epoch + 1}: validation accuracy {metrics.get('val_accuracy', 0):.3f}", -1)

    def message(self, text: str) -> None:
        self._check()
        self.job.progress.emit(text, -1)


class _TuneJob(QObject):
    progress = pyqtSignal(str, int)
    finished = pyqtSignal(object)  # PersonalResult
    failed = pyqtSignal(str)

    def __init__(self, base: Path, out: Path, data_dir: str | None, modality: str, examples: list,
                 epochs: int) -> None:
        super().__init__()
        self.base, self.out, self.data_dir, self.modality = base, out, data_dir, modality
        self.examples, self.epochs, self.cancelled = examples, epochs, False

    def run(self) -> None:
        try:
            from snnapp.core.data import resolve_data_dir
            from snnapp.core.training import personalise
        except ImportError as exc:
            self.failed.emit(f"fine-tuning needs torch (install snnapp[train]): {exc}")
            return
        try:
            audio, images = (self.examples, None) if self.modality == "audio" else (None, self.examples)
            result = personalise(self.base, self.out, resolve_data_dir(self.data_dir), epochs=self.epochs,
                                 progress=_Progress(self), audio=audio, images=images)
        except Cancelled:
            self.failed.emit("cancelled; the model in use is unchanged")
            return
        except Exception as exc:  # reported in the dialog; the app keeps running
            self.failed.emit(error_text(exc))
            return
        try:  # ONNX graphs too, so the onnx backend and the edge install can run the new model
            from snnapp.core.export import export_onnx

            self.progress.emit("exporting the ONNX graphs", 95)
            for kind_ in ("step", "window"):
                export_onnx(result.model_dir, kind=kind_)
        except Exception as exc:  # the torch backend still runs it
            self.progress.emit(f"ONNX export failed ({exc}); the torch backend runs the new model", -1)
        self.finished.emit(result)



class TeachDialog(QDialog):
    """``model_ready(modality, folder)`` when a fine-tuned model has been saved."""

    model_ready = pyqtSignal(str, str)

    def __init__(self, modality: str, base_model: str | Path, *, folder: Path | None = None, per_digit: int = 3,
                 data_dir: str | None = None, models_dir: Path | None = None, epochs: int = 3,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.modality, self.base, self.data_dir, self.epochs = modality, Path(base_model), data_dir, epochs
        self.session = TeachSession.open(modality, per_digit, folder)
        self.models_dir = models_dir or self.session.folder.parent.parent / "models"
        self.result = None  # type: ignore[method-assign, assignment]  # the last result; hides QDialog.result()
        self._thread: QThread | None = None
        self._job: _TuneJob | None = None
        self.setWindowTitle("Teach it your voice" if modality == "audio" else "Teach it your handwriting")
        self.prompt = QLabel()
        self.prompt.setStyleSheet("font-size: 22pt; font-weight: bold;")
        self.bar = QProgressBar()
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.undo_button = QPushButton("Undo last")
        self.undo_button.clicked.connect(self.undo)
        self.train_button = QPushButton("Fine-tune")
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel fine-tuning")
        self.cancel_button.clicked.connect(self.cancel_training)
        self.cancel_button.setEnabled(False)
        self.epoch_box = QSpinBox()
        self.epoch_box.setRange(1, 20)
        self.epoch_box.setValue(epochs)
        lay = QVBoxLayout(self)
        lay.addWidget(self.prompt)
        lay.addWidget(self.bar)
        self.pad: DrawingPad | None = None
        if modality == "image":
            self.pad = DrawingPad()
            accept = QPushButton("Accept drawing")
            accept.clicked.connect(self.accept_drawing)
            clear = QPushButton("Clear")
            clear.clicked.connect(self.pad.clear)
            row = QHBoxLayout()
            row.addWidget(self.pad)
            col = QVBoxLayout()
            col.addWidget(accept)
            col.addWidget(clear)
            col.addStretch(1)
            row.addLayout(col)
            lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.undo_button)
        row.addWidget(QLabel("epochs"))
        row.addWidget(self.epoch_box)
        row.addWidget(self.train_button)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        lay.addWidget(self.info)
        self._refresh()

    # ------------------------------------------------------------------ collecting
    def _refresh(self) -> None:
        s = self.session
        self.bar.setRange(0, s.total)
        self.bar.setValue(s.done)
        verb = "Say" if self.modality == "audio" else "Draw"
        self.prompt.setText(f"{verb} the digit {s.next_digit}" if not s.complete else "All examples recorded")
        self.train_button.setEnabled(s.complete and self._thread is None)
        self.undo_button.setEnabled(s.done > 0 and self._thread is None)

    def add_audio(self, samples: np.ndarray, rate: int) -> None:
        """An utterance from the microphone panel while the dialog is open."""
        if self.modality == "audio" and not self.session.complete and self._thread is None:
            self._add(samples, rate)

    def accept_drawing(self) -> None:
        if self.pad is not None and not self.pad.empty and not self.session.complete:
            self._add(self.pad.array(), None)
            self.pad.clear()

    def _add(self, sample: np.ndarray, rate: int | None) -> None:
        digit = self.session.next_digit
        try:
            self.session.add(sample, rate)
            self.info.setText(f"kept a {digit} ({self.session.done} of {self.session.total})")
        except Exception as exc:  # a silent recording or a blank drawing: ask again
            self.info.setText(f"not kept: {exc}")
        self._refresh()

    def undo(self) -> None:
        digit = self.session.undo_last()
        if digit is not None:
            self.info.setText(f"removed the last {digit}; record it again")
        self._refresh()

    # ------------------------------------------------------------------ fine-tuning
    def start_training(self) -> None:
        out = self.models_dir / f"{self.modality}-{time.strftime('%Y%m%d-%H%M%S')}"
        self._job = _TuneJob(self.base, out, self.data_dir, self.modality, self.session.examples(),
                             self.epoch_box.value())
        self._thread = QThread()
        self._thread.setObjectName("snnapp-finetune")
        self._job.moveToThread(self._thread)
        self._thread.started.connect(self._job.run)
        self._job.progress.connect(self._on_progress)
        self._job.finished.connect(self._on_finished)
        self._job.failed.connect(self._on_failed)
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.info.setText(f"fine-tuning {self.base.name} on your {self.session.total} examples plus public data...")
        self.cancel_button.setEnabled(True)
        self._thread.start()
        self._refresh()

    def cancel_training(self) -> None:
        if self._job is not None:
            self._job.cancelled = True

    def _on_progress(self, text: str, percent: int) -> None:
        self.info.setText(text)
        if percent >= 0:
            self.bar.setValue(percent)

    def _end_thread(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
        self.cancel_button.setEnabled(False)
        self._refresh()

    def _on_finished(self, result) -> None:
        self.result = result  # type: ignore[method-assign]
        self._end_thread()
        self.bar.setValue(100)
        self.info.setText(f"on your held-back examples: {100 * result.before:.0f} % before, "
                          f"{100 * result.after:.0f} % after ({result.seconds:.0f} s). "
                          f"Now using {result.model_dir}.")
        self.model_ready.emit(self.modality, str(result.model_dir))

    def _on_failed(self, message: str) -> None:
        self._end_thread()
        self.info.setText(f"fine-tuning stopped: {message}")

    def closeEvent(self, e) -> None:
        self.cancel_training()
        self._end_thread()
        super().closeEvent(e)
