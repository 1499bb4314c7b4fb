"""PNG plots of a study through Optuna's matplotlib backend (no browser, works headless).

A plot that a study cannot have (importances from one trial, a slice of a parameter it does not
search) is skipped with a reason instead of failing the whole report.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from snnapp.core._atomic import write_claimed
from snnapp.core.errors import ConfigError, Hint

from ._paths import study_file_name

#: The ``Software`` text of every PNG the report writes; the bytes it leaves in the file (PNG's
#: keyword, NUL, text) mark a plot as the project's, which a new report may replace.
PNG_SOFTWARE = "snnapp tune report"
PNG_SIGNATURE = b"Software\x00" + PNG_SOFTWARE.encode("latin-1")


def _accuracy(t: FrozenTrial) -> float:
    return t.values[0]


def write_plots(study: optuna.Study, folder: Path) -> tuple[list[Path], list[str]]:
    """History, importances, the lr x correct-rate slice, and the Pareto front, as PNG files in
    ``folder`` (created where missing); returns (written, skipped). An existing PNG is replaced only
    where the project wrote it (:data:`PNG_SIGNATURE`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as vis
    except ImportError:
        raise ConfigError("the plots need matplotlib",
                          hint=(Hint("install", "matplotlib"), Hint("install", "snnapp[train]"))) from None
    multi = len(study.directions) > 1
    target = {"target": _accuracy, "target_name": "validation accuracy"} if multi else \
        {"target_name": "validation accuracy"}
    searched = {k for t in study.trials for k in t.params}
    slice_params: list[str] = [p for p in ("lr", "correct_rate") if p in searched]
    plots: dict[str, Callable[[], object]] = {
        "history": lambda: vis.plot_optimization_history(study, **target),
        "importances": lambda: vis.plot_param_importances(study, **target),
    }
    if slice_params:
        plots["slice_lr_correct_rate"] = lambda: vis.plot_slice(study, params=slice_params, **target)
    if multi:
        names = ["validation accuracy", study.user_attrs.get("objectives", ["", "activity"])[1]]
        plots["pareto_front"] = lambda: vis.plot_pareto_front(study, target_names=names)
    written, skipped = [], []
    for name, draw in plots.items():
        path = folder / f"{study_file_name(study.study_name)}_{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = draw()
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure  # type: ignore[attr-defined]
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=110, bbox_inches="tight", metadata={"Software": PNG_SOFTWARE})
            plt.close(fig)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            skipped.append(f"{study.study_name} {name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            plt.close("all")
            continue
        written.append(write_claimed(path, png.getvalue(), PNG_SIGNATURE, "plot"))  # only its own PNG is replaced
    return written, skipped
