"""The edge install: the offline bundle for this machine, installed into a fresh virtual environment that has
no torch, runs ``snnapp predict --backend onnx`` and ``snnapp listen --audio-file`` and gives the right digits.

Builds with ``packaging/build_edge_bundle.py --native`` (the project wheel plus the ``edge`` dependencies from the
package index, through pip's cache), installs with the bundle's ``install.sh`` (no index: the wheelhouse only),
then runs the installed ``snnapp``. The models are the ones shipped in ``snnapp/assets/models`` (inside the
wheel); ``SNNAPP_EDGE_TEST_MODELS=DIR`` (with ``image/``, ``audio/``, ``multimodal/``) tests other exported
folders instead, passed with ``--model``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "snnapp" / "assets" / "samples"
SCRIPT = ROOT / "packaging" / "build_edge_bundle.py"
MODES = ("image", "audio", "multimodal")
FORBIDDEN = ("torch", "snntorch", "optuna")


def _models() -> tuple[dict[str, Path], bool]:
    """The exported model folders by mode, and whether they come from SNNAPP_EDGE_TEST_MODELS."""
    override = os.environ.get("SNNAPP_EDGE_TEST_MODELS")
    base = Path(override).resolve() if override else ROOT / "snnapp" / "assets" / "models"
    return {m: base / m for m in MODES if (base / m / "model.onnx").is_file()}, bool(override)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@dataclass
class Edge:
    prefix: Path
    models: dict[str, Path]
    override: bool

    @property
    def python(self) -> Path:
        return self.prefix / "venv" / "bin" / "python"

    def snnapp(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        res = subprocess.run([str(self.prefix / "venv" / "bin" / "snnapp"), *args], capture_output=True, text=True,
                             cwd=self.prefix, env=_clean_env(), timeout=timeout)
        assert res.returncode == 0, f"snnapp {' '.join(args)}: rc={res.returncode}\n{res.stderr[-3000:]}"
        return res

    def model_args(self, mode: str) -> list[str]:
        """``--model`` for an override folder; nothing for the shipped models (found inside the installed wheel)."""
        if mode not in self.models:
            where = os.environ["SNNAPP_EDGE_TEST_MODELS"] if self.override else "snnapp/assets/models"
            pytest.skip(f"no exported {mode} model: {where}/{mode}/model.onnx is absent "
                        "(ship the trained model and run 'snnapp export' on it, or set SNNAPP_EDGE_TEST_MODELS)")
        if not self.override:
            return []
        bundled = self.prefix / "models" / mode
        return ["--model", str(bundled if bundled.is_dir() else self.models[mode])]


@pytest.fixture(scope="session")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Edge:
    """Bundle for this machine, unpacked and installed once per test session."""
    tmp = tmp_path_factory.mktemp("edge")
    models, override = _models()
    cmd = [sys.executable, str(SCRIPT), "--native", "--out", str(tmp / "dist")]
    if override and "audio" in models:
        cmd += ["--model", str(models["audio"])]
    build = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(), timeout=600)
    assert build.returncode == 0, f"build_edge_bundle.py failed:\n{build.stderr[-4000:]}"
    bundle = Path(build.stdout.strip().splitlines()[-1])
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    folder = tmp / bundle.name.removesuffix(".tar.gz")
    prefix = tmp / "prefix"
    env = _clean_env() | {"PYTHON": sys.executable}  # a venv's Python still makes a venv without its packages
    res = subprocess.run(["sh", str(folder / "install.sh"), "--prefix", str(prefix)], capture_output=True,
                         text=True, env=env, timeout=600)
    assert res.returncode == 0, f"install.sh failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    return Edge(prefix, models, override)


@pytest.mark.slow
def test_edge_venv_has_no_torch(edge: Edge) -> None:
    cfg = (edge.prefix / "venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    code = ("import importlib.util as u, json, onnxruntime, snnapp; "
            f"print(json.dumps([m for m in {FORBIDDEN!r} if u.find_spec(m)]))")
    res = subprocess.run([str(edge.python), "-c", code],
                         capture_output=True, text=True, env=_clean_env(), timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []
    res = subprocess.run([str(edge.python), "-c", "import torch"], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "No module named 'torch'" in res.stderr


def _rows(res: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


def _truth(row: dict) -> int:
    return int(Path(row["input"]).name[0])


@pytest.mark.slow
def test_predict_images(edge: Edge) -> None:
    rows = _rows(edge.snnapp("predict", "--backend", "onnx", "--json", "--image-dir", str(SAMPLES / "image"),
                             *edge.model_args("image")))
    by_name = {Path(r["input"]).name: r["digit"] for r in rows}
    assert by_name["7_drawn.png"] == 7
    right = sum(_truth(r) == r["digit"] for r in rows)
    assert len(rows) == 13 and right >= 12, by_name


@pytest.mark.slow
def test_predict_image_and_audio_pair(edge: Edge) -> None:
    rows = _rows(edge.snnapp("predict", "--backend", "onnx", "--json",
                             "--image", str(SAMPLES / "image" / "7_drawn.png"),
                             "--audio", str(SAMPLES / "audio" / "7_espeak.wav"), *edge.model_args("multimodal")))
    assert [r["digit"] for r in rows] == [7], rows


@pytest.fixture(scope="session")
def spoken(edge: Edge) -> list[dict]:
    """``snnapp predict`` on the ten spoken samples, in the edge venv."""
    return _rows(edge.snnapp("predict", "--backend", "onnx", "--json", "--audio-dir", str(SAMPLES / "audio"),
                             *edge.model_args("audio")))


@pytest.mark.slow
def test_predict_spoken_digits(spoken: list[dict]) -> None:
    # A synthetic voice is a speaker the model never heard: most, not all, are expected right.
    right = [r for r in spoken if _truth(r) == r["digit"]]
    assert len(spoken) == 10 and len(right) >= 7, [(Path(r["input"]).name, r["digit"]) for r in spoken]


@pytest.mark.slow
def test_listen_replay_gives_the_digits(edge: Edge, spoken: list[dict], tmp_path: Path) -> None:
    import soundfile as sf

    from snnapp.core.preprocess import load_wav

    # The four recognised samples the model is surest of, in a shuffled order, 0.6 s of quiet noise apart.
    right = sorted((r for r in spoken if _truth(r) == r["digit"]), key=lambda r: -r["probabilities"][r["digit"]])[:4]
    assert len(right) >= 3
    rng = np.random.default_rng(1)
    order = [right[i] for i in rng.permutation(len(right))]
    parts = []
    for r in order:
        data, rate = load_wav(r["input"])
        parts += [rng.normal(0, 1e-4, int(0.6 * rate)).astype(np.float32), data.mean(axis=1)]
    parts.append(np.zeros(int(0.6 * rate), np.float32))
    wav = tmp_path / "digits.wav"
    sf.write(wav, np.concatenate(parts), rate)

    rows = _rows(edge.snnapp("listen", "--backend", "onnx", "--audio-file", str(wav), "--fast",
                             *edge.model_args("audio")))
    assert [r["digit"] for r in rows] == [_truth(r) for r in order], rows
    assert all(len(r["probabilities"]) == 10 for r in rows)


def test_bundle_templates_are_valid(tmp_path: Path) -> None:
    """Fast checks of the generated files, without building: install.sh parses, the unit has what it needs."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import build_edge_bundle as b
    finally:
        sys.path.pop(0)
    script = tmp_path / "install.sh"
    script.write_text(b.INSTALL_SH.replace("@VERSION@", "0").replace("@PYTHONS@", "3.11").replace("@ARCH@", "x86_64")
                      .replace("@FORBIDDEN@", " ".join(FORBIDDEN)))
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    assert set(re.findall(r"@[A-Z]+@", script.read_text())) == {"@PREFIX@"}  # filled in by install.sh itself
    assert "--no-index" in b.INSTALL_SH and "--find-links" in b.INSTALL_SH
    unit = b.UNIT
    for needed in ("User=snnapp", "SupplementaryGroups=audio", "Restart=on-failure", "KillSignal=SIGTERM",
                   "ExecStart=@PREFIX@/venv/bin/snnapp listen --backend onnx --model ${SNNAPP_MODEL}",
                   "WantedBy=multi-user.target"):
        assert needed in unit
    assert b.manylinux_tags("aarch64", "2.17") == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    tags = b.manylinux_tags("x86_64", "2.28")
    assert tags[0] == "manylinux_2_28_x86_64" and "manylinux2014_x86_64" in tags and tags[-1] == "manylinux1_x86_64"
