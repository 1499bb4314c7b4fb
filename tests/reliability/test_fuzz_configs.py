"""Hostile and clumsy settings: a model's ``config.json`` (``ModelConfig`` and its sections) and
search space files (TOML, YAML) with wrong types, unknown and missing keys, NaN, huge numbers,
deeply nested junk and bytes that are not UTF-8.

Each must give a clear :class:`ModelError` / :class:`ConfigError` naming the file or setting, or a
configuration that is sane all the way (finite, within bounds, round-trips), never another
exception.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ConfigError, ModelError
from snnapp.core.modelio import CONFIG, MAX_PARAMETERS, ModelConfig, check_network, load_model, save_model
from snnapp.core.network import NetworkConfig
from snnapp.core.preprocess import AudioConfig, ImageConfig
from snnapp.core.training import settings as all_settings
from snnapp.core.training import short_names
from snnapp.tuning import SearchSpace, load_space
from snnapp.tuning._space import COMPOUND_PARAMS, MAX_GRID_POINTS

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCE = "/models/m/config.json"

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.sampled_from([10**400, -(10**400), 2**63, 0, 1, -1]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["image", "audio", "multimodal", "lif", "cond", "direct", "delta", "auto", "", "1", "NaN"]),
)
#: JSON-like junk, nested up to a few levels.
junk = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=12)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _valid() -> dict:
    net = NetworkConfig(mode="multimodal", num_steps=4, audio_in_features=160, audio_hidden=(32, 16),
                        image_channels=(4, 6), image_hidden=24)
    return ModelConfig(net, EncoderConfig(), AudioConfig(), ImageConfig(), 1.5, {"seed": 1}).to_dict()


VALID = _valid()
#: Every place in a config a value sits: (section or None, key).
PLACES = [(None, k) for k in VALID] + [(s, k) for s in ("network", "encoder", "audio", "image") for k in VALID[s]]


def _finite_everywhere(obj: Any) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_finite_everywhere(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_finite_everywhere(v) for v in obj)
    return True


def _sane(cfg: ModelConfig) -> None:
    """What a loaded config promises: finite, within bounds, and the same after a JSON round trip."""
    d = cfg.to_dict()
    for section in ("network", "encoder", "audio", "image"):
        assert _finite_everywhere(d[section]), section
    assert math.isfinite(cfg.temperature) and cfg.temperature > 0
    check_network(cfg.network)
    again = ModelConfig.from_dict(json.loads(json.dumps(d, allow_nan=False)), SOURCE)
    assert again == cfg


def _config_or_error(d: Any) -> ModelConfig | None:
    try:
        cfg = ModelConfig.from_dict(d, SOURCE)
    except ModelError as err:
        assert SOURCE in str(err)
        assert len(str(err)) < 2000, "the message quotes too much of the junk"
        return None
    _sane(cfg)
    return cfg


# ----------------------------------------------------------------------------------- config.json


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(PLACES), st.one_of(junk, st.just(dataclasses.MISSING))),
                        min_size=1, max_size=4),
       extra=st.dictionaries(st.text(max_size=10), junk, max_size=2))
def test_model_config_with_junk_values(changes, extra):
    d = copy.deepcopy(VALID)
    for (section, key), value in changes:
        target = d if section is None else d.get(section)
        if not isinstance(target, dict):
            continue
        if value is dataclasses.MISSING:
            target.pop(key, None)
        else:
            target[key] = value
    d.update({k: v for k, v in extra.items() if k not in VALID})
    _config_or_error(d)


@FUZZ
@given(section=st.sampled_from(["network", "encoder", "audio", "image", "training"]), value=junk)
def test_model_config_with_a_junk_section(section, value):
    d = copy.deepcopy(VALID)
    d[section] = value
    _config_or_error(d)


@FUZZ
@given(d=junk)
def test_model_config_that_is_junk_altogether(d):
    assert _config_or_error(d) is None
    if isinstance(d, dict):
        assert _config_or_error({**d, "format": "snnapp-model", "version": 1}) is None or "network" in d


@pytest.mark.parametrize("section, key, value, message", [
    ("network", "num_steps", 10**9, "num_steps"),
    ("network", "image_hidden", 10**12, "image_hidden"),
    ("network", "audio_hidden", [65536, 65536, 65536], "parameters"),
    ("network", "audio_hidden", list(range(1, 100)), "audio_hidden"),
    ("network", "image_channels", [4096, 4096], "parameters"),
    ("network", "image_kernel", 0, "image_kernel"),
    ("network", "beta", float("nan"), "beta"),
    ("network", "threshold", float("inf"), "threshold"),
    ("network", "mode", _deep(500), "mode"),
    ("network", "cond_params", {"tau_v": "x" * 10**5}, None),
    ("network", "cond_params", {"tau_v": float("nan")}, "tau_v"),
    ("network", "learn_beta", "false", "learn_beta"),
    ("encoder", "image", "magic", "encoder"),
    ("encoder", "delta_gain", float("-inf"), "delta_gain"),
    ("audio", "n_fft", 0, "n_fft"),
    ("audio", "sample_rate", 10**30, "sample_rate"),
    ("audio", "n_frames", 2.5, "n_frames"),
    ("audio", "normalize", 1, "normalize"),
    ("image", "size", "28", "size"),
    ("image", "noise_sigmas", float("nan"), "noise_sigmas"),
    (None, "temperature", 0, "temperature"),
    (None, "temperature", 10**400, "temperature"),
    (None, "training", [1, 2], "training"),
    (None, "version", True, "version"),
    (None, "version", 2, "version"),
    (None, "format", "other", "format"),
])
def test_named_bad_values(section, key, value, message):
    d = copy.deepcopy(VALID)
    (d if section is None else d[section])[key] = value
    with pytest.raises(ModelError) as err:
        ModelConfig.from_dict(d, SOURCE)
    assert SOURCE in str(err.value) and len(str(err.value)) < 2000
    if message:
        assert message in str(err.value)


def test_unknown_keys_of_sections_are_ignored_but_not_in_the_network():
    """A newer snnapp's extra preprocessing setting still loads; an unknown layer setting does not."""
    d = copy.deepcopy(VALID)
    d["audio"]["future_setting"] = [1, 2]
    d["image"]["future_setting"] = {"a": None}
    d["encoder"]["future_setting"] = "x"
    d["future_section"] = {"x": 1}
    assert ModelConfig.from_dict(d, SOURCE).audio == AudioConfig()
    d["network"]["future_layer"] = 3
    with pytest.raises(ModelError, match="future_layer"):
        ModelConfig.from_dict(d, SOURCE)


def test_missing_keys_take_defaults_except_the_network():
    d = {k: v for k, v in VALID.items() if k not in ("encoder", "audio", "image", "temperature", "training")}
    cfg = ModelConfig.from_dict(d, SOURCE)
    # a saved config without trim was made before the noise-aware detector: it keeps peak trimming
    assert cfg.audio == AudioConfig(trim="peak") and cfg.temperature == 1.0
    del d["network"]
    with pytest.raises(ModelError, match="network"):
        ModelConfig.from_dict(d, SOURCE)


def test_whole_floats_are_accepted_as_integers():
    d = copy.deepcopy(VALID)
    d["network"]["num_steps"] = 4.0
    d["audio"]["n_mfcc"] = 20.0
    cfg = ModelConfig.from_dict(d, SOURCE)
    assert cfg.network.num_steps == 4 and isinstance(cfg.audio.n_mfcc, int)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cls=st.sampled_from([AudioConfig, ImageConfig, EncoderConfig]), data=st.data())
def test_section_from_dict_with_junk(cls, data):
    names = [f.name for f in dataclasses.fields(cls)]
    d = data.draw(st.dictionaries(st.one_of(st.sampled_from(names), st.text(max_size=6)), junk, max_size=5))
    try:
        cfg = cls.from_dict(d)
    except ConfigError:
        return
    assert _finite_everywhere(cfg.to_dict())
    assert cls.from_dict(json.loads(json.dumps(cfg.to_dict(), allow_nan=False))) == cfg


def test_section_of_the_wrong_kind():
    for value in ([1], "x", None, 3, _deep(3000)):
        with pytest.raises(ConfigError, match="AudioConfig: expected a table"):
            AudioConfig.from_dict(value)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- the file itself


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from snnapp.core.network import SpikingDigitNet
    from snnapp.core.torch_model import weights_of

    torch.manual_seed(0)
    cfg = ModelConfig.from_dict(VALID, SOURCE)
    return save_model(tmp_path_factory.mktemp("cfg") / "model", cfg, weights_of(SpikingDigitNet(cfg.network)), {})


def _with_config(model: Path, content: bytes) -> Path:
    (model / CONFIG).write_bytes(content)
    return model


@pytest.mark.parametrize("content", [
    b"", b"\xff\xfe{\x00}\x00", b"{\"format\": \"snnapp-model\", \"version\": 1, \"network\": \"\xe9\"}",
    b"[" * 100_000, b"{\"a\":" * 50_000, b"1" * 5000, b"NaN", b"{\"format\": \"snnapp-model\"" + b" " * 10,
    json.dumps({**VALID, "temperature": "Infinity"}).encode(), json.dumps(VALID).encode().replace(b"1.5", b"NaN"),
    json.dumps(VALID).encode().replace(b"1.5", b"1e999"), b"\x00" * 100, json.dumps(VALID).encode()[:-5],
], ids=["empty", "utf16", "latin1", "deep_list", "deep_object", "huge_int", "nan_literal", "truncated_object",
        "temperature_string", "temperature_nan", "temperature_overflow", "nul_bytes", "cut"])
def test_bad_config_files_name_the_file(model: Path, content: bytes):
    _with_config(model, content)
    with pytest.raises(ModelError, match=CONFIG):
        load_model(model, verify=False)


def test_huge_config_file_is_not_read(model: Path):
    _with_config(model, b" " * (17 * 1024 * 1024) + json.dumps(VALID).encode())
    with pytest.raises(ModelError, match=f"{CONFIG}: .*too large"):
        load_model(model, verify=False)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.one_of(st.binary(max_size=200), st.builds(lambda v: json.dumps(v).encode(), junk)))
def test_any_bytes_as_config_file(model: Path, content: bytes):
    _with_config(model, content)
    with pytest.raises(ModelError, match=CONFIG):
        load_model(model, verify=False)


# ----------------------------------------------------------------------------------- search spaces

_param_keys = st.sampled_from(["type", "low", "high", "log", "choices", "grid"])
_param_values = st.one_of(
    junk, st.sampled_from(["float", "int", "categorical"]), st.floats(-10, 10), st.integers(-5, 600),
    st.lists(st.one_of(st.floats(0, 1), st.integers(0, 64), st.sampled_from(["direct", "rate", "latency"])), max_size=6),
)
_tables = st.dictionaries(_param_keys, _param_values, max_size=6)
_names = st.one_of(st.sampled_from([*all_settings(), *short_names(), *COMPOUND_PARAMS]), st.text(max_size=6))
_fixed = st.dictionaries(st.one_of(st.sampled_from(["batch_size", "correct_rate", "incorrect_rate", "audio_hidden",
                                                    "augment"]), st.text(max_size=5)), junk, max_size=3)


def _sane_space(space: SearchSpace) -> None:
    json.loads(space.to_json())
    assert SearchSpace.from_dict(json.loads(space.to_json())).to_json() == space.to_json()
    space.distributions()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = space.suggest(study.ask())
    assert set(values) == set(space.names)
    for p in space.params:
        v = values[p.name]
        assert v in p.choices if p.kind == "categorical" else p.low <= v <= p.high
    try:
        grid = space.grid()
    except ConfigError:
        return
    assert math.prod(len(v) for v in grid.values()) <= MAX_GRID_POINTS


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.one_of(st.dictionaries(_names, st.one_of(_tables, junk), max_size=4), junk),
       fixed=st.one_of(_fixed, junk), extra=st.dictionaries(st.text(max_size=5), junk, max_size=1))
def test_search_space_from_junk(params, fixed, extra):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    d = {"params": params, "fixed": fixed, **extra}
    try:
        space = SearchSpace.from_dict(d)
    except ConfigError as err:
        assert len(str(err)) < 2000
        return
    _sane_space(space)


@pytest.mark.parametrize("d, message", [
    ({"params": {"lr": {"low": "a", "high": 1}}}, "finite numbers"),
    ({"params": {"batch_size": {"low": 1, "high": 10**400}}}, "finite numbers"),
    ({"params": {"batch_size": {"type": "int", "low": 1.5, "high": 3}}}, "whole"),
    ({"params": {"lr": {"low": -1e308, "high": 1e308}}}, "too wide"),
    ({"params": {"encoder": {"choices": 5}}}, "must be a list"),
    ({"params": {"encoder": {"choices": "direct"}}}, "must be a list"),
    ({"params": {"encoder": {"choices": [["direct"]]}}}, "words or finite numbers"),
    ({"params": {"correct_rate": {"choices": ["a", 0.5]}}}, "finite numbers"),
    ({"params": {"lr": {"low": 0, "high": 1, "grid": 5}}}, "must be a list"),
    ({"params": {"lr": {"low": 0, "high": 1, "grid": [0.5] * 10**5}}}, "at most"),
    ({"params": {"lr": {"low": 1e-3, "high": 1, "log": "no"}}}, "log"),
    ({"params": {"lr": {"type": {}, "low": 0, "high": 1}}}, "unknown type"),
    ({"params": {"lr": {"low": 0, "high": 1}}, "fixed": [1]}, "fixed"),
    ({"params": {"lr": {"low": 0, "high": 1}}, "fixed": {"correct_rate": "x"}}, "correct_rate"),
    ({"params": {"lr": {"low": 0, "high": 1}}, "fixed": {"correct_rate": float("nan")}}, "correct_rate"),
    ({"params": {"lr": {"low": 0, "high": 1}}, "fixed": {"batch_size": {"a": 1}}}, "batch_size"),
    ([1, 2], "expected a table"),
    ({"params": {"encoder": {"low": 0, "high": 1}}}, "choices"),
])
def test_named_bad_spaces(d, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_dict(d)


def test_huge_infeasible_grid_is_refused_quickly():
    """Five parameters with 1000 grid values each: 10^15 points are neither enumerated nor kept."""
    import time

    params = {n: {"low": 0, "high": 1000, "grid": list(range(1000))} for n in ("batch_size", "hidden")}
    params |= {n: {"low": 0.0, "high": 1.0, "grid": list(np.linspace(0, 1, 1000))} for n in ("beta", "dropout", "slope")}
    space = SearchSpace.from_dict({"params": params})
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="points"):
        space.grid()
    assert time.perf_counter() - t0 < 1.0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(st.fixed_dictionaries({"params": st.dictionaries(_names, _tables, max_size=3)},
                                           optional={"fixed": _fixed}), junk))
def test_yaml_space_files(tmp_path_factory: pytest.TempPathFactory, doc):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = tmp_path_factory.mktemp("space") / "space.yaml"
    try:
        path.write_text(yaml.safe_dump(doc))
    except (yaml.YAMLError, UnicodeEncodeError):  # text hypothesis made that YAML cannot hold
        return
    try:
        space = load_space(path)
    except ConfigError as err:
        assert str(path) in str(err)
        return
    _sane_space(space)


@pytest.mark.parametrize("text", [
    "[params.lr]\nlow = nan\nhigh = 1\n", "[params.lr]\nlow = 0\nhigh = inf\n",
    "[params.batch_size]\nlow = 1\nhigh = 99999999999999999999\n", "[params.encoder]\nchoices = 'direct'\n",
    "[params.lr]\nlow = 0.1\nhigh = 1\ngrid = [0.5, 'x']\n", "[params.lr]\nlow = 1979-05-27\nhigh = 1\n",
    "params = 5\n", "fixed = 5\n[params.lr]\nlow = 0\nhigh = 1\n", "[params.lr]\nlow = 0\nhigh = 1\n[fixed]\nbatch_size = {a = 1}\n",
    "[params.lr]\nlow = 0\nhigh = 1\nlog = 'yes'\n",
])
def test_bad_toml_space_files(tmp_path: Path, text: str):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="space.toml"):
        load_space(path)


@pytest.mark.parametrize("name, content", [
    ("latin1.toml", b"[params.lr]\nlow = 0 # \xe9\nhigh = 1\n"), ("utf16.yaml", "params: {}".encode("utf-16")),
    ("deep.yaml", b"[" * 5000), ("deep.toml", b"a = " + b"[" * 5000),
])
def test_space_files_that_are_not_text_or_nest_too_deeply(tmp_path: Path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=name):
        load_space(path)


def test_max_parameters_bound_fits_the_shipped_models():
    for mode in ("image", "audio", "multimodal"):
        folder = Path(__file__).resolve().parents[2] / "snnapp" / "assets" / "models" / mode
        if (folder / CONFIG).exists():
            cfg = ModelConfig.from_dict(json.loads((folder / CONFIG).read_text()), str(folder / CONFIG))
            check_network(cfg.network)
    assert MAX_PARAMETERS >= 10_000_000
