"""The core: data sets, preprocessing, spike encoders, neurons, the network, training and evaluation.

Imports Qt and optuna nowhere. torch is imported only by the modules that need it, so that
preprocessing and encoders stay usable on an edge device without torch.
"""
