"""ONNX export of one neuron step with explicit state: plain comparison spikes, parity with torch."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import Tensor, nn

from snnapp.core.neurons import LIF, CondLIF, CondLIFParameters, LIFParameters, no_surrogate, spike

_DIFFERENTIABLE_OPS = {"PythonOp", "ATen"}


def _export(module: nn.Module, args: tuple[Tensor, ...], names: list[str], outputs: list[str]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        with no_surrogate():
            torch.onnx.export(
                module,
                args,
                buf,
                dynamo=False,
                opset_version=17,
                input_names=names,
                output_names=outputs,
                dynamic_axes={n: {0: "batch"} for n in names + outputs},
            )
    return buf.getvalue()


class _Spike(nn.Module):
    def forward(self, v: Tensor) -> Tensor:
        return spike(v - 1.0)


def test_spike_exports_as_greater_and_cast_only() -> None:
    model = onnx.load_from_string(_export(_Spike(), (torch.randn(2, 3),), ["v"], ["s"]))
    ops = {n.op_type for n in model.graph.node}
    assert ops - {"Constant", "Sub"} == {"Greater", "Cast"}, ops


def test_export_without_the_switch_still_uses_the_plain_comparison() -> None:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Spike(), (torch.randn(2, 3),), buf, dynamo=False, opset_version=17)
    ops = {n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node}
    assert ops - {"Constant", "Sub"} == {"Greater", "Cast"}, ops


class _LayerStep(nn.Module):
    """Linear layer then neuron: (x_t, *state) -> (spikes_t, *state'), flat tensors only."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 16)
        self.neuron = neuron

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        s, new = self.neuron(self.fc(x), tuple(state))
        return (s, *new)


@pytest.mark.parametrize(
    "neuron",
    [
        LIF(LIFParameters(beta=0.8, reset="subtract")),
        LIF(LIFParameters(beta=0.8, reset="zero", reset_delay=True)),
        CondLIF(CondLIFParameters()),
        CondLIF(CondLIFParameters(dt=0.5, t_ref=1.3)),
    ],
    ids=["lif-subtract", "lif-zero-delay", "cond", "cond-fine"],
)
def test_onnxruntime_matches_torch_over_steps_with_nonzero_state(neuron: nn.Module) -> None:
    torch.manual_seed(0)
    step = _LayerStep(neuron).eval()
    n = neuron.state_size
    names = ["x"] + [f"state_{i}" for i in range(n)]
    outs = ["spikes"] + [f"new_state_{i}" for i in range(n)]
    example = (torch.randn(2, 12),) + neuron.initial_state(torch.zeros(2, 16))
    model = onnx.load_from_string(_export(step, example, names, outs))
    ops = {node.op_type for node in model.graph.node}
    assert not ops & _DIFFERENTIABLE_OPS and "Greater" in ops, ops
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    batch = 5  # not the export batch size: the graph must not freeze it
    state: tuple[Tensor, ...] = (torch.rand(batch, 16) * 0.9,)
    if n == 2:
        state += (torch.rand(batch, 16) * (torch.rand(batch, 16) < 0.3),)  # some refractory
    ort_state = [t.numpy() for t in state]  # each runtime carries its own state from here
    total = 0.0
    with torch.no_grad(), no_surrogate():
        for _ in range(20):
            x = torch.randn(batch, 12) * 2.0
            s, *state_list = step(x, *state)
            state = tuple(state_list)
            s_ort, *ort_state = sess.run(None, {"x": x.numpy(), **dict(zip(names[1:], ort_state))})
            np.testing.assert_array_equal(s_ort, s.numpy())  # spikes: exactly
            for a, b in zip(ort_state, state):
                np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-5)
            total += float(s.sum())
    assert total > 20  # the comparison covers spikes and resets
