"""What a model folder's ``config.json`` holds: :class:`ModelConfig` (architecture, encoders,
preprocessing, temperature, training record), read back with every value checked, and the limits a
network described there must keep (:func:`check_network`). :mod:`snnapp.core.modelio` re-exports
these with the folder that carries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from snnapp.core._dictconfig import check_value, checked_fields, short_repr
from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ConfigError, ModelError
from snnapp.core.network import NetworkConfig
from snnapp.core.preprocess import AudioConfig, ImageConfig

FORMAT = "snnapp-model"
VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model and feed it: architecture, encoders, preprocessing."""

    network: NetworkConfig
    encoder: EncoderConfig = EncoderConfig()
    audio: AudioConfig = AudioConfig()
    image: ImageConfig = ImageConfig()
    #: Softmax temperature of the readout, fitted on validation data.
    temperature: float = 1.0
    #: The training settings that produced the model (for the model card; not needed to run it).
    training: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return self.network.mode

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "network": self.network.to_dict(),
                "encoder": self.encoder.to_dict(), "audio": self.audio.to_dict(),
                "image": self.image.to_dict(), "temperature": self.temperature, "training": self.training}

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "ModelConfig":
        """Rebuild from ``config.json``'s content; every value is checked, so a damaged or hostile
        file gives :class:`ModelError` naming ``source`` and the setting, never a model that
        allocates without bound or runs on NaN."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ModelError(f"{source}: not an snnapp model config (no \"format\": \"{FORMAT}\")")
        if d.get("version") != VERSION or isinstance(d.get("version"), bool):
            raise ModelError(f"{source}: model format version {short_repr(d.get('version'))}; this snnapp reads {VERSION}")
        try:
            if "network" not in d:
                raise ConfigError("no network section")
            net = d["network"]
            checked = checked_fields(NetworkConfig, net, "network")  # a table of settings, or ConfigError
            network = NetworkConfig.from_dict({**net, **checked})
            check_network(network)
            temperature = check_value(float, d.get("temperature", 1.0), "temperature")
            if not temperature > 0.0:
                raise ConfigError(f"temperature: must be positive, got {temperature}")
            training = check_value(dict, d.get("training", {}), "training")
            if not _finite(training):
                raise ConfigError("training: holds NaN or an infinite number")
            return cls(network=network,
                       encoder=EncoderConfig.from_dict(d.get("encoder", {}), "encoder"),
                       audio=AudioConfig.from_saved(d.get("audio", {}), "audio"),
                       image=ImageConfig.from_dict(d.get("image", {}), "image"),
                       temperature=temperature, training=training)
        except (TypeError, ValueError, OverflowError, ConfigError) as exc:
            raise ModelError(f"{source}: invalid model config ({exc})") from None


#: Most parameters a model folder may describe (a shipped model has about a million): a
#: config.json asking for more is damaged, and building it would only exhaust memory.
MAX_PARAMETERS = 50_000_000


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in ``value`` (parsed JSON, so of bounded depth)."""
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def check_network(net: NetworkConfig) -> None:
    """Sizes a network could really have; raise :class:`ConfigError` for the first that is not.

    Each setting's own range (layer sizes, time steps) is its declaration's, checked when the
    :class:`NetworkConfig` is made; here: what only the whole network says."""
    if net.uses_audio and len(net.audio_hidden) > 16:
        raise ConfigError(f"network.audio_hidden: {len(net.audio_hidden)} layers; at most 16")
    # the network's layers as the model builds them: shapes that do not fit (an even kernel) are
    # refused there, naming the setting; the parameters are counted from them
    from snnapp.core.network._layers import describe

    params = describe(net).parameters
    if params > MAX_PARAMETERS:
        raise ConfigError(f"network: its sizes make {params:,} parameters; at most {MAX_PARAMETERS:,} are accepted")
    if len(net.cond_params) > 32:
        raise ConfigError(f"network.cond_params: {len(net.cond_params)} entries; at most 32")
    for key, value in net.cond_params.items():
        if not isinstance(value, str) or len(value) > 64:  # numbers, and the surrogate's name
            check_value(float, value, f"network.cond_params.{short_repr(key)}")
