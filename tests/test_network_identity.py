"""The shipped models stay what they are while the code that describes the network changes.

- The export writes, from each shipped model, the ONNX graphs that ship with it: the same nodes
  (operators, attributes, wiring) and the same initializers, byte for byte. The names of inner
  nodes and tensors are left out of the comparison: the tracer makes them from the Python module
  path of the code that ran (``/out_image/linear/MatMul``), not from the graph. Where the export is
  the shipped file today (image and audio), the whole file must come out byte for byte.
  The shipped multimodal window graph was exported by older code (it starts every neuron from an
  explicit zero state: 30 nodes more); its initializers are compared with the shipped file, and its
  nodes with those the export wrote when these tests were written (a digest).
- On a few hundred real test inputs (MNIST, FSDD), the torch network, run over all steps and
  looped step by step, gives the spike counts of the shipped ONNX step and window graphs, and the
  same digits; a multimodal model with modalities masked per sample too.
- The NIR graph built from each shipped model stays the one built when these tests were written.
- The energy counts of the evaluation (SynOps and MACs per sample) of the shipped weights stay
  the numbers measured when these tests were written, with direct and with spiking encoders.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from snnapp.core.encoders import EncoderConfig  # noqa: E402
from snnapp.core.evaluation import run_examples  # noqa: E402
from snnapp.core.examples import load_examples, make_batch  # noqa: E402
from snnapp.core.export import WINDOW_ONNX, export_onnx  # noqa: E402
from snnapp.core.modelio import ONNX, load_model  # noqa: E402
from snnapp.core.network import decide  # noqa: E402
from snnapp.core.neurons import no_surrogate  # noqa: E402
from snnapp.core.predict import shipped_model  # noqa: E402
from snnapp.core.torch_model import build_net  # noqa: E402

MODES = ("image", "audio", "multimodal")
N = 300  # real test inputs per mode
#: Graphs that the export writes today byte for byte as shipped.
SAME_FILE = {("image", "step"), ("image", "window"), ("audio", "step"), ("audio", "window")}
#: Digest of the nodes (see _canonical) of the multimodal window graph as the export wrote it.
MULTIMODAL_WINDOW_NODES = "4cbe0ec302a8cb1aac8ea76338f6c2650a7a08211af73a4d6be99efdbcd42ef4"


def _canonical(model) -> tuple[list[tuple], list[tuple]]:
    """The graph's nodes and initializers with the tracer's names replaced by positions.

    Graph inputs and outputs and named initializers (``net.fc_image.weight``) keep their names;
    a numbered initializer (``onnx::Conv_610``) is named by its place in the list, an inner tensor
    by the place where it is first written. Each node: operator, domain, attributes (serialized),
    inputs, outputs; each initializer: name, dims, type, bytes."""
    g = model.graph
    names: dict[str, str] = {v.name: v.name for v in list(g.input) + list(g.output)}
    inits = []
    for i, t in enumerate(g.initializer):
        name = t.name if t.name.startswith("net.") else f"init{i}"
        names[t.name] = name
        inits.append((name, tuple(t.dims), t.data_type, t.raw_data, tuple(t.float_data), tuple(t.int64_data)))

    def rename(n: str) -> str:
        if n not in names:
            names[n] = f"v{len(names)}"
        return names[n]

    nodes = []
    for node in g.node:
        attrs = []
        for a in node.attribute:
            a = type(a).FromString(a.SerializeToString())
            if a.HasField("t"):  # a Constant's tensor carries a name of the tracer's
                a.t.name = ""
            attrs.append(a.SerializeToString())
        nodes.append((node.op_type, node.domain, tuple(attrs), tuple(rename(i) for i in node.input),
                      tuple(rename(o) for o in node.output)))
    return nodes, inits


def _digest(nodes: list[tuple]) -> str:
    return hashlib.sha256(repr(nodes).encode()).hexdigest()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Each shipped model's step and window graph as the export writes it now."""
    out = tmp_path_factory.mktemp("exports")
    return {(mode, kind): export_onnx(shipped_model(mode), out / f"{mode}-{kind}.onnx", kind=kind).path
            for mode in MODES for kind in ("step", "window")}


def _shipped(mode: str, kind: str) -> Path:
    return Path(shipped_model(mode)) / (ONNX if kind == "step" else WINDOW_ONNX)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["step", "window"])
def test_export_writes_the_shipped_graph(exports: dict, mode: str, kind: str) -> None:
    fresh, shipped = exports[mode, kind], _shipped(mode, kind)
    a, b = onnx.load(str(fresh)), onnx.load(str(shipped))
    assert [(p.key, p.value) for p in a.metadata_props] == [(p.key, p.value) for p in b.metadata_props]
    assert a.graph.input == b.graph.input and a.graph.output == b.graph.output
    assert a.opset_import == b.opset_import
    fresh_nodes, fresh_inits = _canonical(a)
    shipped_nodes, shipped_inits = _canonical(b)
    assert fresh_inits == shipped_inits
    if (mode, kind) == ("multimodal", "window"):
        assert _digest(fresh_nodes) == MULTIMODAL_WINDOW_NODES
        assert len(fresh_nodes) == len(shipped_nodes) - 30
    else:
        assert fresh_nodes == shipped_nodes
    if (mode, kind) in SAME_FILE:
        assert fresh.read_bytes() == shipped.read_bytes()


# ----------------------------------------------------------------------------- real inputs
@pytest.fixture(scope="module")
def shipped(data_dir: Path, cache_dir: Path) -> dict:
    """Per mode: the loaded folder, its torch network and N encoded test inputs."""
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    res = {}
    for mode in MODES:
        folder = load_model(shipped_model(mode))
        ex = load_examples(mode, "test", data_dir, audio_cfg=folder.config.audio, limit=N, cache_dir=cache_dir)
        batch = make_batch(ex, np.arange(len(ex)), folder.config.network.num_steps, folder.config.encoder,
                           torch.device("cpu"))
        res[mode] = (folder, build_net(folder), ex, batch)
    return res


def _masks(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample masks: every third input without its image, every fifth without its audio (not both)."""
    i = np.arange(n)
    image = (i % 3 != 0).astype(np.float32)
    audio = ((i % 5 != 0) | (image == 0)).astype(np.float32)
    return image, audio


def _onnx_step(path: Path, n: int, image, audio, masks, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Loop the step graph from rest over ``n`` inputs; returns counts and final output membrane."""
    sess = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = {i.name: np.zeros([n] + list(i.shape[1:]), np.float32) for i in sess.get_inputs()
            if i.name not in ("image_t", "audio_t", "image_mask", "audio_mask")}
    if masks is not None:
        feed["image_mask"], feed["audio_mask"] = masks
    outs = [o.name for o in sess.get_outputs()]
    counts = np.zeros((n, 10), np.float32)
    mem = None
    for t in range(T):
        if "image_t" in names:
            feed["image_t"] = image if image.ndim == 4 else image[t]
        if "audio_t" in names:
            feed["audio_t"] = audio[t]
        res = dict(zip(outs, sess.run(outs, feed)))
        counts += res["out_spikes"]
        mem = res["out_mem"]
        for k in list(feed):
            if f"{k}_next" in res:
                feed[k] = res[f"{k}_next"]
    return counts, mem


def _onnx_window(path: Path, image, audio, masks) -> tuple[np.ndarray, np.ndarray]:
    sess = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    feed = {}
    for i in sess.get_inputs():
        feed[i.name] = {"image": image, "audio": audio}.get(i.name)
    if masks is not None:
        feed["image_mask"], feed["audio_mask"] = masks
    counts, mem = sess.run(["counts", "out_mem"], feed)
    return counts, mem


def _torch_loop(net, n: int, image, audio, masks, T: int):
    state = net.initial_state(n)
    counts = torch.zeros(n, 10)
    mem = None
    for t in range(T):
        img_t = None if image is None else (image if image.dim() == 4 else image[t])
        out = net.step(img_t, None if audio is None else audio[t], state, *(masks or ()))
        counts += out.out_spikes
        mem, state = out.out_mem, out.state
    return counts.numpy(), mem.numpy()


def _step_takes_masks(net) -> bool:
    import inspect

    return len(inspect.signature(net.step).parameters) > 3


@pytest.mark.parametrize("mode,masked", [("image", False), ("audio", False), ("multimodal", False),
                                         ("multimodal", True)])
def test_torch_network_gives_the_shipped_graphs_spikes(shipped: dict, mode: str, masked: bool) -> None:
    folder, net, ex, batch = shipped[mode]
    T = folder.config.network.num_steps
    image = None if batch.image is None else batch.image.numpy()
    audio = None if batch.audio is None else batch.audio.numpy()
    masks = None
    if mode == "multimodal":
        masks = _masks(len(ex)) if masked else (np.ones(len(ex), np.float32), np.ones(len(ex), np.float32))
    tmasks = None if masks is None else tuple(torch.from_numpy(m) for m in masks)
    with torch.no_grad(), no_surrogate():
        seq = net(batch.image, batch.audio, *(tmasks or ()))
        torch_counts, torch_mem = seq.counts.numpy(), seq.out_mem[-1].numpy()
        if not masked or _step_takes_masks(net):
            loop_masks = tmasks if masked else None
            loop_counts, loop_mem = _torch_loop(net, len(ex), batch.image, batch.audio, loop_masks, T)
            np.testing.assert_array_equal(loop_counts, torch_counts)
            np.testing.assert_allclose(loop_mem, torch_mem, rtol=1e-5, atol=1e-5)
    assert torch_counts.sum() > 0
    step_counts, step_mem = _onnx_step(_shipped(mode, "step"), len(ex), image, audio, masks, T)
    window_counts, window_mem = _onnx_window(_shipped(mode, "window"), image, audio, masks)
    for name, counts, mem in (("step", step_counts, step_mem), ("window", window_counts, window_mem)):
        differ = int((counts != torch_counts).any(axis=1).sum())
        assert differ == 0, f"{mode}: {differ} of {len(ex)} inputs give other spike counts than the {name} graph"
        np.testing.assert_allclose(mem, torch_mem, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(decide(counts, mem), decide(torch_counts, torch_mem))
    if not masked:
        assert (decide(torch_counts, torch_mem) == ex.labels).mean() > 0.97


def test_multimodal_masks_silence_what_they_say(shipped: dict) -> None:
    """An input without its image gives what the audio alone gives, and the other way round."""
    folder, net, ex, batch = shipped["multimodal"]
    image_mask, audio_mask = (torch.from_numpy(m) for m in _masks(len(ex)))
    with torch.no_grad(), no_surrogate():
        masked = net(batch.image, batch.audio, image_mask, audio_mask)
        audio_only = net(None, batch.audio)
        image_only = net(batch.image, None)
    no_image, no_audio = image_mask == 0, audio_mask == 0
    assert no_image.any() and no_audio.any()
    torch.testing.assert_close(masked.counts[no_image], audio_only.counts[no_image], rtol=0, atol=0)
    torch.testing.assert_close(masked.counts[no_audio], image_only.counts[no_audio], rtol=0, atol=0)


# ----------------------------------------------------------------------------- energy
#: (mode, encoder) -> (sum of SynOps over the first N test inputs, MACs per sample), as measured
#: on the code before the network was described once.
ENERGY = {
    ("image", "direct"): (791038024.0, 225792.0),
    ("audio", "direct"): (421570272.0, 425984.0),
    ("multimodal", "direct"): (1470980482.0, 553472.0),
}
#: The same with spiking encoders on the first 100 inputs (the shipped weights take their shapes).
ENERGY_SPIKES = {
    ("image", "rate"): (297783674.0, 0.0),
    ("image", "latency"): (306392826.0, 0.0),
    ("audio", "rate"): (121861618.0, 0.0),
    ("multimodal", "rate"): (543551940.0, 0.0),
}


@pytest.mark.parametrize("mode,kind", sorted(ENERGY) + sorted(ENERGY_SPIKES))
def test_energy_counts_of_the_shipped_weights(shipped: dict, mode: str, kind: str, data_dir: Path) -> None:
    folder, net, ex, _ = shipped[mode]
    if kind == "direct":
        enc, want = folder.config.encoder, ENERGY[mode, kind]
    else:
        from snnapp.core.examples import limit_examples

        ex = limit_examples(ex, 100)
        enc = EncoderConfig(image=kind if mode != "audio" else "direct", audio=kind if mode != "image" else "direct")
        want = ENERGY_SPIKES[mode, kind]
    out = run_examples(net, ex, enc, torch.device("cpu"))
    assert float(out.synops.astype(np.float64).sum()) == pytest.approx(want[0], rel=1e-7)
    assert out.macs == want[1]


# ----------------------------------------------------------------------------- NIR
#: Digest of each shipped model's NIR graph (see _nir_digest), as the exporter built it when these
#: tests were written.
NIR_GRAPHS = {"image": "2afc7df0b41b2bced9c7650731273828088a5d0edc1c68d277b56f16c1db437e",
              "audio": "fd5465ce8a38378c50f5272123075cc0fa019f8b3d700cdfddd734fd5a52543a",
              "multimodal": "bad177921237c99ccc4a3c79d65b1ae0120d51840fbcb012ecc0c2a5a7480fc0"}


def _nir_digest(graph, notes: list[str]) -> str:
    """Nodes (type and every field: arrays by dtype, shape and bytes), edges, metadata and notes."""
    import dataclasses

    def value(v):
        if isinstance(v, np.ndarray):
            return ("array", v.dtype.str, v.shape, v.tobytes())
        if isinstance(v, dict):
            return tuple(sorted((k, value(x)) for k, x in v.items()))
        if isinstance(v, (list, tuple)):
            return tuple(value(x) for x in v)
        return repr(v)

    nodes = []
    for name in sorted(graph.nodes):
        node = graph.nodes[name]
        fields = tuple((f.name, value(getattr(node, f.name))) for f in dataclasses.fields(node))
        nodes.append((name, type(node).__name__, fields))
    return hashlib.sha256(repr((nodes, sorted(graph.edges), value(graph.metadata), notes)).encode()).hexdigest()


@pytest.mark.parametrize("mode", MODES)
def test_nir_graph_of_the_shipped_models(mode: str) -> None:
    pytest.importorskip("nir")
    from snnapp.core.export_nir import build_nir_graph

    graph, notes = build_nir_graph(load_model(shipped_model(mode)))
    assert _nir_digest(graph, notes) == NIR_GRAPHS[mode]
