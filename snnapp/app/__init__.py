"""The Qt desktop app: live microphone, camera and drawing pad, fused predictions, spike rasters.

``run_app`` opens the window; everything heavy (capture, inference) runs on worker threads, and
the network is the core's runtime backend (onnxruntime, or torch on the CPU or a GPU). Nothing
here trains: personalisation calls the core's training function.
"""

from ._run import AppOptions, run_app

__all__ = ["AppOptions", "run_app"]
