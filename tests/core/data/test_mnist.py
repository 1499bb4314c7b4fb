from __future__ import annotations

import gzip
import hashlib
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from snnapp.cli._common import one_line
from snnapp.core.data import load_mnist
from snnapp.core.errors import DataError

TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"


@pytest.fixture(scope="module")
def raw_test_files(shared_data: Path) -> dict[str, bytes]:
    """The uncompressed bytes of the MNIST test split."""
    return {name: gzip.decompress((shared_data / "mnist" / f"{name}.gz").read_bytes()) for name in (TEST_IMAGES, TEST_LABELS)}


def _write(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


@pytest.mark.parametrize(
    ("split", "count", "first_labels"),
    [("train", 60_000, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]), ("test", 10_000, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])],
)
def test_real_splits(shared_data: Path, split: str, count: int, first_labels: list[int]) -> None:
    images, labels = load_mnist(shared_data, split)
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == first_labels
    assert set(np.unique(labels).tolist()) == set(range(10))
    assert images.max() == 255 and images.min() == 0
    assert images.flags.writeable  # callers may normalise in place without copying


def test_raw_files_equal_gz_files(shared_data: Path, tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    _write(tmp_path, raw_test_files)
    raw_images, raw_labels = load_mnist(tmp_path, "test")
    gz_images, gz_labels = load_mnist(shared_data, "test")
    np.testing.assert_array_equal(raw_images, gz_images)
    np.testing.assert_array_equal(raw_labels, gz_labels)


def test_content_md5_is_the_reference(raw_test_files: dict[str, bytes]) -> None:
    assert hashlib.md5(raw_test_files[TEST_IMAGES]).hexdigest() == "2646ac647ad5339dbf082846283269ea"


def test_missing_file_names_path_and_remedy(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte") as info:
        load_mnist(tmp_path, "test")
    assert str(tmp_path / "mnist") in str(info.value)
    assert [h.kind for h in info.value.hints] == ["download", "say", "data_dir"] and "--" not in str(info.value)
    assert "run `snnapp data download mnist`" in one_line(info.value) and "SNNAPP_DATA_DIR" in one_line(info.value)


def test_bad_split_is_rejected(shared_data: Path) -> None:
    with pytest.raises(ValueError):
        load_mnist(shared_data, "validation")  # type: ignore[arg-type]


def test_wrong_magic(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    images = bytearray(raw_test_files[TEST_IMAGES])
    images[3] = 0x01
    folder = _write(tmp_path, {TEST_IMAGES: bytes(images), TEST_LABELS: raw_test_files[TEST_LABELS]})
    with pytest.raises(DataError, match="magic") as info:
        load_mnist(tmp_path, "test")
    assert str(folder / TEST_IMAGES) in str(info.value)


@pytest.mark.parametrize("claimed", [20_000, 9_999])
def test_lying_count_in_raw_header(tmp_path: Path, raw_test_files: dict[str, bytes], claimed: int) -> None:
    images = bytearray(raw_test_files[TEST_IMAGES])
    images[4:8] = struct.pack(">I", claimed)
    _write(tmp_path, {TEST_IMAGES: bytes(images), TEST_LABELS: raw_test_files[TEST_LABELS]})
    with pytest.raises(DataError, match=rf"{TEST_IMAGES}.*{claimed} items"):
        load_mnist(tmp_path, "test", verify=False)


def test_absurd_count_rejected_before_reading(tmp_path: Path) -> None:
    header = struct.pack(">IIII", 0x803, 0xFFFFFFF0, 28, 28)
    _write(tmp_path, {TEST_IMAGES: header, TEST_LABELS: struct.pack(">II", 0x801, 0)})
    with pytest.raises(DataError, match=TEST_IMAGES):
        load_mnist(tmp_path, "test", verify=False)


def test_lying_gz_header_allocates_nothing_big(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    images = bytearray(raw_test_files[TEST_IMAGES])
    images[4:8] = struct.pack(">I", 999_999)  # claims 784 MB, holds 7.8 MB
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / f"{TEST_IMAGES}.gz").write_bytes(gzip.compress(bytes(images), compresslevel=1))
    (folder / TEST_LABELS).write_bytes(raw_test_files[TEST_LABELS])
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=rf"{TEST_IMAGES}.gz.*truncated"):
            load_mnist(tmp_path, "test", verify=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024


def test_truncated_raw_file(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    _write(tmp_path, {TEST_IMAGES: raw_test_files[TEST_IMAGES][:-1000], TEST_LABELS: raw_test_files[TEST_LABELS]})
    with pytest.raises(DataError, match=rf"{TEST_IMAGES}.*truncated"):
        load_mnist(tmp_path, "test")


def test_truncated_gz_file(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    folder = _write(tmp_path, {TEST_IMAGES: raw_test_files[TEST_IMAGES]})
    packed = gzip.compress(raw_test_files[TEST_LABELS])
    (folder / f"{TEST_LABELS}.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=rf"{TEST_LABELS}.gz"):
        load_mnist(tmp_path, "test")


def test_trailing_bytes_rejected(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    _write(tmp_path, {TEST_IMAGES: raw_test_files[TEST_IMAGES], TEST_LABELS: raw_test_files[TEST_LABELS] + b"\0"})
    with pytest.raises(DataError, match=TEST_LABELS):
        load_mnist(tmp_path, "test")


def test_changed_pixel_fails_md5_unless_unverified(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    images = bytearray(raw_test_files[TEST_IMAGES])
    images[16 + 400] ^= 0xFF
    _write(tmp_path, {TEST_IMAGES: bytes(images), TEST_LABELS: raw_test_files[TEST_LABELS]})
    with pytest.raises(DataError, match=rf"{TEST_IMAGES}.*md5"):
        load_mnist(tmp_path, "test")
    loaded, _ = load_mnist(tmp_path, "test", verify=False)
    assert loaded.reshape(-1)[400] == images[16 + 400]


def test_label_count_mismatch(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    labels = struct.pack(">II", 0x801, 9_999) + raw_test_files[TEST_LABELS][8:-1]
    _write(tmp_path, {TEST_IMAGES: raw_test_files[TEST_IMAGES], TEST_LABELS: labels})
    with pytest.raises(DataError, match=r"9999 labels.*10000 images"):
        load_mnist(tmp_path, "test", verify=False)


def test_label_out_of_range(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    labels = bytearray(raw_test_files[TEST_LABELS])
    labels[20] = 12
    _write(tmp_path, {TEST_IMAGES: raw_test_files[TEST_IMAGES], TEST_LABELS: bytes(labels)})
    with pytest.raises(DataError, match=rf"{TEST_LABELS}.*label 12"):
        load_mnist(tmp_path, "test", verify=False)


def test_gzip_without_gz_suffix(tmp_path: Path, raw_test_files: dict[str, bytes]) -> None:
    _write(tmp_path, {TEST_IMAGES: gzip.compress(raw_test_files[TEST_IMAGES], 1), TEST_LABELS: raw_test_files[TEST_LABELS]})
    with pytest.raises(DataError, match=rf"{TEST_IMAGES}.*gzip"):
        load_mnist(tmp_path, "test")
