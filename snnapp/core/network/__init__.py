"""The two-branch spiking network: its config, its layers described once, its step function, its
energy count and its readout."""

from ._config import MODES, Mode, NetworkConfig
from ._energy import Activity, Energy, count_energy, spiking_inputs
from ._layers import CLASSES, IMAGE_SIZE, INPUTS, Layer, Layers, Projection, describe
from ._readout import decide, fit_temperature, probabilities, scores

__all__ = ["MODES", "Mode", "NetworkConfig", "decide", "fit_temperature", "probabilities", "scores",
           "Activity", "Energy", "count_energy", "spiking_inputs", "CLASSES", "IMAGE_SIZE", "INPUTS", "Layer",
           "Layers", "Projection", "describe",
           "SpikingDigitNet", "StepOutput", "SequenceOutput"]


def __getattr__(name: str):
    # torch is imported only when the torch model is asked for: the readout and the config serve
    # the edge runtime, which has no torch.
    if name in ("SpikingDigitNet", "StepOutput", "SequenceOutput"):
        from . import _model

        return getattr(_model, name)
    raise AttributeError(name)
