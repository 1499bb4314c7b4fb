"""Smoke test of ``benchmarks/bench_kernels.py`` at toy sizes: every pair runs, and both sides of a
pair compute the same thing (the timings mean nothing here)."""

from __future__ import annotations

import torch

from . import load_script


def test_quick_run_reports_every_kernel_in_both_precisions(capsys) -> None:
    res = load_script("bench_kernels").main(["--quick", "--repeats", "1", "--calls", "1"])
    assert len(res) == 8
    for row in res.values():
        assert row["plain_ms"] > 0 and row["snnapp_ms"] > 0 and row["ratio"] > 0
    out = capsys.readouterr().out
    assert out.count("| max pool 2x2") == 4 and "| LIF over T steps" in out


def test_the_pairs_compare_like_with_like() -> None:
    """The pooling and LIF pairs give equal outputs, so their timings compare the same work."""
    import torch.nn.functional as F

    from snnapp.core.network._pool import max_pool2x2
    from snnapp.core.neurons import LIFParameters, lif_sequence

    bench = load_script("bench_kernels")
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(F.max_pool2d(x, 2), max_pool2x2(x))
    drive = torch.randn(4, 3, 5) + 0.5
    p = LIFParameters(beta=0.9, slope=5.0)
    assert torch.equal(bench._lif_loop(drive, p), lif_sequence(drive, 4, p))
