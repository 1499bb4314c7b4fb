"""``snnapp train``: options -> :class:`TrainConfig` -> :func:`snnapp.core.training.train`."""

from __future__ import annotations

import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import DataDirOption, DeviceOption, fail, user_errors


class ModeName(str, Enum):
    image = "image"
    audio = "audio"
    multimodal = "multimodal"


class LossName(str, Enum):
    mse_rate = "mse_rate"
    mse_count = "mse_count"
    ce_count = "ce_count"


class NeuronName(str, Enum):
    lif = "lif"
    cond = "cond"


class PrecisionName(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class DropoutMask(str, Enum):
    step = "step"
    sample = "sample"


class EncoderName(str, Enum):
    direct = "direct"
    rate = "rate"
    latency = "latency"
    delta = "delta"


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        fail(f"{what}: expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        fail(f"{what}: expected positive integers, got {text!r}")
    return values


#: Each option's setting in a recipe (dotted: ``section.field``); options left out keep the recipe's value.
SETTINGS = {
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "loss": "loss", "correct_rate": "correct_rate",
    "incorrect_rate": "incorrect_rate", "num_steps": "network.num_steps", "beta": "network.beta",
    "threshold": "network.threshold", "slope": "network.slope", "neuron": "network.neuron",
    "image_encoder": "encoder.image", "audio_encoder": "encoder.audio", "image_channels": "network.image_channels",
    "image_kernel": "network.image_kernel", "image_hidden": "network.image_hidden",
    "pool_before_spike": "network.pool_before_spike", "audio_hidden": "network.audio_hidden",
    "dropout": "network.dropout", "dropout_mask": "network.dropout_mask", "augment": "augment",
    "precision": "precision", "audio_copies": "audio_copies", "n_mfcc": "audio.n_mfcc", "deltas": "audio.deltas",
    "feature_masks": "feature_masks", "patience": "patience", "seed": "seed", "limit": "limit",
    "init_from": "init_from",
}


def _overrides(given: dict) -> dict:
    """The options given on the command line, as recipe settings (enums as their values)."""
    out = {}
    for name, value in given.items():
        if value is None:
            continue
        if isinstance(value, Enum):
            value = value.value
        elif name in ("image_channels", "audio_hidden"):
            value = _ints(value, "--" + name.replace("_", "-"))
        elif name == "init_from":
            value = tuple(str(v) for v in value)
        out[SETTINGS[name]] = value
    return out


def train_command(
    mode: Annotated[Optional[ModeName], typer.Option(
        help="Which network to train: its shipped recipe, unless --recipe names another.")] = None,
    recipe: Annotated[Optional[str], typer.Option(
        help="A shipped recipe (image, audio, multimodal) or a recipe .toml file; default: the one of --mode. "
             "Every option below overrides one of its settings.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Model folder to write (default: models/MODE).")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1)] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (one-cycle schedule).")] = None,
    loss: Annotated[Optional[LossName], typer.Option(
        help="mse_rate (spike-count MSE, targets rate x steps), mse_count (snnTorch's mse_count_loss, "
             "targets truncated to whole spikes) or ce_count.")] = None,
    correct_rate: Annotated[Optional[float], typer.Option(help="Target firing rate of the correct output neuron.")] = None,
    incorrect_rate: Annotated[Optional[float], typer.Option(help="Target firing rate of the other output neurons.")] = None,
    num_steps: Annotated[Optional[int], typer.Option(min=1, help="Time steps.")] = None,
    beta: Annotated[Optional[float], typer.Option(help="Membrane decay per step of the LIF neurons.")] = None,
    threshold: Annotated[Optional[float], typer.Option()] = None,
    slope: Annotated[Optional[float], typer.Option(help="Surrogate gradient steepness.")] = None,
    neuron: Annotated[Optional[NeuronName], typer.Option(help="lif (current-based) or cond (conductance-based).")] = None,
    image_encoder: Annotated[Optional[EncoderName], typer.Option()] = None,
    audio_encoder: Annotated[Optional[EncoderName], typer.Option()] = None,
    image_channels: Annotated[Optional[str], typer.Option(help="Channels of the two convolutions, e.g. 32,64.")] = None,
    image_kernel: Annotated[Optional[int], typer.Option(min=1, help="Kernel size of the convolutions (odd).")] = None,
    image_hidden: Annotated[Optional[int], typer.Option(min=1)] = None,
    pool_before_spike: Annotated[Optional[bool], typer.Option(
        "--pool-before-spike/--pool-after-spike",
        help="Pool each convolution's current before its neurons (about 1.4x faster to train: neurons "
             "on quarter-size maps; slightly less accurate), or pool their spikes.")] = None,
    audio_hidden: Annotated[Optional[str], typer.Option(help="Sizes of the audio branch's hidden layers, e.g. 512,512.")] = None,
    dropout: Annotated[Optional[float], typer.Option(min=0.0, max=0.95, help="Dropout before the fully connected layers.")] = None,
    dropout_mask: Annotated[Optional[DropoutMask], typer.Option(
        help="step: a fresh dropout mask at every time step; sample: one per sample for all its steps "
             "(T times fewer random numbers, faster on CPUs).")] = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment", help="Augment images and recordings.")] = None,
    precision: Annotated[Optional[PrecisionName], typer.Option(
        help="bf16: convolutions and linear layers in bfloat16 while training (fast on CPUs with AVX512-BF16 "
             "or AMX, and on GPUs); weights, neuron state and inference stay float32.")] = None,
    audio_copies: Annotated[Optional[int], typer.Option(min=0, help="Augmented copies of each training recording.")] = None,
    n_mfcc: Annotated[Optional[int], typer.Option(
        min=1, help="MFCC coefficients per frame. Fewer keep the vocal tract's broad shape and drop the "
                    "fine detail that differs between speakers.")] = None,
    deltas: Annotated[Optional[bool], typer.Option(
        "--deltas/--no-deltas", help="Append each MFCC coefficient's rate of change over time to the audio features.")] = None,
    feature_masks: Annotated[Optional[int], typer.Option(
        min=0, max=8, help="Time and coefficient masks over each training example's MFCC (SpecAugment); 0: none.")] = None,
    patience: Annotated[Optional[int], typer.Option(
        min=1, help="Stop after this many epochs without a better validation accuracy.")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Train and validate on the first N examples only.")] = None,
    init_from: Annotated[Optional[list[Path]], typer.Option(
        help="Start from the fitting weights of this model folder; repeatable.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint of --out.")] = False,
    device: DeviceOption = "auto",
    data_dir: DataDirOption = None,
) -> None:
    """Train a network on MNIST, FSDD or both, and save it as a model folder.

    Without options: the shipped recipe of --mode (image by default), the settings of the shipped model.

    Each option changes one setting of the recipe.
    """
    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.errors import ConfigError
    from snnapp.core.modelio import claim_model_folder, shown
    from snnapp.core.training import load_recipe, train

    from ._progress import RichTrainingProgress

    given = dict(locals())
    with user_errors():
        chosen = load_recipe(recipe if recipe is not None else (mode.value if mode else "image"))
        if mode is not None and mode.value != chosen.mode:
            raise ConfigError(f"recipe {chosen.name} trains the {chosen.mode} network, not {mode.value}")
        cfg = chosen.config(**_overrides({k: given[k] for k in SETTINGS}))
        target = claim_model_folder(out or Path("models") / chosen.mode)  # refused before the progress bar
        with RichTrainingProgress() as progress:
            result = train(cfg, target, resolve_data_dir(data_dir), device=device, resume=resume,
                           progress=progress, cache_dir=resolve_cache_dir(),
                           record={"recipe": chosen.name,
                                   "command": "snnapp " + " ".join(shlex.quote(a) for a in sys.argv[1:])})
    val = result.metrics["val"]
    typer.echo(f"{shown(result.model_dir)}: validation accuracy {val['accuracy']:.4f}")
