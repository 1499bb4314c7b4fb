"""Export a model folder's network to ONNX: one time step, and optionally the whole window.

The step graph is what the edge runtime and the app run: inputs are the encoded input of step t
of each modality and every neuron layer's state; outputs are the output spikes and membrane, the
hidden spikes the app draws, and the new state. The host loops over the steps and owns the state
(onnxruntime keeps none; zeros are a reset). A multimodal graph also takes ``image_mask`` and
``audio_mask`` ``[B]`` (1 present, 0 absent), passed to the step like any input: an absent branch
still runs on zeros but adds nothing to the output neurons, exactly as ``SpikingDigitNet.forward``
masks modalities.

The window graph unrolls all T steps (T fixed) from rest and returns the spike counts: one call
per batch, for batch work. Both use the legacy TorchScript exporter (seconds, weights inside the
file) at opset 17, with the surrogate gradient replaced by a plain comparison. The graphs carry
the sha256 of the weights and config they came from, so a stale export is refused when loaded.
"""

from __future__ import annotations

import copy
import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from snnapp.core.modelio import (
    CONFIG,
    EXPORT_SIGNATURE,
    ONNX,
    WEIGHTS,
    ModelFolder,
    load_model,
    sha256_file,
    write_into,
    write_out,
)
from snnapp.core.network import SpikingDigitNet
from snnapp.core.neurons import no_surrogate
from snnapp.core.torch_model import build_net

OPSET = 17
WINDOW_ONNX = "model_window.onnx"
HIDDEN = ("image_hidden", "audio_hidden")


def step_io(net: SpikingDigitNet) -> tuple[list[str], list[str]]:
    """Input and output names of the step graph, in order."""
    cfg = net.cfg
    ins = (["image_t"] if cfg.uses_image else []) + (["audio_t"] if cfg.uses_audio else [])
    if cfg.mode == "multimodal":
        ins += ["image_mask", "audio_mask"]
    hidden = [h for h, used in zip(HIDDEN, (cfg.uses_image, cfg.uses_audio)) if used]
    names = net.state_names()
    return ins + names, ["out_spikes", "out_mem"] + hidden + [f"{n}_next" for n in names]


class StepGraph(nn.Module):
    """``SpikingDigitNet.step`` with flat tensor inputs and outputs, for the exporter; the masks of
    a multimodal graph are two of the inputs, passed to the step like the others."""

    def __init__(self, net: SpikingDigitNet) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).eval()
        self.inputs, self.outputs = step_io(net)

    def forward(self, *args: Tensor) -> tuple[Tensor, ...]:
        given = dict(zip(self.inputs, args))
        state = tuple(given[n] for n in self.net.state_names())
        out = self.net.step(given.get("image_t"), given.get("audio_t"), state,
                            given.get("image_mask"), given.get("audio_mask"))
        hidden = [out.hidden[h] for h in HIDDEN if h in self.outputs]
        return (out.out_spikes, out.out_mem, *hidden, *out.state)


class WindowGraph(nn.Module):
    """All T steps from rest (``SpikingDigitNet.forward``): counts and final output membrane."""

    def __init__(self, net: SpikingDigitNet, static_image: bool) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).eval()
        cfg = net.cfg
        self.static_image = static_image
        self.inputs = (["image"] if cfg.uses_image else []) + (["audio"] if cfg.uses_audio else [])
        if cfg.mode == "multimodal":
            self.inputs += ["image_mask", "audio_mask"]
        self.outputs = ["counts", "out_mem"]

    def forward(self, *args: Tensor) -> tuple[Tensor, Tensor]:
        g = dict(zip(self.inputs, args))
        out = self.net(g.get("image"), g.get("audio"), g.get("image_mask"), g.get("audio_mask"))
        return out.counts, out.out_mem[-1]


def _dummy(net: SpikingDigitNet, names: list[str], batch: int, window: bool, static_image: bool) -> tuple[Tensor, ...]:
    T = net.cfg.num_steps
    state = dict(zip(net.state_names(), net.initial_state(batch)))
    out = []
    for n in names:
        if n in ("image_t", "image"):
            shape = (batch,) + net.layers.input_shape("image")
            out.append(torch.rand(((T,) if window and not static_image else ()) + shape))
        elif n in ("audio_t", "audio"):
            out.append(torch.rand(((T,) if window else ()) + (batch,) + net.layers.input_shape("audio")))
        elif n.endswith("_mask"):
            out.append(torch.ones(batch))
        else:
            out.append(state[n])
    return tuple(out)


def _batch_axes(names: list[str], window: bool, static_image: bool) -> dict[str, dict[int, str]]:
    time_major = {"audio"} | (set() if static_image else {"image"})
    return {n: {1 if window and n in time_major else 0: "batch"} for n in names}


@dataclass
class ExportResult:
    path: Path
    kind: str  # "step" or "window"
    seconds: float
    nodes: int
    bytes: int


def _stamp(data: bytes, folder: Path, kind: str, net: SpikingDigitNet, static_image: bool) -> tuple[bytes, int]:
    """Record provenance in the graph's metadata and check it; returns the graph and its node count."""
    import onnx

    model = onnx.load_model_from_string(data)
    meta = {"snnapp_kind": kind, "snnapp_mode": net.cfg.mode, "snnapp_num_steps": str(net.cfg.num_steps),
            "snnapp_static_image": str(int(static_image)),
            EXPORT_SIGNATURE: sha256_file(folder / WEIGHTS), "snnapp_config_sha256": sha256_file(folder / CONFIG)}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    return model.SerializeToString(), len(model.graph.node)


def export_onnx(folder: str | Path | ModelFolder, out: str | Path | None = None, kind: str = "step") -> ExportResult:
    """Export ``kind`` (``step`` or ``window``) of a model folder's network.

    Written under a temporary name and renamed into place; without ``out`` it goes into the
    folder (``model.onnx`` / ``model_window.onnx``) and the manifest and model card are refreshed,
    all swapped in as one step (:func:`snnapp.core.modelio.write_into`).
    """
    model = folder if isinstance(folder, ModelFolder) else load_model(folder)
    net = build_net(model, "cpu")
    static_image = model.config.encoder.image == "direct"
    if kind == "step":
        graph: StepGraph | WindowGraph = StepGraph(net)
    elif kind == "window":
        graph = WindowGraph(net, static_image)
    else:
        raise ValueError(f"unknown export kind {kind!r}; choose step or window")
    inputs, outputs = graph.inputs, graph.outputs
    window = kind == "window"
    t0 = time.perf_counter()
    buffer = io.BytesIO()  # built and checked in memory; written to disk in one step
    with no_surrogate(), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings of the legacy exporter
        # The legacy exporter writes to a file object too; torch's annotation names paths only.
        torch.onnx.export(graph, _dummy(net, inputs, 2, window, static_image), buffer, dynamo=False,  # type: ignore[arg-type]
                          opset_version=OPSET, input_names=inputs, output_names=outputs,
                          dynamic_axes=_batch_axes(inputs + outputs, window, static_image),
                          do_constant_folding=True)
    data, nodes = _stamp(buffer.getvalue(), model.path, kind, net, static_image)
    name = ONNX if kind == "step" else WINDOW_ONNX
    dest = write_into(model.path, name, data) if out is None else write_out(Path(out), data, "ONNX graph")
    seconds = time.perf_counter() - t0
    return ExportResult(dest, kind, seconds, nodes, dest.stat().st_size)
