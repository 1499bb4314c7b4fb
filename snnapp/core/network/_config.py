"""The network's architecture as plain data, saved in every model's ``config.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from snnapp.core._dictconfig import check_settings, setting
from snnapp.core.errors import ConfigError

Mode = Literal["image", "audio", "multimodal"]
MODES: tuple[str, ...] = ("image", "audio", "multimodal")
#: Most time steps a network may have.
MAX_STEPS = 1000


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

    mode: Mode = setting("image", "Which network: the image branch, the audio branch, or both fused.")
    num_steps: int = setting(4, "Time steps each input is presented for.", ge=1, le=MAX_STEPS)
    image_in_channels: int = setting(
        1, "Input channels of the image branch (set from the image encoder: 2 for delta's ON/OFF).", ge=1, le=16)
    image_channels: tuple[int, int] = setting((32, 64), "Output channels of the two convolutions.", ge=1, le=4096)
    image_kernel: int = setting(3, "Kernel size of the convolutions (odd, so that a map keeps its size).",
                                ge=1, le=27)
    image_hidden: int = setting(256, "Neurons of the image branch's fully connected layer.", ge=1, le=1 << 16)
    audio_in_features: int = setting(
        80, "Inputs of the audio branch per time step (set from the audio features and encoder).", ge=1, le=1 << 20)
    audio_hidden: tuple[int, ...] = setting((512, 512), "Sizes of the audio branch's hidden layers.", ge=1, le=1 << 16)
    neuron: Literal["lif", "cond"] = setting("lif", "lif (current-based) or cond (conductance-based) neurons.")
    beta: float = setting(0.9, "Membrane decay per step of the LIF neurons.", ge=0.0, le=1.0)
    threshold: float = setting(1.0, "Membrane potential at which a neuron spikes.", gt=0.0)
    reset: Literal["subtract", "zero"] = setting(
        "subtract", "After a spike: subtract the threshold from the membrane, or set it to zero.")
    learn_beta: bool = setting(False, "Learn each neuron's decay instead of keeping beta fixed.")
    slope: float = setting(5.0, "Steepness of the surrogate gradient (fast sigmoid); lower is wider: gradients "
                                "reach neurons far from threshold, which matters with few time steps.", gt=0.0)
    batchnorm: bool = setting(True, "Batch norm after each convolution.")
    pool_before_spike: bool = setting(
        False, "Pool each convolution's current before its neurons (about 1.4x faster to train: neurons on "
               "quarter-size maps), or pool their spikes.")
    dropout: float = setting(0.1, "Dropout before the fully connected layers.", ge=0.0, lt=1.0)
    dropout_mask: Literal["step", "sample"] = setting(
        "step", "step: a fresh dropout mask at every time step; sample: one per sample for all its steps "
                "(a dropped neuron stays silent for the whole presentation; T times fewer random numbers).")
    cond_params: dict = setting(default_factory=dict,
                                help="Extra parameters of the conductance neuron (CondLIFParameters field names).")

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_channels", tuple(int(c) for c in self.image_channels))
        object.__setattr__(self, "audio_hidden", tuple(int(c) for c in self.audio_hidden))
        if len(self.image_channels) != 2 or not self.audio_hidden:
            raise ConfigError("image_channels needs two values and audio_hidden at least one")
        check_settings(self, "network")
        # Sizes a network could really have, by the bounds a model folder's config.json must keep
        # (at most MAX_PARAMETERS weights): an absurd one is refused here, before anything is
        # allocated, wherever it comes from (train's options, a tuning space, code).
        from snnapp.core._modelconfig import check_network

        check_network(self)

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
