"""The image path: any picture of a digit -> a 28x28 MNIST-style image."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from snnapp.core.errors import ConfigError, InputError
from snnapp.core.preprocess import ImageConfig, image_features, load_image, to_mnist


def _com(m: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(m.shape)
    return float((m * ys).sum() / m.sum()), float((m * xs).sum() / m.sum())


def _bbox(m: np.ndarray, level: float = 0.0) -> tuple[int, int]:
    rows, cols = np.flatnonzero((m > level).any(1)), np.flatnonzero((m > level).any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _corr_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over shifts of up to one pixel (centring rounds to whole pixels)."""
    return max(_corr(np.roll(a, (dy, dx), (0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def _drawn_seven(size: int = 280, pen: int = 20) -> np.ndarray:
    """A '7' in white on black, uint8, like the drawing pad."""
    im = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(im)
    s = size / 280
    d.line([(80 * s, 60 * s), (200 * s, 60 * s), (120 * s, 230 * s)], fill=255, width=int(pen * s), joint="curve")
    return np.asarray(im)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


# --- output format, blank, config ------------------------------------------------------------


def test_output_is_float32_28x28_in_unit_range():
    m = to_mnist(_drawn_seven())
    assert m.shape == (28, 28) and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() <= 1.0 and m.max() > 0.9


@pytest.mark.parametrize(
    "blank",
    [
        np.zeros((280, 280), np.uint8),
        np.full((280, 280), 255, np.uint8),
        np.full((50, 80), 0.5, np.float32),
        np.full((28, 28, 3), 200, np.uint8),
        np.zeros((1, 1)),
        np.random.default_rng(0).normal(0.5, 0.01, (100, 100)),
    ],
)
def test_blank_picture_gives_zeros(blank):
    m = to_mnist(blank)
    assert m.shape == (28, 28) and not m.any()


def test_config_round_trip_and_validation():
    cfg = ImageConfig(invert="never", box=16)
    assert ImageConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg
    with pytest.raises(ConfigError):
        ImageConfig(invert="sometimes")
    with pytest.raises(ConfigError):
        ImageConfig(box=30)


# --- geometry: 20x20 box, aspect, centre of mass ---------------------------------------------


def test_digit_fills_20x20_box_keeping_aspect():
    img = np.zeros((300, 300), np.uint8)
    img[40:240, 100:200] = 255  # 200 high, 100 wide
    m = to_mnist(img)
    h, w = _bbox(m, 0.05)
    assert h == 20 and w == 10
    wide = np.zeros((300, 300), np.uint8)
    wide[100:150, 20:270] = 255  # 50 high, 250 wide
    assert _bbox(to_mnist(wide), 0.05) == (4, 20)


def test_centred_by_centre_of_mass_not_by_box():
    # an L shape: much more ink in the bottom bar than in the stem, placed off-centre
    img = np.zeros((400, 300), np.uint8)
    img[50:250, 20:40] = 255
    img[220:250, 20:180] = 255
    m = to_mnist(img)
    cy, cx = _com(m)
    assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5
    rows = np.flatnonzero(m.any(1))
    # the box is not centred: its centre is above the centre of mass
    assert (rows[0] + rows[-1]) / 2 < cy - 1


def test_digit_stays_inside_frame():
    img = np.zeros((100, 100), np.uint8)
    img[10:90, 10:14] = 255
    img[10:14, 10:90] = 255
    img[86:90, 10:14] = 255
    m = to_mnist(img)
    assert m.sum() > 0 and _bbox(m, 0.05)[0] == 20


def test_translation_and_scale_invariance():
    base = to_mnist(_drawn_seven())
    shifted = np.roll(np.pad(_drawn_seven(), 100), (-70, 60), (0, 1))
    assert _corr(to_mnist(shifted), base) > 0.99
    small = to_mnist(_drawn_seven(size=140))
    assert _corr_shift(small, base) > 0.9


# --- polarity --------------------------------------------------------------------------------


def test_dark_ink_on_light_paper_is_inverted():
    drawn = _drawn_seven()
    assert np.allclose(to_mnist(255 - drawn), to_mnist(drawn), atol=1e-5)


def test_photo_with_uneven_light_and_noise():
    ink = _drawn_seven().astype(np.float32) / 255.0
    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w] / h
    paper = 0.35 + 0.6 * xx * (0.7 + 0.3 * yy)  # strong lighting gradient
    photo = paper * (1 - 0.8 * ink) + np.random.default_rng(1).normal(0, 0.03, ink.shape)
    rgb = np.clip(np.stack([photo, photo * 0.97, photo * 0.9], -1) * 255, 0, 255).astype(np.uint8)
    assert _corr_shift(to_mnist(rgb), to_mnist(_drawn_seven())) > 0.95


def test_tight_crop_with_ink_touching_border():
    drawn = _drawn_seven()[50:240, 60:220]
    assert _corr_shift(to_mnist(255 - drawn), to_mnist(_drawn_seven())) > 0.95


def test_invert_option():
    drawn = _drawn_seven()
    forced = to_mnist(drawn, ImageConfig(invert="always"))
    assert np.abs(forced - to_mnist(drawn)).sum() > 20  # the black canvas taken for ink
    assert np.allclose(to_mnist(255 - drawn, ImageConfig(invert="always")), to_mnist(drawn), atol=1e-5)


# --- array types -----------------------------------------------------------------------------


def test_dtypes_and_channel_layouts_agree():
    u8 = _drawn_seven()
    ref = to_mnist(u8)
    f = u8.astype(np.float32) / 255
    variants = {
        "uint16": u8.astype(np.uint16) * 257,
        "float01": f,
        "float255": u8.astype(np.float64),
        "int32": u8.astype(np.int32),
        "bool": u8 > 127,
        "rgb": np.repeat(u8[..., None], 3, -1),
        "chw": np.repeat(u8[None], 3, 0),
        "hw1": u8[..., None],
        "standardised": (f - 0.13) / 0.31,
    }
    for name, arr in variants.items():
        assert _corr(to_mnist(arr), ref) > 0.97, name


def test_rgba_array_composited_on_white():
    ink = _drawn_seven()
    rgba = np.zeros(ink.shape + (4,), np.uint8)  # black ink, transparent elsewhere
    rgba[..., 3] = ink
    assert _corr(to_mnist(rgba), to_mnist(ink)) > 0.99


@pytest.mark.parametrize("bad", [np.zeros((0, 0)), np.zeros((5, 0, 3)), np.zeros(10), np.zeros((2, 3, 4, 5)), np.array([["a"]])])
def test_bad_arrays_raise_input_error(bad):
    with pytest.raises(InputError):
        to_mnist(bad)


def test_absurd_array_size_raises():
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(10_000, 10_000), strides=(0, 0))
    with pytest.raises(InputError, match="too large"):
        to_mnist(huge)


# --- files -----------------------------------------------------------------------------------


def test_image_features_file_equals_array(tmp_path: Path):
    p = tmp_path / "seven.png"
    Image.fromarray(_drawn_seven()).save(p)
    assert np.array_equal(image_features(p), image_features(_drawn_seven()))
    assert np.array_equal(image_features(str(p)), to_mnist(load_image(p)))


def test_rgba_png_on_white(tmp_path: Path):
    ink = _drawn_seven()
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = ink  # black strokes, transparent background
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    loaded = load_image(p)
    assert loaded.dtype == np.uint8 and loaded.ndim == 2 and loaded[0, 0] == 255
    assert _corr(image_features(p), to_mnist(ink)) > 0.99


def test_16bit_png(tmp_path: Path):
    p = tmp_path / "deep.png"
    Image.fromarray(_drawn_seven().astype(np.uint16) * 257).save(p)
    loaded = load_image(p)
    assert loaded.dtype == np.uint16 and loaded.max() == 65535
    assert np.allclose(image_features(p), to_mnist(_drawn_seven()), atol=1e-3)


def test_palette_gif_jpeg_and_grayscale_alpha(tmp_path: Path):
    ref = to_mnist(_drawn_seven())
    rgb = Image.fromarray(_drawn_seven()).convert("RGB")
    rgb.convert("P").save(tmp_path / "p.png")
    rgb.save(tmp_path / "a.gif")
    rgb.save(tmp_path / "a.jpg", quality=90)
    Image.fromarray(np.stack([np.zeros_like(_drawn_seven()), _drawn_seven()], -1), "LA").save(tmp_path / "la.png")
    for name in ("p.png", "a.gif", "a.jpg", "la.png"):
        assert _corr(image_features(tmp_path / name), ref) > 0.97, name


def test_exif_rotation_applied(tmp_path: Path):
    img = Image.fromarray(_drawn_seven()).rotate(90, expand=True)  # stored on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    assert _corr(image_features(tmp_path / "rot.jpg"), to_mnist(_drawn_seven())) > 0.95


def _expect_input_error(path: Path) -> str:
    with pytest.raises(InputError) as err:
        load_image(path)
    assert path.name in str(err.value)
    return str(err.value)


def test_missing_empty_and_garbage_files(tmp_path: Path):
    _expect_input_error(tmp_path / "absent.png")
    (tmp_path / "empty.png").write_bytes(b"")
    _expect_input_error(tmp_path / "empty.png")
    (tmp_path / "garbage.png").write_bytes(np.random.default_rng(0).bytes(2000))
    _expect_input_error(tmp_path / "garbage.png")
    _expect_input_error(tmp_path)  # a folder


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files(tmp_path: Path, fmt: str):
    p = tmp_path / f"cut.{fmt.lower()}"
    noisy = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
    Image.fromarray(noisy).save(p, fmt)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _expect_input_error(p)
    # a damaged body with an intact header
    broken = bytearray(data)
    broken[len(data) // 3 : len(data) // 3 + 200] = b"\xff" * 200
    p.write_bytes(bytes(broken))
    try:
        out = image_features(p)
    except InputError:
        pass
    else:
        assert out.shape == (28, 28) and np.isfinite(out).all()


def test_zero_size_image(tmp_path: Path):
    p = tmp_path / "zero.png"
    p.write_bytes(_png_header_only(0, 0))
    _expect_input_error(p)


@pytest.mark.parametrize("size", [(8000, 8000), (20000, 20000), (200_000, 10)])
def test_absurd_size_rejected_before_decoding(tmp_path: Path, size):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(*size))  # header only: decoding it would fail differently
    msg = _expect_input_error(p)
    assert "too large" in msg


def test_one_by_ten_thousand(tmp_path: Path):
    strip = np.zeros((1, 10_000), np.uint8)
    strip[0, 4000:6000] = 255
    p = tmp_path / "strip.png"
    Image.fromarray(strip).save(p)
    out = image_features(p)
    assert out.shape == (28, 28) and np.isfinite(out).all()
    tall = image_features(strip.T.copy())
    assert tall.shape == (28, 28) and np.isfinite(tall).all()


# --- MNIST itself ----------------------------------------------------------------------------


def test_mnist_round_trip(mnist_test_images: np.ndarray):
    ref = mnist_test_images.astype(np.float32) / 255.0
    out = np.stack([to_mnist(x) for x in mnist_test_images])
    assert np.abs(out - ref).mean() < 0.005
    corr = np.array([_corr(a, b) for a, b in zip(out, ref)])
    assert corr.min() > 0.9 and corr.mean() > 0.99


def test_mnist_upscaled_like_a_drawing_pad(mnist_test_images: np.ndarray):
    """MNIST digits drawn large (10x, 280x280) come back close to themselves."""
    corr = []
    for x in mnist_test_images[:20]:
        big = np.asarray(Image.fromarray(x).resize((280, 280), Image.Resampling.BILINEAR))
        corr.append(_corr_shift(to_mnist(big), x.astype(np.float32) / 255))
    assert min(corr) > 0.85 and np.mean(corr) > 0.93
