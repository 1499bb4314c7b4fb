"""Reading picture files for the image path: any format Pillow reads, bounded in size and memory.

:func:`load_image` checks a file's size from its header before decoding anything and reduces
very large pictures right after decoding, so that a hostile or huge file costs little; the
MNIST-style transform in :mod:`._image` takes it from there.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from snnapp.core._atomic import shown
from snnapp.core.errors import InputError

#: Largest picture accepted, in pixels: a 50-megapixel photo is already far more than a digit needs.
MAX_PIXELS = 50_000_000
#: Largest side accepted, in pixels (a strip one pixel high and a million wide is no picture).
MAX_SIDE = 100_000
#: Largest file accepted, in bytes.
MAX_FILE_BYTES = 200 * 1024 * 1024

def load_image(path: str | bytes | Path) -> np.ndarray:
    """Read a picture file as a 2-D grayscale array.

    Any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP...); the first frame of animated ones.
    Colour is reduced to luminance, transparency is composited on white (a transparent PNG is
    ink on paper), EXIF rotation is applied (a damaged EXIF block is ignored). Returns ``uint8``,
    or ``uint16`` for 16-bit grayscale, or ``float32`` for floating-point TIFFs. The size is
    checked from the header, before anything is decoded. A picture whose longer side exceeds
    ``2 *`` :data:`LOAD_SIDE` pixels is reduced by an integer factor (box average) right after
    decoding, before any conversion, so that memory stays near the decoded picture itself; its
    longer side stays at least :data:`LOAD_SIDE`, more than the MNIST transform works at.
    """
    from PIL import Image, ImageOps

    path = Path(os.fsdecode(path)) if isinstance(path, bytes) else Path(path)
    name = shown(path)  # for messages: one line, whatever bytes or control characters the name holds
    if not path.is_file():
        raise InputError(f"{name}: no such image file" if not path.exists() else f"{name}: not a regular file")
    nbytes = path.stat().st_size
    if nbytes == 0:
        raise InputError(f"{name}: the image file is empty")
    if nbytes > MAX_FILE_BYTES:
        raise InputError(f"{name}: {nbytes / 2**20:.0f} MiB is too large for an image of a digit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                _check_size(w, h, name)
                im.seek(0)
                im.load()
                _check_size(*im.size, name)  # some formats pick their size when loading
                small = _shrink(im)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # Pillow warns of corrupt EXIF data
                        small = ImageOps.exif_transpose(small) or small
                except Exception:  # noqa: BLE001 - a damaged EXIF block: keep the picture as stored
                    pass
                return _pil_to_gray(small)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{name}: the image is too large (over {MAX_PIXELS // 10**6} megapixels)") from None
    except MemoryError:
        raise InputError(f"{name}: the image is too large to decode") from None
    except Exception as exc:  # Pillow raises many types for broken or truncated files
        raise InputError(f"{name}: not a readable image ({type(exc).__name__}: {shown(str(exc))})") from None


#: Pictures are reduced after decoding while their longer side is over twice this (see load_image).
LOAD_SIDE = 1024


def _shrink(im):
    """``im`` box-averaged by the integer factor that brings its longer side to LOAD_SIDE-2*LOAD_SIDE.

    Done in bands of rows, so that no full-size converted copy is ever made (Pillow's ``reduce``
    premultiplies alpha into a copy, and palette pictures must become colour first).
    """
    from PIL import Image

    f = max(im.size) // LOAD_SIDE
    if f < 2:
        return im
    mode = im.mode
    if mode == "1":
        target = "L"
    elif mode.startswith("I;16") or mode == "I":
        target = "I"
    elif mode in ("P", "PA"):  # palette indices cannot be averaged
        target = "RGBA" if mode == "PA" or "transparency" in im.info else "RGB"
    elif mode in ("L", "LA", "La", "RGB", "RGBA", "RGBa", "F", "CMYK", "YCbCr"):
        target = mode
    else:
        target = "RGBA"
    w, h = im.size
    out = Image.new(target, (-(-w // f), -(-h // f)))
    rows = f * max(1, (1 << 22) // max(w * f, 1))  # bands of about 4 M pixels, whole blocks
    for top in range(0, h, rows):
        band = im.crop((0, top, w, min(top + rows, h)))
        if band.mode != target:
            band = band.convert(target)
        out.paste(band.reduce(f), (0, top // f))
    out.info = dict(im.info)
    return out


def _check_size(w: int, h: int, name: str) -> None:
    if w <= 0 or h <= 0:
        raise InputError(f"{name}: the image is empty ({w}x{h} pixels)")
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise InputError(f"{name}: {w}x{h} pixels is too large (at most {MAX_PIXELS // 10**6} megapixels)")


def _pil_to_gray(im) -> np.ndarray:
    from PIL import Image

    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":
        a = np.asarray(im)
        if a.size and a.min() >= 0 and a.max() <= 65535:
            return a.astype(np.uint16)
        return a.astype(np.float32)
    if mode == "F":
        return np.asarray(im, dtype=np.float32)
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"), dtype=np.uint8)
    if mode == "LAB":  # CIE L*a*b*: the lightness channel is the grayscale picture
        return np.asarray(im.getchannel(0), dtype=np.uint8)
    if mode == "HSV":  # Pillow converts HSV to RGB only
        im = im.convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.asarray(im.convert("L"), dtype=np.uint8)
