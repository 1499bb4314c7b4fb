"""The two-branch network: folded forward == step loop, state, masks, gradients, config, readout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from snnapp.core.encoders import EncoderConfig, encode_image
from snnapp.core.errors import ConfigError
from snnapp.core.network import NetworkConfig, SpikingDigitNet, decide, fit_temperature, probabilities, scores
from snnapp.core.network._readout import TIE_BREAK

T, B, F_AUDIO = 4, 3, 6
CASES = [(mode, neuron, kind) for mode in ("image", "audio", "multimodal") for neuron in ("lif", "cond")
         for kind in (("static", "spikes") if mode != "audio" else ("none",))]


def _cfg(mode: str, neuron: str = "lif", num_steps: int = T, **kw) -> NetworkConfig:
    kw.setdefault("dropout", 0.25)
    return NetworkConfig(mode=mode, num_steps=num_steps, image_channels=(3, 4), image_hidden=12,
                         audio_in_features=F_AUDIO, audio_hidden=(10, 8), neuron=neuron, **kw)


def _net(cfg: NetworkConfig, seed: int = 0) -> SpikingDigitNet:
    """A small network with weights large enough that every layer spikes."""
    torch.manual_seed(seed)
    net = SpikingDigitNet(cfg)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight") and p.dim() > 1:
                p.mul_(3.0)
        net.out_bias.fill_(0.3)
        for m in net.modules():  # non-trivial batch-norm statistics, used in eval mode
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _inputs(mode: str, kind: str, steps: int = T, seed: int = 0):
    rng = np.random.default_rng(seed)
    image = audio = None
    if mode in ("image", "multimodal"):
        x = rng.random((B, 28, 28)).astype(np.float32)
        if kind == "static":
            image = torch.from_numpy(x[:, None])
        else:
            image = torch.from_numpy(encode_image(x, steps, EncoderConfig(image="rate"), seed=1))
    if mode in ("audio", "multimodal"):
        audio = torch.from_numpy(rng.normal(size=(steps, B, F_AUDIO)).astype(np.float32) * 2)
    return image, audio


def _loop(net: SpikingDigitNet, image, audio, steps: int, state=None, start: int = 0):
    """Loop :meth:`step` over explicit state; returns (out spikes [T,B,10], out mem, hidden counts, state)."""
    state = net.initial_state(B) if state is None else state
    spikes, mems, hidden = [], [], {}
    for t in range(start, start + steps):
        img_t = None if image is None else (image if image.dim() == 4 else image[t])
        aud_t = None if audio is None else audio[t]
        out = net.step(img_t, aud_t, state)
        spikes.append(out.out_spikes)
        mems.append(out.out_mem)
        for k, v in out.hidden.items():
            hidden[k] = hidden.get(k, 0) + v.sum(1)
        state = out.state
    return torch.stack(spikes), torch.stack(mems), hidden, state


def _assert_same(seq, loop) -> None:
    spikes, mems, hidden, _ = loop
    torch.testing.assert_close(seq.out_spikes, spikes, rtol=0, atol=0)
    torch.testing.assert_close(seq.counts, spikes.sum(0), rtol=0, atol=0)
    torch.testing.assert_close(seq.out_mem, mems, rtol=1e-5, atol=1e-5)
    if "image_hidden" in hidden:
        torch.testing.assert_close(seq.layer_spikes["image_hidden"], hidden["image_hidden"], rtol=0, atol=0)
    if "audio_hidden" in hidden:
        torch.testing.assert_close(seq.layer_spikes["audio_hidden2"], hidden["audio_hidden"], rtol=0, atol=0)


@pytest.mark.parametrize("mode,neuron,kind", CASES)
def test_forward_equals_step_loop(mode: str, neuron: str, kind: str) -> None:
    net = _net(_cfg(mode, neuron))
    image, audio = _inputs(mode, kind)
    with torch.no_grad():
        seq = net(image, audio)
        loop = _loop(net, image, audio, T)
    assert seq.out_spikes.shape == (T, B, 10) and seq.out_mem.shape == (T, B, 10)
    assert sum(v.sum() for v in seq.layer_spikes.values()) > 0  # the comparison is not of silence
    assert seq.counts.sum() > 0
    _assert_same(seq, loop)


@pytest.mark.parametrize("neuron", ["lif", "cond"])
@pytest.mark.parametrize("missing", ["image", "audio"])
def test_multimodal_with_one_modality_missing(neuron: str, missing: str) -> None:
    net = _net(_cfg("multimodal", neuron))
    image, audio = _inputs("multimodal", "spikes")
    if missing == "image":
        image = None
    else:
        audio = None
    with torch.no_grad():
        seq = net(image, audio)
        loop = _loop(net, image, audio, T)
        full = net(*_inputs("multimodal", "spikes"))
    _assert_same(seq, loop)
    assert not torch.equal(seq.out_mem, full.out_mem)  # the missing branch did contribute when present
    # the state of the missing branch stays at rest
    names = net.state_names()
    for name, tensor in zip(names, loop[3]):
        if name.startswith(missing):
            assert not tensor.any(), name
    absent = "image_hidden" if missing == "image" else "audio_hidden2"
    assert absent not in seq.layer_spikes


def test_forward_without_inputs_is_an_error() -> None:
    net = _net(_cfg("multimodal"))
    with pytest.raises(ValueError, match="no input"):
        net(None, None)
    image, _ = _inputs("image", "static")
    with pytest.raises(ValueError):
        _net(_cfg("audio"))(image, None)  # an audio model given only an image


@pytest.mark.parametrize("mode,neuron", [("image", "lif"), ("audio", "cond"), ("multimodal", "lif"),
                                         ("multimodal", "cond")])
def test_state_round_trip(mode: str, neuron: str) -> None:
    net = _net(_cfg(mode, neuron))
    state = net.initial_state(B)
    names = net.state_names()
    assert len(names) == len(state) and len(set(names)) == len(names)
    per = 2 if neuron == "cond" else 1
    assert len(state) == per * len(net.neurons)
    assert all(not s.any() for s in state)
    image, audio = _inputs(mode, "spikes")
    with torch.no_grad():
        out = net.step(None if image is None else image[0], None if audio is None else audio[0], state)
    assert len(out.state) == len(state)
    assert all(a.shape == b.shape for a, b in zip(out.state, state))
    assert any(s.any() for s in out.state)


@pytest.mark.parametrize("mode,neuron,kind", CASES)
def test_step_from_a_state_continues_a_longer_run(mode: str, neuron: str, kind: str) -> None:
    short = _net(_cfg(mode, neuron, num_steps=T))
    long = SpikingDigitNet(_cfg(mode, neuron, num_steps=2 * T)).eval()
    long.load_state_dict(short.state_dict())
    image, audio = _inputs(mode, kind, steps=2 * T)
    with torch.no_grad():
        whole = long(image, audio)
        first = _loop(short, image, audio, T)
        second = _loop(short, image, audio, T, state=first[3], start=T)
    torch.testing.assert_close(torch.cat([first[0], second[0]]), whole.out_spikes, rtol=0, atol=0)
    torch.testing.assert_close(torch.cat([first[1], second[1]]), whole.out_mem, rtol=1e-5, atol=1e-5)
    # the second half really depends on the carried state
    fresh = _loop(short, image, audio, T, start=T)
    assert not torch.equal(fresh[1], second[1])


@pytest.mark.parametrize("mode,neuron,kind", [("image", "lif", "static"), ("audio", "lif", "none"),
                                              ("multimodal", "lif", "spikes"), ("multimodal", "cond", "static")])
def test_gradients_reach_every_parameter(mode: str, neuron: str, kind: str) -> None:
    from snnapp.core.training._loss import make_loss

    net = _net(_cfg(mode, neuron, learn_beta=neuron == "lif")).train()
    image, audio = _inputs(mode, kind)
    out = net(image, audio)
    loss = make_loss("mse_count", T, 0.8, 0.2)(out.counts, torch.tensor([1, 4, 7]))
    loss.backward()
    params = dict(net.named_parameters())
    assert params
    if neuron == "lif":
        assert any("beta" in n for n in params)
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("mode,kind,pool_first", [("image", "static", False), ("image", "spikes", True),
                                                   ("audio", "none", False), ("multimodal", "static", True)])
def test_training_forward_with_fused_neurons_equals_the_step_by_step_graph(
        mode: str, kind: str, pool_first: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """With gradients on, the LIF layers run as one autograd node each (lif_sequence): the same
    spikes as the step loop, and the same parameter gradients as the graph built step by step."""
    import snnapp.core.network._model as model_module
    from snnapp.core.neurons import fusable

    cfg = _cfg(mode, pool_before_spike=pool_first)
    image, audio = _inputs(mode, kind)
    target = torch.randn(B, 10, generator=torch.Generator().manual_seed(5))
    grads = {}
    for fused in (True, False):
        monkeypatch.setattr(model_module, "fusable", fusable if fused else (lambda p: False))
        net = _net(cfg)  # eval mode: no dropout, fixed batch-norm statistics: both runs see one network
        seq = net(image, audio)
        ((seq.out_mem.sum(0) - target) ** 2).sum().backward()
        grads[fused] = {n: p.grad.clone() for n, p in net.named_parameters()}
        if fused:
            with torch.no_grad():
                _assert_same(seq, _loop(net, image, audio, T))
            assert seq.layer_spikes[next(iter(seq.layer_spikes))].sum() > 0
    assert grads[True].keys() == grads[False].keys()
    assert any(g.abs().sum() > 0 for g in grads[True].values())
    for name in grads[True]:
        torch.testing.assert_close(grads[True][name], grads[False][name], rtol=1e-4, atol=1e-5, msg=name)


def test_image_mask_removes_the_image_branch() -> None:
    net = _net(_cfg("multimodal"))
    image, audio = _inputs("multimodal", "spikes")
    with torch.no_grad():
        full = net(image, audio)
        audio_only = net(None, audio)
        image_only = net(image, None)
        masked = net(image, audio, image_mask=torch.tensor([1.0, 0.0, 1.0]))
        masked_audio = net(image, audio, audio_mask=torch.tensor([0.0, 1.0, 1.0]))
    for seq, ref in ((masked, full), (masked_audio, full)):
        torch.testing.assert_close(seq.out_mem[:, 2], ref.out_mem[:, 2])
    torch.testing.assert_close(masked.out_mem[:, 0], full.out_mem[:, 0])
    torch.testing.assert_close(masked.out_mem[:, 1], audio_only.out_mem[:, 1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(masked.counts[1], audio_only.counts[1])
    torch.testing.assert_close(masked_audio.out_mem[:, 0], image_only.out_mem[:, 0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(full.out_mem[:, 1], audio_only.out_mem[:, 1])
    assert masked.layer_spikes["image_hidden"][1] == 0 and full.layer_spikes["image_hidden"][1] > 0


def test_image_mask_zero_leaves_only_the_bias() -> None:
    net = _net(_cfg("image"))
    image, _ = _inputs("image", "static")
    with torch.no_grad():
        masked = net(image, None, image_mask=torch.zeros(B))
        state, mems = None, []
        for _ in range(T):
            _, state = net.neurons["output"](net.out_bias.expand(B, 10), state)
            mems.append(state[0])
    torch.testing.assert_close(masked.out_mem, torch.stack(mems))


def _dropped_drive(mask: str, seed: int = 0) -> torch.Tensor:
    """The fully connected layer's input after dropout, [T, B, features], in training."""
    net = SpikingDigitNet(_cfg("audio", dropout=0.5, dropout_mask=mask)).train()
    x = torch.ones(T, B, 10)
    torch.manual_seed(seed)
    return net._drop(x)


def test_sample_dropout_holds_one_mask_over_all_steps() -> None:
    step, sample = _dropped_drive("step"), _dropped_drive("sample")
    for y in (step, sample):
        assert set(y.unique().tolist()) == {0.0, 2.0}  # kept inputs scaled by 1 / (1 - p)
        assert 0.3 < (y == 0).float().mean() < 0.7
    assert torch.equal(sample, sample[:1].expand_as(sample))  # a dropped input stays dropped
    assert not torch.equal(step, step[:1].expand_as(step))  # a fresh mask at every step
    assert not torch.equal(sample[0], sample[0, :1].expand_as(sample[0]))  # but each sample its own
    assert torch.equal(_dropped_drive("sample", seed=1), _dropped_drive("sample", seed=1))


def test_dropout_is_off_outside_training() -> None:
    net = SpikingDigitNet(_cfg("audio", dropout=0.5, dropout_mask="sample")).eval()
    x = torch.rand(T, B, 10)
    assert torch.equal(net._drop(x), x)


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("kw,match", [
    ({"mode": "video"}, "unknown mode"),
    ({"neuron": "izhikevich"}, "unknown neuron"),
    ({"num_steps": 0}, "num_steps"),
    ({"beta": 1.5}, "beta"),
    ({"beta": -0.1}, "beta"),
    ({"threshold": 0.0}, "threshold"),
    ({"dropout": 1.0}, "dropout"),
    ({"dropout_mask": "layer"}, "dropout mask"),
    ({"image_channels": (8,)}, "image_channels"),
    ({"audio_hidden": ()}, "audio_hidden"),
])
def test_config_validation(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        NetworkConfig(**kw)


@pytest.mark.parametrize("mode,kind", [("image", "static"), ("image", "spikes"), ("multimodal", "static")])
def test_pooling_currents_instead_of_spikes_also_equals_the_step_loop(mode: str, kind: str) -> None:
    net = _net(_cfg(mode, pool_before_spike=True))
    image, audio = _inputs(mode, kind)
    with torch.no_grad():
        seq = net(image, audio)
        _assert_same(seq, _loop(net, image, audio, T))
    assert seq.layer_spikes["image_conv1"].sum() > 0


def test_pooling_order_sets_the_neuron_map_sizes() -> None:
    first = SpikingDigitNet(_cfg("image", pool_before_spike=True))
    after = SpikingDigitNet(_cfg("image"))
    assert [s.shape[1:] for s in first.initial_state(1)[:2]] == [(3, 14, 14), (4, 7, 7)]
    assert [s.shape[1:] for s in after.initial_state(1)[:2]] == [(3, 28, 28), (4, 14, 14)]
    # the same weights give different networks: pooling currents is not pooling spikes
    after.load_state_dict(first.state_dict())
    image, _ = _inputs("image", "static")
    with torch.no_grad():
        assert not torch.equal(_net(first.cfg)(image).out_mem, _net(after.cfg)(image).out_mem)


def test_configs_written_before_the_pooling_setting_pool_spikes() -> None:
    d = _cfg("image", pool_before_spike=True).to_dict()
    assert d.pop("pool_before_spike") is True
    assert NetworkConfig.from_dict(d).pool_before_spike is False


def test_config_round_trip() -> None:
    cfg = _cfg("multimodal", "cond", cond_params={"tau_v": 3.0}, learn_beta=True)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert isinstance(d["image_channels"], list)
    back = NetworkConfig.from_dict(d)
    assert back == cfg and back.image_channels == (3, 4) and back.audio_hidden == (10, 8)
    with pytest.raises(ConfigError, match="unknown network settings: hidden"):
        NetworkConfig.from_dict({**d, "hidden": 3})
    assert cfg.uses_image and cfg.uses_audio
    assert not NetworkConfig(mode="audio").uses_image and not NetworkConfig(mode="image").uses_audio


def test_cond_params_reach_the_neurons() -> None:
    net = SpikingDigitNet(_cfg("audio", "cond", cond_params={"tau_v": 3.0, "t_ref": 2.0}))
    assert all(m.params.tau_v == 3.0 and m.params.t_ref == 2.0 for m in net.neurons.values())
    with pytest.raises(ConfigError):
        SpikingDigitNet(_cfg("audio", "cond", cond_params={"tau": 3.0}))


# ----------------------------------------------------------------------------- readout
def test_decide_most_spikes_then_membrane() -> None:
    counts = np.zeros((3, 10))
    counts[0, [2, 5]] = 3  # tie: membrane decides
    counts[1, [2, 5]] = 3
    counts[2, 4], counts[2, 6] = 2, 1  # one spike more beats any membrane
    mem = np.zeros((3, 10))
    mem[0, 5], mem[0, 2] = 0.9, 0.1
    mem[1, 2], mem[1, 5] = 0.9, 0.1
    mem[2, 6], mem[2, 4] = 100.0, -100.0
    np.testing.assert_array_equal(decide(counts, mem), [5, 2, 4])
    np.testing.assert_array_equal(decide(counts), [2, 2, 4])  # without membranes: first maximum
    assert np.all(np.abs(scores(counts, mem) - counts) <= TIE_BREAK)


def test_probabilities_sum_to_one_and_sharpen_with_low_temperature() -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 8, size=(50, 10)).astype(np.float64)
    mem = rng.normal(size=(50, 10))
    for temp in (0.1, 1.0, 5.0):
        p = probabilities(counts, mem, temp)
        assert p.shape == (50, 10) and np.all(p >= 0)
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)
        np.testing.assert_array_equal(p.argmax(1), decide(counts, mem))
    assert probabilities(counts, mem, 0.1).max(1).mean() > probabilities(counts, mem, 5.0).max(1).mean()
    np.testing.assert_allclose(probabilities(np.zeros((1, 10))), np.full((1, 10), 0.1))
    big = probabilities(np.full((1, 10), 1e4), None, 1e-9)  # no overflow
    assert np.isfinite(big).all()


@pytest.mark.parametrize("true_t", [0.5, 2.0, 6.0])
def test_fit_temperature_recovers_the_sampling_temperature(true_t: float) -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 12, size=(20000, 10)).astype(np.float64)
    p = probabilities(counts, None, true_t)
    labels = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    fitted = fit_temperature(counts, None, labels)
    assert abs(fitted / true_t - 1) < 0.1
