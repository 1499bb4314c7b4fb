"""A model is a folder: ``weights.safetensors``, ``config.json``, ``metrics.json`` and a
``manifest.json`` holding the sha256 of each, plus ``model.onnx`` once exported.

Weights are safetensors: plain arrays, never pickled code. Folders are written next to their
destination under a temporary name and swapped in with renames, so a crash or a full disk leaves
the previous model intact. Loading verifies the manifest, so a tampered or truncated file is
reported, not silently used. Nothing here imports torch at module level: the edge runtime reads
models with numpy alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from snnapp.core import _atomic
from snnapp.core._atomic import (  # noqa: F401  (DiskError and the writers stay part of this module's API)
    DiskError,
    _make_temp_folder,
    _stale_entry,
    claim_file,
    claim_folder,
    disk_error,
    is_temporary,
    remove_stale,
    replace_folder,
    shown,
    write_claimed,
    write_file,
)
from snnapp.core._dictconfig import short_repr
from snnapp.core._modelconfig import (  # noqa: F401  (the config of a model folder is part of this module's API)
    FORMAT,
    MAX_PARAMETERS,
    VERSION,
    ModelConfig,
    check_network,
)
from snnapp.core.errors import Hint, ModelError

WEIGHTS, CONFIG, METRICS, MANIFEST, ONNX = (
    "weights.safetensors", "config.json", "metrics.json", "manifest.json", "model.onnx")


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


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8")


def _write_json(path: Path, obj: Any) -> None:
    _atomic._write_new(path, _json_bytes(obj))


def write_manifest(folder: Path) -> None:
    """(Re)write the manifest of every file in ``folder``; called after adding e.g. ``model.onnx``.

    Files being written (hidden or ``*.part``) are left out.
    """
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir())
             if p.is_file() and p.name != MANIFEST and not is_temporary(p.name)}
    write_file(folder / MANIFEST, _json_bytes({"format": FORMAT, "sha256": files}))


def save_model(dest: str | Path, config: ModelConfig, weights: dict[str, np.ndarray], metrics: dict[str, Any],
               card: bool = False) -> Path:
    """Write a model folder atomically (with its model card where ``card`` is true); an
    existing model folder at ``dest`` is replaced only on success.

    ``dest`` must be absent, an empty folder or a verified model folder (:func:`claim_model_folder`).
    The new folder is checked as loading would check it (finite weights, its config, the
    manifest) *before* it takes the old one's place, so a run that diverged, or a failure such as a
    full disk, raises and leaves the previous folder at ``dest`` unchanged.
    """
    from safetensors.numpy import save as safetensors_bytes

    dest = Path(dest)  # claimed by _staged, and once more at the swap
    for name, array in weights.items():
        if np.asarray(array).dtype.kind == "f" and not np.isfinite(array).all():
            raise ModelError(f"{shown(dest)}: not saved: weight {name} holds NaN or infinite values (the training "
                             "diverged); the previous model there, if any, is unchanged")
    with _staged(dest, "; the previous model there, if any, is unchanged") as tmp:
        # reshape: ascontiguousarray turns 0-d arrays (batch norm's num_batches_tracked) into 1-d
        _atomic._write_new(tmp / WEIGHTS, safetensors_bytes(
            {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in weights.items()}, metadata={"format": FORMAT}))
        _write_json(tmp / CONFIG, config.to_dict())
        _write_json(tmp / METRICS, metrics)
        if card:
            from snnapp.core.modelcard import write_card

            write_manifest(tmp)
            write_card(tmp)
    return dest


def is_model_folder(folder: Path) -> bool:
    """``folder`` is a model folder the project wrote: a manifest of its format lists every file
    in it (nothing else is there but what a killed writer of the project left) and verifies."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8")) \
            if (folder / MANIFEST).is_file() and (folder / MANIFEST).stat().st_size <= MAX_JSON_BYTES else None
        listed = set(manifest.get("sha256", {})) if isinstance(manifest, dict) and \
            manifest.get("format") == FORMAT and isinstance(manifest.get("sha256"), dict) else None
        if listed is None:
            return False
        for p in folder.iterdir():
            if p.name == MANIFEST or _stale_entry(p) or (p.name.endswith(".part") and p.is_file()):
                continue
            if p.name not in listed or not p.is_file() or p.is_symlink():
                return False
        verify_folder(folder)
    except (OSError, ValueError, ModelError):
        return False
    return True


def claim_model_folder(dest: str | Path) -> Path:
    """Where a new model folder for ``dest`` goes (a link followed), if ``dest`` may be replaced:
    absent, an empty folder, or a verified model folder; else :class:`PathError` naming it."""
    return claim_folder(dest, is_model_folder, "model folder")


@contextlib.contextmanager
def edit_folder(folder: str | Path) -> Iterator[Path]:
    """Change a verified model folder in one step: write into the yielded copy, then it is swapped in.

    The copy's files are hard links to the folder's: replace files (write a new one, rename it
    over), never modify one in place. On leaving the block the copy's manifest is rewritten and
    the copy replaces the folder; on an error the copy is removed and the folder is unchanged.
    """
    folder = Path(folder)
    verify_folder(folder)
    with _staged(folder, "; the model folder is unchanged") as stage:
        for p in folder.iterdir():
            if p.is_file() and not is_temporary(p.name):
                try:
                    os.link(p, stage / p.name)
                except OSError:
                    shutil.copy2(p, stage / p.name)
        yield stage


@contextlib.contextmanager
def _staged(dest: Path, unchanged: str) -> Iterator[Path]:
    """A temporary folder beside ``dest`` to write a model into; on leaving the block its manifest
    is written, it is loaded and checked in full, and it replaces ``dest``. On an error it is
    removed, ``dest`` is left as it was, and an ``OSError`` becomes a :class:`DiskError` naming
    ``dest`` (``unchanged`` completes it)."""
    dest = claim_model_folder(dest)
    stage = _make_temp_folder(dest)
    try:
        yield stage
        write_manifest(stage)
        try:
            load_model(stage)
        except ModelError as exc:  # named after the destination: the stage is about to vanish
            raise ModelError(str(exc).replace(str(stage), str(dest)) + unchanged) from None
        replace_folder(stage, dest, is_model_folder)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            raise disk_error(dest, exc, unchanged) from exc
        raise


def merge_metrics(folder: str | Path, extra: dict[str, Any]) -> None:
    """Merge ``extra`` into ``metrics.json`` of a folder being edited (see :func:`edit_folder`)."""
    folder = Path(folder)
    metrics = _read_json(folder / METRICS)
    metrics.update(extra)
    write_file(folder / METRICS, _json_bytes(metrics))
    write_manifest(folder)


def update_metrics(folder: str | Path, extra: dict[str, Any], card: bool | None = None) -> None:
    """Merge ``extra`` into a verified folder's ``metrics.json`` and (re)write its model card (where
    ``card`` is true, or where it is None and the folder has one): one step, never half."""
    with edit_folder(folder) as stage:
        merge_metrics(stage, extra)
        if card or (card is None and (stage / "MODEL_CARD.md").exists()):
            from snnapp.core.modelcard import write_card

            write_card(stage)


def write_into(folder: str | Path, name: str, data: bytes | memoryview) -> Path:
    """Add or replace the file ``name`` of a verified model folder (an export), with its manifest
    and, where there is one, its model card refreshed: all in one step (see :func:`edit_folder`)."""
    folder = Path(folder)
    with edit_folder(folder) as stage:
        write_file(stage / name, data)
        if (stage / "MODEL_CARD.md").exists():
            from snnapp.core.modelcard import write_card

            write_manifest(stage)
            write_card(stage)
    return folder / name


#: Every exported graph (ONNX, NIR) carries this metadata key with the weights' sha256: what
#: marks an existing ``--out`` file as the project's own, which a new export may replace.
EXPORT_SIGNATURE = "snnapp_weights_sha256"


def write_out(path: str | Path, data: bytes | memoryview, what: str) -> Path:
    """Write an export outside model folders (``--out``) atomically, creating its folder. An
    existing file there is replaced only if it bears :data:`EXPORT_SIGNATURE` (the project wrote it)."""
    return write_claimed(path, data, EXPORT_SIGNATURE.encode(), what)


#: Largest JSON file of a model folder that is read (config, metrics, manifest are a few kB).
MAX_JSON_BYTES = 16 * 1024 * 1024
#: Largest weights file that is read (MAX_PARAMETERS float32 values, with room to spare).
MAX_WEIGHTS_BYTES = 8 * MAX_PARAMETERS
#: Files a backend executes: where present they must be covered by the manifest.
EXECUTED = (ONNX, "model_window.onnx")


def _regular_file(path: Path) -> None:
    """:class:`ModelError` unless ``path`` is a regular file (a pipe would block, a folder fail)."""
    if not path.is_file() or path.is_symlink():  # a link may point anywhere, and change after the check
        if path.exists() or path.is_symlink():
            raise ModelError(f"{shown(path)}: not a regular file")
        raise ModelError(f"{shown(path)}: missing; a model folder needs {WEIGHTS}, {CONFIG}, {METRICS} and {MANIFEST}")


def _read_json(path: Path) -> Any:
    _regular_file(path)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ModelError(f"{shown(path)}: {path.stat().st_size} bytes is too large for this file of a model folder")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{shown(path)}: missing; a model folder needs {WEIGHTS}, {CONFIG}, {METRICS} and {MANIFEST}") from None
    except OSError as exc:
        raise ModelError(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from None
    except RecursionError:
        raise ModelError(f"{shown(path)}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of thousands of digits
        raise ModelError(f"{shown(path)}: not valid JSON ({exc})") from None


def verify_folder(folder: Path) -> None:
    """Check every file against the manifest; raise :class:`ModelError` naming what differs.

    ``model.onnx`` and ``model_window.onnx``, which a backend runs, must be listed where present.
    """
    manifest = _read_json(folder / MANIFEST)
    sums = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(sums, dict) or WEIGHTS not in sums or CONFIG not in sums:
        raise ModelError(f"{folder / MANIFEST}: no checksums for {WEIGHTS} and {CONFIG}")
    for name, digest in sums.items():
        if not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
            raise ModelError(f"{folder / MANIFEST}: invalid file name {short_repr(name)}")
        p = folder / name
        if not isinstance(digest, str):
            raise ModelError(f"{folder / MANIFEST}: the checksum of {name} is not a string")
        if not p.is_file() or p.is_symlink():
            raise ModelError(f"{shown(p)}: missing (listed in the manifest)" if not (p.exists() or p.is_symlink())
                             else f"{p}: not a regular file")
        if p.stat().st_size > MAX_WEIGHTS_BYTES:
            raise ModelError(f"{shown(p)}: {p.stat().st_size / 2**20:.0f} MiB is more than any file of a model folder holds")
        if sha256_file(p) != digest:
            raise ModelError(f"{shown(p)}: checksum mismatch; the file was changed or damaged since the model was saved")
    for name in EXECUTED:
        if name not in sums and ((folder / name).exists() or (folder / name).is_symlink()):
            raise ModelError(f"{shown(folder / name)}: not in the manifest; it was added after the model was saved",
                             hint=Hint("export", shown(folder)))


def load_model(folder: str | Path, verify: bool = True) -> ModelFolder:
    """Read and verify a model folder (numpy weights; see ``snnapp.core.torch_model`` for torch).

    Anything wrong (missing or extra files, damage, bad JSON, impossible settings, weights that
    are not finite) raises :class:`ModelError` naming the file and the problem.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{shown(folder)}: no such model folder")
    if verify:
        verify_folder(folder)
    config = ModelConfig.from_dict(_read_json(folder / CONFIG), source=str(folder / CONFIG))
    metrics = _read_json(folder / METRICS) if (folder / METRICS).exists() else {}
    if not isinstance(metrics, dict):
        raise ModelError(f"{folder / METRICS}: expected a JSON object, got {type(metrics).__name__}")
    path = folder / WEIGHTS
    _regular_file(path)
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ModelError(f"{shown(path)}: {path.stat().st_size / 2**20:.0f} MiB is more than any model of this kind holds")
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{shown(path)}: not a readable safetensors file ({exc})") from None
    for name, array in weights.items():
        if array.dtype.kind not in "fiub":
            raise ModelError(f"{shown(path)}: weight {name} has element type {array.dtype}, not numbers")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ModelError(f"{shown(path)}: weight {name} holds NaN or infinite values; the model is damaged")
    return ModelFolder(folder, config, weights, metrics)
