"""Inference backends behind one interface (torch, onnxruntime)."""
