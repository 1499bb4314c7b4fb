"""A digit written on lit paper, as a camera would see it, for the capture and the digit-finding
tests (their fixtures, the model and the MNIST digits drawn, are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

W, H = 640, 480
LABELS = (2, 3, 4, 5, 7)


def render(digit: np.ndarray, rng: np.random.Generator, *, height: float = 200, angle: float = 0.0,
           shift: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A BGR frame of ``digit`` written in dark ink on lit paper, and the box of its ink."""
    import cv2  # the tests that draw skip themselves without OpenCV

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    paper = 200 + 25 * xx / W - 12 * yy / H + rng.normal(0.0, 3.0, (H, W))  # light falls from one side
    m = cv2.getRotationMatrix2D((14.0, 14.0), angle, height / 28)
    m[0, 2] += W / 2 - 14 + shift[0]
    m[1, 2] += H / 2 - 14 + shift[1]
    ink = np.clip(cv2.warpAffine(digit.astype(np.float32) / 255.0, m, (W, H), flags=cv2.INTER_CUBIC), 0.0, 1.0)
    gray = np.clip(paper * (1.0 - 0.8 * ink), 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(ink > 0.3)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), box


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """An MJPG video of ``frames``, which OpenCV reads back as it would a camera."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frames[0].shape[1], frames[0].shape[0]))
    assert writer.isOpened(), "OpenCV cannot write MJPG video here"
    for f in frames:
        writer.write(f)
    writer.release()
    return path
