"""Spike-count losses against snnTorch and torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnapp.core.errors import ConfigError
from snnapp.core.training._loss import make_loss

sf = pytest.importorskip("snntorch.functional")


def _record(steps: int, batch: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    spk = (torch.rand(steps, batch, 10, generator=g) < 0.4).float()
    labels = torch.randint(0, 10, (batch,), generator=g)
    return spk, labels


@pytest.mark.parametrize("steps", [4, 10, 25])
@pytest.mark.parametrize("correct,incorrect", [(0.8, 0.2), (1.0, 0.0), (0.75, 0.25), (0.7, 0.3), (0.5, 0.1)])
def test_mse_count_equals_snntorch(steps: int, correct: float, incorrect: float) -> None:
    spk, labels = _record(steps, seed=steps)
    ours = make_loss("mse_count", steps, correct, incorrect)(spk.sum(0), labels)
    theirs = sf.mse_count_loss(correct_rate=correct, incorrect_rate=incorrect)(spk, labels)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_mse_count_gradient_equals_snntorch() -> None:
    spk, labels = _record(8)
    a = spk.clone().requires_grad_(True)
    b = spk.clone().requires_grad_(True)
    make_loss("mse_count", 8, 0.8, 0.2)(a.sum(0), labels).backward()
    sf.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)(b, labels).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_mse_count_is_zero_on_target() -> None:
    steps = 10
    labels = torch.tensor([3, 7])
    counts = torch.full((2, 10), 2.0)
    counts[0, 3] = counts[1, 7] = 8.0
    assert make_loss("mse_count", steps, 0.8, 0.2)(counts, labels) == 0
    assert make_loss("mse_count", steps, 0.9, 0.2)(counts, labels) > 0


@pytest.mark.parametrize("correct,incorrect", [(0.2, 0.8), (0.5, 0.5), (1.2, 0.1), (0.8, -0.1)])
def test_invalid_rates_are_refused(correct: float, incorrect: float) -> None:
    with pytest.raises(ConfigError, match="incorrect rate < correct rate"):
        make_loss("mse_count", 4, correct, incorrect)


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown loss"):
        make_loss("hinge", 4, 0.8, 0.2)


def test_ce_count_is_cross_entropy_of_counts() -> None:
    spk, labels = _record(6)
    counts = spk.sum(0)
    torch.testing.assert_close(make_loss("ce_count", 6, 0.8, 0.2)(counts, labels), F.cross_entropy(counts, labels))
    # the rates do not matter for cross-entropy, nor are they checked
    torch.testing.assert_close(make_loss("ce_count", 6, 0.1, 0.9)(counts, labels), F.cross_entropy(counts, labels))
