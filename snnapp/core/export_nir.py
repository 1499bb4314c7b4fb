"""Export a model folder's network to NIR, for other SNN frameworks and neuromorphic tool chains.

The graph is written by walking the network's layer description
(:func:`snnapp.core.network.describe`), the one the torch network is built from, so it cannot
drift from the network's shapes. Mapping (``nir`` 1.0): linear layers -> ``Affine``/``Linear``;
convolutions with their batch norm folded in -> ``Conv2d``; LIF layers -> ``LIF`` with snnTorch's
convention ``tau = dt / (1 - beta)``, ``r = tau / dt`` (so Euler at ``dt`` gives back
``v' = beta v + x``); both branches' readouts end in edges into the same output ``LIF`` node,
whose inputs NIR sums.

What NIR cannot express, stated in the result's ``notes`` and the graph's metadata:
- the conductance neuron (reversal potentials, exact exponential step, refractory clock): refused;
- reset by subtraction: NIR's ``LIF`` resets to ``v_reset``; a ``subtract`` model is written with
  ``v_reset = 0`` and is then an approximation;
- 2x2 max pooling: no NIR primitive; of spikes it is written as ``SumPool2d`` (for binary spikes,
  max is the sum clipped at 1), of convolution currents as ``AvgPool2d``: approximations;
- the membrane tie-break and temperature of the readout: not part of the graph (metadata only).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from snnapp.core.errors import ModelError
from snnapp.core.modelio import EXPORT_SIGNATURE, WEIGHTS, ModelFolder, load_model, sha256_file, write_into, write_out
from snnapp.core.network import INPUTS, Layer, describe

NIR_FILE = "model.nir"
DT = 1e-4


@dataclass
class NirResult:
    path: Path
    nodes: int
    edges: int
    notes: list[str] = field(default_factory=list)


def _lif(nir, beta: np.ndarray | float, shape: tuple[int, ...], threshold: float):
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float32), shape).astype(np.float32)
    tau = DT / np.maximum(1.0 - beta, 1e-6)
    return nir.LIF(tau=tau, r=(tau / DT).astype(np.float32), v_leak=np.zeros(shape, np.float32),
                   v_threshold=np.full(shape, threshold, np.float32), v_reset=np.zeros(shape, np.float32))


def _fold_bn(w: dict[str, np.ndarray], conv: str, bn: str | None) -> tuple[np.ndarray, np.ndarray]:
    weight, bias = w[f"{conv}.weight"].astype(np.float32), w[f"{conv}.bias"].astype(np.float32)
    if bn is None:
        return weight, bias
    scale = w[f"{bn}.weight"] / np.sqrt(w[f"{bn}.running_var"] + 1e-5)
    return (weight * scale[:, None, None, None]).astype(np.float32), \
        ((bias - w[f"{bn}.running_mean"]) * scale + w[f"{bn}.bias"]).astype(np.float32)


def _node_names(layer: Layer) -> tuple[str, str]:
    """NIR names of a layer's map and of its neurons: ``image_conv1`` and ``image_conv1_lif``,
    ``image_fc`` and ``image_hidden``, ``audio_fc1`` and ``audio_hidden1``; the output's neurons
    are ``output_lif`` (its maps are the branches' readouts)."""
    if layer.branch == "output":
        return "", "output_lif"
    if layer.kind == "conv":
        return layer.name, f"{layer.name}_lif"
    return layer.name.replace("hidden", "fc"), layer.name


def build_nir_graph(model: ModelFolder):
    """The NIR graph of a loaded folder, and the notes on what it approximates.

    It walks the network's layer description (:func:`snnapp.core.network.describe`), as the torch
    network does."""
    import nir

    cfg, w = model.config.network, {k: np.asarray(v) for k, v in model.weights.items()}
    if cfg.neuron != "lif":
        raise ModelError(f"{model.path}: NIR has no conductance-based neuron (reversal potentials, refractory "
                         "period); only lif models export to NIR")
    layers = describe(cfg)
    notes: list[str] = []
    if cfg.reset == "subtract":
        notes.append("reset by subtraction written as NIR LIF reset to v_reset = 0 (approximation)")

    def beta(layer: Layer) -> np.ndarray | float:
        b = w.get(f"neurons.{layer.name}.beta", cfg.beta)
        return np.asarray(b).reshape(-1, 1, 1) if layer.kind == "conv" and np.ndim(b) else b

    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    ends: dict[str, str] = {}  # the NIR node each layer's spikes leave from
    for modality in INPUTS:
        if any(p.source == modality for _, p in layers.projections()):
            nodes[modality] = nir.Input(input_type={"input": np.array(layers.input_shape(modality))})
            ends[modality] = modality
    output = layers.output
    for layer in layers:
        if layer is output:
            continue
        (p,) = layer.projections
        op, lif = _node_names(layer)
        chain = [ends[p.source]]
        if p.kind == "conv":
            weight, bias = _fold_bn(w, p.module, p.norm)
            nodes[op] = nir.Conv2d(input_shape=p.in_shape[1:], weight=weight, stride=1, padding=p.padding,
                                   dilation=1, groups=1, bias=bias)
            pool = layer.name.replace("conv", "pool")
            pool_args = {"kernel_size": np.array([2, 2]), "stride": np.array([2, 2]), "padding": np.array([0, 0])}
            nodes[pool] = nir.AvgPool2d(**pool_args) if layer.pool == "current" else nir.SumPool2d(**pool_args)
            chain += [op, pool, lif] if layer.pool == "current" else [op, lif, pool]
            if layer.flatten:
                flat = f"{layer.branch}_flatten"
                nodes[flat] = nir.Flatten(input_type={"input": np.array(layer.map_shape)}, start_dim=0)
                chain.append(flat)
        else:
            nodes[op] = nir.Affine(weight=w[f"{p.module}.weight"], bias=w[f"{p.module}.bias"])
            chain += [op, lif]
        nodes[lif] = _lif(nir, beta(layer), layer.shape, cfg.threshold)
        edges += list(zip(chain[:-1], chain[1:]))
        ends[layer.name] = chain[-1]
    if any(layer.pool for layer in layers):
        notes.append("2x2 max pooling of convolution currents written as AvgPool2d (approximation: a mean, not a max)"
                     if cfg.pool_before_spike else
                     "2x2 max pooling of spikes written as SumPool2d (approximation: a sum, not a max)")
    # the branches' readouts end in edges into the output LIF node, whose inputs NIR sums; the
    # output bias enters as an Affine on the first readout's path
    _, out_lif = _node_names(output)
    for i, p in enumerate(output.projections):
        name = f"{layers[p.source].branch}_readout"
        nodes[name] = nir.Affine(weight=w[f"{p.module}.weight"], bias=w[cast(str, output.bias)].astype(np.float32)) \
            if i == 0 else nir.Linear(weight=w[f"{p.module}.weight"])
        edges += [(ends[p.source], name), (name, out_lif)]
    nodes[out_lif] = _lif(nir, beta(output), output.shape, cfg.threshold)
    nodes["output"] = nir.Output(output_type={"output": np.array(output.shape)})
    edges.append((out_lif, "output"))
    meta = {"source": "snnapp", EXPORT_SIGNATURE: sha256_file(model.path / WEIGHTS), "mode": cfg.mode,
            "num_steps": cfg.num_steps, "dt": DT,
            "temperature": model.config.temperature, "approximations": "; ".join(notes)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False), notes


def export_nir(folder: str | Path | ModelFolder, out: str | Path | None = None) -> NirResult:
    """Write ``model.nir`` (HDF5) into the folder (manifest refreshed), or at ``out``; read back and checked."""
    try:
        import nir
    except ImportError:
        raise ModelError("NIR export needs the nir package: pip install nir") from None
    model = folder if isinstance(folder, ModelFolder) else load_model(folder)
    graph, notes = build_nir_graph(model)
    # written in memory and read back from there: h5py writing to a full disk can crash the process
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    buffer.seek(0)
    back = nir.read(buffer)
    if set(back.nodes) != set(graph.nodes) or sorted(back.edges) != sorted(graph.edges):
        raise ModelError(f"{out or model.path / NIR_FILE}: the NIR file read back differs from the graph written")
    dest = write_into(model.path, NIR_FILE, buffer.getbuffer()) if out is None else \
        write_out(Path(out), buffer.getbuffer(), "NIR graph")
    return NirResult(dest, len(back.nodes), len(back.edges), notes)
