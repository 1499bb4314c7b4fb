"""``snnapp predict``: the digit of each image, recording, or image+recording pair."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import DeviceOption, fail, user_errors


def predict_command(
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the shipped model for the inputs).")] = None,
    image: Annotated[Optional[list[Path]], typer.Option(help="Image file; repeat for several.")] = None,
    audio: Annotated[Optional[list[Path]], typer.Option(help="WAV file; repeat for several.")] = None,
    image_dir: Annotated[Optional[Path], typer.Option(help="Predict every image in this folder.")] = None,
    audio_dir: Annotated[Optional[Path], typer.Option(help="Predict every recording in this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    device: DeviceOption = "cpu",
    backend: Annotated[str, typer.Option(help="auto (onnx where the model has model.onnx, else torch), onnx or torch.")] = "auto",
) -> None:
    """One line per input, or per image+audio pair when both come in equal numbers."""
    from snnapp.cli import require_stdout
    from snnapp.core.modelio import shown
    from snnapp.core.predict import AUDIO_SUFFIXES, IMAGE_SUFFIXES, Predictor, files_in, shipped_model

    with user_errors():
        require_stdout()
        images = list(image or []) + (files_in(image_dir, IMAGE_SUFFIXES) if image_dir else [])
        audios = list(audio or []) + (files_in(audio_dir, AUDIO_SUFFIXES) if audio_dir else [])
        if not images and not audios:
            fail("no input: give --image, --audio, --image-dir or --audio-dir")
        paired = bool(images) and bool(audios) and len(images) == len(audios)
        if model is not None:
            jobs = [(model, images or None, audios or None)] if paired or not (images and audios) else \
                [(model, images, None), (model, None, audios)]
        elif paired:
            jobs = [(shipped_model("multimodal"), images, audios)]
        else:
            jobs = [(shipped_model(m), i, a) for m, i, a in (("image", images, None), ("audio", None, audios)) if i or a]
        failed = 0
        for folder, imgs, auds in jobs:
            for row in Predictor(folder, device=device, backend=backend).iter_files(imgs, auds):
                failed += row.error is not None
                if as_json:
                    typer.echo(json.dumps(row.to_dict()))
                elif row.error:  # names on one line: undecodable bytes as \xNN, control characters escaped
                    named = row.error if row.error.startswith(shown(row.input)) else f"{shown(row.input)}: {row.error}"
                    typer.echo(f"error: {shown(named)}", err=True)
                else:
                    assert row.digit is not None  # a row without an error has its digit
                    probs = " ".join(f"{p:.2f}" for p in row.probabilities)
                    typer.echo(f"{shown(row.input)}: {row.digit} (p={row.probabilities[row.digit]:.2f})  [{probs}]")
    if failed:
        raise typer.Exit(2)
