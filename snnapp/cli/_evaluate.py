"""``snnapp evaluate``: the metrics of a model folder on the validation or test split."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ._common import DataDirOption, DeviceOption, user_errors


class SplitName(str, Enum):
    val = "val"
    test = "test"


def evaluate_command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder.")],
    split: Annotated[SplitName, typer.Option(help="val (model selection) or test (final report).")] = SplitName.test,
    as_json: Annotated[bool, typer.Option("--json", help="Print all metrics as one JSON object.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate on the first N examples only.")] = None,
    record: Annotated[bool, typer.Option(
        "--record", help="Store the metrics in the model's metrics.json and refresh its model card.")] = False,
    loso: Annotated[bool, typer.Option(
        "--loso", help="Audio models: retrain the model's configuration once per FSDD speaker held out, "
                       "report the accuracy on that unseen speaker, and store it in metrics.json.")] = False,
    speakers: Annotated[str | None, typer.Option(
        help="With --loso: hold out only these FSDD speakers (comma-separated), a quicker probe; "
             "its result is printed, not stored.")] = None,
    noise: Annotated[str | None, typer.Option(
        help="Audio and multimodal models: the FSDD test accuracy with this background noise around every "
             "word, as a microphone in a room records it: 'all' or kinds, comma-separated (white, pink, brown, "
             "babble, hum, engine, music, rain, clicks).")] = None,
    snr: Annotated[str, typer.Option(
        help="With --noise: the signal-to-noise ratios in dB, comma-separated.")] = "20,10,5,0",
    device: DeviceOption = "auto",
    data_dir: DataDirOption = None,
) -> None:
    """Accuracy, per class and per speaker, confusion matrix, spikes, SynOps and energy per sample."""
    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.evaluation import evaluate_model

    if loso:
        _loso(model_dir, device, data_dir, as_json, speakers)
        return
    if noise is not None:
        _noise(model_dir, noise, snr, device, data_dir, as_json, record, limit)
        return
    with user_errors():
        res = evaluate_model(model_dir, split.value, resolve_data_dir(data_dir), device=device,
                             cache_dir=resolve_cache_dir(), limit=limit)
        if record:
            _record(model_dir, {split.value: res})
    if as_json:
        typer.echo(json.dumps(res))
        return
    from ._report import print_evaluation

    print_evaluation(res)


def _loso(model_dir: Path, device: str, data_dir: Path | None, as_json: bool, speakers: str | None) -> None:
    from snnapp.core.data import FSDD_SPEAKERS, resolve_cache_dir, resolve_data_dir
    from snnapp.core.modelio import load_model
    from snnapp.core.training import TrainConfig, leave_one_speaker_out

    from ._progress import RichTrainingProgress

    with user_errors():
        chosen = FSDD_SPEAKERS if speakers is None else tuple(s.strip() for s in speakers.split(",") if s.strip())
        cfg = TrainConfig.of_model(load_model(model_dir).config)
        with RichTrainingProgress() as progress:
            res = leave_one_speaker_out(cfg, resolve_data_dir(data_dir), device=device,
                                        cache_dir=resolve_cache_dir(), progress=progress, speakers=chosen)
        if set(chosen) == set(FSDD_SPEAKERS):
            _record(model_dir, {"loso": res})
    if as_json:
        typer.echo(json.dumps(res))
    else:
        typer.echo("leave-one-speaker-out: " + ", ".join(f"{s} {100 * a:.1f} %" for s, a in res["per_speaker"].items())
                   + f"; mean {100 * res['mean_accuracy']:.2f} %")


def _noise(model_dir: Path, noise: str, snr: str, device: str, data_dir: Path | None, as_json: bool,
           record: bool, limit: int | None) -> None:
    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.errors import ConfigError
    from snnapp.core.evaluation import evaluate_in_noise
    from snnapp.core.preprocess import NOISE_KINDS

    with user_errors():
        kinds = NOISE_KINDS if noise.strip() == "all" else tuple(k.strip() for k in noise.split(",") if k.strip())
        try:
            snrs = tuple(float(s) for s in snr.split(",") if s.strip())
        except ValueError:
            raise ConfigError(f"--snr: {snr!r} is not a comma-separated list of numbers (dB)") from None
        res = evaluate_in_noise(model_dir, resolve_data_dir(data_dir), kinds, snrs, device=device,
                                cache_dir=resolve_cache_dir(), limit=limit)
        if record and limit is None:
            _record(model_dir, {"noise": res})
    if as_json:
        typer.echo(json.dumps(res))
        return
    from ._report import print_noise

    print_noise(res)


def _record(model_dir: Path, extra: dict) -> None:
    from snnapp.core.modelio import update_metrics

    update_metrics(model_dir, extra, card=True)  # metrics and card in one step
