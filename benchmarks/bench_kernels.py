"""The training kernels snnapp replaces, each against the PyTorch way it replaces, on the image
network's layer shapes at T=4: 2x2 max pooling, the LIF loop over time, and the dropout mask.

Each pair runs forward + backward on the same tensors in one process, interleaved over repeats;
the figure is the median milliseconds, and the ratio is plain / snnapp (above 1: snnapp faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from snnapp.core.network import NetworkConfig, SpikingDigitNet
from snnapp.core.network._pool import max_pool2x2
from snnapp.core.neurons import LIF, LIFParameters, lif_sequence

T, B = 4, 128


def _timed(fn: Callable[[], None], n: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e3


def _fwd_bwd(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        xi = x.detach().requires_grad_()
        f(xi).float().sum().backward()
    return run


def _lif_loop(x: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    m, state, out = LIF(p), None, []
    for t in range(x.shape[0]):
        s, state = m(x[t], state)
        out.append(s)
    return torch.stack(out)


def pairs(dtype: torch.dtype, scale: int = 1) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """(plain, snnapp) callables per kernel, at the default network's sizes divided by ``scale``."""
    g = torch.Generator().manual_seed(0)
    b = max(1, B // scale)
    conv1 = torch.randn(b, 32, 28, 28, generator=g).to(dtype)
    conv2 = torch.randn(T * b, 64, 14, 14, generator=g).to(dtype)
    drive = (torch.randn(T, b, 32, 14, 14, generator=g) + 0.5).to(dtype)
    flat = torch.randn(T, b, 64 * 7 * 7, generator=g).to(dtype)
    p = LIFParameters(beta=0.9, slope=5.0)
    return {
        "max pool 2x2, conv1 currents": (_fwd_bwd(lambda x: F.max_pool2d(x, 2), conv1), _fwd_bwd(max_pool2x2, conv1)),
        "max pool 2x2, conv2 currents (T folded)": (_fwd_bwd(lambda x: F.max_pool2d(x, 2), conv2),
                                                    _fwd_bwd(max_pool2x2, conv2)),
        "LIF over T steps, conv1 neurons": (_fwd_bwd(lambda x: _lif_loop(x, p), drive),
                                            _fwd_bwd(lambda x: lif_sequence(x, T, p), drive)),
        "dropout 0.1 before fc: a mask per step vs per sample": (
            partial(_dropout("step"), flat), partial(_dropout("sample"), flat)),
    }


def _dropout(mask: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network's own training dropout of ``[T, B, ...]`` with the given mask setting."""
    net = SpikingDigitNet(NetworkConfig(mode="audio", audio_in_features=8, audio_hidden=(8,), dropout=0.1,
                                        dropout_mask=mask)).train()
    return net._drop


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10, help="calls per timing")
    ap.add_argument("--quick", action="store_true", help="small tensors, for the smoke test")
    a = ap.parse_args(argv)
    res: dict[str, dict[str, float]] = {}
    print("| kernel | dtype | plain ms | snnapp ms | plain / snnapp |\n|---|---|---:|---:|---:|")
    for dtype in (torch.float32, torch.bfloat16):
        for name, (plain, ours) in pairs(dtype, 32 if a.quick else 1).items():
            times: dict[str, list[float]] = {"plain": [], "snnapp": []}
            for _ in range(a.repeats):  # interleaved, so that a slow spell hits both sides
                times["plain"].append(_timed(plain, a.calls))
                times["snnapp"].append(_timed(ours, a.calls))
            pm, om = statistics.median(times["plain"]), statistics.median(times["snnapp"])
            key = f"{name} [{str(dtype).removeprefix('torch.')}]"
            res[key] = {"plain_ms": pm, "snnapp_ms": om, "ratio": pm / om}
            print(f"| {name} | {str(dtype).removeprefix('torch.')} | {pm:.2f} | {om:.2f} | {pm / om:.2f} |")
    return res


if __name__ == "__main__":
    main()
