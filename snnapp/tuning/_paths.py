"""Paths made from studies: a study's name as one safe file name, and folders tied to one study.

Study names are free text chosen by users (``team/exp1``, ``../x``, names with spaces or control
characters); a file name made from one must stay a single component of the folder it is put in.
A folder of trial models belongs to one study (its name and storage), recorded in a marker file
the first time it is used, so that two studies never share, replace or report each other's models.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from snnapp.core._atomic import _stale_entry, claim_folder, destination, disk_error, examine, shown, write_file
from snnapp.core.errors import PathError

#: Characters a study's file name keeps as they are; every other one is replaced.
_KEPT = re.compile(r"[A-Za-z0-9_.+-]")
#: Longest kept part of a name (room is left for a suffix such as ``_slice_lr_correct_rate.png``).
MAX_STEM = 80


def study_file_name(name: str) -> str:
    """A single, safe file name component for the study ``name``.

    A name made only of letters, digits and ``_ . + -`` that does not start with a dot (and is not
    a name the project keeps for files being written, ``*.part``) is used as it is. Any other name
    has its other characters replaced by ``_``, is cut to :data:`MAX_STEM` characters, and gets a
    ``~`` and a short hash of the whole name, so that two distinct names never share a file name
    (``~`` is never kept, so a suffixed name cannot equal a name used as it is).
    """
    text = os.fsdecode(name) if isinstance(name, bytes) else str(name)
    kept = "".join(c if _KEPT.fullmatch(c) else "_" for c in text)
    if kept == text and text and not text.startswith(".") and not text.lower().endswith(".part") \
            and len(text) <= MAX_STEM:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    stem = kept[:MAX_STEM].lstrip(".") or "study"
    return f"{stem}~{digest}"


# --- folders tied to one study (or one reproduction) ------------------------------------------

#: The file the project writes into a study's folder of trial models when it first uses it: which
#: study (name and storage) the folder belongs to. Every later use checks it.
STUDY_MARKER = "snnapp-study.json"
#: The same for the folder of ``snnapp reproduce``: which storage its studies live in.
REPRODUCE_MARKER = "snnapp-reproduce.json"
_MAX_MARKER_BYTES = 64 * 1024
#: What a study folder written before the marker existed may hold (besides what killed writers left).
_STUDY_NAMES = re.compile(r"trial-\d{4,}(\.ckpt)?|best|\.best-\d+")
#: The same for a reproduce folder (TABLES.md a file, the rest the database's files and trials/).
_REPRODUCE_NAMES = {"trials": True, "TABLES.md": False, "studies.db": False, "studies.db-journal": False,
                    "studies.db-wal": False, "studies.db-shm": False}


def _relative(storage: str, folder: Path) -> str | None:
    """A file storage's path relative to ``folder``: the same after both are moved together."""
    for prefix in ("sqlite:///", "journal:"):
        if storage.startswith(prefix) and len(storage) > len(prefix):
            return prefix + os.path.relpath(storage[len(prefix):], folder)
    return None


def _read_marker(path: Path) -> dict[str, Any] | None:
    """The marker at ``path``; None where there is none; :class:`PathError` where it is not one."""
    st = examine(path)
    if st is None:
        return None
    data: Any = None
    if stat.S_ISREG(st.st_mode) and st.st_size <= _MAX_MARKER_BYTES:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
    if not isinstance(data, dict) or not isinstance(data.get("format"), str) or \
            not data["format"].startswith("snnapp-"):
        raise PathError(f"{shown(path)}: not a marker snnapp wrote; refusing to use its folder "
                        "(choose another folder, or move it away first)")
    return data


def _same(found: dict[str, Any], wanted: dict[str, Any], folder: Path) -> bool:
    keys = set(found) | set(wanted)
    if any(found.get(k) != wanted.get(k) for k in keys - {"storage", "storage_relative"}):
        return False
    if found.get("storage") == wanted.get("storage"):
        return True
    # the folder and its SQLite or journal file moved together: the same storage
    return found.get("storage_relative") is not None and found.get("storage_relative") == wanted.get("storage_relative")


def _write_marker(path: Path, content: dict[str, Any]) -> None:
    """Write the marker if there is none yet (several workers may arrive at once: the first wins)."""
    data = (json.dumps(content, indent=2, sort_keys=True) + "\n").encode()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(tmp, data)
        try:
            os.link(tmp, path)  # fails where another process wrote its marker first
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    except OSError as exc:
        raise disk_error(path, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _claim_marked(folder: Path, marker: str, wanted: dict[str, Any], adoptable: Callable[[Path], bool], what: str,
                  mismatch: Callable[[Path, dict[str, Any]], str], write: bool) -> Path:
    dest = destination(folder)
    mine = {**wanted, "storage_relative": _relative(str(wanted.get("storage", "")), dest)}
    found = _read_marker(dest / marker) if dest.is_dir() else None
    if found is None:
        dest = claim_folder(dest, adoptable, what)  # absent, empty, or (before markers) only the project's names
        if not write:
            return dest
        _write_marker(dest / marker, mine)
        found = _read_marker(dest / marker)  # another process's, where it came first
    if found is None or not _same(found, mine, dest):
        raise PathError(mismatch(dest, found or {}))
    return dest


def _only_study_names(folder: Path) -> bool:
    """A study folder from before markers: nothing but trial folders, their checkpoints and ``best``."""
    for p in folder.iterdir():
        if _stale_entry(p):
            continue
        if not _STUDY_NAMES.fullmatch(p.name) or p.is_symlink() or not p.is_dir():
            return False
    return True


def _only_reproduce_names(folder: Path) -> bool:
    for p in folder.iterdir():
        if _stale_entry(p):
            continue
        is_dir = _REPRODUCE_NAMES.get(p.name)
        if is_dir is None or p.is_symlink() or p.is_dir() != is_dir:
            return False
    return True


def claim_study_folder(folder: Path, study: str, storage: str | None, write: bool = True) -> Path:
    """The folder of ``study``'s trial models, tied to the study: its absolute path, or :class:`PathError`.

    A folder that holds this study's marker is the study's. One without a marker is claimed (it
    must be absent, empty, or, written before markers existed, hold only trial folders, their
    checkpoints and ``best``) and, with ``write``, gets the marker. A folder of another study,
    or of the same name in another storage, is refused in one line naming both.
    """
    from ._storage import storage_identity

    wanted = {"format": "snnapp-study", "version": 1, "study": study, "storage": storage_identity(storage)}

    def mismatch(dest: Path, found: dict[str, Any]) -> str:
        if found.get("format") != "snnapp-study":
            theirs = "the folder of snnapp reproduce" if found.get("format") == "snnapp-reproduce" else \
                f"a folder of another kind ({_short(found.get('format'))})"
        else:
            theirs = f"the trial models of study {_short(found.get('study'))} in {_text(found.get('storage'))}"
        return (f"{shown(dest)}: holds {theirs}, not the trial models of study {_short(study)} in {wanted['storage']}; "
                "choose another folder for this study's trial models")

    return _claim_marked(folder, STUDY_MARKER, wanted, _only_study_names, "study folder", mismatch, write)


def claim_reproduce_folder(folder: Path, storage: str | None) -> Path:
    """The folder of ``snnapp reproduce`` (studies, trial models, TABLES.md), tied to the storage its
    studies live in by the same rule as :func:`claim_study_folder`."""
    from ._storage import storage_identity

    dest = destination(folder)
    wanted = {"format": "snnapp-reproduce", "version": 1,
              "storage": storage_identity(storage or f"sqlite:///{dest / 'studies.db'}")}

    def mismatch(dest: Path, found: dict[str, Any]) -> str:
        if found.get("format") != "snnapp-reproduce":
            return (f"{shown(dest)}: holds the trial models of study {_short(found.get('study'))}, not a "
                    "reproduction; choose another folder")
        return (f"{shown(dest)}: holds a reproduction whose studies live in {_text(found.get('storage'))}, not in "
                f"{wanted['storage']}; choose another folder")

    return _claim_marked(dest, REPRODUCE_MARKER, wanted, _only_reproduce_names, "reproduce folder", mismatch, True)


def _short(value: Any) -> str:
    from snnapp.core._dictconfig import short_repr

    return short_repr(value)


def _text(value: Any) -> str:
    """A storage read from a marker, for one line: as it is, its control characters escaped."""
    return shown(value)[:300] if isinstance(value, str) else _short(value)
