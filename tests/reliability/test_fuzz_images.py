"""Hostile and clumsy pictures: broken and lying files, decompression bombs, every pixel mode,
damaged EXIF, and arrays of every kind, through ``load_image``, ``image_features`` and ``to_mnist``.

Every input must end in a finite 28x28 image in [0, 1] or an :class:`InputError` naming the file
(or "image array") and the problem: never another exception, a hang, or a huge allocation.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from snnapp.core.errors import ConfigError, InputError
from snnapp.core.preprocess import ImageConfig, image_features, load_image, to_mnist
from snnapp.core.preprocess._image_file import MAX_PIXELS, MAX_SIDE

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _digit(size: int = 28) -> np.ndarray:
    a = np.zeros((size, size), np.uint8)
    s = size / 28
    a[int(5 * s):int(23 * s), int(12 * s):int(16 * s)] = 255
    a[int(5 * s):int(8 * s), int(8 * s):int(20 * s)] = 255
    return a


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, depth: int = 8, colour: int = 0, idat: bytes | None = None, interlace: int = 0) -> bytes:
    """A PNG whose header says anything; ``idat`` the compressed rows (default: none)."""
    ihdr = struct.pack(">IIBBBBB", width & 0xFFFFFFFF, height & 0xFFFFFFFF, depth, colour, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"") if idat is None else idat)
            + _chunk(b"IEND", b""))


def bomb_png(width: int, height: int, colour: int = 0) -> bytes:
    """A real, valid PNG of zeros: tiny on disk, ``width * height`` pixels decoded."""
    per_pixel = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    c = zlib.compressobj(9)
    row = bytes(1 + width * per_pixel)
    return png(width, height, colour=colour, idat=b"".join(c.compress(row) for _ in range(height)) + c.flush())


def _sensible(out: np.ndarray) -> None:
    assert isinstance(out, np.ndarray) and out.shape == (28, 28) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def _features_or_error(path: Path) -> np.ndarray | None:
    t0 = time.perf_counter()
    try:
        out = image_features(path)
    except InputError as err:
        assert path.name in str(err), err
        return None
    finally:
        assert time.perf_counter() - t0 < 20, "one small file took over 20 s"
    _sensible(out)
    return out


@pytest.fixture(scope="module")
def img_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_images")


# ----------------------------------------------------------------------------------- files

_FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM", "TGA"]


def _sample(fmt: str) -> bytes:
    im = Image.fromarray(_digit(48))
    return _encode(im.convert("RGB") if fmt == "JPEG" else im, fmt)


_SAMPLES = {fmt: _sample(fmt) for fmt in _FORMATS}


@FUZZ
@given(fmt=st.sampled_from(_FORMATS), edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=16),
       cut=st.one_of(st.none(), st.integers(0, 4000)), junk=st.binary(max_size=64))
def test_damaged_files_give_a_digit_or_input_error(img_dir: Path, fmt: str, edits, cut, junk):
    data = bytearray(_SAMPLES[fmt])
    for pos, value in edits:
        data[pos % len(data)] = value
    data = bytes(data[:cut]) if cut is not None else bytes(data)
    p = img_dir / f"damaged.{fmt.lower()}"
    p.write_bytes(data + junk)
    _features_or_error(p)


@FUZZ
@given(prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
                               b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\x00\x00\x01\x00", b"P5\n", b"", b"8BPS"]),
       body=st.binary(max_size=600))
def test_random_bytes_behind_a_magic_number(img_dir: Path, prefix: bytes, body: bytes):
    p = img_dir / "random.img"
    p.write_bytes(prefix + body)
    _features_or_error(p)


@FUZZ
@given(width=st.one_of(st.integers(0, 64), st.sampled_from([MAX_SIDE, MAX_SIDE + 1, 2**31 - 1, 2**32 - 1]),
                       st.integers(0, 2**32 - 1)),
       height=st.one_of(st.integers(0, 64), st.sampled_from([MAX_SIDE, MAX_SIDE + 1, 2**31 - 1, 2**32 - 1]),
                        st.integers(0, 2**32 - 1)),
       depth=st.sampled_from([0, 1, 2, 4, 8, 16, 3, 32, 255]), colour=st.sampled_from([0, 2, 3, 4, 6, 1, 5, 7, 255]),
       interlace=st.sampled_from([0, 1, 2]), rows=st.one_of(st.none(), st.binary(max_size=300)))
def test_png_header_says_anything(img_dir: Path, width, height, depth, colour, interlace, rows):
    """Any IHDR, with no rows, garbage rows or compressed garbage rows: never a big allocation."""
    p = img_dir / "header.png"
    idat = None if rows is None else zlib.compress(rows) if len(rows) % 2 else rows
    p.write_bytes(png(width, height, depth, colour, idat, interlace))
    _features_or_error(p)


_MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr", "HSV", "LAB"]
_SAVES = {  # format -> modes it writes
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"},
    "TIFF": {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr", "LAB"},
    "JPEG": {"L", "RGB", "CMYK", "YCbCr"}, "GIF": {"L", "P"}, "BMP": {"1", "L", "P", "RGB", "RGBA"},
    "WEBP": {"RGB", "RGBA"},
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(_MODES), fmt=st.sampled_from(sorted(_SAVES)), w=st.integers(1, 300), h=st.integers(1, 300),
       seed=st.integers(0, 2**32 - 1), transparency=st.booleans())
def test_every_mode_and_format_loads(img_dir: Path, mode, fmt, w, h, seed, transparency):
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).convert(mode)
    kw = {}
    if im.mode not in _SAVES[fmt]:
        im = im.convert("RGBA" if "A" in mode or "a" in mode else "RGB" if fmt != "GIF" else "P")
        if im.mode not in _SAVES[fmt]:
            im = im.convert("L")
    if transparency and im.mode in ("P", "L") and fmt in ("PNG", "GIF"):
        kw["transparency"] = 0
    p = img_dir / f"mode.{fmt.lower()}"
    p.write_bytes(_encode(im, fmt, **kw))
    a = load_image(p)
    assert a.ndim == 2 and a.shape == (h, w) and a.dtype in (np.uint8, np.uint16, np.float32)
    _sensible(image_features(p))


@FUZZ
@given(raw=st.binary(max_size=80), tiff_header=st.booleans(), fmt=st.sampled_from(["JPEG", "PNG", "WEBP"]),
       orientation=st.one_of(st.none(), st.integers(0, 65535)))
def test_damaged_exif_is_ignored(img_dir: Path, raw: bytes, tiff_header: bool, fmt: str, orientation):
    """A picture with broken EXIF still loads; the EXIF block is only about rotation."""
    im = Image.fromarray(_digit(40))
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = exif.tobytes() + raw
    else:
        data = b"Exif\x00\x00" + (b"MM\x00*\x00\x00\x00\x08" if tiff_header else b"") + raw
    p = img_dir / f"exif.{fmt.lower()}"
    p.write_bytes(_encode(im.convert("RGB") if fmt == "JPEG" else im, fmt, exif=data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = image_features(p)
    _sensible(out)
    assert out.sum() > 10, "the digit was lost"


# ----------------------------------------------------------------------------------- hand-made files

def test_zero_by_zero_png(img_dir: Path):
    p = img_dir / "zero.png"
    p.write_bytes(png(0, 0))
    with pytest.raises(InputError, match="zero.png"):
        image_features(p)


@pytest.mark.parametrize("shape", [(1, 10000), (10000, 1), (1, 1), (2, 3), (1, MAX_SIDE)])
def test_strips_and_dots(img_dir: Path, shape):
    p = img_dir / f"strip{shape[0]}x{shape[1]}.png"
    a = np.full(shape, 40, np.uint8)
    a.flat[:: max(1, a.size // 7)] = 250
    Image.fromarray(a).save(p)
    _sensible(image_features(p))


def test_sixteen_bit_rgba_palette_and_transparent(img_dir: Path):
    d = _digit(56)
    cases = {
        "gray16.png": Image.fromarray(d.astype(np.uint16) * 257),
        "rgba.png": Image.fromarray(np.dstack([255 - d] * 3 + [np.full_like(d, 255)])),
        "transparent_ink.png": Image.fromarray(np.dstack([np.zeros_like(d)] * 3 + [d])),
        "palette.png": Image.fromarray(d).convert("P"),
        "palette.gif": Image.fromarray(d).convert("P"),
        "bilevel.png": Image.fromarray(d > 0),
        "cmyk.jpg": Image.fromarray(np.dstack([d] * 3)).convert("CMYK"),
        "float.tif": Image.fromarray(d.astype(np.float32) / 255),
        "lab.tif": Image.fromarray(np.dstack([d] * 3)).convert("LAB"),
        "ycbcr.tif": Image.fromarray(np.dstack([d] * 3)).convert("YCbCr"),
    }
    ref = to_mnist(d)
    for name, im in cases.items():
        p = img_dir / name
        im.save(p)
        out = image_features(p)
        _sensible(out)
        assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.8, name


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_files(img_dir: Path, fmt: str, keep: float):
    data = _encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)
    p = img_dir / f"cut.{fmt.lower()}"
    p.write_bytes(data[: max(1, int(len(data) * keep))])
    _features_or_error(p)


@pytest.mark.parametrize("size", [(30000, 30000), (2**31 - 1, 2**31 - 1), (MAX_SIDE + 1, 1), (8000, 8000)])
def test_decompression_bomb_refused_with_a_clear_message(img_dir: Path, size):
    p = img_dir / f"bomb{size[0]}.png"
    p.write_bytes(bomb_png(*size) if size == (30000, 30000) else png(*size))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=rf"bomb{size[0]}\.png.*too large"):
        image_features(p)
    assert time.perf_counter() - t0 < 2.0


def test_not_a_file(img_dir: Path):
    with pytest.raises(InputError, match="not a regular file"):
        load_image(img_dir)
    with pytest.raises(InputError, match="no such image file"):
        load_image(img_dir / "absent.png")
    if hasattr(os, "mkfifo"):
        fifo = img_dir / "pipe.png"
        if not fifo.exists():
            os.mkfifo(fifo)
        with pytest.raises(InputError, match="pipe.png: not a regular file"):
            load_image(fifo)


# ----------------------------------------------------------------------------------- arrays

_dtypes = st.sampled_from([np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64, np.uint64, np.float16,
                           np.float32, np.float64, bool, np.complex64, object, "U2", "M8[s]"])


@st.composite
def _arrays(draw):
    dtype = draw(_dtypes)
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 28, 29, 57, 120]), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = int(np.prod(shape))
    if dtype in (object, "U2", "M8[s]"):
        return np.zeros(shape, dtype=dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, size).astype(bool).reshape(shape)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = draw(st.sampled_from([(info.min, info.max), (0, 1), (0, 255), (info.max - 1, info.max)]))
        return rng.integers(max(lo, info.min), min(hi, info.max), size, dtype=dtype, endpoint=True).reshape(shape)
    scale = draw(st.sampled_from([1.0, 255.0, 1e6, 1e38, 1e300, -1.0]))
    with np.errstate(over="ignore"):
        x = (rng.random(size) * scale).astype(dtype).reshape(shape)
    for v in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=6)):
        if x.size:
            x.flat[int(rng.integers(x.size))] = v
    return x


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=_arrays(), invert=st.sampled_from(["auto", "always", "never"]))
def test_any_array(a: np.ndarray, invert: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow or invalid value slips through
        warnings.filterwarnings("error", category=np.exceptions.ComplexWarning)
        try:
            out = to_mnist(a, ImageConfig(invert=invert))
        except InputError as err:
            assert "image array" in str(err)
            return
    _sensible(out)


@pytest.mark.parametrize("value", [1e300, np.finfo(np.float32).max, -1e300])
def test_values_beyond_float32_keep_the_digit(value: float):
    a = np.where(_digit() > 0, value, 0.0) if value > 0 else np.where(_digit() > 0, 0.0, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = to_mnist(a)
    _sensible(out)
    assert np.corrcoef(out.ravel(), to_mnist(_digit()).ravel())[0, 1] > 0.9


@pytest.mark.parametrize("bad", [
    {"size": 0}, {"box": 0}, {"box": 40}, {"size": 5000}, {"invert": "sometimes"}, {"work_size": 10},
    {"work_size": 10**9}, {"clean_below": -1}, {"noise_sigmas": float("nan")}, {"min_contrast": -0.1},
    {"min_component": 2.0}, {"ink_floor": float("inf")},
])
def test_config_ranges(bad: dict):
    with pytest.raises(ConfigError):
        ImageConfig(**bad)


# ----------------------------------------------------------------------------------- memory

_MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    import numpy as np
    from snnapp.core.errors import InputError
    from snnapp.core.preprocess import image_features
    image_features(np.eye(28))  # imports
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name in sys.argv[2:]:
        try:
            image_features(Path(sys.argv[1]) / name)
            print(name, "accepted")
        except InputError as err:
            print(name, "refused:", err)
        print("GROWTH_MB", name, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, flush=True)
""")


def _growth(out: str, name: str) -> float:
    return float(next(line.split()[2] for line in out.splitlines() if line.startswith(f"GROWTH_MB {name} ")))


def test_memory_stays_near_the_decoded_picture(img_dir: Path):
    """Bombs over the limit are refused from the header; one just under it (7000 x 7000 RGBA, 49 MP,
    a 190 KB file) decodes into 196 MB, and the conversions that follow must not multiply that."""
    folder = img_dir / "memory"
    folder.mkdir(exist_ok=True)
    (folder / "over.png").write_bytes(bomb_png(8000, 8000))
    (folder / "header_only.png").write_bytes(png(2**31 - 1, 2**31 - 1, colour=6))
    (folder / "rgba_49mp.png").write_bytes(bomb_png(7000, 7000, colour=6))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(folder), "over.png", "header_only.png",
                          "rgba_49mp.png"], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "over.png refused" in out and "header_only.png refused" in out and "rgba_49mp.png accepted" in out, out
    assert _growth(out, "header_only.png") < 16, out
    decoded = 7000 * 7000 * 4 / 2**20
    assert _growth(out, "rgba_49mp.png") < decoded * 1.4 + 32, out
    assert MAX_PIXELS < 7000 * 7000 * 1.05  # the case above is near the limit
