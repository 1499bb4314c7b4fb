"""Fixtures of the camera tests: the shipped image model and the MNIST digits they write on paper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.app.paper_kit import LABELS


@pytest.fixture(scope="module")
def model():
    """The shipped image model through onnxruntime, as the app runs it on an edge device."""
    from snnapp.core.predict import shipped_model
    from snnapp.core.runtime import open_backend

    return open_backend(shipped_model("image"), "onnx", threads=1)


@pytest.fixture(scope="module")
def digits(data_dir: Path, model) -> dict[int, np.ndarray]:
    """For each of LABELS, the first MNIST test image of it that the model gets right as it is."""
    from snnapp.core.data import load_mnist

    images, labels = load_mnist(data_dir, "test")
    first = np.concatenate([np.flatnonzero(labels == d)[:5] for d in LABELS])
    predicted = model.run(images[first].astype(np.float32) / 255.0, None).digits
    chosen = {}
    for i, p in zip(first, predicted):
        if p == labels[i] and int(labels[i]) not in chosen:
            chosen[int(labels[i])] = images[i]
    assert sorted(chosen) == sorted(LABELS), "the shipped model misreads plain MNIST test digits"
    return chosen
