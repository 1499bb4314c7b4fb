"""Regenerate the sample inputs in ``snnapp/assets/samples``.

* ``audio/{d}_espeak.wav``: the English word for digit ``d`` spoken by espeak-ng (voice en-us,
  140 words/min), converted by SoX to mono 8 kHz 16-bit PCM, the format of FSDD.
* ``image/{d}_drawn.png``: digit ``d`` drawn by the code below with a round pen along
  hand-designed strokes, with a little seeded jitter: white on a black 280x280 canvas, as the
  app's drawing pad produces.
* ``image/{d}_photo.png`` for a few digits: the same strokes as dark ink on light, unevenly lit,
  noisy "paper", as a phone photo of a written digit.

Everything is generated: no third-party data. Needs Pillow and numpy; the audio needs the
``espeak-ng`` and ``sox`` commands (``apt-get install espeak-ng sox``).

    python tools/make_samples.py            # both
    python tools/make_samples.py --images   # images only
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "snnapp" / "assets" / "samples"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOICE, SPEED = "en-us", 140
PHOTO_DIGITS = (2, 5, 7)
SEED = 20240607


# -- strokes ----------------------------------------------------------------------------------
# Each digit is a list of strokes; a stroke is a list of (x, y) points in a unit square, y down.


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list[tuple[float, float]]:
    """Points of an elliptic arc from angle a0 to a1 (degrees; 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(a0, a1, n)
    ]


STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.2, 0.33, -100, 265, 40)],
    1: [[(0.38, 0.30), (0.53, 0.16), (0.53, 0.85)]],
    2: [_arc(0.5, 0.34, 0.19, 0.18, 195, 395) + [(0.30, 0.84), (0.73, 0.84)]],
    3: [_arc(0.49, 0.33, 0.17, 0.16, 200, 450), _arc(0.49, 0.66, 0.2, 0.18, -90, 160)],
    4: [[(0.58, 0.16), (0.27, 0.62), (0.76, 0.62)], [(0.6, 0.36), (0.6, 0.86)]],
    5: [[(0.70, 0.16), (0.36, 0.16), (0.33, 0.47)] + _arc(0.5, 0.64, 0.2, 0.2, -135, 150)],
    6: [[(0.66, 0.15), (0.50, 0.27), (0.37, 0.45)] + _arc(0.51, 0.67, 0.18, 0.18, 200, 560, 36)],
    7: [[(0.27, 0.16), (0.73, 0.16), (0.44, 0.86)]],
    8: [_arc(0.5, 0.32, 0.16, 0.16, 90, 450), _arc(0.5, 0.67, 0.2, 0.19, -90, 270)],
    9: [_arc(0.49, 0.34, 0.17, 0.17, 0, 360, 36), [(0.66, 0.34), (0.63, 0.6), (0.58, 0.86)]],
}


def _jitter(strokes, rng: np.random.Generator):
    """A small random affine (rotation, shear, scale, shift) and a wobble of each point."""
    rot, shear = math.radians(rng.uniform(-8, 8)), rng.uniform(-0.12, 0.12)
    sx, sy = rng.uniform(0.9, 1.05), rng.uniform(0.9, 1.05)
    dx, dy = rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04)
    c, s = math.cos(rot), math.sin(rot)
    out = []
    for stroke in strokes:
        pts = np.asarray(stroke) - 0.5
        pts = pts + rng.normal(0.0, 0.006, pts.shape)
        x, y = pts[:, 0] * sx + shear * pts[:, 1], pts[:, 1] * sy
        out.append(np.stack([c * x - s * y + 0.5 + dx, s * x + c * y + 0.5 + dy], axis=1))
    return out


def draw_digit(d: int, size: int, pen: float, rng: np.random.Generator) -> Image.Image:
    """Digit ``d`` as white strokes on black, size x size, anti-aliased (drawn 4x and reduced)."""
    k = 4
    big = Image.new("L", (size * k, size * k), 0)
    draw = ImageDraw.Draw(big)
    w = int(round(pen * k))
    for stroke in _jitter(STROKES[d], rng):
        pts = [(float(x * size * k), float(y * size * k)) for x, y in stroke]
        draw.line(pts, fill=255, width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    return big.resize((size, size), Image.Resampling.BOX)


def photo_of(ink: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Dark blue-black ink on unevenly lit paper with sensor noise, RGB."""
    a = np.asarray(ink.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32) / 255.0
    h, w = a.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    light = 0.78 + 0.14 * (1 - xx) * (1 - 0.5 * yy) + rng.uniform(-0.03, 0.03)
    paper = np.stack([light * 0.97, light * 0.95, light * 0.88], axis=-1)
    ink_rgb = np.array([0.16, 0.17, 0.28])
    img = paper * (1 - 0.9 * a[..., None]) + ink_rgb * 0.9 * a[..., None]
    img = img + rng.normal(0.0, 0.012, (h, w, 1))
    return Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")


def make_images(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for d in range(10):
        draw_digit(d, 280, rng.uniform(17, 23), rng).save(out / f"{d}_drawn.png", optimize=True)
    for d in PHOTO_DIGITS:
        photo_of(draw_digit(d, 128, rng.uniform(6, 9), rng), rng).save(out / f"{d}_photo.png", optimize=True)


def make_audio(out: Path) -> None:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install espeak-ng sox)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for d, word in enumerate(WORDS):
            raw = Path(tmp) / f"{d}.wav"
            subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(SPEED), "-w", str(raw), word], check=True)
            subprocess.run(["sox", str(raw), "-D", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                            str(out / f"{d}_espeak.wav")], check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", action="store_true", help="only the images")
    p.add_argument("--audio", action="store_true", help="only the audio")
    a = p.parse_args()
    if not a.audio:
        make_images(OUT / "image")
    if not a.images:
        make_audio(OUT / "audio")


if __name__ == "__main__":
    main()
