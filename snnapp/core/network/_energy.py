"""SynOps and MACs counted from what each projection received, apart from the network's maths.

A projection fed by spikes costs one synaptic operation (an accumulate) per input spike and
synapse: spikes x fan-out. A projection fed by real values, the encoded input of a modality whose
encoder is ``direct``, costs a multiply-accumulate per weight and output position each time it
runs (once for a static image, every step for audio frames). Which of the two a projection is
follows from the layer description and the encoder, never from the values of the input.

No torch: ``events`` may be tensors or arrays, anything that multiplies and adds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._layers import INPUTS, Layers

if TYPE_CHECKING:
    from snnapp.core.encoders import EncoderConfig


class Activity(NamedTuple):
    """What one projection received: ``events`` [B], its input summed over elements and steps (the
    spike count where the input is spikes), and ``runs``, how many times it ran."""

    events: Any
    runs: int


class Energy(NamedTuple):
    synops: Any  # [B] synaptic operations caused by spikes
    macs: float  # multiply-accumulates per sample of projections fed with real values


def spiking_inputs(encoder: EncoderConfig) -> frozenset[str]:
    """The modalities whose encoded input is spikes: every encoder but ``direct``."""
    return frozenset(m for m in INPUTS if getattr(encoder, m) != "direct")


def count_energy(layers: Layers, activity: Mapping[str, Activity], spiking: Collection[str]) -> Energy:
    """SynOps [B] and MACs of one run, from the ``activity`` of each projection that ran (keyed by
    module name); ``spiking``: the modalities whose encoded input is spikes."""
    terms = []
    macs = 0.0
    for _, p in layers.projections():
        a = activity.get(p.module)
        if a is None:  # a branch without input
            continue
        if p.reads_input and p.source not in spiking:
            macs += p.macs * a.runs
        else:
            terms.append(a.events * p.fan_out)
    if not terms:  # every network has a readout of spikes: this is no network's description
        raise ValueError("no projection of these layers received spikes")
    return Energy(sum(terms[1:], terms[0]), macs)
