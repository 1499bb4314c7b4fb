"""The torch backend: the folder's network on the CPU or a CUDA GPU.

torch is imported when a backend is built, never when this module is imported, so that the
runtime package loads on an edge install without torch. A run from rest uses the network's
``forward`` (stateless layers over all steps at once; same spikes as looping ``step``, tested in
the core); stepping with a given state uses ``step``.
"""

from __future__ import annotations

import numpy as np

from snnapp.core.modelio import ModelFolder

from ._base import Backend, Encoded, State, StepFrame


class TorchBackend(Backend):
    """Runs ``SpikingDigitNet`` built from the folder's weights, in eval mode, no surrogate."""

    name = "torch"

    def __init__(self, folder: ModelFolder, device: str = "cpu") -> None:
        import torch  # noqa: TID251 (the torch backend is torch's one place in the runtime)

        from snnapp.core.torch_model import build_net, resolve_device

        super().__init__(folder)
        self._torch = torch
        self.device = resolve_device(device)
        self.net = build_net(folder, self.device)
        self._names = self.net.state_names()
        self._shapes = {n: tuple(t.shape[1:]) for n, t in zip(self._names, self.net.initial_state(1))}

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self._shapes)

    def _t(self, a: np.ndarray | None):
        return None if a is None else self._torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)

    def step(self, image_t: np.ndarray | None, audio_t: np.ndarray | None, state: State) -> StepFrame:
        from snnapp.core.neurons import no_surrogate

        st = tuple(self._t(state[n]) for n in self._names)
        with self._torch.no_grad(), no_surrogate():
            out = self.net.step(self._t(image_t), self._t(audio_t), st)
        new = {n: t.cpu().numpy() for n, t in zip(self._names, out.state)}
        hidden = {k: v.cpu().numpy() for k, v in out.hidden.items()}
        return StepFrame(0, out.out_spikes.cpu().numpy(), out.out_mem.cpu().numpy(), hidden, new)

    def simulate(self, enc: Encoded, state: State | None = None) -> tuple[np.ndarray, np.ndarray, State]:
        if state is not None:
            return super().simulate(enc, state)
        from snnapp.core.neurons import no_surrogate

        img = enc.image
        if img is not None and self.config.encoder.image == "direct":
            img = img[0]  # a static image: the first convolution runs once
        with self._torch.no_grad(), no_surrogate():
            out = self.net(self._t(img), self._t(enc.audio))
        return out.counts.cpu().numpy(), out.out_mem[-1].cpu().numpy(), {}
