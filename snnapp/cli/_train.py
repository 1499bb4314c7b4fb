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


def train_command(
    mode: Annotated[ModeName, typer.Option(help="Which network to train.")] = ModeName.image,
    out: Annotated[Optional[Path], typer.Option(help="Model folder to write (default: models/MODE).")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 12,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle schedule).")] = 2e-3,
    loss: Annotated[LossName, typer.Option(
        help="mse_rate (spike-count MSE, targets rate x steps), mse_count (snnTorch's mse_count_loss, "
             "targets truncated to whole spikes) or ce_count.")] = LossName.mse_rate,
    correct_rate: Annotated[float, typer.Option(help="Target firing rate of the correct output neuron.")] = 0.8,
    incorrect_rate: Annotated[float, typer.Option(help="Target firing rate of the other output neurons.")] = 0.2,
    num_steps: Annotated[Optional[int], typer.Option(min=1, help="Time steps (default: 4 image, 32 audio, 4 multimodal).")] = None,
    beta: Annotated[float, typer.Option(help="Membrane decay per step of the LIF neurons.")] = 0.9,
    threshold: Annotated[float, typer.Option()] = 1.0,
    slope: Annotated[float, typer.Option(help="Surrogate gradient steepness.")] = 5.0,
    neuron: Annotated[NeuronName, typer.Option(help="lif (current-based) or cond (conductance-based).")] = NeuronName.lif,
    image_encoder: Annotated[EncoderName, typer.Option()] = EncoderName.direct,
    audio_encoder: Annotated[EncoderName, typer.Option()] = EncoderName.direct,
    image_channels: Annotated[str, typer.Option(help="Channels of the two convolutions.")] = "32,64",
    image_kernel: Annotated[int, typer.Option(min=1, help="Kernel size of the convolutions (odd).")] = 3,
    image_hidden: Annotated[int, typer.Option(min=1)] = 256,
    pool_before_spike: Annotated[bool, typer.Option(
        "--pool-before-spike/--pool-after-spike",
        help="Pool each convolution's current before its neurons (about 1.4x faster to train: neurons "
             "on quarter-size maps; slightly less accurate), or pool their spikes.")] = False,
    audio_hidden: Annotated[str, typer.Option(help="Sizes of the audio branch's hidden layers.")] = "512,512",
    dropout: Annotated[float, typer.Option(min=0.0, max=0.95, help="Dropout before the fully connected layers.")] = 0.1,
    dropout_mask: Annotated[DropoutMask, typer.Option(
        help="step: a fresh dropout mask at every time step; sample: one per sample for all its steps "
             "(T times fewer random numbers, faster on CPUs).")] = DropoutMask.step,
    augment: Annotated[bool, typer.Option(help="Augment images and recordings.")] = True,
    precision: Annotated[PrecisionName, typer.Option(
        help="bf16: convolutions and linear layers in bfloat16 while training (fast on CPUs with AVX512-BF16 "
             "or AMX, and on GPUs); weights, neuron state and inference stay float32.")] = PrecisionName.fp32,
    audio_copies: Annotated[int, typer.Option(min=0, help="Augmented copies of each training recording.")] = 4,
    n_mfcc: Annotated[int, typer.Option(
        min=1, help="MFCC coefficients per frame. Fewer keep the vocal tract's broad shape and drop the "
                    "fine detail that differs between speakers.")] = 20,
    deltas: Annotated[bool, typer.Option(
        help="Append each MFCC coefficient's rate of change over time to the audio features.")] = False,
    feature_masks: Annotated[int, typer.Option(
        min=0, max=8, help="Time and coefficient masks over each training example's MFCC (SpecAugment); 0: none.")] = 0,
    patience: Annotated[int, typer.Option(min=1, help="Stop after this many epochs without a better validation accuracy.")] = 4,
    seed: Annotated[int, typer.Option()] = 0,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Train and validate on the first N examples only.")] = None,
    init_from: Annotated[Optional[list[Path]], typer.Option(
        help="Start from the fitting weights of this model folder; repeatable.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint of --out.")] = False,
    device: DeviceOption = "auto",
    data_dir: DataDirOption = None,
) -> None:
    """Train a network on MNIST, FSDD or both, and save it as a model folder."""
    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.encoders import EncoderConfig
    from snnapp.core.modelio import claim_model_folder, shown
    from snnapp.core.network import NetworkConfig
    from snnapp.core.preprocess import AudioConfig
    from snnapp.core.training import TrainConfig, train

    from ._progress import RichTrainingProgress

    with user_errors():
        steps = num_steps or {"image": 4, "audio": 32, "multimodal": 4}[mode.value]
        net = NetworkConfig(
            mode=mode.value, num_steps=steps, neuron=neuron.value, beta=beta, threshold=threshold, slope=slope,
            image_channels=_ints(image_channels, "--image-channels"), image_kernel=image_kernel, image_hidden=image_hidden,
            pool_before_spike=pool_before_spike, dropout=dropout, dropout_mask=dropout_mask.value,
            audio_hidden=_ints(audio_hidden, "--audio-hidden"))
        cfg = TrainConfig(
            network=net, encoder=EncoderConfig(image=image_encoder.value, audio=audio_encoder.value), epochs=epochs,
            batch_size=batch_size, lr=lr, loss=loss.value, correct_rate=correct_rate, incorrect_rate=incorrect_rate,
            seed=seed, limit=limit, patience=patience, augment=augment, audio_copies=audio_copies,
            feature_masks=feature_masks, precision=precision.value, audio=AudioConfig(n_mfcc=n_mfcc, deltas=deltas),
            init_from=tuple(str(p) for p in init_from or ()))
        target = claim_model_folder(out or Path("models") / mode.value)  # refused before the progress bar
        with RichTrainingProgress() as progress:
            result = train(cfg, target, resolve_data_dir(data_dir), device=device, resume=resume,
                           progress=progress, cache_dir=resolve_cache_dir(),
                           record={"command": "snnapp " + " ".join(shlex.quote(a) for a in sys.argv[1:])})
    val = result.metrics["val"]
    typer.echo(f"{shown(result.model_dir)}: validation accuracy {val['accuracy']:.4f}")
