"""The two-branch spiking network: its config, its step function, and its readout."""

from ._config import MODES, Mode, NetworkConfig
from ._readout import decide, fit_temperature, probabilities, scores

__all__ = ["MODES", "Mode", "NetworkConfig", "decide", "fit_temperature", "probabilities", "scores",
           "SpikingDigitNet", "StepOutput", "SequenceOutput"]


def __getattr__(name: str):
    # torch is imported only when the torch model is asked for: the readout and the config serve
    # the edge runtime, which has no torch.
    if name in ("SpikingDigitNet", "StepOutput", "SequenceOutput"):
        from . import _model

        return getattr(_model, name)
    raise AttributeError(name)
