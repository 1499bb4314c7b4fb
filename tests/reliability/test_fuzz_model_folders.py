"""Hostile and clumsy model folders: missing, damaged, swapped and foreign files, manifests that lie,
files that are pipes, folders, links or huge (the weights inside them: test_fuzz_model_weights).

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

from snnapp.core.errors import ModelError, SnnappError  # noqa: E402
from snnapp.core.modelio import (  # noqa: E402
    CONFIG,
    MANIFEST,
    MAX_WEIGHTS_BYTES,
    METRICS,
    ONNX,
    WEIGHTS,
    load_model,
    write_manifest,
)
from snnapp.core.runtime import open_backend  # noqa: E402

from .model_folder_kit import (  # noqa: E402
    FILES,
    WINDOW,
    audio_input,
    copy_folder,
    load_or_error,
    run_or_error,
)

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
    folder = copy_folder(models["audio"], tmp_path_factory.mktemp("fuzz") / "model")
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
    m = load_or_error(folder, verify)
    if verify and changed and not rewrite_manifest:
        assert m is None, "a verified load accepted a folder changed behind its manifest"
    if m is not None:
        assert set(m.weights) and all(np.isfinite(a).all() for a in m.weights.values() if a.dtype.kind == "f")
        run_or_error(m, "torch")
        if m.onnx_path is not None:
            graphs = (ONNX, WINDOW)
            run_or_error(m, "onnx", graph_changed=rewrite_manifest and any(
                before.get(n) != after.get(n) for n in graphs))


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
    folder = copy_folder(models["audio"], tmp_path / "model")
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
    folder = copy_folder(models["audio"], tmp_path / "model")
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
    folder = copy_folder(models["audio"], tmp_path / "model")
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
    folder = copy_folder(models["audio"], tmp_path / "model")
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
    folder = copy_folder(models["audio"], tmp_path / "model")
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
    folder = copy_folder(models["audio"], tmp_path / "model")
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
    folder = copy_folder(models["audio"], tmp_path / "model")
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

    folder = copy_folder(models["audio"], tmp_path / "model")
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
        b.run(None, audio_input())


def test_a_file_replaced_by_a_link_to_identical_content_is_refused(models, tmp_path):
    # the example that found it: metrics.json linked to another model's equal metrics.json
    folder = copy_folder(models["audio"], tmp_path / "model")
    twin = tmp_path / "twin.json"
    twin.write_bytes((folder / "metrics.json").read_bytes())
    (folder / "metrics.json").unlink()
    (folder / "metrics.json").symlink_to(twin)
    with pytest.raises(ModelError, match="metrics.json: not a regular file"):
        load_model(folder)
