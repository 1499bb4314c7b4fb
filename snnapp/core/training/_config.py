"""Training settings as plain data, and the progress protocol the CLI and tuner implement."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ConfigError
from snnapp.core.network import NetworkConfig
from snnapp.core.preprocess import AudioConfig, ImageConfig

if TYPE_CHECKING:
    from snnapp.core.modelio import ModelConfig


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved in the model's config and its checkpoint."""

    network: NetworkConfig = NetworkConfig()
    encoder: EncoderConfig = EncoderConfig()
    audio: AudioConfig = AudioConfig()
    image: ImageConfig = ImageConfig()
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    loss: str = "mse_rate"
    correct_rate: float = 0.8
    incorrect_rate: float = 0.2
    seed: int = 0
    val_fraction: float = 0.1
    limit: int | None = None
    patience: int = 4
    augment: bool = True
    #: Augmented copies of every training recording, computed once and cached.
    audio_copies: int = 4
    #: Time masks and coefficient masks drawn over each training example's audio features
    #: (SpecAugment-style; 0: none).
    feature_masks: int = 0
    #: Per sample, the probability that one modality is silenced (multimodal training).
    modality_dropout: float = 0.2
    #: Arithmetic of the training forward pass: "fp32", or "bf16" (autocast: convolutions and
    #: linear layers in bfloat16, neuron state and weights in float32), much faster on CPUs with
    #: native bfloat16 (AVX512-BF16, AMX) and on GPUs; evaluation and inference stay float32.
    precision: str = "fp32"
    #: Model folders whose weights (those whose names and shapes fit) start the training, e.g.
    #: trained unimodal models for the branches of a multimodal one.
    init_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch size must be at least 1")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"validation fraction must lie in (0, 1), got {self.val_fraction}")
        if not 0 <= self.feature_masks <= 8:
            raise ConfigError(f"feature masks must lie in 0-8, got {self.feature_masks}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose {' or '.join(PRECISIONS)}")
        if self.loss in ("mse_count", "mse_rate") and not 0.0 <= self.incorrect_rate < self.correct_rate <= 1.0:
            raise ConfigError(
                f"need 0 <= incorrect rate < correct rate <= 1, got {self.incorrect_rate} and {self.correct_rate}")

    @property
    def mode(self) -> str:
        return self.network.mode

    @classmethod
    def of_model(cls, model: "ModelConfig") -> "TrainConfig":
        """The settings that trained a saved model (to retrain it, e.g. per held-out speaker)."""
        hyper = {k: v for k, v in model.training.items() if k in cls.__dataclass_fields__}
        if "init_from" in hyper:
            hyper["init_from"] = tuple(hyper["init_from"])
        return cls(network=model.network, encoder=model.encoder, audio=model.audio, image=model.image, **hyper)

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
