"""The inference thread: the window hands it inputs, it hands back decisions, never blocking the UI.

Requests coalesce: while one inference runs, newer inputs replace the waiting one, so a fast
drawing hand or a 30 fps camera never builds a queue; only the latest input is answered. Model
loading (backend switch, new model folder) runs on the same thread, between inferences.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from ._inference import Decision, Engine


class _Worker(QObject):
    done = pyqtSignal(object, object)  # Decision, tag
    loaded = pyqtSignal(str, object)  # description, {slot: error}
    failed = pyqtSignal(str)
    wake = pyqtSignal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: tuple | None = None
        self._config: tuple | None = None
        self.engine: Engine | None = None
        self.wake.connect(self._drain)

    def submit(self, image: np.ndarray | None, audio: tuple[np.ndarray, int] | None, tag: object) -> None:
        with self._lock:
            self._pending = (image, audio, tag)
        self.wake.emit()

    def configure(self, models: Mapping[str, str | Path | None], backend: str, device: str, steps: int | None) -> None:
        with self._lock:
            self._config = (models, backend, device, steps)
        self.wake.emit()

    @pyqtSlot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                config, self._config = self._config, None
                job = None if config else self._pending
                if job:
                    self._pending = None
            if config:
                self._load(*config)
            elif job:
                self._infer(*job)
            else:
                return

    def _load(self, models, backend, device, steps) -> None:
        try:
            engine = Engine(models, backend, device, steps)
            engine.warm_up()
            self.engine = engine
            self.loaded.emit(self.engine.describe(), dict(self.engine.errors))
        except Exception as exc:  # e.g. onnxruntime missing entirely: report, keep the old engine
            self.failed.emit(f"cannot load models: {type(exc).__name__}: {exc}")

    def _infer(self, image, audio, tag) -> None:
        if self.engine is None:
            return
        try:
            d = self.engine.infer(image, audio)
        except Exception as exc:  # Engine catches backend errors; this is the last line of defence
            d = Decision(errors={"engine": f"{type(exc).__name__}: {exc}"})
        self.done.emit(d, tag)


class InferenceThread(QObject):
    """Owns the worker and its QThread; ``decided(Decision, tag)`` arrives on the UI thread."""

    decided = pyqtSignal(object, object)
    loaded = pyqtSignal(str, object)
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("snnapp-inference")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._worker.done.connect(self.decided)
        self._worker.loaded.connect(self.loaded)
        self._worker.failed.connect(self.failed)
        self._thread.start()

    def configure(self, models: Mapping[str, str | Path | None], backend: str = "auto", device: str = "cpu",
                  steps: int | None = None) -> None:
        self._worker.configure(models, backend, device, steps)

    def submit(self, image: np.ndarray | None, audio: tuple[np.ndarray, int] | None, tag: object = None) -> None:
        self._worker.submit(image, audio, tag)

    @property
    def engine(self) -> Engine | None:
        return self._worker.engine

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Finish the running inference and end the thread; True when it ended in time."""
        self._thread.quit()
        return self._thread.wait(timeout_ms)
