"""Start the app: settings from QSettings, overridden by the command line; optional timed screenshot.

``--screenshot PNG --quit-after S`` runs the window for S seconds (also offscreen) and saves what
it shows: documentation images and smoke tests come from the same code path users run.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from ._settings import BACKEND_CHOICES, load_settings, open_store


@dataclass
class AppOptions:
    backend: str | None = None  # one of BACKEND_CHOICES
    models: dict[str, str] | None = None  # slot -> folder
    audio_device: str | None = None
    audio_file: Path | None = None
    image: Path | None = None  # a picture used as the image input at start
    camera: str | None = None  # device index or video file
    loop: bool = False
    steps: int | None = None
    screenshot: Path | None = None
    quit_after: float | None = None
    settings_file: Path | None = None  # an INI file instead of the user's settings
    data_dir: str | None = None  # public data sets for fine-tuning
    start_microphone: bool | None = None  # default: when a device or file is given


def run_app(opts: AppOptions) -> int:
    """Open the window and run the event loop; the exit code."""
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from ._window import MainWindow

    app = QApplication.instance() or QApplication([os.environ.get("SNNAPP_APP_NAME", "snnapp")])
    store = open_store(opts.settings_file)
    settings = load_settings(store)
    if opts.backend:
        if opts.backend not in BACKEND_CHOICES:
            raise ValueError(f"unknown backend {opts.backend!r}; choose one of {', '.join(BACKEND_CHOICES)}")
        settings.backend = opts.backend
    for slot, folder in (opts.models or {}).items():
        setattr(settings, f"model_{slot}", str(folder))
    if opts.audio_device is not None:
        settings.audio_device = opts.audio_device
    if opts.camera is not None:
        settings.camera = opts.camera
    if opts.steps is not None:
        settings.image_steps = opts.steps
    win = MainWindow(settings, store, opts.data_dir)
    win.mic.set_source(settings.audio_device, str(opts.audio_file or ""), opts.loop)
    win.camera.set_source(settings.camera, opts.loop)
    win.show()
    if opts.image is not None:
        from snnapp.core.preprocess import load_image

        win.set_image(load_image(opts.image))
    if opts.camera:
        win.tabs.setCurrentWidget(win.camera)
        win.camera.start()
    listen = opts.start_microphone if opts.start_microphone is not None \
        else bool(opts.audio_file or opts.audio_device)
    if listen:
        win.mic.start()
    if opts.quit_after is not None:
        def finish() -> None:
            if opts.screenshot is not None:
                opts.screenshot.parent.mkdir(parents=True, exist_ok=True)
                win.grab().save(str(opts.screenshot))
            win.close()
        QTimer.singleShot(int(opts.quit_after * 1000), finish)
    signal.signal(signal.SIGINT, lambda *_: win.close())  # Ctrl-C in the terminal closes cleanly
    tick = QTimer()
    tick.start(200)  # lets Python run its signal handlers while Qt's loop waits
    tick.timeout.connect(lambda: None)
    code = app.exec()
    win.shutdown()
    return code
