"""The ten probabilities per modality and fused, side by side, so a disagreement is visible at a glance."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ._inference import Decision

SERIES = (("image", (70, 130, 200)), ("audio", (230, 140, 40)), ("fused", (40, 150, 70)))
WIDTH = 0.26


class ProbabilityBars(QWidget):
    """Grouped bars for digits 0-9 and a headline with the decision, its confidence and the latency."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headline = QLabel("draw, speak or show a digit")
        self.headline.setStyleSheet("font-size: 20pt; font-weight: bold;")
        self.detail = QLabel("")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setXRange(-0.6, 9.6, padding=0)
        self.plot.getAxis("bottom").setTicks([[(d, str(d)) for d in range(10)]])
        self.plot.addLegend(offset=(5, 5))
        self.bars: dict[str, pg.BarGraphItem] = {}
        for i, (name, color) in enumerate(SERIES):
            x = np.arange(10) + (i - 1) * WIDTH
            item = pg.BarGraphItem(x=x, height=np.zeros(10), width=WIDTH, brush=pg.mkBrush(*color), name=name)
            self.plot.addItem(item)  # the legend picks it up by its name
            self.bars[name] = item
        self.values: dict[str, np.ndarray | None] = {name: None for name, _ in SERIES}
        lay = QVBoxLayout(self)
        lay.addWidget(self.headline)
        lay.addWidget(self.detail)
        lay.addWidget(self.plot, 1)

    def show_decision(self, d: Decision) -> None:
        for name, _ in SERIES:
            p = getattr(d, name)
            self.values[name] = None if p is None else np.asarray(p, np.float32)
            self.bars[name].setOpts(height=np.zeros(10) if p is None else p)
        if d.digit is None:
            self.headline.setText("no decision")
        else:
            self.headline.setText(f"{d.digit}  ({100 * d.confidence:.0f} %)")
        parts = [f"from {d.source}" if d.source else "", f"{d.latency_ms:.1f} ms"]
        if d.disagree and d.image is not None and d.audio is not None:  # (disagree implies both)
            parts.append(f"image says {int(np.argmax(d.image))}, audio says {int(np.argmax(d.audio))}")
        parts += [f"{k}: {v}" for k, v in d.errors.items()]
        self.detail.setText(" · ".join(p for p in parts if p))

    def clear(self) -> None:
        self.show_decision(Decision())
        self.headline.setText("draw, speak or show a digit")
        self.detail.setText("")
