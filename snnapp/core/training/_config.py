"""Training settings as plain data, and the progress protocol the CLI and tuner implement."""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from snnapp.core._dictconfig import check_settings, setting
from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ConfigError
from snnapp.core.network import NetworkConfig
from snnapp.core.preprocess import AudioConfig, ImageConfig

if TYPE_CHECKING:
    from snnapp.core.modelio import ModelConfig


Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
#: The spike-count losses (``_loss.LOSSES`` implements each).
Loss = Literal["mse_rate", "mse_count", "ce_count"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved in the model's config and its checkpoint."""

    network: NetworkConfig = NetworkConfig()
    encoder: EncoderConfig = EncoderConfig()
    audio: AudioConfig = AudioConfig()
    image: ImageConfig = ImageConfig()
    epochs: int = setting(10, "Training epochs (passes over the training data).", ge=1)
    batch_size: int = setting(128, "Examples per training step.", ge=1)
    lr: float = setting(2e-3, "Peak learning rate (AdamW, one-cycle schedule).", gt=0.0)
    weight_decay: float = setting(1e-4, "AdamW's weight decay.", ge=0.0)
    loss: Loss = setting("mse_rate", "mse_rate (spike-count MSE, targets rate x steps), mse_count (snnTorch's "
                                     "mse_count_loss, targets truncated to whole spikes) or ce_count.")
    correct_rate: float = setting(0.8, "Target firing rate of the correct output neuron.", ge=0.0, le=1.0)
    incorrect_rate: float = setting(0.2, "Target firing rate of the other output neurons.", ge=0.0, le=1.0)
    seed: int = setting(0, "Seed of the weights, the split, the batches and the augmentation.")
    val_fraction: float = setting(0.1, "Share of the training data held out for validation.", gt=0.0, lt=1.0)
    limit: int | None = setting(None, "Train and validate on the first N examples only.", ge=1)
    patience: int = setting(4, "Stop after this many epochs without a better validation accuracy.", ge=1)
    augment: bool = setting(True, "Augment images and recordings.")
    audio_copies: int = setting(4, "Augmented copies of each training recording, computed once and cached.", ge=0)
    feature_masks: int = setting(
        0, "Time and coefficient masks over each training example's audio features (SpecAugment); 0: none.",
        ge=0, le=8)
    modality_dropout: float = setting(
        0.2, "Per sample, the probability that one modality is silenced (multimodal training).", ge=0.0, le=1.0)
    precision: Precision = setting(
        "fp32", "bf16: convolutions and linear layers in bfloat16 while training (fast on CPUs with AVX512-BF16 "
                "or AMX, and on GPUs; many times slower on CPUs without); weights, neuron state and inference stay "
                "float32. auto: bf16 where the device computes it natively, fp32 elsewhere; the model records which.")
    init_from: tuple[str, ...] = setting(
        (), "Model folders whose fitting weights (same names and shapes) start the training, e.g. trained "
            "unimodal models for the branches of a multimodal one.")

    def __post_init__(self) -> None:
        check_settings(self, "training")
        if self.loss in ("mse_count", "mse_rate") and not self.incorrect_rate < self.correct_rate:
            raise ConfigError(
                f"need 0 <= incorrect rate < correct rate <= 1, got {self.incorrect_rate} and {self.correct_rate}")

    @property
    def mode(self) -> str:
        return self.network.mode

    @classmethod
    def of_model(cls, model: "ModelConfig") -> "TrainConfig":
        """The settings that trained a saved model (to retrain it, e.g. per held-out speaker)."""
        from ._recipe import with_settings

        tree: dict[str, Any] = {k: v for k, v in model.training.items() if k in cls.__dataclass_fields__
                                and k not in ("network", "encoder", "audio", "image")}
        tree.update(mode=model.network.mode, network={k: v for k, v in model.network.to_dict().items() if k != "mode"},
                    encoder=model.encoder.to_dict(), audio=model.audio.to_dict(), image=model.image.to_dict())
        return with_settings(tree, {}, "the model's config")

    def hyper(self) -> dict[str, Any]:
        """The training settings alone (no architecture), for the model card and checkpoints."""
        d = asdict(self)
        for k in ("network", "encoder", "audio", "image"):
            d.pop(k)
        return d


class Progress(Protocol):
    """What a training run reports; the CLI draws bars from it, the tuner prunes on it."""

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...

    def batch_end(self, loss: float, accuracy: float, samples_per_s: float) -> None: ...

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None: ...

    def message(self, text: str) -> None: ...


class SilentProgress:
    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def batch_end(self, loss: float, accuracy: float, samples_per_s: float) -> None:
        pass

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
