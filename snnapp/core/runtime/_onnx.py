"""The onnxruntime backend: runs a folder's exported step graph (``model.onnx``), no torch.

onnxruntime keeps no state, so the state tensors go in and come back each step; their names and
per-sample shapes are read from the graph's inputs. Where the folder also has the whole-window
graph (``model_window.onnx``), a run from rest takes it: one call instead of T. Both graphs are
checked against the folder's weights and config (sha256 recorded at export): a stale export is an
error, not a silent mismatch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnapp.core.errors import Hint, ModelError
from snnapp.core.modelio import CONFIG, ONNX, WEIGHTS, ModelFolder, sha256_file, shown

from ._base import Backend, Encoded, State, StepFrame

WINDOW_ONNX = "model_window.onnx"  # same name as snnapp.core.export.WINDOW_ONNX (which imports torch)
HIDDEN = ("image_hidden", "audio_hidden")


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _providers(device: str, providers: list[str] | None) -> list[str]:
    if providers:
        return providers
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available_providers():
            raise ModelError(f"device {device!r} asked for, but this onnxruntime has no CUDA provider",
                             hint=Hint("device", "cpu"))
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxBackend(Backend):
    """Runs ``model.onnx`` (and ``model_window.onnx`` where present) with onnxruntime."""

    name = "onnx"

    def __init__(self, folder: ModelFolder, device: str = "cpu", providers: list[str] | None = None,
                 threads: int = 0, use_window: bool = True, path: str | Path | None = None) -> None:
        import onnxruntime as ort

        super().__init__(folder)
        path = Path(path) if path is not None else folder.path / ONNX
        if not path.is_file():
            raise ModelError(f"{shown(folder.path)}: no {ONNX}",
                             hint=(Hint("export", str(folder.path)), Hint("backend", "torch")))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.providers = _providers(device, providers)
        self.session = self._open(ort, path, opts, "step")
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._shapes = {i.name: tuple(int(d) for d in i.shape[1:]) for i in self.session.get_inputs()
                        if i.name not in ("image_t", "audio_t", "image_mask", "audio_mask")}
        shapes = {i.name: i.shape for i in self.session.get_inputs()}
        self._image_shape = tuple(shapes["image_t"][1:]) if "image_t" in shapes else None
        self._audio_shape = tuple(shapes["audio_t"][1:]) if "audio_t" in shapes else None
        wpath = folder.path / WINDOW_ONNX
        self.window = self._open(ort, wpath, opts, "window") if use_window and path.parent == folder.path \
            and wpath.is_file() else None

    def _open(self, ort, path: Path, opts, kind: str):
        try:
            # the graph's bytes, not its name: onnxruntime wants a UTF-8 path, a folder's name may not be
            sess = ort.InferenceSession(path.read_bytes(), sess_options=opts, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{shown(path)}: onnxruntime cannot load it ({exc})") from None
        meta = sess.get_modelmeta().custom_metadata_map
        if meta.get("snnapp_kind", kind) != kind:
            raise ModelError(f"{shown(path)}: a {meta.get('snnapp_kind')} graph, expected {kind}")
        for key, name in (("snnapp_weights_sha256", WEIGHTS), ("snnapp_config_sha256", CONFIG)):
            if key not in meta:  # every graph snnapp exports says which weights it holds
                raise ModelError(f"{shown(path)}: no record of the weights it was exported from",
                                 hint=Hint("export", str(self.folder.path)))
            if meta[key] != sha256_file(self.folder.path / name):
                raise ModelError(f"{shown(path)}: exported from other {name} than the folder's",
                                 hint=Hint("export", str(self.folder.path)))
        return sess

    def _run(self, session, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """``session.run``, with onnxruntime's own failures (a damaged graph) as a ModelError."""
        try:
            return session.run(None, feed)
        except Exception as exc:  # onnxruntime's exception types are not importable portably
            raise ModelError(f"{shown(self.folder.path)}: onnxruntime failed to run the graph ({exc})",
                             hint=Hint("export", str(self.folder.path))) from None

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self._shapes)

    def step(self, image_t: np.ndarray | None, audio_t: np.ndarray | None, state: State) -> StepFrame:
        present = image_t if image_t is not None else audio_t
        if present is None:
            raise ModelError(f"{shown(self.folder.path)}: no input for this step")
        b = present.shape[0]
        feed: dict[str, np.ndarray] = {n: np.asarray(state[n], dtype=np.float32) for n in self._shapes}
        if self._image_shape is not None:
            feed["image_t"] = np.zeros((b,) + self._image_shape, np.float32) if image_t is None \
                else np.ascontiguousarray(image_t, dtype=np.float32)
        if self._audio_shape is not None:
            feed["audio_t"] = np.zeros((b,) + self._audio_shape, np.float32) if audio_t is None \
                else np.ascontiguousarray(audio_t, dtype=np.float32)
        if "image_mask" in self.inputs:
            feed["image_mask"] = np.full(b, float(image_t is not None), np.float32)
            feed["audio_mask"] = np.full(b, float(audio_t is not None), np.float32)
        res = dict(zip(self.outputs, self._run(self.session, feed)))
        present_hidden = {"image_hidden": image_t is not None, "audio_hidden": audio_t is not None}
        hidden = {h: res[h] for h in HIDDEN if h in res and present_hidden[h]}
        new = {n: res[f"{n}_next"] for n in self._shapes}
        return StepFrame(0, res["out_spikes"], res["out_mem"], hidden, new)

    def simulate(self, enc: Encoded, state: State | None = None) -> tuple[np.ndarray, np.ndarray, State]:
        if self.window is None or state is not None:
            return super().simulate(enc, state)
        names = [i.name for i in self.window.get_inputs()]
        feed: dict[str, np.ndarray] = {}
        b = enc.batch
        if "image" in names:
            static = self.window.get_modelmeta().custom_metadata_map.get("snnapp_static_image") == "1"
            img = enc.image
            if img is None:
                assert self._image_shape is not None  # the step graph takes images as the window graph does
                img = np.zeros((enc.steps, b) + self._image_shape, np.float32)
            feed["image"] = np.ascontiguousarray(img[0] if static else img)
        if "audio" in names:
            aud = enc.audio
            if aud is None:
                assert self._audio_shape is not None  # as for images
                aud = np.zeros((enc.steps, b) + self._audio_shape, np.float32)
            feed["audio"] = np.ascontiguousarray(aud)
        if "image_mask" in names:
            feed["image_mask"] = np.full(b, float(enc.image is not None), np.float32)
            feed["audio_mask"] = np.full(b, float(enc.audio is not None), np.float32)
        counts, mem = self._run(self.window, feed)
        return counts, mem, {}
