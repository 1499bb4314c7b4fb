"""Reading MNIST from its IDX files, raw or gzip, with every size checked before allocating.

The header of an IDX file says how many items follow; a damaged or hostile header must not make
the loader allocate gigabytes or return a silently short array, so the claimed size is checked
against the file (raw) or against what actually decompresses (gzip) before the data is trusted.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from snnapp.core.data._manifest import (
    MNIST_FILES,
    MNIST_SPLIT_FILES,
    cached_md5,
    find_mnist_file,
    mnist_dir,
    remember_md5,
)
from snnapp.core.errors import DataError, Hint

_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_SIDE = 28
#: More items than this is not an MNIST file, whatever its header says (784 MB of images).
MAX_ITEMS = 1_000_000
_CHUNK = 1 << 20
#: How to get a missing MNIST file: download it, put it there, or use a data folder that has it.
_HOW_TO_GET = (Hint("download", "mnist"), Hint("say", "put the file at that path (gzip or uncompressed)"),
               Hint("data_dir", "a folder that has mnist/ and fsdd/recordings/"))
#: A damaged MNIST file: the download replaces it.
_GET_AGAIN = Hint("download", "mnist")


def _parse_header(path: Path, header: bytes, images: bool) -> tuple[int, int]:
    """(number of items, total expected file size) from an IDX header, after validating it."""
    if header[:2] == b"\x1f\x8b":
        raise DataError(f"{path}: is gzip-compressed but its name does not end in .gz")
    magic, count = struct.unpack(">II", header[:8])
    want = _IMAGES_MAGIC if images else _LABELS_MAGIC
    if magic != want:
        kind = "images" if images else "labels"
        raise DataError(f"{path}: bad magic number 0x{magic:08x}, expected 0x{want:08x} (IDX {kind} file)")
    if count > MAX_ITEMS:
        raise DataError(f"{path}: header claims {count} items, more than any MNIST file ({MAX_ITEMS})")
    if images:
        rows, cols = struct.unpack(">II", header[8:16])
        if (rows, cols) != (_SIDE, _SIDE):
            raise DataError(f"{path}: images are {rows}x{cols}, expected {_SIDE}x{_SIDE}")
        return count, 16 + count * _SIDE * _SIDE
    return count, 8 + count


def _read_exact(f, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = f.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _read_idx(path: Path, images: bool, reference_size: int | None = None) -> tuple[int, bytearray]:
    """(item count, whole file content) of an IDX file, raw or gzip.

    With ``reference_size`` (the uncompressed size of the genuine file), a header claiming any
    other size is refused before the content is read: a hostile gzip cannot make the loader hold
    more than the real file would.
    """
    header_size = 16 if images else 8
    compressed = path.name.endswith(".gz")
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            header = _read_exact(f, header_size)
            if len(header) < header_size:
                raise DataError(f"{path}: truncated, only {len(header)} bytes where the header needs {header_size}")
            count, expected = _parse_header(path, header, images)
            if reference_size is not None and expected != reference_size:
                items = (reference_size - header_size) // (_SIDE * _SIDE if images else 1)
                raise DataError(f"{path}: header says {count} items, the MNIST file has {items}; it is corrupt "
                                "or not the original MNIST", hint=_GET_AGAIN)
            if not compressed:
                actual = path.stat().st_size
                if actual != expected:
                    raise DataError(
                        f"{path}: header says {count} items ({expected} bytes) but the file has {actual} bytes; "
                        "it is truncated or corrupt"
                    )
                buf = bytearray(expected)
                buf[:header_size] = header
                view = memoryview(buf)[header_size:]
                while view:
                    n = f.readinto(view)
                    if not n:
                        raise DataError(f"{path}: file shrank while being read")
                    view = view[n:]
                return count, buf
            # gzip: grow with what really decompresses, never trusting the claimed size
            buf = bytearray(header)
            while len(buf) <= expected:
                chunk = f.read(min(_CHUNK, expected + 1 - len(buf)))
                if not chunk:
                    break
                buf += chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot be read ({exc}); the file is damaged") from exc
    if len(buf) != expected:
        what = "truncated" if len(buf) < expected else "longer than its header says"
        raise DataError(
            f"{path}: header says {count} items ({expected} bytes uncompressed) but the content is {what}"
        )
    return count, buf


def _check_md5(path: Path, content: bytearray, name: str) -> None:
    expected = MNIST_FILES[name][0]
    md5 = cached_md5(path)
    if md5 is None:
        md5 = hashlib.md5(content).hexdigest()
        remember_md5(path, md5)
    if md5 != expected:
        raise DataError(
            f"{path}: content md5 {md5} is not the MNIST reference {expected}; the file is corrupt "
            "or not the original MNIST", hint=_GET_AGAIN
        )


def load_mnist(
    data_dir: str | Path, split: Literal["train", "test"], *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] and labels uint8 [N] of one MNIST split.

    Reads ``data_dir/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or the ``.gz``).
    With ``verify`` the uncompressed content must match the reference md5 (checked once per
    file version per process).
    """
    if split not in MNIST_SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = mnist_dir(Path(data_dir))
    arrays: list[tuple[Path, int, bytearray]] = []
    for name, images in zip(MNIST_SPLIT_FILES[split], (True, False)):
        path = find_mnist_file(folder, name)
        if path is None:
            raise DataError(f"MNIST {split} file missing: {folder / name} (or {name}.gz)", hint=_HOW_TO_GET)
        count, content = _read_idx(path, images, MNIST_FILES[name][1] if verify else None)
        if verify:
            _check_md5(path, content, name)
        arrays.append((path, count, content))
    (img_path, n_images, img_buf), (lbl_path, n_labels, lbl_buf) = arrays
    if n_images != n_labels:
        raise DataError(f"{lbl_path}: has {n_labels} labels but {img_path} has {n_images} images")
    images_arr = np.frombuffer(img_buf, dtype=np.uint8, offset=16).reshape(n_images, _SIDE, _SIDE)
    labels_arr = np.frombuffer(lbl_buf, dtype=np.uint8, offset=8)
    if n_labels and int(labels_arr.max()) > 9:
        raise DataError(f"{lbl_path}: contains label {int(labels_arr.max())}, labels must be 0-9")
    return images_arr, labels_arr
