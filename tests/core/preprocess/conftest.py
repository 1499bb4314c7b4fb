"""Fixtures for the preprocessing tests: the shared read-only data sets, when present."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_data_dir

SAMPLES = Path(__file__).resolve().parents[3] / "snnapp" / "assets" / "samples"


@pytest.fixture(scope="session")
def mnist_test_images() -> np.ndarray:
    """The first 200 MNIST test images, uint8 [200, 28, 28]; skipped when MNIST is absent."""
    path = shared_data_dir() / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        pytest.skip(f"MNIST not found at {path}")
    with gzip.open(path, "rb") as f:
        raw = f.read(16 + 200 * 28 * 28)
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(200, 28, 28)


@pytest.fixture(scope="session")
def fsdd_clips() -> list[Path]:
    """A few FSDD recordings of different speakers and digits; skipped when FSDD is absent."""
    folder = shared_data_dir() / "fsdd" / "recordings"
    names = ["0_george_0.wav", "3_jackson_1.wav", "7_theo_2.wav", "9_yweweler_3.wav"]
    paths = [folder / n for n in names]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"FSDD recordings not found in {folder}")
    return paths
