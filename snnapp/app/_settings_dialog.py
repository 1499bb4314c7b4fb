"""The settings dialog: backend, model folders, microphone, camera and time steps.

Device lists come from the capture modules (PortAudio's inputs, OpenCV's cameras) and can be
rescanned, since devices come and go while the app runs. The dialog edits a copy; the window
applies it on OK and saves it for the next run.
"""

from __future__ import annotations

from dataclasses import replace

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ._settings import BACKEND_CHOICES, AppSettings

SLOTS = ("image", "audio", "multimodal")


def _input_devices() -> list[tuple[int, str]]:
    try:
        from ._microphone import list_input_devices, rescan
        rescan()
        return list_input_devices()
    except Exception:  # no PortAudio: the list is just empty
        return []


def _cameras() -> list[int]:
    try:
        from ._camera import list_cameras
        return list_cameras()
    except Exception:  # no OpenCV
        return []


def _with_button(field: QWidget, label: str, action) -> QHBoxLayout:
    """A form row: the field, stretched, and a button beside it."""
    button = QPushButton(label)
    button.clicked.connect(action)
    row = QHBoxLayout()
    row.addWidget(field, 1)
    row.addWidget(button)
    return row


class SettingsDialog(QDialog):
    """``result_settings()`` after ``exec()`` returned Accepted."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = replace(settings)
        form = QFormLayout(self)
        self.backend = QComboBox()
        self.backend.addItems(BACKEND_CHOICES)
        self.backend.setCurrentText(settings.backend)
        form.addRow("Backend", self.backend)
        self.models: dict[str, QLineEdit] = {}
        for slot in SLOTS:
            edit = QLineEdit(getattr(settings, f"model_{slot}"))
            edit.setPlaceholderText("shipped model")
            form.addRow(f"{slot.capitalize()} model",
                        _with_button(edit, "Browse...", lambda _=False, e=edit: self._browse_model(e)))
            self.models[slot] = edit
        self.audio_device = QComboBox()
        self.audio_device.setEditable(True)
        form.addRow("Microphone", _with_button(self.audio_device, "Refresh", self._fill_devices))
        self.camera = QComboBox()
        self.camera.setEditable(True)
        form.addRow("Camera", _with_button(self.camera, "Video file...", self._browse_video))
        self.steps = QSpinBox()
        self.steps.setRange(0, 64)
        self.steps.setSpecialValueText("the model's own")
        self.steps.setValue(settings.image_steps)
        form.addRow("Image time steps", self.steps)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._fill_devices()
        self.camera.addItem("")
        for index in _cameras():
            self.camera.addItem(str(index))
        self.camera.setCurrentText(settings.camera)

    def _fill_devices(self) -> None:
        current = self.audio_device.currentText() or self._settings.audio_device
        self.audio_device.clear()
        self.audio_device.addItem("")  # the system default
        for index, name in _input_devices():
            self.audio_device.addItem(str(index))
            self.audio_device.setItemData(self.audio_device.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        self.audio_device.setCurrentText(current)

    def _browse_model(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder", edit.text())
        if folder:
            edit.setText(folder)

    def _browse_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video file", "", "Videos (*.mp4 *.avi *.mkv *.mov);;All (*)")
        if path:
            self.camera.setCurrentText(path)

    def result_settings(self) -> AppSettings:
        s = replace(self._settings, backend=self.backend.currentText(), audio_device=self.audio_device.currentText(),
                    camera=self.camera.currentText(), image_steps=self.steps.value())
        for slot, edit in self.models.items():
            setattr(s, f"model_{slot}", edit.text().strip())
        return s
