"""Export a model folder's network to NIR, for other SNN frameworks and neuromorphic tool chains.

Mapping (``nir`` 1.0): linear layers -> ``Affine``/``Linear``; convolutions with their batch norm
folded in -> ``Conv2d``; LIF layers -> ``LIF`` with snnTorch's convention ``tau = dt / (1 - beta)``,
``r = tau / dt`` (so Euler at ``dt`` gives back ``v' = beta v + x``); both branches' readouts end
in edges into the same output ``LIF`` node, whose inputs NIR sums.

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

import numpy as np

from snnapp.core.errors import ModelError
from snnapp.core.modelio import EXPORT_SIGNATURE, WEIGHTS, ModelFolder, load_model, sha256_file, write_into, write_out

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


def _fold_bn(w: dict[str, np.ndarray], conv: str, bn: str, batchnorm: bool) -> tuple[np.ndarray, np.ndarray]:
    weight, bias = w[f"{conv}.weight"].astype(np.float32), w[f"{conv}.bias"].astype(np.float32)
    if not batchnorm:
        return weight, bias
    scale = w[f"{bn}.weight"] / np.sqrt(w[f"{bn}.running_var"] + 1e-5)
    return (weight * scale[:, None, None, None]).astype(np.float32), \
        ((bias - w[f"{bn}.running_mean"]) * scale + w[f"{bn}.bias"]).astype(np.float32)


def build_nir_graph(model: ModelFolder):
    """The NIR graph of a loaded folder, and the notes on what it approximates."""
    import nir

    cfg, w = model.config.network, {k: np.asarray(v) for k, v in model.weights.items()}
    if cfg.neuron != "lif":
        raise ModelError(f"{model.path}: NIR has no conductance-based neuron (reversal potentials, refractory "
                         "period); only lif models export to NIR")
    notes: list[str] = []
    if cfg.reset == "subtract":
        notes.append("reset by subtraction written as NIR LIF reset to v_reset = 0 (approximation)")

    def beta(name: str) -> np.ndarray | float:
        return w.get(f"neurons.{name}.beta", cfg.beta)

    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    if cfg.uses_image:
        c1, c2 = cfg.image_channels
        k = cfg.image_kernel
        nodes["image"] = nir.Input(input_type={"input": np.array([cfg.image_in_channels, 28, 28])})
        chain = ["image"]
        for i, (conv, bn, c, size) in enumerate((("conv1", "bn1", c1, 28), ("conv2", "bn2", c2, 14)), 1):
            weight, bias = _fold_bn(w, conv, bn, cfg.batchnorm)
            nodes[f"image_conv{i}"] = nir.Conv2d(input_shape=(size, size), weight=weight, stride=1, padding=k // 2,
                                                 dilation=1, groups=1, bias=bias)
            pool_args = {"kernel_size": np.array([2, 2]), "stride": np.array([2, 2]), "padding": np.array([0, 0])}
            b = beta(f"image_conv{i}")
            lif_size = size // 2 if cfg.pool_before_spike else size
            nodes[f"image_conv{i}_lif"] = _lif(nir, np.asarray(b).reshape(-1, 1, 1) if np.ndim(b) else b,
                                               (c, lif_size, lif_size), cfg.threshold)
            if cfg.pool_before_spike:
                nodes[f"image_pool{i}"] = nir.AvgPool2d(**pool_args)
                chain += [f"image_conv{i}", f"image_pool{i}", f"image_conv{i}_lif"]
            else:
                nodes[f"image_pool{i}"] = nir.SumPool2d(**pool_args)
                chain += [f"image_conv{i}", f"image_conv{i}_lif", f"image_pool{i}"]
        notes.append("2x2 max pooling of convolution currents written as AvgPool2d (approximation: a mean, not a max)"
                     if cfg.pool_before_spike else
                     "2x2 max pooling of spikes written as SumPool2d (approximation: a sum, not a max)")
        nodes["image_flatten"] = nir.Flatten(input_type={"input": np.array([c2, 7, 7])}, start_dim=0)
        nodes["image_fc"] = nir.Affine(weight=w["fc_image.weight"], bias=w["fc_image.bias"])
        nodes["image_hidden"] = _lif(nir, beta("image_hidden"), (cfg.image_hidden,), cfg.threshold)
        nodes["image_readout"] = nir.Linear(weight=w["out_image.weight"])
        chain += ["image_flatten", "image_fc", "image_hidden", "image_readout", "output_lif"]
        edges += list(zip(chain[:-1], chain[1:]))
    if cfg.uses_audio:
        nodes["audio"] = nir.Input(input_type={"input": np.array([cfg.audio_in_features])})
        prev = "audio"
        for i, n in enumerate(cfg.audio_hidden):
            nodes[f"audio_fc{i + 1}"] = nir.Affine(weight=w[f"fc_audio.{i}.weight"], bias=w[f"fc_audio.{i}.bias"])
            nodes[f"audio_hidden{i + 1}"] = _lif(nir, beta(f"audio_hidden{i + 1}"), (n,), cfg.threshold)
            edges += [(prev, f"audio_fc{i + 1}"), (f"audio_fc{i + 1}", f"audio_hidden{i + 1}")]
            prev = f"audio_hidden{i + 1}"
        nodes["audio_readout"] = nir.Linear(weight=w["out_audio.weight"])
        edges += [(prev, "audio_readout"), ("audio_readout", "output_lif")]
    # the output bias enters as one more Affine on the first readout's path
    first = "image_readout" if cfg.uses_image else "audio_readout"
    nodes[first] = nir.Affine(weight=nodes[first].weight, bias=w["out_bias"].astype(np.float32))
    nodes["output_lif"] = _lif(nir, beta("output"), (10,), cfg.threshold)
    nodes["output"] = nir.Output(output_type={"output": np.array([10])})
    edges.append(("output_lif", "output"))
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
