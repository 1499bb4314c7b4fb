"""The network's architecture as plain data, saved in every model's ``config.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from snnapp.core.errors import ConfigError

Mode = Literal["image", "audio", "multimodal"]
MODES: tuple[str, ...] = ("image", "audio", "multimodal")


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes, time steps and neuron model of the two-branch network.

    ``image_channels`` are the two convolutions' output channels (kernel ``image_kernel``, each
    with 2x2 max pooling); ``image_hidden`` the fully connected layer after them.
    ``pool_before_spike`` pools each convolution's current before its neurons instead of pooling
    their spikes: the neurons then run on maps a quarter the size, and with a static image the
    first convolution, batch norm and pooling all run once for all steps. About 1.4x faster to
    train on a CPU; the shipped image model pools currents (see benchmarks/RESULTS.md).
    ``audio_hidden`` are the audio branch's fully connected layers. Both branches end in spiking
    hidden layers that feed the 10 output neurons through one linear fusion.
    """

    mode: Mode = "image"
    num_steps: int = 4
    image_in_channels: int = 1
    image_channels: tuple[int, int] = (32, 64)
    image_kernel: int = 3
    image_hidden: int = 256
    audio_in_features: int = 80
    audio_hidden: tuple[int, ...] = (512, 512)
    neuron: Literal["lif", "cond"] = "lif"
    beta: float = 0.9
    threshold: float = 1.0
    reset: Literal["subtract", "zero"] = "subtract"
    learn_beta: bool = False
    #: Steepness of the surrogate derivative (fast sigmoid). Lower is wider: gradients reach
    #: neurons far from threshold, which matters with few time steps.
    slope: float = 5.0
    batchnorm: bool = True
    pool_before_spike: bool = False
    dropout: float = 0.1
    #: ``"step"``: a fresh dropout mask at every time step; ``"sample"``: one mask per sample,
    #: held over all its steps (SpikingJelly's choice: a dropped neuron stays silent for the whole
    #: presentation), which also draws T times fewer random numbers.
    dropout_mask: Literal["step", "sample"] = "step"
    #: Extra parameters of the conductance neuron (``CondLIFParameters`` field names).
    cond_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.neuron not in ("lif", "cond"):
            raise ConfigError(f"unknown neuron {self.neuron!r}; choose lif or cond")
        if self.num_steps < 1:
            raise ConfigError(f"num_steps must be at least 1, got {self.num_steps}")
        if not 0.0 <= self.beta <= 1.0:
            raise ConfigError(f"beta must lie in [0, 1], got {self.beta}")
        if self.threshold <= 0:
            raise ConfigError(f"threshold must be positive, got {self.threshold}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.dropout_mask not in ("step", "sample"):
            raise ConfigError(f"unknown dropout mask {self.dropout_mask!r}; choose step or sample")
        object.__setattr__(self, "image_channels", tuple(int(c) for c in self.image_channels))
        object.__setattr__(self, "audio_hidden", tuple(int(c) for c in self.audio_hidden))
        if len(self.image_channels) != 2 or not self.audio_hidden:
            raise ConfigError("image_channels needs two values and audio_hidden at least one")
        # Sizes a network could really have, by the bounds a model folder's config.json must keep
        # (at most MAX_PARAMETERS weights): an absurd one is refused here, before anything is
        # allocated, wherever it comes from (train's options, a tuning space, code).
        from snnapp.core.modelio import _check_network

        _check_network(self)

    @property
    def uses_image(self) -> bool:
        return self.mode in ("image", "multimodal")

    @property
    def uses_audio(self) -> bool:
        return self.mode in ("audio", "multimodal")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_channels"] = list(self.image_channels)
        d["audio_hidden"] = list(self.audio_hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown network settings: {', '.join(sorted(unknown))}")
        return cls(**d)
