"""A model is a folder: ``weights.safetensors``, ``config.json``, ``metrics.json`` and a
``manifest.json`` holding the sha256 of each, plus ``model.onnx`` once exported.

Weights are safetensors: plain arrays, never pickled code. Folders are written next to their
destination under a temporary name and swapped in with renames, so a crash or a full disk leaves
the previous model intact. Loading verifies the manifest, so a tampered or truncated file is
reported, not silently used. Nothing here imports torch at module level: the edge runtime reads
models with numpy alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ConfigError, ModelError
from snnapp.core.network import NetworkConfig
from snnapp.core.preprocess import AudioConfig, ImageConfig

FORMAT = "snnapp-model"
VERSION = 1
WEIGHTS, CONFIG, METRICS, MANIFEST, ONNX = (
    "weights.safetensors", "config.json", "metrics.json", "manifest.json", "model.onnx")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model and feed it: architecture, encoders, preprocessing."""

    network: NetworkConfig
    encoder: EncoderConfig = EncoderConfig()
    audio: AudioConfig = AudioConfig()
    image: ImageConfig = ImageConfig()
    #: Softmax temperature of the readout, fitted on validation data.
    temperature: float = 1.0
    #: The training settings that produced the model (for the model card; not needed to run it).
    training: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return self.network.mode

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "network": self.network.to_dict(),
                "encoder": self.encoder.to_dict(), "audio": self.audio.to_dict(),
                "image": self.image.to_dict(), "temperature": self.temperature, "training": self.training}

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "ModelConfig":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ModelError(f"{source}: not an snnapp model config (no \"format\": \"{FORMAT}\")")
        if d.get("version") != VERSION:
            raise ModelError(f"{source}: model format version {d.get('version')!r}; this snnapp reads {VERSION}")
        try:
            return cls(network=NetworkConfig.from_dict(d["network"]),
                       encoder=EncoderConfig.from_dict(d.get("encoder", {})),
                       audio=AudioConfig.from_dict(d.get("audio", {})),
                       image=ImageConfig.from_dict(d.get("image", {})),
                       temperature=float(d.get("temperature", 1.0)), training=dict(d.get("training", {})))
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ModelError(f"{source}: invalid model config ({exc})") from None


@dataclass
class ModelFolder:
    """A loaded, verified model folder; weights as numpy arrays."""

    path: Path
    config: ModelConfig
    weights: dict[str, np.ndarray]
    metrics: dict[str, Any]

    @property
    def onnx_path(self) -> Path | None:
        p = self.path / ONNX
        return p if p.exists() else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def write_manifest(folder: Path) -> None:
    """(Re)write the manifest of every file in ``folder``; called after adding e.g. ``model.onnx``."""
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    tmp = folder / (MANIFEST + ".part")
    _write_json(tmp, {"format": FORMAT, "sha256": files})
    os.replace(tmp, folder / MANIFEST)


def replace_folder(tmp: Path, dest: Path) -> None:
    """Swap a completely written folder ``tmp`` in at ``dest``; the old one is removed after."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_model(dest: str | Path, config: ModelConfig, weights: dict[str, np.ndarray], metrics: dict[str, Any]) -> Path:
    """Write a model folder atomically; an existing folder at ``dest`` is replaced only on success."""
    from safetensors.numpy import save_file

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        # reshape: ascontiguousarray turns 0-d arrays (batch norm's num_batches_tracked) into 1-d
        save_file({k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in weights.items()}, str(tmp / WEIGHTS),
                  metadata={"format": FORMAT})
        _write_json(tmp / CONFIG, config.to_dict())
        _write_json(tmp / METRICS, metrics)
        write_manifest(tmp)
        replace_folder(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def update_metrics(folder: str | Path, extra: dict[str, Any]) -> None:
    """Merge ``extra`` into a verified folder's ``metrics.json`` and refresh its manifest."""
    folder = Path(folder)
    verify_folder(folder)
    metrics = _read_json(folder / METRICS)
    metrics.update(extra)
    tmp = folder / (METRICS + ".part")
    _write_json(tmp, metrics)
    os.replace(tmp, folder / METRICS)
    write_manifest(folder)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: missing; a model folder needs {WEIGHTS}, {CONFIG}, {METRICS} and {MANIFEST}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from None


def verify_folder(folder: Path) -> None:
    """Check every file against the manifest; raise :class:`ModelError` naming what differs."""
    manifest = _read_json(folder / MANIFEST)
    sums = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(sums, dict) or WEIGHTS not in sums or CONFIG not in sums:
        raise ModelError(f"{folder / MANIFEST}: no checksums for {WEIGHTS} and {CONFIG}")
    for name, digest in sums.items():
        p = folder / name
        if "/" in name or "\\" in name or name.startswith("."):
            raise ModelError(f"{folder / MANIFEST}: invalid file name {name!r}")
        if not p.is_file():
            raise ModelError(f"{p}: missing (listed in the manifest)")
        if sha256_file(p) != digest:
            raise ModelError(f"{p}: checksum mismatch; the file was changed or damaged since the model was saved")


def load_model(folder: str | Path, verify: bool = True) -> ModelFolder:
    """Read and verify a model folder (numpy weights; see ``snnapp.core.torch_model`` for torch)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    if verify:
        verify_folder(folder)
    config = ModelConfig.from_dict(_read_json(folder / CONFIG), source=str(folder / CONFIG))
    metrics = _read_json(folder / METRICS) if (folder / METRICS).exists() else {}
    try:
        weights = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{folder / WEIGHTS}: not a readable safetensors file ({exc})") from None
    return ModelFolder(folder, config, weights, metrics)
