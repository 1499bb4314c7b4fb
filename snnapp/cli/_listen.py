"""``snnapp listen``: spoken digits from the microphone (or a replayed WAV), one JSON line each."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import user_errors


def listen_command(
    model: Annotated[Optional[Path], typer.Option(help="Audio or multimodal model folder (default: the shipped audio model).")] = None,
    backend: Annotated[str, typer.Option(help="auto (onnx where the model has model.onnx), onnx or torch.")] = "auto",
    device: Annotated[Optional[str], typer.Option(help="Input device of the microphone (index or name).")] = None,
    audio_file: Annotated[Optional[Path], typer.Option(help="Replay this WAV at real-time pace instead of the microphone.")] = None,
    fast: Annotated[bool, typer.Option(help="With --audio-file: replay as fast as possible.")] = False,
) -> None:
    """Detect each spoken digit by voice activity and print one JSON line per utterance; Ctrl-C or SIGTERM stops."""
    from snnapp.cli import require_stdout
    from snnapp.core.predict import shipped_model
    from snnapp.core.runtime import file_chunks, listen, mic_chunks, open_backend

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        with user_errors():
            require_stdout()
            b = open_backend(model or shipped_model("audio"), backend, "cpu")
            if audio_file is not None:
                rate, chunks = file_chunks(audio_file, stop, realtime=not fast)
            else:
                dev = int(device) if device is not None and device.isdigit() else device
                rate, chunks = mic_chunks(dev, b.config.audio.sample_rate, stop)

            def emit(row: dict) -> None:
                sys.stdout.write(json.dumps(row) + "\n")
                sys.stdout.flush()

            listen(b, rate, chunks, emit, stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
