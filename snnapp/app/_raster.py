"""Live spike rasters: inputs, a hidden layer and the 10 outputs, revealed step by step, with membranes.

An inference takes milliseconds, too fast to watch, so the window replays its recorded trace
(the network's own per-step spikes, see ``_inference.Trace``) at display rate: a timer at
``FPS`` reveals the next steps each tick. Each raster is one ``ImageItem`` (units x steps),
which pyqtgraph draws in one texture upload however many neurons fire: cheap at 30+ fps.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QWidget

from ._inference import Trace

FPS = 40
REPLAY_S = 0.6  # a whole trace takes about this long to appear, whatever T is
ROWS = ("input image", "input audio", "hidden", "output spikes")
_COLORS = [pg.intColor(i, hues=10) for i in range(10)]
_SPIKE_MAP = pg.ColorMap([0.0, 1.0], [(255, 255, 255), (20, 30, 140)])  # silent white, spike dark blue


class RasterView(pg.GraphicsLayoutWidget):
    """Call :meth:`show_trace`; ``shown`` holds the arrays on screen (``[T, units]``), ``revealed`` the steps drawn."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        self.images: dict[str, pg.ImageItem] = {}
        for row, name in enumerate(ROWS):
            plot = self.addPlot(row=row, col=0, title=name)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.getAxis("left").setStyle(showValues=False)
            plot.setLabel("bottom", "time step")
            img = pg.ImageItem(axisOrder="row-major")
            img.setColorMap(_SPIKE_MAP)
            plot.addItem(img)
            self.plots[name], self.images[name] = plot, img
        self.mem_plot = self.addPlot(row=len(ROWS), col=0, title="output membrane potentials")
        self.mem_plot.setMouseEnabled(False, False)
        self.mem_plot.hideButtons()
        # PlotCurveItem, not PlotDataItem: no per-call finite checks and bounds bookkeeping, ten times a frame
        self.mem_curves = [pg.PlotCurveItem(pen=pg.mkPen(_COLORS[d], width=2), skipFiniteCheck=True) for d in range(10)]
        for curve in self.mem_curves:
            self.mem_plot.addItem(curve)
        self.shown: dict[str, np.ndarray | None] = {}  # None: a modality the trace lacks
        self.revealed = 0
        self.frames_drawn = 0
        self.intervals: list[float] = []  # seconds between ticks of the same replay
        self._last_tick: float | None = None
        self._trace: Trace | None = None
        self._per_tick = 1
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / FPS))
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ public
    def show_trace(self, trace: Trace | None) -> None:
        """Start revealing ``trace`` (None clears the rasters)."""
        self._trace = trace
        self.revealed = 0
        if trace is None:
            self.shown = {}
            for img in self.images.values():
                img.clear()
            for c in self.mem_curves:
                c.setData(np.zeros(0), np.zeros(0))
            self._timer.stop()
            return
        hidden_name, hidden = next(iter(trace.hidden.items()), ("hidden", np.zeros((trace.steps, 0), np.float32)))
        self.shown = {"input image": trace.inputs.get("image"), "input audio": trace.inputs.get("audio"),
                      "hidden": hidden, "output spikes": trace.out_spikes, "output membrane": trace.out_mem}
        self.plots["hidden"].setTitle(f"hidden ({hidden_name.replace('_', ' ')}, {hidden.shape[1]} neurons)")
        self._per_tick = max(1, int(np.ceil(trace.steps / (REPLAY_S * FPS))))
        for name, plot in self.plots.items():  # ranges once per trace, not every frame
            data = self.shown.get(name)
            plot.setVisible(data is not None)  # no row for a modality that is absent
            if data is not None:
                plot.setRange(xRange=(0, trace.steps), yRange=(0, max(1, data.shape[1])), padding=0)
        mem = trace.out_mem
        self.mem_plot.disableAutoRange()  # fixed axes: no re-layout while the curves grow
        self.mem_plot.setRange(xRange=(0, trace.steps), yRange=(float(mem.min()), float(mem.max()) + 1e-3),
                               padding=0.05)
        if not self._timer.isActive():
            self._timer.start()

    @property
    def done(self) -> bool:
        return self._trace is not None and self.revealed >= self._trace.steps

    # ------------------------------------------------------------------ drawing
    def _tick(self) -> None:
        now = time.monotonic()
        if self._last_tick is not None:
            self.intervals.append(now - self._last_tick)
            del self.intervals[:-200]
        self._last_tick = now
        tr = self._trace
        if tr is None or self.revealed >= tr.steps:
            self._timer.stop()
            self._last_tick = None  # the pause until the next replay is not a slow frame
            return
        self.revealed = min(tr.steps, self.revealed + self._per_tick)
        self._draw(self.revealed, tr.steps)
        self.frames_drawn += 1

    def _draw(self, upto: int, steps: int) -> None:
        for name, img in self.images.items():
            data = self.shown.get(name)
            if data is None or data.shape[1] == 0:
                img.clear()
                continue
            canvas = np.zeros((data.shape[1], steps), np.float32)  # units x steps, future steps blank
            canvas[:, :upto] = data[:upto].T
            lo, hi = float(min(0.0, data.min())), float(max(1.0, data.max()))
            img.setImage(canvas, levels=(lo, hi), autoLevels=False)
        mem = self.shown["output membrane"]
        assert mem is not None  # every trace has its output
        x = np.arange(1, upto + 1)
        for d, curve in enumerate(self.mem_curves):
            curve.setData(x, mem[:upto, d])

    def fps(self) -> float:
        """Frames per second while replaying, from the recent intervals between ticks (0 before any)."""
        recent = self.intervals[-60:]
        return 1.0 / float(np.mean(recent)) if recent else 0.0
