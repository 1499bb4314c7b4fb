"""The one description of the network's layers: shapes, parameters, refused kernels, the modules
and state built from it, masks passed to the step, and energy counted by kind from the activity."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ConfigError
from snnapp.core.network import NetworkConfig, SpikingDigitNet, count_energy, describe, spiking_inputs

from .test_network import B, T, _cfg, _inputs, _loop, _net


@pytest.mark.parametrize("pool_first", [False, True])
def test_image_layers_shapes(pool_first: bool) -> None:
    layers = describe(NetworkConfig(mode="image", image_channels=(3, 5), image_kernel=5, image_hidden=12,
                                    pool_before_spike=pool_first))
    assert [layer.name for layer in layers] == ["image_conv1", "image_conv2", "image_hidden", "output"]
    conv1, conv2, hidden, output = layers
    assert conv1.projections[0].in_shape == (1, 28, 28) and conv1.projections[0].out_shape == (3, 28, 28)
    assert conv1.projections[0].padding == 2
    assert conv2.projections[0].in_shape == (3, 14, 14) and conv2.projections[0].out_shape == (5, 14, 14)
    assert conv1.shape == ((3, 14, 14) if pool_first else (3, 28, 28))
    assert conv2.shape == ((5, 7, 7) if pool_first else (5, 14, 14))
    assert conv2.out_shape == (5 * 7 * 7,) and conv2.flatten and conv2.map_shape == (5, 7, 7)
    assert hidden.projections[0].in_shape == (245,) and hidden.shape == (12,)
    assert [(p.module, p.source, p.mask) for p in output.projections] == [("out_image", "image_hidden", "image")]
    assert conv2.projections[0].fan_out == 5 * 25 and hidden.projections[0].fan_out == 12
    assert conv1.projections[0].macs == 3 * 1 * 25 * 28 * 28


def test_projections_run_each_readout_after_its_branch() -> None:
    layers = describe(_cfg("multimodal"))
    order = [p.module for _, p in layers.projections()]
    assert order == ["conv1", "conv2", "fc_image", "out_image", "fc_audio.0", "fc_audio.1", "out_audio"]
    assert layers.input_shape("image") == (1, 28, 28) and layers.input_shape("audio") == (6,)


@pytest.mark.parametrize("kw", [{"mode": "image"}, {"mode": "audio"}, {"mode": "multimodal"},
                                {"mode": "multimodal", "batchnorm": False, "pool_before_spike": True},
                                {"mode": "image", "image_kernel": 1}, {"mode": "image", "image_kernel": 7}])
def test_the_description_counts_the_networks_parameters(kw: dict) -> None:
    cfg = replace(_cfg("image"), **kw)
    net = SpikingDigitNet(cfg)
    assert describe(cfg).parameters == sum(p.numel() for p in net.parameters())
    # the modules, names and state follow the description
    layers = describe(cfg)
    assert list(net.neurons) == [layer.name for layer in layers]
    assert [tuple(s.shape[1:]) for s in net.initial_state(2)] == [layer.shape for layer in layers]
    assert net.state_names() == [f"{layer.name}_s0" for layer in layers]
    for _, p in layers.projections():
        assert tuple(net.get_parameter(f"{p.module}.weight").shape[:2]) == \
            ((p.out_shape[0], p.in_shape[0]) if p.kind == "conv" else (p.out_shape[0], int(np.prod(p.in_shape))))


@pytest.mark.parametrize("kernel", [2, 4, 6, 26])
@pytest.mark.parametrize("mode", ["image", "multimodal"])
def test_an_even_kernel_is_refused_when_the_config_is_made(mode: str, kernel: int) -> None:
    with pytest.raises(ConfigError, match=r"^network\.image_kernel: ") as err:
        NetworkConfig(mode=mode, image_kernel=kernel)
    assert "\n" not in str(err.value) and "odd" in str(err.value)
    NetworkConfig(mode="audio", image_kernel=kernel)  # an audio model has no convolution


def test_train_refuses_an_even_kernel_in_one_line(tmp_path) -> None:
    from typer.testing import CliRunner

    from snnapp.cli import app

    env = {"SNNAPP_DATA_DIR": str(tmp_path / "no-data"), "SNNAPP_CACHE_DIR": str(tmp_path / "cache")}
    res = CliRunner().invoke(app, ["train", "--mode", "image", "--image-kernel", "4", "--limit", "16", "--epochs", "1",
                                   "--device", "cpu", "--out", str(tmp_path / "model")], env=env)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "network.image_kernel" in lines[0], res.stderr
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("kernel", [1, 5])
@pytest.mark.parametrize("pool_first", [False, True])
def test_other_odd_kernels_step_as_they_train(kernel: int, pool_first: bool) -> None:
    net = _net(_cfg("image", image_kernel=kernel, pool_before_spike=pool_first))
    image, _ = _inputs("image", "spikes")
    with torch.no_grad():
        seq = net(image)
        spikes, _, _, _ = _loop(net, image, None, T)
    assert seq.layer_spikes["image_conv2"].sum() > 0
    torch.testing.assert_close(seq.out_spikes, spikes, rtol=0, atol=0)


# ----------------------------------------------------------------------------- masks
def _loop_masked(net, image, audio, masks):
    state = net.initial_state(B)
    out_spikes = []
    for t in range(T):
        out = net.step(image if image.dim() == 4 else image[t], audio[t], state, *masks)
        out_spikes.append(out.out_spikes)
        state = out.state
    return torch.stack(out_spikes), out


@pytest.mark.parametrize("kind", ["static", "spikes"])
def test_step_takes_the_masks_as_forward_does(kind: str) -> None:
    net = _net(_cfg("multimodal"))
    image, audio = _inputs("multimodal", kind)
    masks = (torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 1.0]))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        seq = net(image, audio, *masks)
        spikes, last = _loop_masked(net, image, audio, masks)
        full, _ = _loop_masked(net, image, audio, (torch.ones(B), torch.ones(B)))
    torch.testing.assert_close(seq.out_spikes, spikes, rtol=0, atol=0)
    assert not torch.equal(spikes, full)
    # the hidden spikes drawn are the branches' own, the masks only keep them from the readout
    assert last.hidden["image_hidden"][1].sum() > 0 or last.hidden["audio_hidden"][0].sum() > 0
    # nothing on the module changed
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert type(net.out_image) is torch.nn.Linear and type(net.out_audio) is torch.nn.Linear


def test_step_with_no_input_of_its_mode_is_an_error() -> None:
    net = _net(_cfg("audio"))
    image, _ = _inputs("image", "static")
    with pytest.raises(ValueError, match="no input"):
        net.step(image, None, net.initial_state(B))


# ----------------------------------------------------------------------------- energy
def test_energy_by_hand_for_an_audio_network() -> None:
    net = _net(_cfg("audio"))
    _, audio = _inputs("audio", "none")
    with torch.no_grad():
        seq = net(None, audio)
    n1, n2 = net.cfg.audio_hidden
    s1, s2 = seq.layer_spikes["audio_hidden1"], seq.layer_spikes["audio_hidden2"]
    # direct (real-valued) input: the first layer is counted in MACs, once per step
    direct = count_energy(net.layers, seq.activity, spiking_inputs(EncoderConfig()))
    torch.testing.assert_close(direct.synops, s1 * n2 + s2 * 10)
    assert direct.macs == net.cfg.audio_in_features * n1 * T
    torch.testing.assert_close(seq.synops, direct.synops)  # a network built without spiking inputs
    assert seq.macs == direct.macs
    # a spiking encoder: the input's events drive the first layer's synapses, no MACs
    spikes = count_energy(net.layers, seq.activity, spiking_inputs(EncoderConfig(audio="rate")))
    torch.testing.assert_close(spikes.synops, audio.sum(dim=(0, 2)) * n1 + s1 * n2 + s2 * 10)
    assert spikes.macs == 0.0


def test_the_encoder_not_the_values_decides_mac_or_synop() -> None:
    """0/1 values from a direct encoder are still real values; the kind says which."""
    binary = (torch.rand(T, B, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    for spiking in ((), ("audio",)):
        net = SpikingDigitNet(_cfg("audio"), spiking_inputs=spiking).eval()
        with torch.no_grad():
            seq = net(None, binary)
        assert (seq.macs == 0.0) == bool(spiking)


def test_energy_of_a_static_image_and_of_image_spikes() -> None:
    net = _net(_cfg("image"))
    static, _ = _inputs("image", "static")
    spikes, _ = _inputs("image", "spikes")
    with torch.no_grad():
        once = net(static)
        each = net(spikes)
    conv1 = describe(net.cfg).projections()
    p = next(p for _, p in conv1 if p.module == "conv1")
    assert once.activity["conv1"].runs == 1 and each.activity["conv1"].runs == T
    e = count_energy(net.layers, once.activity, spiking_inputs(EncoderConfig(image="direct")))
    assert e.macs == p.macs  # the first convolution runs once on the static image
    e = count_energy(net.layers, each.activity, spiking_inputs(EncoderConfig(image="rate")))
    assert e.macs == 0.0
    rest = count_energy(net.layers, each.activity, ())
    torch.testing.assert_close(e.synops, rest.synops + spikes.flatten(2).sum(dim=(0, 2)) * p.fan_out)
