"""The same input spikes through torch and onnxruntime give the same output spikes.

1,000 inputs per mode, both neuron models, from rest and from a non-zero state. Spike thresholds
make outputs discontinuous, so counts are compared exactly; any input whose counts differ (a
membrane within float rounding of the threshold) is reported by the assertion message.
"""

from __future__ import annotations

import numpy as np
import pytest

from snnapp.core.runtime import Backend, Encoded, open_backend

from .conftest import random_inputs

N = 1000
MODES = ("image", "audio", "multimodal")
NEURONS = ("lif", "cond")


def _flips(a: np.ndarray, b: np.ndarray) -> int:
    return int((a != b).any(axis=1).sum())


def _pair(folder):
    return open_backend(folder, "torch"), open_backend(folder, "onnx", threads=1, use_window=False)


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("mode", MODES)
def test_step_parity_from_rest_and_from_state(exported, mode: str, neuron: str) -> None:
    tb, ob = _pair(exported(mode, neuron))
    images, audio = random_inputs(N, seed=1)
    enc = tb.encode(images, audio)
    ct, mt, st = Backend.simulate(tb, enc)  # torch stepping, the same loop as onnx
    co, mo, so = ob.simulate(enc)
    assert ct.sum(axis=1).mean() > 0.5, "the test model should spike"
    assert _flips(ct, co) == 0, f"{_flips(ct, co)} of {N} inputs differ from rest ({mode}, {neuron})"
    # a non-zero state: where torch left off after one window, fed to both
    assert any(np.abs(v).sum() > 0 for v in st.values())
    enc2 = tb.encode(*random_inputs(N, seed=2))
    ct2, _, st2 = tb.simulate(enc2, st)
    co2, _, so2 = ob.simulate(enc2, st)
    assert _flips(ct2, co2) == 0, f"{_flips(ct2, co2)} of {N} inputs differ from a non-zero state ({mode}, {neuron})"
    # hidden membranes agree to rounding, except where a hidden spike flipped at the threshold
    # (then that neuron's reset differs): allowed at most once in 100,000 state values
    off = sum(int((np.abs(st2[n] - so2[n]) > 1e-3).sum()) for n in st2)
    total = sum(v.size for v in st2.values())
    assert off <= total * 1e-5, f"{off} of {total} state values differ ({mode}, {neuron})"


@pytest.mark.parametrize("mode", MODES)
def test_window_graph_and_torch_forward_agree(exported, mode: str) -> None:
    folder = exported(mode, "lif")
    tb, wb = open_backend(folder, "torch"), open_backend(folder, "onnx", threads=1)
    assert wb.window is not None
    enc = tb.encode(*random_inputs(N, seed=3))
    ct, mt, _ = tb.simulate(enc)
    cw, mw, _ = wb.simulate(enc)
    assert _flips(ct, cw) == 0
    np.testing.assert_allclose(mt, mw, atol=1e-4)
    assert (tb.readout(ct, mt).digits == wb.readout(cw, mw).digits).all()


@pytest.mark.parametrize("missing", ["image", "audio"])
def test_multimodal_with_one_modality(exported, missing: str) -> None:
    tb, ob = _pair(exported("multimodal", "lif"))
    images, audio = random_inputs(200, seed=4)
    images = None if missing == "image" else images
    audio = None if missing == "audio" else audio
    rt, ro = tb.run(images, audio), ob.run(images, audio)
    assert _flips(rt.counts, ro.counts) == 0
    assert (rt.digits == ro.digits).all()
    frame = next(ob.stream(images, audio))
    assert set(frame.hidden) == {"image_hidden", "audio_hidden"} - {f"{missing}_hidden"}


def test_frames_match_between_backends(exported) -> None:
    tb, ob = _pair(exported("multimodal", "cond"))
    images, audio = random_inputs(16, seed=5)
    for ft, fo in zip(tb.stream(images, audio), ob.stream(images, audio)):
        assert ft.t == fo.t
        np.testing.assert_array_equal(ft.out_spikes, fo.out_spikes)
        assert set(ft.hidden) == set(fo.hidden) == {"image_hidden", "audio_hidden"}
        for k in ft.hidden:
            np.testing.assert_array_equal(ft.hidden[k], fo.hidden[k])


def test_encoded_shapes(exported) -> None:
    ob = open_backend(exported("image"), "onnx")
    enc = ob.encode(*random_inputs(3))
    assert isinstance(enc, Encoded) and enc.audio is None and enc.image.shape == (4, 3, 1, 28, 28)
