"""snnapp: a spiking neural network that recognises spoken and handwritten digits, alone or fused."""

__version__ = "0.1.0"
