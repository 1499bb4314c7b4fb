"""From output spikes to a decision and probabilities.

numpy only: the same readout serves torch and onnxruntime backends. The decision is the neuron
with most spikes; ties (common with few time steps) go to the higher membrane potential at the
end. Probabilities are a softmax of the spike counts at a temperature fitted on validation data
(temperature scaling), so that a confidence of 0.9 means right about nine times in ten.
"""

from __future__ import annotations

import numpy as np

#: Weight of the final membrane potential in the score: small enough never to outvote one spike.
TIE_BREAK = 1e-3


def scores(counts: np.ndarray, final_mem: np.ndarray | None = None) -> np.ndarray:
    """Spike counts plus a tie-breaking term from the final membrane potential, ``[B, 10]``."""
    s = np.asarray(counts, dtype=np.float64)
    if final_mem is not None:
        s = s + TIE_BREAK * np.tanh(np.asarray(final_mem, dtype=np.float64))
    return s


def probabilities(counts: np.ndarray, final_mem: np.ndarray | None = None, temperature: float = 1.0) -> np.ndarray:
    """Softmax of :func:`scores` at ``temperature``, ``[B, 10]``, rows summing to 1."""
    z = scores(counts, final_mem) / max(float(temperature), 1e-6)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def decide(counts: np.ndarray, final_mem: np.ndarray | None = None) -> np.ndarray:
    """The predicted digit of each sample, ``[B]``."""
    return scores(counts, final_mem).argmax(axis=-1)


def fit_temperature(counts: np.ndarray, final_mem: np.ndarray | None, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (grid search)."""
    s = scores(counts, final_mem)
    best, best_nll = 1.0, np.inf
    for t in np.geomspace(0.05, 20.0, 120):
        z = s / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -logp[np.arange(len(labels)), labels].mean()
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best
