"""Finding a written digit in a camera frame: nothing is found where there is no whole digit,
and clutter around a digit does not reach the model."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from snnapp.app._camera import find_digit
from tests.app.paper_kit import render

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("frame", [
    None,
    np.zeros((0, 0, 3), np.uint8),
    np.zeros((1, 1, 3), np.uint8),
    np.zeros((480, 640), np.uint8),
    np.zeros((480, 640, 3), np.uint8),
    np.full((480, 640, 3), 255, np.uint8),
    np.full((480, 640), 0.5, np.float64),
    np.clip(np.random.default_rng(1).normal(210, 4, (480, 640, 3)), 0, 255).astype(np.uint8),  # blank paper
    np.clip(np.random.default_rng(2).normal(25, 8, (480, 640, 3)), 0, 255).astype(np.uint8),  # lens covered
    np.zeros(5),
    np.array(3),
], ids=["none", "empty", "1x1", "black-gray", "black", "white", "flat-float", "paper", "dark", "1-d", "0-d"])
def test_find_digit_on_a_frame_without_a_digit_gives_none(frame) -> None:
    assert find_digit(frame) is None


def test_find_digit_reads_gray_frames_like_colour(digits) -> None:
    frame, _ = render(digits[3], np.random.default_rng(3))
    a, b = find_digit(frame), find_digit(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert a is not None and b is not None and a.box == b.box
    assert np.abs(a.crop - b.crop).max() < 0.05


def test_find_digit_ignores_clutter_around_the_digit(digits, model) -> None:
    clean, truth = render(digits[7], np.random.default_rng(4), height=140, shift=(-40, 20))
    frame = clean.copy()
    frame[:, : truth[0] - 8] = 40  # the table beside the sheet, close to the digit
    frame[:40, :] = 35
    cv2.line(frame, (470, 380), (620, 460), (60, 60, 60), 3)  # a pen stroke
    cv2.circle(frame, (560, 90), 5, (50, 50, 50), -1)  # a speck
    det, ref = find_digit(frame, model.config.image), find_digit(clean, model.config.image)
    assert det is not None and ref is not None
    x, y, w, h = det.box
    assert abs(x - truth[0]) <= 4 and abs(y - truth[1]) <= 4 and abs(w - truth[2]) <= 8 and abs(h - truth[3]) <= 8
    assert np.abs(det.crop - ref.crop).mean() < 0.01  # none of the clutter reaches the model
    assert model.run(det.crop[None], None).digits[0] == 7


def test_find_digit_skips_a_digit_cut_by_the_frame_edge(digits) -> None:
    frame, _ = render(digits[4], np.random.default_rng(5), shift=(-300, 0))
    assert find_digit(frame) is None
