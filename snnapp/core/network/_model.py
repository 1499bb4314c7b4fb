"""The two-branch spiking network as one step function over explicit state.

``step(image_t, audio_t, state, image_mask, audio_mask) -> StepOutput`` is the network: the app and
the ONNX graph call it once per time step, the host owning the state; nothing on the module changes
from call to call. :meth:`SpikingDigitNet.forward` runs all T steps for training and batch
evaluation; it applies each stateless layer (convolution, linear, batch norm, pooling) once over
all steps folded into the batch and loops only the neurons, which gives the same result as looping
:meth:`step` (tested) and is the faster order on CPU and GPU for these sizes (see
``benchmarks/``). With a static image (direct encoding) the first convolution runs once, not T
times. In training each LIF layer's loop is one autograd node
(:func:`~snnapp.core.neurons.lif_sequence`), and 2x2 pooling avoids PyTorch's slow NCHW kernel
(:func:`max_pool2x2`); both give the same numbers as the plain versions.

Both walk the one description of the layers (:func:`~._layers.describe`), as do the state layout,
the modules and their names (those of the weights files), and the energy count
(:func:`~._energy.count_energy`), which :meth:`forward` feeds with what each projection received.

Fusion: both branches end in spiking hidden layers whose spikes drive the 10 output neurons
through one linear map each; a missing modality contributes nothing, so a multimodal model also
predicts from one modality (trained with modality dropout). A per-sample mask (0 or 1) silences a
modality's branch output, as modality dropout in training and in the multimodal ONNX graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import partial
from math import prod
from typing import NamedTuple, cast

import torch
from torch import Tensor, nn

from snnapp.core.neurons import LIF, CondLIF, fusable, lif_sequence, make_neuron

from ._config import NetworkConfig
from ._energy import Activity, count_energy
from ._layers import Layer, Projection, describe
from ._pool import max_pool2x2

State = tuple[Tensor, ...]


class StepOutput(NamedTuple):
    out_spikes: Tensor  # [B, 10]
    out_mem: Tensor  # [B, 10] membrane of the output neurons after the step
    hidden: dict[str, Tensor]  # spikes of the hidden layers the app draws, [B, n]
    state: State


class SequenceOutput(NamedTuple):
    counts: Tensor  # [B, 10] output spikes summed over time
    out_spikes: Tensor  # [T, B, 10]
    out_mem: Tensor  # [T, B, 10]
    layer_spikes: dict[str, Tensor]  # spikes per sample of each spiking layer, [B]
    synops: Tensor  # [B] synaptic operations (accumulates) caused by spikes, over all steps
    macs: float  # multiply-accumulates per sample of layers fed with real values (direct input)
    activity: dict[str, Activity]  # what each projection (by module name) received; see count_energy


def _neuron(cfg: NetworkConfig, shape: tuple[int, ...]) -> nn.Module:
    if cfg.neuron == "cond":
        return make_neuron("cond", **{"slope": cfg.slope, **cfg.cond_params})
    return make_neuron("lif", beta=cfg.beta, threshold=cfg.threshold, reset=cfg.reset, slope=cfg.slope,
                       learn_beta=cfg.learn_beta, shape=shape)


def _hidden_name(layer: Layer) -> str:
    """The name under which a branch's last layer's spikes are drawn (and ONNX outputs them)."""
    return f"{layer.branch}_hidden"


class SpikingDigitNet(nn.Module):
    """Image branch (conv-pool-conv-pool-fc), audio branch (fc...), fused into 10 LIF outputs.

    ``spiking_inputs``: the modalities whose encoded input is spikes (see
    :func:`~._energy.spiking_inputs`); the others are counted as real values (MACs) in
    :attr:`SequenceOutput.synops` and ``.macs``. It changes no computation."""

    def __init__(self, cfg: NetworkConfig, spiking_inputs: Collection[str] = ()) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = describe(cfg)
        self.spiking_inputs = frozenset(spiking_inputs)
        self.neurons = nn.ModuleDict()
        for layer in self.layers:
            self.neurons[layer.name] = _neuron(cfg, layer.beta_shape)
        # modules in the order the network runs them, which is the order their random initial
        # weights are drawn in, each branch's batch norms after its convolutions: the order of the
        # parameters, which a checkpoint's optimizer state follows. Named as in the weights files
        # ("fc_audio.0": item 0 of a list).
        norms: list[Projection] = []
        for _, p in self.layers.projections():
            if p.kind != "conv":
                for q in norms:
                    self.add_module(cast(str, q.norm), nn.BatchNorm2d(q.out_shape[0]))
                norms = []
            if p.kind == "conv":
                module: nn.Module = nn.Conv2d(p.in_shape[0], p.out_shape[0], p.kernel, padding=p.padding, bias=p.bias)
                norms += [p] if p.norm else []
            else:
                module = nn.Linear(prod(p.in_shape), prod(p.out_shape), bias=p.bias)
            parent, _, item = p.module.rpartition(".")
            if parent:
                if not hasattr(self, parent):
                    self.add_module(parent, nn.ModuleList())
                items = cast(nn.ModuleList, self.get_submodule(parent))
                assert item == str(len(items)), p.module
                items.append(module)
            else:
                self.add_module(p.module, module)
        output = self.layers.output
        if output.bias:  # "out_bias": added to the output neurons' current
            self.register_parameter(output.bias, nn.Parameter(torch.zeros(output.shape)))
        self.dropout = nn.Dropout(cfg.dropout)

    def _module(self, name: str) -> nn.Module:
        return self.get_submodule(name)

    def _bias(self, layer: Layer) -> Tensor:
        assert layer.bias is not None, layer.name
        return self.get_parameter(layer.bias)

    # ----------------------------------------------------------------------------- state
    def _neuron_layers(self) -> list[tuple[str, LIF | CondLIF]]:
        """The neuron layers in state order (a ModuleDict types its items as plain modules)."""
        return [(name, cast("LIF | CondLIF", m)) for name, m in self.neurons.items()]

    def state_names(self) -> list[str]:
        """Names of the state tensors, in the order of the state tuple (ONNX input names)."""
        return [f"{n}_s{i}" for n, m in self._neuron_layers() for i in range(m.state_size)]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        """The resting state of every neuron layer, as one flat tuple of tensors."""
        out: list[Tensor] = []
        for layer in self.layers:
            m = cast("LIF | CondLIF", self.neurons[layer.name])
            out.extend(m.initial_state(torch.zeros((batch,) + layer.shape, device=device)))
        return tuple(out)

    def _split(self, state: State) -> dict[str, State]:
        parts, i = {}, 0
        for name, m in self._neuron_layers():
            parts[name] = tuple(state[i:i + m.state_size])
            i += m.state_size
        return parts

    def _inputs(self, image: Tensor | None, audio: Tensor | None) -> dict[str, Tensor]:
        """The given inputs of the modalities the network has, by name (a projection's source)."""
        uses = {"image": self.cfg.uses_image, "audio": self.cfg.uses_audio}
        return {m: x for m, x in (("image", image), ("audio", audio)) if x is not None and uses[m]}

    # ----------------------------------------------------------------------------- the layers' maths
    def _current(self, layer: Layer, p: Projection) -> Callable[[Tensor], Tensor]:
        """The stateless map of projection ``p`` into ``layer``: convolution, batch norm and pooling
        of the current where pooling comes first; or the linear map. ``[N, ...] -> [N, ...]``."""
        module = self._module(p.module)
        if p.kind == "linear":
            return module
        norm = self._module(p.norm) if p.norm else None

        def conv(x: Tensor) -> Tensor:
            y = module(x)
            y = norm(y) if norm is not None else y
            return max_pool2x2(y) if layer.pool == "current" else y

        return conv

    @staticmethod
    def _sent(layer: Layer, spikes: Tensor) -> Tensor:
        """What a convolution's layer sends on: its spikes pooled where pooling comes after them,
        flattened before a linear layer. ``[N, ...] -> [N, ...]``."""
        y = max_pool2x2(spikes) if layer.pool == "spikes" else spikes
        return y.flatten(1) if layer.flatten else y

    # ----------------------------------------------------------------------------- one step
    def step(self, image_t: Tensor | None, audio_t: Tensor | None, state: State,
             image_mask: Tensor | None = None, audio_mask: Tensor | None = None) -> StepOutput:
        """One time step. ``image_t [B, C, 28, 28]``, ``audio_t [B, F]``; None = modality absent.
        Masks ``[B]`` (0 or 1) silence a modality per sample: its readout adds nothing."""
        st = self._split(state)
        new = dict(st)
        masks = {"image": image_mask, "audio": audio_mask}
        sent = self._inputs(image_t, audio_t)  # what each input and layer sends on
        hidden: dict[str, Tensor] = {}
        output = self.layers.output
        drive = self._bias(output)
        for layer, p in self.layers.projections():
            x = sent.get(p.source)
            if x is None:  # a modality without input
                continue
            if layer is output:  # a branch's readout
                hidden[_hidden_name(self.layers[p.source])] = x
                mask = masks[p.mask] if p.mask else None
                if mask is not None:
                    x = x * mask.view(-1, *([1] * (x.dim() - 1)))
                drive = drive + self._module(p.module)(x)
                continue
            s, new[layer.name] = self.neurons[layer.name](self._current(layer, p)(x), st[layer.name])
            sent[layer.name] = self._sent(layer, s) if layer.kind == "conv" else s
        first = image_t if image_t is not None else audio_t
        if first is None or not hidden:
            raise ValueError("no input for the network's mode was given")
        out, new[output.name] = self.neurons[output.name](drive.expand(first.shape[0], *output.shape),
                                                          st[output.name])
        flat = tuple(t for name in self.neurons for t in new[name])
        return StepOutput(out, new[output.name][0], hidden, flat)

    # ----------------------------------------------------------------------------- all steps
    def _run(self, layer: Layer, drive: Tensor, steps: int) -> Tensor:
        """Loop one neuron layer over time; ``drive`` is ``[T, B, ...]`` or ``[B, ...]`` (constant)."""
        m = self.neurons[layer.name]
        per_step = drive.dim() == len(layer.shape) + 2
        if isinstance(m, LIF) and m.beta is None and fusable(m.params) and torch.is_grad_enabled() \
                and not torch.onnx.is_in_onnx_export():
            return lif_sequence(drive, steps, m.params, constant=not per_step)  # one autograd node
        state = None
        out = []
        for t in range(steps):
            s, state = m(drive[t] if per_step else drive, state)
            out.append(s)
        return torch.stack(out)

    @staticmethod
    def _fold(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """Apply a stateless layer to ``[T, B, ...]`` with time folded into the batch."""
        y = f(x.flatten(0, 1))
        return y.view(x.shape[:2] + y.shape[1:])

    def _drop(self, x: Tensor) -> Tensor:
        """Dropout of ``[T, B, ...]`` in training: a fresh mask per step, or one per sample."""
        p = self.cfg.dropout
        if not self.training or p == 0.0 or self.cfg.dropout_mask == "step":
            return self.dropout(x)
        keep = torch.rand(x.shape[1:], device=x.device) >= p
        return x * (keep.to(x.dtype) / (1.0 - p))

    @staticmethod
    def _mask(x: Tensor, mask: Tensor | None) -> Tensor:
        return x if mask is None else x * mask.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(
        self,
        image: Tensor | None = None,
        audio: Tensor | None = None,
        image_mask: Tensor | None = None,
        audio_mask: Tensor | None = None,
    ) -> SequenceOutput:
        """All T steps. ``image``: ``[T, B, C, 28, 28]``, or ``[B, C, 28, 28]`` for a static
        (directly encoded) image; ``audio``: ``[T, B, F]``. Masks ``[B]`` (0 or 1) silence a
        modality per sample, for modality dropout in training."""
        T = self.cfg.num_steps
        masks = {"image": image_mask, "audio": audio_mask}
        spikes: dict[str, Tensor] = {}
        sent = self._inputs(image, audio)  # what each input and layer sends on, [T, B, ...] (or static)
        activity: dict[str, Activity] = {}
        output = self.layers.output
        drive = None
        for layer, p in self.layers.projections():
            x = sent.get(p.source)
            if x is None:  # a modality without input
                continue
            static = x.dim() == len(p.in_shape) + 1  # the same input at every step: it runs once
            with torch.no_grad():  # (no flatten: one that changes nothing aliases x in a traced graph)
                events = x.sum(dim=tuple(range(1, x.dim()))) * T if static else \
                    x.sum(dim=(0,) + tuple(range(2, x.dim())))
            activity[p.module] = Activity(events, 1 if static else T)
            if p.dropout:
                x = self._drop(x)
            if layer is output:  # a branch's readout
                d = self._fold(self._module(p.module), x)
                drive = d if drive is None else drive + d
                continue
            f = self._current(layer, p)
            s = self._run(layer, f(x) if static else self._fold(f, x), T)
            if layer.kind == "conv":
                sent[layer.name] = self._fold(partial(self._sent, layer), s)
            else:
                readout = self.layers.readout(layer.name)
                mask = masks[readout.mask] if readout is not None and readout.mask else None
                s = sent[layer.name] = self._mask(s, mask)  # a silenced branch sends nothing
            spikes[layer.name] = s
        if drive is None:
            raise ValueError("no input for the network's mode was given")
        state = None
        outs, out_mem = [], []
        for t in range(T):
            o, state = self.neurons[output.name](drive[t] + self._bias(output), state)
            outs.append(o)
            out_mem.append(state[0])
        out = torch.stack(outs)
        spikes[output.name] = out
        layer_spikes = {k: v.flatten(2).sum(dim=(0, 2)) for k, v in spikes.items()}
        energy = count_energy(self.layers, activity, self.spiking_inputs)
        return SequenceOutput(out.sum(0), out, torch.stack(out_mem), layer_spikes, energy.synops, energy.macs,
                              activity)
