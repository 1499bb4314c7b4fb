"""``snnapp app``: the desktop window (PyQt6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from snnapp.core.errors import SnnappError

from ._common import DataDirOption, fail, one_line


def app_command(
    backend: Annotated[Optional[str], typer.Option(help="'torch cpu', 'torch cuda' or 'onnx' (default: the saved choice).")] = None,
    image_model: Annotated[Optional[Path], typer.Option(help="Image model folder (default: the shipped one).")] = None,
    audio_model: Annotated[Optional[Path], typer.Option(help="Audio model folder (default: the shipped one).")] = None,
    multimodal_model: Annotated[Optional[Path], typer.Option(help="Multimodal model folder (default: the shipped one).")] = None,
    audio_device: Annotated[Optional[str], typer.Option(help="Microphone: input device index or name; starts listening.")] = None,
    audio_file: Annotated[Optional[Path], typer.Option(help="Replay this WAV as if it were the microphone, at real-time pace.")] = None,
    image: Annotated[Optional[Path], typer.Option(help="Start with this picture as the image input.")] = None,
    camera: Annotated[Optional[str], typer.Option(help="Camera device index, or a video file played as the camera.")] = None,
    loop: Annotated[bool, typer.Option(help="Replay --audio-file and a --camera video in a loop (demos, soak runs).")] = False,
    steps: Annotated[Optional[int], typer.Option(help="Time steps for image models (default: the model's own).")] = None,
    screenshot: Annotated[Optional[Path], typer.Option(help="Save a PNG of the window when --quit-after ends.")] = None,
    quit_after: Annotated[Optional[float], typer.Option(help="Close the window after this many seconds.")] = None,
    data_dir: DataDirOption = None,
    settings_file: Annotated[Optional[Path], typer.Option(help="Keep settings in this INI file instead of the user's.")] = None,
) -> None:
    """Open the desktop app: draw, speak or show a digit and watch the spiking network decide."""
    try:
        from snnapp.app import AppOptions, run_app
    except ImportError as exc:
        fail(f"the app needs the [app] extra (PyQt6, pyqtgraph, sounddevice, opencv): {exc}")
    for path, what in ((audio_file, "--audio-file"), (image, "--image"), (image_model, "--image-model"), (audio_model, "--audio-model"),
                       (multimodal_model, "--multimodal-model")):
        if path is not None and not path.exists():
            fail(f"{path}: no such file or folder ({what})")
    if screenshot is not None and quit_after is None:
        fail("--screenshot needs --quit-after SECONDS")
    models = {k: str(v) for k, v in (("image", image_model), ("audio", audio_model),
                                      ("multimodal", multimodal_model)) if v is not None}
    try:
        code = run_app(AppOptions(backend=backend, models=models, audio_device=audio_device, audio_file=audio_file,
                                  image=image, camera=camera, loop=loop, steps=steps, screenshot=screenshot,
                                  quit_after=quit_after, settings_file=settings_file,
                                  data_dir=None if data_dir is None else str(data_dir)))
    except (ValueError, SnnappError) as exc:
        fail(one_line(exc))
    raise typer.Exit(code)
