"""The onnx backend, and ``snnapp predict --backend onnx``, run with torch made unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "snnapp" / "assets" / "samples"

BLOCK = "import sys; sys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


def test_onnx_backend_predicts_without_torch(exported) -> None:
    folder = exported("multimodal")
    res = _run(f"""
        import numpy as np
        from snnapp.core.runtime import open_backend
        b = open_backend({str(folder)!r})
        assert b.name == "onnx"
        rng = np.random.default_rng(0)
        r = b.run(rng.random((3, 28, 28), dtype=np.float32), rng.standard_normal((3, 32, 20)).astype(np.float32))
        frames = list(b.stream(rng.random((1, 28, 28), dtype=np.float32), None))
        import json
        loaded = sorted(m for m in sys.modules if m.startswith('torch.'))
        print(json.dumps([r.digits.tolist(), len(frames), loaded, sys.modules['torch'] is None]))
    """)
    assert res.returncode == 0, res.stderr
    digits, n_frames, loaded, still_blocked = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(digits) == 3 and n_frames == 4 and loaded == [] and still_blocked


def test_torch_backend_without_torch_is_a_clear_error(exported) -> None:
    res = _run(f"""
        from snnapp.core.errors import ModelError
        from snnapp.core.runtime import open_backend
        try:
            open_backend({str(exported("audio"))!r}, "torch")
        except ModelError as exc:
            print("refused:", exc)
    """)
    assert res.returncode == 0 and "needs torch" in res.stdout, res.stderr


def test_predict_cli_without_torch(exported) -> None:
    image = sorted((SAMPLES / "image").glob("*.png"))[0]
    res = _run(f"""
        from snnapp.cli import app
        sys.argv = ["snnapp", "predict", "--model", {str(exported("image"))!r}, "--image", {str(image)!r},
                    "--backend", "onnx", "--json"]
        app()
    """)
    assert res.returncode == 0, res.stderr
    row = json.loads(res.stdout.strip().splitlines()[-1])
    assert row["digit"] in range(10) and len(row["probabilities"]) == 10


# A finder that refuses the packages, instead of None in sys.modules (scipy looks there for torch's Tensor).
FINDER = """
import importlib.abc, sys
class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "snntorch", "optuna", "onnx", "nir"):
            raise ImportError(f"{name} is not installed on the edge")
sys.meta_path.insert(0, _Refuse())
"""


def test_the_listen_path_imports_without_torch() -> None:
    """The runtime's public listening names (listen, the segmenter, the sources) load no torch."""
    code = FINDER + textwrap.dedent("""
        import json
        from snnapp.core.runtime import CHUNK_S, Segmenter, VadConfig, file_chunks, listen, mic_chunks
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "snntorch", "optuna", "onnx", "nir",
                                                                     "sounddevice", "librosa"))
        print("LOADED", json.dumps(heavy))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "LOADED []"


def test_listen_cli_without_torch(exported, tmp_path: Path) -> None:
    """``snnapp listen --backend onnx`` replays a WAV with torch, snntorch, optuna, onnx and nir unimportable."""
    import numpy as np
    import soundfile as sf

    from snnapp.core.preprocess import load_wav

    parts = []
    for w in sorted((SAMPLES / "audio").glob("*.wav"))[:2]:
        data, rate = load_wav(w)
        parts += [np.zeros(int(0.6 * rate), np.float32), data.mean(axis=1)]
    wav = tmp_path / "two.wav"
    sf.write(wav, np.concatenate(parts + [np.zeros(int(0.6 * rate), np.float32)]), rate)
    code = FINDER + textwrap.dedent(f"""
        import json
        from snnapp.cli import app
        sys.argv = ["snnapp", "listen", "--model", {str(exported("audio"))!r}, "--audio-file", {str(wav)!r},
                    "--backend", "onnx", "--fast"]
        try:
            app()
        except SystemExit as exc:
            assert not exc.code, exc.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "snntorch", "optuna", "onnx", "nir"))
        print("LOADED", json.dumps(heavy))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(rows) == 2 and all(r["digit"] in range(10) for r in rows)
    assert lines[-1] == "LOADED []"
