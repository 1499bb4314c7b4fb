"""The network's layers described once, as plain data computed from its config.

The step function, the time-folded training pass, the state layout, the size check of a model
folder's config, the NIR export and the energy count all walk this one description instead of
each knowing the architecture by heart (it used to be written four times, and a change of one,
such as an even kernel, broke the others). No torch here: the config check and the NIR export run
without it.

A :class:`Layer` is a neuron layer fed by the sum of its :class:`Projection`\\ s, each a stateless
map (a convolution with batch norm, or a linear map) from one source: the encoded input of a
modality, or the spikes another layer sends on. Layers come in state order: the image branch,
the audio branch, then the output layer, which fuses both branches' readouts. A projection runs
as soon as its source has run (so a branch's readout follows the branch, in the order its
parameters were always made: the same random initial weights from a seed).

Shapes are per sample. A convolution keeps its map size (padding ``k // 2``, so an odd kernel);
an even kernel, which would not, is refused here with a :class:`ConfigError` naming the setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Literal

from snnapp.core.errors import ConfigError

if TYPE_CHECKING:
    from ._config import NetworkConfig

#: The side of the square image every model takes (MNIST's 28x28).
IMAGE_SIZE = 28
#: The digits: one output neuron each.
CLASSES = 10
#: The modalities: a projection whose source is one of these reads the encoded input.
INPUTS = ("image", "audio")


@dataclass(frozen=True)
class Projection:
    """A stateless map from ``source`` to a layer's input current; ``module`` names its parameters."""

    module: str  # "conv1", "fc_image", "fc_audio.0", "out_image": the key prefix in the weights
    kind: Literal["conv", "linear"]
    source: str  # a modality in INPUTS (the encoded input) or the name of a layer
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]  # the current it makes, before any pooling
    bias: bool = True
    norm: str | None = None  # the batch norm after a convolution ("bn1")
    kernel: int = 0
    padding: int = 0
    dropout: bool = False  # dropout on the input, in training
    mask: str | None = None  # the modality whose per-sample mask (0 or 1) multiplies the input

    @property
    def weights(self) -> int:
        """Synaptic weights (no bias)."""
        if self.kind == "conv":
            return self.out_shape[0] * self.in_shape[0] * self.kernel ** 2
        return prod(self.in_shape) * prod(self.out_shape)

    @property
    def parameters(self) -> int:
        """Weights, bias and batch norm (scale and shift)."""
        channels = self.out_shape[0]
        return self.weights + (channels if self.bias else 0) + (2 * channels if self.norm else 0)

    @property
    def fan_out(self) -> int:
        """Synapses each input element drives: one operation per input spike and synapse."""
        if self.kind == "conv":
            return self.out_shape[0] * self.kernel ** 2
        return prod(self.out_shape)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one run on real values: every weight at every output position."""
        return self.weights * (prod(self.out_shape[1:]) if self.kind == "conv" else 1)

    @property
    def reads_input(self) -> bool:
        """The source is a modality's encoded input (spikes or real values, by its encoder)."""
        return self.source in INPUTS


@dataclass(frozen=True)
class Layer:
    """A neuron layer: its name (key of ``neurons``, prefix of its state), what feeds it, its shapes.

    ``pool``: 2x2 max pooling of the current before the neurons (``current``) or of their spikes
    (``spikes``); ``flatten``: the spikes are flattened for a linear layer; ``out_shape``: what the
    layer sends on, after both. ``bias``: a parameter added to the summed current (``out_bias``)."""

    name: str
    branch: Literal["image", "audio", "output"]
    projections: tuple[Projection, ...]
    shape: tuple[int, ...]
    beta_shape: tuple[int, ...]  # one learned beta per channel of a map, per neuron of a vector
    out_shape: tuple[int, ...]
    pool: Literal["current", "spikes"] | None = None
    flatten: bool = False
    bias: str | None = None

    @property
    def kind(self) -> str:
        return self.projections[0].kind

    @property
    def map_shape(self) -> tuple[int, ...]:
        """What the layer sends on before any flattening: its spikes' map, pooled where pooling
        comes after them (a pooled current made the neurons' map the pooled size already)."""
        if self.pool == "spikes":
            return self.shape[:1] + tuple(s // 2 for s in self.shape[1:])
        return self.shape

    @property
    def parameters(self) -> int:
        return sum(p.parameters for p in self.projections) + (prod(self.shape) if self.bias else 0)


@dataclass(frozen=True)
class Layers:
    """The layers of one network in state order, with the look-ups the walkers need."""

    layers: tuple[Layer, ...]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def branch(self, branch: str) -> list[Layer]:
        return [layer for layer in self if layer.branch == branch]

    def projections(self) -> Iterator[tuple[Layer, Projection]]:
        """Every projection with the layer it feeds, in the order the network runs them: layer by
        layer, and each branch's readout (a projection of the output layer) right after its source."""
        for layer in self:
            if layer is not self.output:
                yield from ((layer, p) for p in layer.projections)
            readout = self.readout(layer.name)
            if readout is not None:
                yield self.output, readout

    def input_shape(self, modality: str) -> tuple[int, ...]:
        """The per-sample shape of a modality's encoded input at one step."""
        return next(p.in_shape for _, p in self.projections() if p.source == modality)

    def readout(self, name: str) -> Projection | None:
        """The projection from layer ``name`` into the output layer (a branch's readout), if any."""
        return next((p for p in self.output.projections if p.source == name), None)

    @property
    def parameters(self) -> int:
        """Parameters of the whole network (learned betas not counted: at most one per neuron)."""
        return sum(layer.parameters for layer in self)


def _conv_size(size: int, kernel: int, padding: int) -> int:
    return size + 2 * padding - kernel + 1


def describe(cfg: NetworkConfig) -> Layers:
    """The layers of the network ``cfg`` describes; a shape that does not work is a ConfigError."""
    layers: list[Layer] = []
    readouts: list[Projection] = []
    if cfg.uses_image:
        k, pad = cfg.image_kernel, cfg.image_kernel // 2
        channels = (cfg.image_in_channels,) + tuple(cfg.image_channels)
        size, source = IMAGE_SIZE, "image"
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]), 1):
            out = _conv_size(size, k, pad)
            if out != size:
                raise ConfigError(f"network.image_kernel: {k} with padding {pad} turns a {size}x{size} map into "
                                  f"{out}x{out}; give an odd kernel, which keeps the map size")
            pooled = size // 2
            pool: Literal["current", "spikes"] = "current" if cfg.pool_before_spike else "spikes"
            neuron_size = pooled if pool == "current" else size
            last = i == len(channels) - 1
            conv = Projection(f"conv{i}", "conv", source, (c_in, size, size), (c_out, size, size),
                              norm=f"bn{i}" if cfg.batchnorm else None, kernel=k, padding=pad)
            name = f"image_conv{i}"
            sent = (c_out, pooled, pooled)
            layers.append(Layer(name, "image", (conv,), (c_out, neuron_size, neuron_size), (c_out, 1, 1),
                                (prod(sent),) if last else sent, pool=pool, flatten=last))
            size, source = pooled, name
        n = cfg.image_hidden
        fc = Projection("fc_image", "linear", source, layers[-1].out_shape, (n,), dropout=True)
        layers.append(Layer("image_hidden", "image", (fc,), (n,), (n,), (n,)))
        readouts.append(Projection("out_image", "linear", "image_hidden", (n,), (CLASSES,), bias=False,
                                   dropout=True, mask="image"))
    if cfg.uses_audio:
        source, width = "audio", cfg.audio_in_features
        for i, n in enumerate(cfg.audio_hidden):
            fc = Projection(f"fc_audio.{i}", "linear", source, (width,), (n,), dropout=i > 0)
            name = f"audio_hidden{i + 1}"
            layers.append(Layer(name, "audio", (fc,), (n,), (n,), (n,)))
            source, width = name, n
        readouts.append(Projection("out_audio", "linear", source, (width,), (CLASSES,), bias=False,
                                   dropout=True, mask="audio"))
    layers.append(Layer("output", "output", tuple(readouts), (CLASSES,), (CLASSES,), (CLASSES,), bias="out_bias"))
    return Layers(tuple(layers))
