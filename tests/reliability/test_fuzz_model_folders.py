"""Hostile and clumsy model folders: missing, damaged, swapped and foreign files, manifests that lie,
weights of another architecture, non-finite weights, files that are pipes, folders or huge.

``load_model`` must return a verified folder or raise :class:`ModelError` naming the file and the
problem; the runtime backends opened on what it returns must run or raise a project error. A
verified load must never accept a folder changed behind its manifest's back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from safetensors.numpy import save_file  # noqa: E402

from snnapp.core.errors import ModelError, SnnappError  # noqa: E402
from snnapp.core.modelio import (  # noqa: E402
    CONFIG,
    MANIFEST,
    MAX_WEIGHTS_BYTES,
    METRICS,
    ONNX,
    WEIGHTS,
    ModelConfig,
    load_model,
    save_model,
    write_manifest,
)
from snnapp.core.network import NetworkConfig, SpikingDigitNet  # noqa: E402
from snnapp.core.preprocess import AudioConfig  # noqa: E402
from snnapp.core.runtime import open_backend  # noqa: E402
from snnapp.core.torch_model import weights_of  # noqa: E402

WINDOW = "model_window.onnx"
FILES = [WEIGHTS, CONFIG, METRICS, MANIFEST, ONNX, WINDOW]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _make(folder: Path, mode: str = "audio", hidden: tuple[int, ...] = (16,), image_hidden: int = 8,
          export: bool = False, seed: int = 0) -> Path:
    net = NetworkConfig(mode=mode, num_steps=4, audio_in_features=160, audio_hidden=hidden,
                        image_channels=(2, 3), image_hidden=image_hidden)
    torch.manual_seed(seed)
    path = save_model(folder, ModelConfig(net, training={"seed": seed}), weights_of(SpikingDigitNet(net)),
                      {"val": {"accuracy": 0.1}})
    if export:
        from snnapp.core.export import export_onnx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(path, kind="step")
            export_onnx(path, kind="window")
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "audio": _make(root / "audio", export=True),
        "wider": _make(root / "wider", hidden=(32,), export=True, seed=1),
        "image": _make(root / "image", mode="image"),
        "multimodal": _make(root / "multimodal", mode="multimodal"),
    }


def _copy(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _audio_input(n: int = 2) -> np.ndarray:
    cfg = AudioConfig()
    return np.random.default_rng(0).standard_normal((n, cfg.n_frames, cfg.n_mfcc)).astype(np.float32)


def _load_or_error(folder: Path, verify: bool = True):
    try:
        return load_model(folder, verify=verify)
    except ModelError as err:
        assert str(folder) in str(err), err
        assert len(str(err)) < 2000
        return None


def _run_or_error(folder, backend: str, graph_changed: bool = False) -> None:
    """Open a backend and run it; a project error is fine, anything else is not.

    ``graph_changed``: the ONNX graph's bytes were changed and the manifest rewritten to match, so
    the graph is "the model"; onnxruntime's own errors from running it are let through here (see
    test_damaged_graph_listed_in_the_manifest, which records that gap).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = open_backend(folder, backend)
            images = np.zeros((2, 28, 28), np.float32) if b.config.network.uses_image else None
            audio = _audio_input() if b.config.network.uses_audio else None
            res = b.run(images, audio)
    except SnnappError:
        return
    except Exception as exc:
        if graph_changed and backend == "onnx" and type(exc).__module__.startswith("onnxruntime"):
            return
        raise
    assert res.probabilities.shape == (2, 10) and np.isfinite(res.probabilities).all()
    assert np.allclose(res.probabilities.sum(1), 1.0, atol=1e-4)


# ----------------------------------------------------------------------------------- file operations

_ops = st.tuples(
    st.sampled_from(["delete", "garbage", "truncate", "flip", "foreign", "directory", "symlink", "empty", "append"]),
    st.sampled_from(FILES), st.integers(0, 10**6), st.binary(min_size=1, max_size=64))


def _apply(folder: Path, foreign: Path, op: str, name: str, k: int, data: bytes) -> bool:
    """Do ``op`` to ``folder/name``; True when the folder changed."""
    p = folder / name
    exists = p.is_file() and not p.is_symlink()
    if op == "delete":
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
            return True
        if p.exists() or p.is_symlink():
            p.unlink()
            return True
        return False
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.is_symlink() or op in ("directory", "symlink") and p.exists():
        p.unlink()
    if op == "garbage":
        p.write_bytes(data)
    elif op == "empty":
        p.write_bytes(b"")
    elif op == "truncate" and exists:
        content = p.read_bytes() if p.exists() else b""
        p.write_bytes(content[: k % max(len(content), 1)])
    elif op == "flip" and p.exists():
        content = bytearray(p.read_bytes())
        if content:
            content[k % len(content)] ^= 1 + data[0] % 255
        p.write_bytes(bytes(content))
    elif op == "foreign" and (foreign / name).exists():
        shutil.copy(foreign / name, p)
    elif op == "directory":
        p.mkdir()
    elif op == "symlink":
        p.symlink_to(foreign / name)
    elif op == "append" and p.exists():
        with open(p, "ab") as f:
            f.write(data)
    else:
        return False
    return True


@FUZZ
@given(ops=st.lists(_ops, min_size=1, max_size=4), rewrite_manifest=st.booleans(), verify=st.booleans())
def test_changed_folders_are_refused_or_work(models, tmp_path_factory, ops, rewrite_manifest, verify):
    folder = _copy(models["audio"], tmp_path_factory.mktemp("fuzz") / "model")
    before = {n: (folder / n).read_bytes() for n in FILES if (folder / n).is_file()}
    for op, name, k, data in ops:
        _apply(folder, models["wider"], op, name, k, data)
    after = {n: (folder / n).read_bytes() for n in FILES if (folder / n).is_file() and not (folder / n).is_symlink()}
    changed = before != after or any((folder / n).is_symlink() or (folder / n).is_dir() for n in FILES)
    if rewrite_manifest and folder.is_dir() and not (folder / MANIFEST).is_dir():
        try:
            write_manifest(folder)
        except (ModelError, OSError):
            pass
    m = _load_or_error(folder, verify)
    if verify and changed and not rewrite_manifest:
        assert m is None, "a verified load accepted a folder changed behind its manifest"
    if m is not None:
        assert set(m.weights) and all(np.isfinite(a).all() for a in m.weights.values() if a.dtype.kind == "f")
        _run_or_error(m, "torch")
        if m.onnx_path is not None:
            graphs = (ONNX, WINDOW)
            _run_or_error(m, "onnx", graph_changed=rewrite_manifest and any(
                before.get(n) != after.get(n) for n in graphs))


# ----------------------------------------------------------------------------------- weights

_dtypes = st.sampled_from([np.float32, np.float16, np.float64, np.int64, np.int8, np.uint8, bool])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), keep=st.floats(0, 1), dtype=_dtypes, scale=st.sampled_from([0.0, 1.0, 1e30, np.nan, np.inf]),
       rename=st.booleans(), reshape=st.booleans())
def test_weights_of_another_shape_name_or_type(models, tmp_path_factory, data, keep, dtype, scale, rename, reshape):
    """Weights edited in every way (and the manifest rewritten to match): a ModelError, or a model that runs."""
    folder = _copy(models["audio"], tmp_path_factory.mktemp("weights") / "model")
    for name in (ONNX, WINDOW):
        (folder / name).unlink()
    write_manifest(folder)
    weights = load_model(folder).weights
    out = {}
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for i, (k, v) in enumerate(sorted(weights.items())):
        if rng.random() > keep:
            continue
        shape = v.shape
        if reshape and rng.random() < 0.5:
            shape = tuple(int(s) for s in rng.integers(1, 40, size=rng.integers(0, 3)))
        with np.errstate(all="ignore"):
            a = (rng.standard_normal(shape) * scale).astype(dtype)
        out[(k + "_x") if rename and rng.random() < 0.3 else k] = np.ascontiguousarray(a)
    if not out:
        out = {"nothing": np.zeros(1, np.float32)}
    save_file(out, str(folder / WEIGHTS))
    write_manifest(folder)
    m = _load_or_error(folder)
    if m is not None:
        _run_or_error(m, "torch")


@pytest.mark.parametrize("mode", ["image", "multimodal", "wider"])
def test_weights_of_another_architecture(models, tmp_path: Path, mode: str):
    folder = _copy(models["audio"], tmp_path / "model")
    (folder / ONNX).unlink()
    (folder / WINDOW).unlink()
    shutil.copy(models[mode] / WEIGHTS, folder / WEIGHTS)
    write_manifest(folder)
    m = load_model(folder)  # the file itself is fine
    with pytest.raises(ModelError, match=r"do not fit the architecture|has shape"):
        open_backend(m, "torch")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(models, tmp_path: Path, value: float):
    folder = _copy(models["audio"], tmp_path / "model")
    weights = load_model(folder).weights
    weights["fc_audio.0.weight"] = weights["fc_audio.0.weight"].copy()
    weights["fc_audio.0.weight"][0, 0] = value
    save_file(weights, str(folder / WEIGHTS))
    write_manifest(folder)
    with pytest.raises(ModelError, match=rf"{WEIGHTS}: weight fc_audio.0.weight holds NaN"):
        load_model(folder)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_weights_in_other_float_widths_run(models, tmp_path: Path, dtype):
    folder = _copy(models["audio"], tmp_path / "model")
    (folder / ONNX).unlink()
    (folder / WINDOW).unlink()
    write_manifest(folder)
    save_file({k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in load_model(folder).weights.items()},
              str(folder / WEIGHTS))
    write_manifest(folder)
    _run_or_error(folder, "torch")
    b = open_backend(folder, "torch")
    assert np.isfinite(b.run(None, _audio_input()).probabilities).all()


def _safetensors(header: dict | bytes, body: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


@pytest.mark.parametrize("content", [
    b"", b"\x00" * 7, b"\xff" * 8 + b"{}", _safetensors(b"{not json"), _safetensors({"x": 1}),
    _safetensors({"x": {"dtype": "F32", "shape": [10**6], "data_offsets": [0, 4 * 10**6]}}, b"\x00" * 8),
    _safetensors({"x": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 0]}}),
    _safetensors({"x": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 4]}}, b"\x00" * 4),
    _safetensors({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\x00" * 4),
    _safetensors({"x": {"dtype": "F32", "shape": [2], "data_offsets": [4, 0]}}, b"\x00" * 8),
    _safetensors({"__metadata__": {"format": [1, 2]}}),
    (2**63).to_bytes(8, "little") + b"{}", _safetensors(b"[" * 10000),
], ids=["empty", "short", "header_len_huge", "bad_json", "bad_entry", "offsets_past_end", "shape_overflow",
        "unknown_dtype", "negative_shape", "reversed_offsets", "bad_metadata", "header_len_2e63", "deep_header"])
def test_broken_safetensors(models, tmp_path: Path, content: bytes):
    folder = _copy(models["audio"], tmp_path / "model")
    (folder / WEIGHTS).write_bytes(content)
    write_manifest(folder)
    for verify in (True, False):
        with pytest.raises(ModelError, match=WEIGHTS):
            load_model(folder, verify=verify)


def test_pickled_weights_are_not_unpickled(models, tmp_path: Path):
    folder = _copy(models["audio"], tmp_path / "model")
    torch.save(load_model(folder).weights, folder / WEIGHTS)
    write_manifest(folder)
    with pytest.raises(ModelError, match=f"{WEIGHTS}: not a readable safetensors file"):
        load_model(folder)


# ----------------------------------------------------------------------------------- manifests


def _manifest(folder: Path, change) -> None:
    m = json.loads((folder / MANIFEST).read_text())
    change(m)
    (folder / MANIFEST).write_text(json.dumps(m))


@pytest.mark.parametrize("case, message", [
    ("traversal", "invalid file name"), ("absolute", "invalid file name"), ("nul", "invalid file name"),
    ("empty_name", "invalid file name"), ("hidden", "invalid file name"), ("digest_int", "not a string"),
    ("digest_wrong", "checksum mismatch"), ("listed_missing", "missing"), ("no_weights_sum", "no checksums"),
    ("sums_list", "no checksums"), ("manifest_list", "no checksums"), ("unlisted_onnx", "not in the manifest"),
    ("unlisted_window", "not in the manifest"), ("manifest_deep", "nested too deeply"),
])
def test_lying_manifests(models, tmp_path: Path, case: str, message: str):
    folder = _copy(models["audio"], tmp_path / "model")
    if case == "traversal":
        _manifest(folder, lambda m: m["sha256"].update({"../audio/config.json": "0"}))
    elif case == "absolute":
        _manifest(folder, lambda m: m["sha256"].update({"/etc/passwd": "0"}))
    elif case == "nul":
        _manifest(folder, lambda m: m["sha256"].update({"a\x00b": "0"}))
    elif case == "empty_name":
        _manifest(folder, lambda m: m["sha256"].update({"": "0"}))
    elif case == "hidden":
        _manifest(folder, lambda m: m["sha256"].update({".secret": "0"}))
    elif case == "digest_int":
        _manifest(folder, lambda m: m["sha256"].update({CONFIG: 5}))
    elif case == "digest_wrong":
        _manifest(folder, lambda m: m["sha256"].update({METRICS: "0" * 64}))
    elif case == "listed_missing":
        _manifest(folder, lambda m: m["sha256"].update({"extra.bin": "0" * 64}))
    elif case == "no_weights_sum":
        _manifest(folder, lambda m: m["sha256"].pop(WEIGHTS))
    elif case == "sums_list":
        _manifest(folder, lambda m: m.update({"sha256": [WEIGHTS, CONFIG]}))
    elif case == "manifest_list":
        (folder / MANIFEST).write_text("[]")
    elif case == "unlisted_onnx":
        _manifest(folder, lambda m: m["sha256"].pop(ONNX))
    elif case == "unlisted_window":
        _manifest(folder, lambda m: m["sha256"].pop(WINDOW))
    elif case == "manifest_deep":
        (folder / MANIFEST).write_text("[" * 100_000)
    with pytest.raises(ModelError, match=message) as err:
        load_model(folder)
    assert str(folder) in str(err.value)
    with pytest.raises(ModelError, match=message):
        open_backend(folder, "auto")


@pytest.mark.parametrize("name", [ONNX, WINDOW])
def test_onnx_graph_of_another_model_or_garbage(models, tmp_path: Path, name: str):
    folder = _copy(models["audio"], tmp_path / "model")
    shutil.copy(models["wider"] / name, folder / name)
    write_manifest(folder)
    with pytest.raises(ModelError, match=f"{name}: exported from other"):
        open_backend(folder, "onnx")
    (folder / name).write_bytes(b"not a graph")
    write_manifest(folder)
    with pytest.raises(ModelError, match=f"{name}: onnxruntime cannot load it"):
        open_backend(folder, "onnx")


# ----------------------------------------------------------------------------------- odd files


@pytest.mark.parametrize("name", [WEIGHTS, CONFIG, METRICS, MANIFEST])
def test_missing_files(models, tmp_path: Path, name: str):
    folder = _copy(models["audio"], tmp_path / "model")
    (folder / name).unlink()
    if name != METRICS:
        with pytest.raises(ModelError, match=name if name != WEIGHTS else f"{MANIFEST}|{WEIGHTS}"):
            load_model(folder)
    if name not in (MANIFEST, METRICS):
        with pytest.raises(ModelError, match=f"{name}: missing"):
            load_model(folder, verify=False)
    if name == METRICS:
        with pytest.raises(ModelError, match=f"{METRICS}: missing"):
            load_model(folder)  # listed in the manifest
        assert load_model(folder, verify=False).metrics == {}


@pytest.mark.parametrize("name", [WEIGHTS, CONFIG, METRICS, MANIFEST])
@pytest.mark.parametrize("kind", ["directory", "fifo", "dev_zero", "dangling"])
def test_files_that_are_not_files(models, tmp_path: Path, name: str, kind: str):
    """A pipe named config.json would block a reader for ever; /dev/zero would never end."""
    folder = _copy(models["audio"], tmp_path / "model")
    p = folder / name
    p.unlink()
    if kind == "directory":
        p.mkdir()
    elif kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs named pipes")
        os.mkfifo(p)
    elif kind == "dev_zero":
        p.symlink_to("/dev/zero")
    else:
        p.symlink_to(tmp_path / "absent")
    for verify in (False, True):
        outcome: list = []

        def run() -> None:
            try:
                outcome.append(load_model(folder, verify=verify))
            except BaseException as exc:  # noqa: BLE001 - checked below
                outcome.append(exc)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(15)
        if t.is_alive():
            if kind == "fifo":  # let the blocked reader go
                fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            pytest.fail(f"load_model(verify={verify}) blocked on a {kind} named {name}")
        result = outcome[0]
        if not verify and (name == MANIFEST or name == METRICS and kind == "dangling"):
            # unverified, the manifest is not read; and a metrics file may be absent
            assert not isinstance(result, BaseException), result
            continue
        assert isinstance(result, ModelError), result
        assert name in str(result) or MANIFEST in str(result)


def test_metrics_that_is_not_an_object(models, tmp_path: Path):
    folder = _copy(models["audio"], tmp_path / "model")
    for text in ("[1, 2]", "null", "3", "\"x\""):
        (folder / METRICS).write_text(text)
        write_manifest(folder)
        with pytest.raises(ModelError, match=f"{METRICS}: expected a JSON object"):
            load_model(folder)


def test_not_a_folder(tmp_path: Path):
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "absent")
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(ModelError, match="no such model folder"):
        open_backend(tmp_path / "file")
    with pytest.raises(ModelError, match=MANIFEST):
        load_model(tmp_path)  # an empty folder


def test_unknown_backend(models):
    with pytest.raises(ModelError, match="unknown backend"):
        open_backend(models["audio"], "tensorflow")


_HUGE_SCRIPT = textwrap.dedent("""
    import resource, sys
    from snnapp.core.errors import ModelError
    from snnapp.core.modelio import load_model
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for verify in (False, True):
        try:
            load_model(sys.argv[1], verify=verify)
            print("accepted")
        except ModelError as err:
            print("refused:", err)
    print("GROWTH_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
""")


@pytest.mark.parametrize("name", [WEIGHTS, CONFIG])
def test_huge_files_are_refused_without_reading_them(models, tmp_path: Path, name: str):
    """A sparse file of 1.5 GB (no disk used): refused from its size, neither read nor hashed."""
    folder = _copy(models["audio"], tmp_path / "model")
    with open(folder / name, "r+b") as f:
        f.truncate(max(MAX_WEIGHTS_BYTES, 1 << 30) + (1 << 29))
    res = subprocess.run([sys.executable, "-c", _HUGE_SCRIPT, str(folder)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    refused = [line for line in res.stdout.splitlines() if line.startswith("refused")]
    assert len(refused) == 2 and "accepted" not in res.stdout, res.stdout
    assert all(f"{name}: " in line and ("too large" in line or "more than" in line) for line in refused), refused
    assert float(res.stdout.rsplit("GROWTH_MB", 1)[1]) < 64, res.stdout


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_config_whose_preprocessing_does_not_fit_the_network(models, tmp_path: Path, backend: str):
    folder = _copy(models["audio"], tmp_path / "model")
    d = json.loads((folder / CONFIG).read_text())
    d["audio"]["n_frames"] = 64  # 16 frames of 20 coefficients per step: 320 inputs, the network takes 160
    (folder / CONFIG).write_text(json.dumps(d))
    write_manifest(folder)
    from snnapp.core.export import export_onnx

    if backend == "onnx":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(folder, kind="step")
            export_onnx(folder, kind="window")
    b = open_backend(folder, backend)
    features = np.zeros((1, 64, 20), np.float32)  # what audio_features gives with this config
    with pytest.raises(SnnappError, match="does not fit the weights"):
        b.run(None, features)


def test_damaged_graph_listed_in_the_manifest(models, tmp_path: Path):
    import onnx
    from onnx import numpy_helper

    folder = _copy(models["audio"], tmp_path / "model")
    graph = onnx.load(str(folder / WINDOW))
    constants = {o: n for n in graph.graph.node if n.op_type == "Constant" for o in n.output}
    gather = next(n for n in graph.graph.node if n.op_type == "Gather" and n.input[1] in constants)
    node = constants[gather.input[1]]  # the index a Gather takes: now out of range, as one damaged byte can do
    index = numpy_helper.to_array(node.attribute[0].t)
    node.attribute[0].t.CopyFrom(numpy_helper.from_array(np.full_like(index, 99)))
    onnx.save(graph, str(folder / WINDOW))
    write_manifest(folder)
    b = open_backend(folder, "onnx")
    with pytest.raises(SnnappError):
        b.run(None, _audio_input())


def test_a_file_replaced_by_a_link_to_identical_content_is_refused(models, tmp_path):
    # the example that found it: metrics.json linked to another model's equal metrics.json
    folder = _copy(models["audio"], tmp_path / "model")
    twin = tmp_path / "twin.json"
    twin.write_bytes((folder / "metrics.json").read_bytes())
    (folder / "metrics.json").unlink()
    (folder / "metrics.json").symlink_to(twin)
    with pytest.raises(ModelError, match="metrics.json: not a regular file"):
        load_model(folder)
