"""Tests of the ONNX export and the runtime backends."""
