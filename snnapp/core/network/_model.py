"""The two-branch spiking network as one step function over explicit state.

``step(image_t, audio_t, state) -> StepOutput`` is the network: the app and the ONNX graph call
it once per time step, the host owning the state. :meth:`SpikingDigitNet.forward` runs all T
steps for training and batch evaluation; it applies each stateless layer (convolution, linear,
batch norm, pooling) once over all steps folded into the batch and loops only the neurons, which
gives the same result as looping :meth:`step` (tested) and is the faster order on CPU and GPU for
these sizes (see ``benchmarks/``). With a static image (direct encoding) the first convolution
runs once, not T times. In training each LIF layer's loop is one autograd node
(:func:`~snnapp.core.neurons.lif_sequence`), and 2x2 pooling avoids PyTorch's slow NCHW kernel
(:func:`max_pool2x2`); both give the same numbers as the plain versions.

Fusion: both branches end in spiking hidden layers whose spikes drive the 10 output neurons
through one linear map each; a missing modality contributes nothing, so a multimodal model also
predicts from one modality (trained with modality dropout).
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
from torch import Tensor, nn

from snnapp.core.neurons import LIF, CondLIF, fusable, lif_sequence, make_neuron

from ._config import NetworkConfig
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


def _neuron(cfg: NetworkConfig, shape: tuple[int, ...]) -> nn.Module:
    if cfg.neuron == "cond":
        return make_neuron("cond", **{"slope": cfg.slope, **cfg.cond_params})
    return make_neuron("lif", beta=cfg.beta, threshold=cfg.threshold, reset=cfg.reset, slope=cfg.slope,
                       learn_beta=cfg.learn_beta, shape=shape)


class SpikingDigitNet(nn.Module):
    """Image branch (conv-pool-conv-pool-fc), audio branch (fc...), fused into 10 LIF outputs."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c1, c2 = cfg.image_channels
        k = cfg.image_kernel
        self.neurons = nn.ModuleDict()
        self._shapes: dict[str, tuple[int, ...]] = {}
        if cfg.uses_image:
            self.conv1 = nn.Conv2d(cfg.image_in_channels, c1, k, padding=k // 2)
            self.conv2 = nn.Conv2d(c1, c2, k, padding=k // 2)
            self.bn1 = nn.BatchNorm2d(c1) if cfg.batchnorm else nn.Identity()
            self.bn2 = nn.BatchNorm2d(c2) if cfg.batchnorm else nn.Identity()
            self.fc_image = nn.Linear(c2 * 7 * 7, cfg.image_hidden)
            self.out_image = nn.Linear(cfg.image_hidden, 10, bias=False)
            m = 2 if cfg.pool_before_spike else 1  # the neurons' maps are pooled already
            self._add_neuron("image_conv1", (c1, 28 // m, 28 // m), (c1, 1, 1))
            self._add_neuron("image_conv2", (c2, 14 // m, 14 // m), (c2, 1, 1))
            self._add_neuron("image_hidden", (cfg.image_hidden,), (cfg.image_hidden,))
        if cfg.uses_audio:
            sizes = (cfg.audio_in_features,) + cfg.audio_hidden
            self.fc_audio = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.out_audio = nn.Linear(sizes[-1], 10, bias=False)
            for i, n in enumerate(cfg.audio_hidden):
                self._add_neuron(f"audio_hidden{i + 1}", (n,), (n,))
        self.out_bias = nn.Parameter(torch.zeros(10))
        self._add_neuron("output", (10,), (10,))
        self.dropout = nn.Dropout(cfg.dropout)

    def _add_neuron(self, name: str, shape: tuple[int, ...], beta_shape: tuple[int, ...]) -> None:
        self.neurons[name] = _neuron(self.cfg, beta_shape)
        self._shapes[name] = shape

    # ----------------------------------------------------------------------------- state
    def _layers(self) -> list[tuple[str, LIF | CondLIF]]:
        """The neuron layers in state order (a ModuleDict types its items as plain modules)."""
        return [(name, cast("LIF | CondLIF", m)) for name, m in self.neurons.items()]

    def state_names(self) -> list[str]:
        """Names of the state tensors, in the order of the state tuple (ONNX input names)."""
        return [f"{n}_s{i}" for n, m in self._layers() for i in range(m.state_size)]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        """The resting state of every neuron layer, as one flat tuple of tensors."""
        out: list[Tensor] = []
        for name, m in self._layers():
            ref = torch.zeros((batch,) + self._shapes[name], device=device)
            out.extend(m.initial_state(ref))
        return tuple(out)

    def _split(self, state: State) -> dict[str, State]:
        parts, i = {}, 0
        for name, m in self._layers():
            parts[name] = tuple(state[i:i + m.state_size])
            i += m.state_size
        return parts

    # ----------------------------------------------------------------------------- one step
    def step(self, image_t: Tensor | None, audio_t: Tensor | None, state: State) -> StepOutput:
        """One time step. ``image_t [B, C, 28, 28]``, ``audio_t [B, F]``; None = modality absent."""
        st = self._split(state)
        new = dict(st)
        hidden: dict[str, Tensor] = {}
        drive = self.out_bias
        if image_t is not None and self.cfg.uses_image:
            s1, new["image_conv1"] = self.neurons["image_conv1"](self._pre(self.bn1(self.conv1(image_t))), st["image_conv1"])
            a2 = self._pre(self.bn2(self.conv2(self._post(s1))))
            s2, new["image_conv2"] = self.neurons["image_conv2"](a2, st["image_conv2"])
            a3 = self.fc_image(self._post(s2).flatten(1))
            s3, new["image_hidden"] = self.neurons["image_hidden"](a3, st["image_hidden"])
            hidden["image_hidden"] = s3
            drive = drive + self.out_image(s3)
        if audio_t is not None and self.cfg.uses_audio:
            s = audio_t
            for i, fc in enumerate(self.fc_audio):
                name = f"audio_hidden{i + 1}"
                s, new[name] = self.neurons[name](fc(s), st[name])
            hidden["audio_hidden"] = s
            drive = drive + self.out_audio(s)
        given = image_t if image_t is not None else audio_t
        if given is None:
            raise ValueError("no input for the network's mode was given")
        batch = given.shape[0]
        out, new["output"] = self.neurons["output"](drive.expand(batch, 10), st["output"])
        flat = tuple(t for name in self.neurons for t in new[name])
        return StepOutput(out, new["output"][0], hidden, flat)

    # ----------------------------------------------------------------------------- all steps
    def _run(self, name: str, drive: Tensor, steps: int) -> Tensor:
        """Loop one neuron layer over time; ``drive`` is ``[T, B, ...]`` or ``[B, ...]`` (constant)."""
        m = self.neurons[name]
        per_step = drive.dim() == len(self._shapes[name]) + 2
        if isinstance(m, LIF) and m.beta is None and fusable(m.params) and torch.is_grad_enabled() \
                and not torch.onnx.is_in_onnx_export():
            return lif_sequence(drive, steps, m.params, constant=not per_step)  # one autograd node
        state = None
        out = []
        for t in range(steps):
            s, state = m(drive[t] if per_step else drive, state)
            out.append(s)
        return torch.stack(out)

    def _pre(self, current: Tensor) -> Tensor:
        """2x2 max pooling of a convolution's current, where pooling comes before the spikes."""
        return max_pool2x2(current) if self.cfg.pool_before_spike else current

    def _post(self, spikes: Tensor) -> Tensor:
        """2x2 max pooling of a layer's spikes, where pooling comes after them."""
        return spikes if self.cfg.pool_before_spike else max_pool2x2(spikes)

    @staticmethod
    def _fold(f, x: Tensor) -> Tensor:
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

    def _mask(self, x: Tensor, mask: Tensor | None) -> Tensor:
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
        spikes: dict[str, Tensor] = {}
        syn: list[Tensor] = []  # per layer: input spikes per sample x fan-out
        macs = 0.0
        drive = None
        if image is not None and self.cfg.uses_image:
            k2 = self.cfg.image_kernel ** 2
            first = lambda x: self._pre(self.bn1(self.conv1(x)))  # noqa: E731
            if image.dim() == 4:  # static input: the first convolution (and pooling) runs once
                s1 = self._run("image_conv1", first(image), T)
                macs += self.conv1.weight.numel() * 28 * 28
            else:
                s1 = self._run("image_conv1", self._fold(first, image), T)
                syn.append(image.flatten(2).sum(dim=(0, 2)) * self.conv1.out_channels * k2)
            p1 = self._fold(self._post, s1)
            s2 = self._run("image_conv2", self._fold(lambda x: self._pre(self.bn2(self.conv2(x))), p1), T)
            p2 = self._fold(lambda x: self._post(x).flatten(1), s2)
            s3 = self._mask(self._run("image_hidden", self._fold(self.fc_image, self._drop(p2)), T), image_mask)
            syn += [p1.flatten(2).sum(dim=(0, 2)) * self.conv2.out_channels * k2,
                    p2.sum(dim=(0, 2)) * self.fc_image.out_features, s3.sum(dim=(0, 2)) * 10]
            spikes.update(image_conv1=s1, image_conv2=s2, image_hidden=s3)
            drive = self._fold(self.out_image, self._drop(s3))
        if audio is not None and self.cfg.uses_audio:
            s = audio
            real_valued = not bool(((audio == 0) | (audio == 1)).all())  # direct encoding: MACs, not spikes
            if real_valued:  # (torch types a sub-module's attributes as Tensor | Module: the ignores below)
                macs += self.fc_audio[0].weight.numel() * T  # type: ignore[operator]
            for i, fc in enumerate(self.fc_audio):
                name = f"audio_hidden{i + 1}"
                if i or not real_valued:
                    syn.append(s.sum(dim=(0, 2)) * fc.out_features)  # type: ignore[operator]
                s = self._run(name, self._fold(fc, self._drop(s) if i else s), T)
                spikes[name] = s
            s = self._mask(s, audio_mask)
            syn.append(s.sum(dim=(0, 2)) * 10)
            d = self._fold(self.out_audio, self._drop(s))
            drive = d if drive is None else drive + d
        if drive is None:
            raise ValueError("no input for the network's mode was given")
        state = None
        outs, out_mem = [], []
        for t in range(T):
            o, state = self.neurons["output"](drive[t] + self.out_bias, state)
            outs.append(o)
            out_mem.append(state[0])
        out = torch.stack(outs)
        spikes["output"] = out
        layer_spikes = {k: v.flatten(2).sum(dim=(0, 2)) for k, v in spikes.items()}
        return SequenceOutput(out.sum(0), out, torch.stack(out_mem), layer_spikes, torch.stack(syn).sum(0), macs)
