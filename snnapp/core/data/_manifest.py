"""What the data sets must contain, and checks that a copy on disk is the genuine one.

MNIST is checked by the md5 of each *uncompressed* file (mirrors recompress the .gz files, so
their own bytes differ). FSDD is checked by one sha256 over the sorted lines
``"<name> <sha256 of the file>\\n"`` of all WAV files in ``recordings/`` plus the file count.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from snnapp.core.errors import DataError

#: name -> (md5 of the uncompressed file, size of the uncompressed file in bytes)
MNIST_FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 47_040_016),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 60_008),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 7_840_016),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 10_008),
}
#: split -> (images file, labels file)
MNIST_SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

FSDD_TAG = "v1.0.10"
FSDD_FILE_COUNT = 3000
FSDD_TOTAL_BYTES = 21_128_848
FSDD_MANIFEST_SHA256 = "dbd573d7cafe79c4b49f65718115e1304e24e067fa39eff18a660dc6cb9c360f"

_CHUNK = 1 << 20
_md5_cache: dict[tuple[str, int, int, int], str] = {}
_md5_lock = threading.Lock()


def mnist_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "mnist"


def fsdd_recordings_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "fsdd" / "recordings"


def find_mnist_file(folder: Path, name: str) -> Path | None:
    """The uncompressed file if present (fastest to read), else the ``.gz`` one, else None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _cache_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)


def remember_md5(path: Path, md5: str) -> None:
    """Record the md5 of a file's uncompressed content, computed by a caller that read it anyway."""
    with _md5_lock:
        _md5_cache[_cache_key(path)] = md5


def cached_md5(path: Path) -> str | None:
    with _md5_lock:
        return _md5_cache.get(_cache_key(path))


def uncompressed_md5(path: Path, max_bytes: int, compressed: bool | None = None) -> str:
    """md5 of the file's content, gunzipped when ``compressed`` (default: name ends in ``.gz``).

    Cached per path/mtime/size. Reading stops past ``max_bytes`` so a gzip bomb cannot run long.
    """
    path = Path(path)
    known = cached_md5(path)
    if known is not None:
        return known
    digest = hashlib.md5()
    total = 0
    try:
        if compressed is None:
            compressed = path.name.endswith(".gz")
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise DataError(f"{path}: content is larger than the expected {max_bytes} bytes")
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot be read ({exc}); the file is damaged") from exc
    md5 = digest.hexdigest()
    remember_md5(path, md5)
    return md5


def mnist_file_problem(path: Path, name: str, compressed: bool | None = None) -> str | None:
    """None when ``path`` holds the genuine MNIST file ``name``, else what is wrong with it."""
    expected_md5, size = MNIST_FILES[name]
    try:
        md5 = uncompressed_md5(path, size, compressed)
    except DataError as exc:
        return str(exc)
    if md5 != expected_md5:
        return f"{path}: content md5 {md5} is not the MNIST reference {expected_md5}"
    return None


def fsdd_manifest(recordings: Path) -> tuple[int, str]:
    """(number of WAV files, combined sha256) of a ``recordings`` folder."""
    lines = []
    try:
        with os.scandir(recordings) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".wav") and e.is_file())
        for name in names:
            digest = hashlib.sha256((recordings / name).read_bytes()).hexdigest()
            lines.append(f"{name} {digest}\n")
    except OSError as exc:
        raise DataError(f"{recordings}: cannot be read ({exc})") from exc
    return len(names), hashlib.sha256("".join(lines).encode()).hexdigest()


def fsdd_problem(recordings: Path) -> str | None:
    """None when ``recordings`` is exactly the FSDD release's recordings, else what differs."""
    count, digest = fsdd_manifest(recordings)
    if count != FSDD_FILE_COUNT:
        return f"{recordings}: {count} WAV files, the FSDD {FSDD_TAG} release has {FSDD_FILE_COUNT}"
    if digest != FSDD_MANIFEST_SHA256:
        return f"{recordings}: WAV contents differ from the FSDD {FSDD_TAG} release (manifest mismatch)"
    return None


@dataclass(frozen=True)
class DatasetStatus:
    """What ``status`` found for one data set; ``detail`` is a one-line human explanation."""

    name: str
    path: Path
    present: bool
    verified: bool
    detail: str
    files: tuple[Path, ...] = field(default=())


def _mnist_status(data_dir: Path) -> DatasetStatus:
    folder = mnist_dir(data_dir)
    found: list[Path] = []
    missing: list[str] = []
    problems: list[str] = []
    for name in MNIST_FILES:
        path = find_mnist_file(folder, name)
        if path is None:
            missing.append(name)
            continue
        found.append(path)
        problem = mnist_file_problem(path, name)
        if problem is not None:
            problems.append(problem)
    if missing:
        detail = f"missing in {folder}: " + ", ".join(f"{n}[.gz]" for n in missing)
        return DatasetStatus("mnist", folder, False, False, detail, tuple(found))
    if problems:
        return DatasetStatus("mnist", folder, True, False, "; ".join(problems), tuple(found))
    return DatasetStatus("mnist", folder, True, True, "4 files, md5 verified", tuple(found))


def _fsdd_status(data_dir: Path) -> DatasetStatus:
    folder = fsdd_recordings_dir(data_dir)
    if not folder.is_dir():
        return DatasetStatus("fsdd", folder, False, False, f"missing: {folder}")
    count, _ = fsdd_manifest(folder)
    if count == 0:
        return DatasetStatus("fsdd", folder, False, False, f"no WAV files in {folder}")
    problem = fsdd_problem(folder)
    if problem is not None:
        return DatasetStatus("fsdd", folder, True, False, problem, (folder,))
    detail = f"{count} recordings, {FSDD_TAG} manifest verified"
    return DatasetStatus("fsdd", folder, True, True, detail, (folder,))


def status(data_dir: str | Path) -> list[DatasetStatus]:
    """Presence and integrity of each data set under ``data_dir``; reads and hashes the files."""
    data_dir = Path(data_dir)
    return [_mnist_status(data_dir), _fsdd_status(data_dir)]
