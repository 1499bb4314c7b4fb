"""The window's settings as plain data, kept between runs in QSettings.

Command-line options override what was saved for this run only; what the user changes in the
window is saved. Values that no longer make sense (a backend name from an older version, a
model folder that was deleted) fall back to the defaults instead of stopping the app.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PyQt6.QtCore import QSettings

BACKEND_CHOICES = ("torch cpu", "torch cuda", "onnx")


@dataclass
class AppSettings:
    backend: str = "onnx"  # one of BACKEND_CHOICES
    model_image: str = ""  # empty: the shipped model
    model_audio: str = ""
    model_multimodal: str = ""
    audio_device: str = ""  # empty: the system default input
    camera: str = ""  # empty: no camera; a number is a device index, else a video file
    image_steps: int = 0  # 0: the model's own number of time steps
    push_to_talk: bool = False

    def backend_and_device(self) -> tuple[str, str]:
        """(runtime backend, device) for ``open_backend``."""
        if self.backend == "torch cuda":
            return "torch", "cuda"
        if self.backend == "torch cpu":
            return "torch", "cpu"
        return "onnx", "cpu"

    def models(self) -> dict[str, str]:
        """Model folder per slot, the shipped ones where none is chosen."""
        from snnapp.core.predict import shipped_model

        out = {}
        for slot in ("image", "audio", "multimodal"):
            chosen = getattr(self, f"model_{slot}")
            try:
                out[slot] = chosen or str(shipped_model(slot))
            except Exception:  # no shipped model in this installation: the slot stays empty
                continue
        return out


def open_store(path: str | Path | None = None) -> QSettings:
    """The user's settings, or an INI file at ``path`` (tests, portable installs)."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings("snnapp", "snnapp")


def load_settings(store: QSettings) -> AppSettings:
    s = AppSettings()
    for f in fields(AppSettings):
        raw = store.value(f.name)
        if raw is None:
            continue
        try:
            value: bool | int | str
            if f.type in ("bool", bool):
                value = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
            elif f.type in ("int", int):
                value = int(raw)
            else:
                value = str(raw)
        except (TypeError, ValueError):
            continue
        setattr(s, f.name, value)
    if s.backend not in BACKEND_CHOICES:
        s.backend = AppSettings.backend
    for slot in ("image", "audio", "multimodal"):
        name = f"model_{slot}"
        if getattr(s, name) and not Path(getattr(s, name)).is_dir():
            setattr(s, name, "")
    s.image_steps = max(0, min(s.image_steps, 64))
    return s


def save_settings(store: QSettings, s: AppSettings) -> None:
    for k, v in asdict(s).items():
        store.setValue(k, v)
    store.sync()
