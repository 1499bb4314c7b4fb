"""Between model folders and torch: build the network of a folder, and take its weights back."""

from __future__ import annotations

import numpy as np
import torch

from snnapp.core.errors import Hint, ModelError
from snnapp.core.modelio import ModelFolder
from snnapp.core.network import SpikingDigitNet, spiking_inputs


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` takes CUDA where there is one; asking for CUDA where there is none is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but torch sees no CUDA GPU here", hint=Hint("device", "cpu"))
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"unknown device {device!r} ({exc})") from None


def weights_of(net: torch.nn.Module) -> dict[str, np.ndarray]:
    """Parameters and buffers as contiguous float32/int64 numpy arrays, for safetensors."""
    return {k: v.detach().cpu().contiguous().numpy() for k, v in net.state_dict().items()}


def build_net(folder: ModelFolder, device: torch.device | str = "cpu") -> SpikingDigitNet:
    """The torch network of a loaded folder, in eval mode; foreign or mismatched weights are refused."""
    net = SpikingDigitNet(folder.config.network, spiking_inputs(folder.config.encoder))
    expected = net.state_dict()
    got = folder.weights
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing or extra:
        raise ModelError(
            f"{folder.path}: weights do not fit the architecture in config.json "
            f"(missing {missing[:4]}{'...' if len(missing) > 4 else ''}, unexpected {extra[:4]}{'...' if len(extra) > 4 else ''})")
    got = {k: np.asarray(a) for k, a in got.items()}
    for k, v in expected.items():
        if v.dim() == 0 and got[k].shape == (1,):  # a scalar as saved before 0-d arrays were kept
            got[k] = got[k].reshape(())
        if tuple(got[k].shape) != tuple(v.shape):
            raise ModelError(f"{folder.path}: weight {k} has shape {tuple(got[k].shape)}, the config needs {tuple(v.shape)}")
    net.load_state_dict({k: torch.from_numpy(np.asarray(got[k]).copy()) for k in expected})
    return net.to(device).eval()
