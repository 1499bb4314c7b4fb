"""Image preprocessing: any picture of a digit -> a 28x28 MNIST-style image.

This is the one image path of the project: training, evaluation, ``predict``, the drawing pad,
the camera and the edge runtime all call :func:`image_features`. Its parameters live in
:class:`ImageConfig`, which is saved in every model's ``config.json``.

The steps follow MNIST's own preprocessing (LeCun et al.): the digit is white on black, its
bounding box is scaled, aspect kept and anti-aliased, into a ``box`` x ``box`` square, and that
square is placed in the ``size`` x ``size`` frame so that the centre of mass of the ink falls on
the frame's centre. Before that, pictures that are not already clean get their polarity detected
(dark ink on light paper is inverted), noise and uneven lighting removed and contrast stretched.
An MNIST image passes through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from snnapp.core._dictconfig import DictConfig, check_settings, setting
from snnapp.core.errors import ConfigError, InputError

from ._image_file import MAX_SIDE, _check_size, load_image

Invert = Literal["auto", "always", "never"]


@dataclass(frozen=True)
class ImageConfig(DictConfig):
    """Parameters of the image path; saved with the model so that inference matches training."""

    size: int = setting(28, "Side of the output image.", ge=1, le=1024)
    box: int = setting(20, "Side of the square the digit's bounding box is scaled into (MNIST: 20 in a 28 frame).",
                       ge=1, le=1024)
    invert: Invert = setting("auto", "auto: dark ink on a light background is detected from the border and "
                                     "inverted; always/never force it.")
    work_size: int = setting(512, "Larger pictures are first reduced (area average) so that their longest side "
                                  "is this.", ge=1, le=MAX_SIDE)
    clean_below: int = setting(56, "Pictures whose shorter side is at least this get a 3x3 median filter and uneven "
                                   "lighting removed; smaller ones (MNIST-sized) are taken as already clean.", ge=0)
    noise_sigmas: float = setting(4.0, "Ink fainter than this many times the background's noise level is set to "
                                       "zero.", ge=0.0, le=1e3)
    min_contrast: float = setting(0.04, "A picture whose ink differs from the background by less than this "
                                        "(fraction of full scale) holds no digit.", ge=0.0, le=1.0)
    min_component: float = setting(0.03, "In cleaned pictures, separate specks holding less than this fraction "
                                         "of the ink are dropped.", ge=0.0, le=1.0)
    ink_floor: float = setting(0.08, "In cleaned pictures, ink fainter than this fraction of the strongest is "
                                     "dropped, so that faint shading does not widen the bounding box.", ge=0.0, le=1.0)

    def __post_init__(self) -> None:
        check_settings(self, "image")
        if not self.box <= self.size <= self.work_size:
            raise ConfigError(f"image needs box ({self.box}) <= size ({self.size}) <= work_size ({self.work_size})")


# ---------------------------------------------------------------------------------------------
# Loading


# ---------------------------------------------------------------------------------------------
# The MNIST-style transform


def _to_gray_unit(image: np.ndarray, work_size: int = 512) -> np.ndarray:
    """Any 2-D/3-D array (uint8, uint16, other ints, bool, float) -> float32 2-D, about [0, 1]."""
    a = np.asarray(image)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InputError(f"image array: unsupported element type {a.dtype}")
    if np.iscomplexobj(a):
        raise InputError("image array: complex values are not an image")
    if a.ndim == 3 and a.shape[2] in (1, 2, 3, 4) and a.shape[0] > 4:
        pass
    elif a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] > 4:
        a = np.moveaxis(a, 0, -1)  # channels first
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise InputError(f"image array: shape {a.shape} is not a grayscale or colour image")
    _check_size(a.shape[1], a.shape[0], "image array")
    integer = np.issubdtype(a.dtype, np.integer)
    if a.dtype == bool:
        a = a.astype(np.uint8)
        scale = 1.0
    elif a.dtype == np.uint8:
        scale = 255.0
    elif a.dtype == np.uint16:
        scale = 65535.0
    else:
        scale = None
    # A very large picture is first averaged over f x f blocks (without a float copy of it all);
    # _reduce then brings it to the working size.
    f = max(a.shape[0], a.shape[1]) // (2 * work_size)
    if f >= 2:
        h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
        if h and w:
            blocks = a[:h, :w].reshape(h // f, f, w // f, f, *a.shape[2:])
            a = blocks.mean(axis=(1, 3), dtype=np.float64 if scale is None else np.float32)
    if a.dtype.kind == "f" and a.dtype.itemsize > 4 and a.size:
        big = float(np.finfo(np.float32).max)
        if np.nanmax(np.abs(a[np.isfinite(a)]), initial=0.0) > big:  # would turn inf as float32
            a = np.clip(a, -big, big)
    x = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if scale is None:
        lo, hi = float(x.min()), float(x.max())
        if lo >= 0.0:
            scale = 1.0 if hi <= 1.0 else 255.0 if hi <= 255.0 else 65535.0 if integer and hi <= 65535 else hi
        elif hi - lo > 1e38:  # a range near float32's limit: scale before shifting, or x - lo overflows
            x, scale = x * np.float32(0.25) - np.float32(0.25 * lo), 0.25 * (hi - lo)
        else:  # standardised or otherwise shifted values: map the range onto [0, 1]
            x, scale = x - lo, (hi - lo) if hi > lo else 1.0
    if scale != 1.0:
        x /= scale

    if x.ndim == 3:
        n = x.shape[2]
        if n in (2, 4):  # alpha: composite on white paper
            alpha = np.clip(x[:, :, -1:], 0.0, 1.0)
            x = x[:, :, :-1] * alpha + (1.0 - alpha)
        if x.shape[2] == 3:  # ITU-R 601-2 luma, as Pillow's convert("L")
            x = x[:, :, 0] * 0.299 + x[:, :, 1] * 0.587 + x[:, :, 2] * 0.114
        else:
            x = x[:, :, 0]
    return np.ascontiguousarray(x, dtype=np.float32)


def _reduce(x: np.ndarray, max_side: int) -> np.ndarray:
    """Area-average ``x`` so that its longest side is at most ``max_side``."""
    from PIL import Image

    h, w = x.shape
    if max(h, w) <= max_side:
        return x
    s = max_side / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    return np.asarray(Image.fromarray(x).resize((nw, nh), Image.Resampling.BOX), dtype=np.float32)


def _border(x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    m = max(1, min(h, w) // 20)
    if h <= 2 * m or w <= 2 * m:
        return x.ravel()
    return np.concatenate([x[:m].ravel(), x[-m:].ravel(), x[m:-m, :m].ravel(), x[m:-m, -m:].ravel()])


def _fit_surface(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Least-squares quadratic surface through the pixels of ``x`` where ``mask`` holds."""
    h, w = x.shape
    ys, xs = np.nonzero(mask)
    if ys.size < 12:
        return np.full_like(x, float(np.median(x)))
    if ys.size > 4000:
        pick = np.linspace(0, ys.size - 1, 4000).astype(np.int64)
        ys, xs = ys[pick], xs[pick]

    u = xs.astype(np.float64) / max(w - 1, 1) - 0.5
    v = ys.astype(np.float64) / max(h - 1, 1) - 0.5
    a = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)
    c, *_ = np.linalg.lstsq(a, x[ys, xs].astype(np.float64), rcond=None)
    u = (np.arange(w) / max(w - 1, 1) - 0.5)[None, :]
    v = (np.arange(h) / max(h - 1, 1) - 0.5)[:, None]
    return (c[0] + c[1] * u + c[2] * v + c[3] * u * u + c[4] * u * v + c[5] * v * v).astype(np.float32)


def _ink(x: np.ndarray, cfg: ImageConfig) -> np.ndarray:
    """Grayscale in [0, 1] -> ink map: white (1) ink on black (0), noise and background removed."""
    from scipy import ndimage

    lo, hi = np.percentile(x, [0.5, 99.5])
    if hi - lo < cfg.min_contrast:  # constant or nearly so: no digit
        return np.zeros_like(x)
    border = _border(x)
    bg = float(np.median(border))
    if cfg.invert == "always":
        invert = True
    elif cfg.invert == "never":
        invert = False
    else:
        # The background is what the border shows; where the border is ambiguous (a digit that
        # fills the frame), the median of the whole picture, mostly background, decides.
        mid = 0.5 * (lo + hi)
        invert = bg > mid if abs(bg - mid) > 0.1 * (hi - lo) else float(np.median(x)) > mid
    clean = min(x.shape) >= cfg.clean_below
    if clean:
        x = ndimage.median_filter(x, size=3, mode="nearest")
        # Uneven lighting. The background is what a grey opening (closing, for a light
        # background) larger than any stroke leaves. Ink on paper multiplies the light that
        # falls on it, so there the picture is divided by the paper; light on a dark screen or
        # pad adds, so there the background is subtracted.
        # A smooth (quadratic) surface fitted to the background corrects where the filters,
        # near the picture's edges, err on the side that would show background as ink.
        k = max(3, min(x.shape) // 4)
        if invert:
            paper = ndimage.grey_closing(x, size=(k, k), mode="nearest")
            paper = ndimage.uniform_filter(paper, size=k, mode="nearest")
            paper = np.minimum(paper, _fit_surface(x, x >= 0.85 * paper))
            x = 1.0 - x / np.maximum(paper, 1e-3)
        else:
            background = ndimage.grey_opening(x, size=(k, k), mode="nearest")
            background = ndimage.uniform_filter(background, size=k, mode="nearest")
            near = x <= background + 0.15 * (hi - lo)
            background = np.maximum(background, _fit_surface(x, near))
            x = x - background
        bg = float(np.median(_border(x)))
    elif invert:
        x = 1.0 - x
        bg = 1.0 - bg
    x = x - bg
    border = _border(x)
    noise = 1.4826 * float(np.median(np.abs(border - np.median(border))))
    t = max(cfg.noise_sigmas * noise, 0.0)
    x = np.where(x > t, x - t, 0.0).astype(np.float32)
    ink = x[x > 0]
    if ink.size == 0:
        return np.zeros_like(x)
    top = float(np.percentile(ink, 99.0))
    if top + t < cfg.min_contrast:
        return np.zeros_like(x)
    x = np.clip(x / top, 0.0, 1.0)

    if clean:
        x = np.where(x >= cfg.ink_floor, x, 0.0)
        labels, n = ndimage.label(x > 0.2)
        if n >= 1:
            mass = ndimage.sum_labels(x, labels, index=np.arange(1, n + 1))
            keep = np.zeros(n + 1, dtype=bool)
            keep[1:] = mass >= cfg.min_component * mass.sum()
            # faint fringes of kept strokes stay; isolated specks go
            near = ndimage.binary_dilation(keep[labels], iterations=2)
            x = np.where(near, x, 0.0).astype(np.float32)
    return x.astype(np.float32)


def to_mnist(image: np.ndarray, cfg: ImageConfig = ImageConfig()) -> np.ndarray:
    """Any grayscale or colour picture of one digit -> float32 ``[size, size]`` in [0, 1], MNIST-style.

    Accepts ``[H, W]``, ``[H, W, C]`` (C = 1, 2 gray+alpha, 3 RGB, 4 RGBA) or channels-first,
    as uint8, uint16, other integers, bool or float (floats in [0, 1], or [0, 255]).
    A blank picture gives all zeros.
    """
    from PIL import Image

    x = _to_gray_unit(image, cfg.work_size)
    x = _reduce(x, cfg.work_size)
    x = _ink(x, cfg)
    out = np.zeros((cfg.size, cfg.size), dtype=np.float32)
    rows = np.flatnonzero(x.max(axis=1) > 0)
    cols = np.flatnonzero(x.max(axis=0) > 0)
    if rows.size == 0:
        return out
    crop = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    s = cfg.box / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) != (h, w):
        img = Image.fromarray(np.ascontiguousarray(crop))
        # Lanczos, after an area reduction for large factors: anti-aliased, little ringing
        img = img.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=2.0)
        crop = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    total = float(crop.sum())
    if total <= 0:
        return out
    ys, xs = np.indices(crop.shape)
    cy, cx = float((crop * ys).sum()) / total, float((crop * xs).sum()) / total
    centre = cfg.size / 2
    top, left = int(np.floor(centre - cy + 0.5)), int(np.floor(centre - cx + 0.5))
    # keep the whole digit inside the frame
    top = min(max(top, 0), cfg.size - nh)
    left = min(max(left, 0), cfg.size - nw)
    out[top : top + nh, left : left + nw] = crop
    return out


def image_features(source: str | bytes | Path | np.ndarray, cfg: ImageConfig = ImageConfig()) -> np.ndarray:
    """The whole image path: a picture file, or an array, to a float32 ``[size, size]`` MNIST-style image."""
    if isinstance(source, (str, bytes, Path)):
        return to_mnist(load_image(source), cfg)
    return to_mnist(source, cfg)
