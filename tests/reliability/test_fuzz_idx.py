"""Hostile and clumsy data set files: MNIST's IDX files (raw and gzip) with wrong magic numbers,
lying sizes, truncation and damage, and FSDD recording folders full of odd names.

``load_mnist`` must return consistent arrays or raise :class:`DataError` naming the file, without
allocating what a lying header claims; ``list_fsdd`` must list exactly the recordings and
nothing else, or raise :class:`DataError`.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnapp.core.data import list_fsdd, load_mnist
from snnapp.core.data._mnist import MAX_ITEMS
from snnapp.core.errors import DataError

IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def idx_images(n: int, magic: int = 0x803, count: int | None = None, rows: int = 28, cols: int = 28,
               seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, n * 28 * 28, dtype=np.uint8).tobytes()
    return struct.pack(">IIII", magic, n if count is None else count, rows, cols) + pixels


def idx_labels(n: int, magic: int = 0x801, count: int | None = None, seed: int = 0) -> bytes:
    labels = np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8).tobytes()
    return struct.pack(">II", magic, n if count is None else count) + labels


def _put(root: Path, images: bytes, labels: bytes, gz_images: bool = False, gz_labels: bool = False) -> Path:
    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content, gz in ((IMAGES, images, gz_images), (LABELS, labels, gz_labels)):
        for stale in (folder / name, folder / f"{name}.gz"):
            stale.unlink(missing_ok=True)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
        else:
            (folder / name).write_bytes(content)
    return root


def _load_or_error(root: Path, verify: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        images, labels = load_mnist(root, "test", verify=verify)
    except DataError as err:
        assert IMAGES in str(err) or LABELS in str(err), err
        return None
    assert images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (28, 28)
    assert labels.dtype == np.uint8 and labels.shape == (images.shape[0],)
    assert labels.size == 0 or int(labels.max()) <= 9
    return images, labels


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_idx")


# ----------------------------------------------------------------------------------- IDX headers

_counts = st.one_of(st.integers(0, 6), st.sampled_from([MAX_ITEMS, MAX_ITEMS + 1, 10**9, 2**31, 2**32 - 1]),
                    st.integers(0, 2**32 - 1))
_magics = st.one_of(st.sampled_from([0x803, 0x801, 0x802, 0x0803_0000, 0x1F8B0800, 0, 0xFFFFFFFF, 0x08030000]),
                    st.integers(0, 2**32 - 1))


@FUZZ
@given(n=st.integers(0, 5), magic=_magics, count=st.one_of(st.none(), _counts),
       rows=st.sampled_from([28, 0, 1, 27, 29, 2**32 - 1]), cols=st.sampled_from([28, 0, 29, 2**31]),
       extra=st.integers(-800, 20), gz=st.booleans(), gz_labels=st.booleans(), label_count=st.one_of(st.none(), _counts),
       label_magic=st.one_of(st.just(0x801), _magics))
def test_any_header_gives_arrays_or_data_error(root: Path, n, magic, count, rows, cols, extra, gz, gz_labels,
                                               label_count, label_magic):
    images = idx_images(n, magic, count, rows, cols)
    images = images + bytes(extra) if extra >= 0 else images[:extra]
    _put(root, images, idx_labels(n, label_magic, label_count), gz, gz_labels)
    tracemalloc.start()
    try:
        got = _load_or_error(root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"{peak} bytes allocated for a file of {len(images)} bytes"
    if got is not None:
        assert got[0].shape[0] == n and magic == 0x803 and (count is None or count == n) and extra == 0
        assert (rows, cols) == (28, 28) and label_magic == 0x801 and label_count in (None, n)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=10),
       cut=st.one_of(st.none(), st.integers(0, 4000)), which=st.sampled_from(["images", "labels"]),
       gz=st.booleans(), damage_compressed=st.booleans())
def test_damaged_bytes_give_arrays_or_data_error(root: Path, edits, cut, which, gz, damage_compressed):
    files = {"images": idx_images(4), "labels": idx_labels(4)}
    data = bytearray(gzip.compress(files[which], mtime=0) if gz and damage_compressed else files[which])
    for pos, value in edits:
        data[pos % len(data)] = value
    data = bytes(data[:cut]) if cut is not None else bytes(data)
    files[which] = data
    folder = _put(root, files["images"], files["labels"], gz and not damage_compressed, False)
    if gz and damage_compressed:  # the damaged bytes are the compressed stream itself
        name = IMAGES if which == "images" else LABELS
        (folder / "mnist" / name).unlink()
        (folder / "mnist" / f"{name}.gz").write_bytes(data)
    _load_or_error(root)


@pytest.mark.parametrize("case", [
    "wrong_magic", "labels_as_images", "images_as_labels", "count_1e9", "count_u32max", "rows_27", "empty_file",
    "header_only_short", "one_byte_short", "one_byte_long", "gzip_without_suffix", "gz_suffix_not_gzip",
    "gz_truncated", "gz_trailing_garbage", "label_10", "count_mismatch",
])
def test_hand_made_damage(root: Path, case: str):
    good_i, good_l = idx_images(3), idx_labels(3)
    images, labels, gz_i = good_i, good_l, False
    if case == "wrong_magic":
        images = idx_images(3, magic=0x0000_0804)
    elif case == "labels_as_images":
        images = good_l
    elif case == "images_as_labels":
        labels = good_i
    elif case == "count_1e9":
        images = idx_images(3, count=10**9)
    elif case == "count_u32max":
        labels = idx_labels(3, count=2**32 - 1)
    elif case == "rows_27":
        images = idx_images(3, rows=27)
    elif case == "empty_file":
        images = b""
    elif case == "header_only_short":
        images = good_i[:10]
    elif case == "one_byte_short":
        images = good_i[:-1]
    elif case == "one_byte_long":
        images = good_i + b"\x00"
    elif case == "gzip_without_suffix":
        images = gzip.compress(good_i)
    elif case == "gz_suffix_not_gzip":
        gz_i = True
    elif case == "label_10":
        labels = good_l[:-1] + b"\x0a"
    elif case == "count_mismatch":
        labels = idx_labels(2)
    _put(root, images, labels, gz_images=gz_i)
    folder = root / "mnist"
    if case == "gz_suffix_not_gzip":
        (folder / f"{IMAGES}.gz").write_bytes(good_i)
    elif case == "gz_truncated":
        (folder / IMAGES).unlink()
        (folder / f"{IMAGES}.gz").write_bytes(gzip.compress(good_i)[:-12])
    elif case == "gz_trailing_garbage":
        (folder / IMAGES).unlink()
        (folder / f"{IMAGES}.gz").write_bytes(gzip.compress(good_i) + b"garbage!")
    with pytest.raises(DataError, match=IMAGES if case not in ("images_as_labels", "count_u32max", "label_10",
                                                                "count_mismatch") else LABELS):
        load_mnist(root, "test", verify=False)


def test_valid_small_files_load(root: Path):
    for gz in (False, True):
        _put(root, idx_images(7, seed=3), idx_labels(7, seed=3), gz, gz)
        images, labels = load_mnist(root, "test", verify=False)
        assert images.shape == (7, 28, 28) and labels.shape == (7,)
        assert images.tobytes() == idx_images(7, seed=3)[16:]


@FUZZ
@given(count=_counts.filter(lambda c: c != 10_000), gz=st.booleans())
def test_verified_load_refuses_a_foreign_size_before_reading(root: Path, count: int, gz: bool):
    _put(root, idx_images(2, count=count), idx_labels(2), gz)
    with pytest.raises(DataError, match=IMAGES):
        load_mnist(root, "test", verify=True)


_BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    from snnapp.core.data import load_mnist
    from snnapp.core.errors import DataError
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load_mnist(sys.argv[1], "test", verify=True)
        print("accepted")
    except DataError as err:
        print("refused:", err)
    print("GROWTH_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
""")


def test_gzip_bomb_with_a_true_header_is_refused_without_inflating_it(root: Path):
    """A 1 MB .gz whose header claims 999,999 images and that really inflates to 784 MB of them.

    Within MAX_ITEMS, so only the check against MNIST's known size keeps a verified load from
    inflating it all before the md5 says it is not MNIST.
    """
    folder = root / "bomb" / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    count = MAX_ITEMS - 1
    block = gzip.compress(bytes(1 << 22), compresslevel=9, mtime=0)  # gzip members may be concatenated
    total = count * 28 * 28
    with open(folder / f"{IMAGES}.gz", "wb") as f:
        f.write(gzip.compress(struct.pack(">IIII", 0x803, count, 28, 28), mtime=0))
        for _ in range(total >> 22):
            f.write(block)
        f.write(gzip.compress(bytes(total % (1 << 22)), mtime=0))
    (folder / LABELS).write_bytes(idx_labels(10_000))
    assert (folder / f"{IMAGES}.gz").stat().st_size < 2 * 1024 * 1024
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", _BOMB_SCRIPT, str(root / "bomb")], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "refused" in res.stdout and f"{IMAGES}.gz: header says {count} items" in res.stdout, res.stdout
    assert float(res.stdout.rsplit("GROWTH_MB", 1)[1]) < 32, res.stdout


def test_real_mnist_test_split_still_loads(data_dir: Path):
    images, labels = load_mnist(data_dir, "test")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)


# ----------------------------------------------------------------------------------- FSDD listings

_NAME = re.compile(r"^([0-9])_([A-Za-z]+)_([0-9]+)\.wav$")
_name_pieces = st.sampled_from(list("0123456789_.abcXYZ wav-") + ["é", "٣", "\u00a0", "WAV", ".wav", "_0", "\t"])
_names = st.one_of(
    st.builds(lambda d, s, t, ext: f"{d}_{s}_{t}{ext}", st.sampled_from(list("0123456789") + ["10", "a", "", "٣"]),
              st.sampled_from(["george", "theo", "Anna", "", "x_y", "jo hn", "zoë", "a1"]),
              st.one_of(st.integers(0, 60).map(str), st.sampled_from(["", "-1", "007", "9" * 200, "1e3", "٣"])),
              st.sampled_from([".wav", ".WAV", ".wav.bak", "", ".wavx", ". wav"])),
    st.lists(_name_pieces, min_size=1, max_size=20).map("".join),
)
_kinds = st.sampled_from(["file", "file", "file", "dir", "symlink", "broken_symlink", "fifo"])


@FUZZ
@given(entries=st.lists(st.tuples(_names, _kinds), max_size=25), split=st.sampled_from(["train", "test", "all"]),
       raw_name=st.booleans())
def test_fsdd_lists_exactly_the_recordings(tmp_path_factory: pytest.TempPathFactory, entries, split, raw_name):
    root = tmp_path_factory.mktemp("fsdd")
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    (root / "target.wav").write_bytes(b"RIFF")
    expected = set()
    for name, kind in entries:
        if "/" in name or name in (".", "..") or "\x00" in name:
            continue
        p = rec / name
        if p.exists() or p.is_symlink():
            continue
        try:
            if kind == "file":
                p.write_bytes(b"RIFF")
            elif kind == "dir":
                p.mkdir()
            elif kind == "symlink":
                p.symlink_to(root / "target.wav")
            elif kind == "broken_symlink":
                p.symlink_to(root / "absent.wav")
            elif kind == "fifo" and hasattr(os, "mkfifo"):
                os.mkfifo(p)
        except OSError:
            continue
        if kind in ("file", "symlink") and _NAME.match(name):
            expected.add(name)
    if raw_name:  # a name that is not valid UTF-8
        fd = os.open(os.fsencode(rec) + b"/1_bad\xff_3.wav", os.O_CREAT | os.O_WRONLY)
        os.close(fd)
    try:
        clips = list_fsdd(root, split)
    except DataError as err:
        assert str(rec) in str(err)
        chosen = {n for n in expected if split == "all" or (int(_NAME.match(n)[3]) < 5) == (split == "test")}
        assert not expected or not chosen, f"refused although {expected} are recordings"
        return
    names = [c.path.name for c in clips]
    assert len(names) == len(set(names))
    assert all(_NAME.match(n) for n in names)
    want = {n for n in expected if split == "all" or (int(_NAME.match(n)[3]) < 5) == (split == "test")}
    assert set(names) == want
    keys = [(c.digit, c.speaker, c.take) for c in clips]
    assert keys == sorted(keys)
    for c in clips:
        m = _NAME.match(c.path.name)
        assert (c.digit, c.speaker, c.take) == (int(m[1]), m[2], int(m[3]))


def test_fsdd_folder_missing_or_a_file(tmp_path: Path):
    with pytest.raises(DataError, match="recordings"):
        list_fsdd(tmp_path)
    (tmp_path / "fsdd").mkdir()
    (tmp_path / "fsdd" / "recordings").write_bytes(b"not a folder")
    with pytest.raises(DataError, match="recordings"):
        list_fsdd(tmp_path)


def test_fsdd_bad_split_is_a_value_error(tmp_path: Path):
    with pytest.raises(ValueError, match="split"):
        list_fsdd(tmp_path, "validation")  # type: ignore[arg-type]


def test_zlib_errors_are_data_errors(root: Path):
    _put(root, idx_images(2), idx_labels(2))
    folder = root / "mnist"
    (folder / IMAGES).unlink()
    good = gzip.compress(idx_images(2), mtime=0)
    broken = good[:10] + zlib.compress(b"x")[2:] + good[-8:]
    (folder / f"{IMAGES}.gz").write_bytes(broken)
    with pytest.raises(DataError, match=IMAGES):
        load_mnist(root, "test", verify=False)
