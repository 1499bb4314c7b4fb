"""``snnapp reproduce``: the paper's comparison of grid, random and Bayesian search, per network.

Every method gets the same budget (trials x epochs per trial, no pruning), the grid is sized to
that budget, and each (network, method) runs ``repeats`` times with different seeds so that a
claim that one method beats another comes with its spread.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from snnapp.core.errors import ConfigError

from ._defaults import default_space
from ._paths import claim_reproduce_folder, study_file_name
from ._space import Param, SearchSpace
from ._study import TuneOutcome, TuneSettings, run_study

#: The paper's best test accuracy per network (its abstract); it does not give them per method here.
PAPER_ACCURACY = {"image": 0.9416, "audio": 0.8664, "multimodal": 0.9267}
METHODS = ("grid", "random", "bayes")


@dataclass(frozen=True)
class Budget:
    """Compute per (network, method, repeat): ``trials`` trials of ``epochs`` epochs each."""

    name: str
    trials: int
    epochs: int
    train_fraction: float = 1.0
    limit: int | None = None
    fixed: tuple[tuple[str, Any], ...] = ()
    #: Per network, other epochs / training fraction: the audio network sees 2,430 recordings, not
    #: 54,000 images, so at the same wall time it can afford more epochs on all of them.
    per_mode: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def for_mode(self, mode: str) -> "Budget":
        """This budget with the overrides for ``mode`` applied."""
        return replace(self, per_mode=(), **dict(dict(self.per_mode).get(mode, ())))


BUDGETS = {
    # 10 trials: TPE's 5 random start-up trials, then 5 guided ones. Image and multimodal: one epoch
    # on the first 3,000 training examples, validated on the first 3,000 validation ones, in batches
    # of 32 (about 95 steps: at the default 128, 24 steps leave the network near chance); 16-25 s
    # a trial on 2 cores. Audio at 1 epoch on a tenth of FSDD stays at chance, so it gets 6 epochs
    # on all of it at the default batch size (about as long).
    "quick": Budget("quick", trials=10, epochs=1, limit=3000, fixed=(("batch_size", 32),),
                    per_mode=(("audio", (("epochs", 6), ("limit", None), ("fixed", ()))),)),
    "paper": Budget("paper", trials=27, epochs=4),
    "full": Budget("full", trials=64, epochs=10),
}


def _levels(trials: int, n: int) -> tuple[int, ...]:
    """Values per parameter for a grid of at most ``trials`` points over ``n`` parameters, as even as possible."""
    best = (1,) * n
    for combo in itertools.product(range(1, trials + 1), repeat=n):
        # most points, then the most even, then more values for the earlier (more important) parameters
        if math.prod(combo) <= trials and (math.prod(combo), -max(combo), combo) > (math.prod(best), -max(best), best):
            best = combo
    return best


def _spread(p: Param, k: int) -> tuple[float, ...]:
    lo, hi = float(p.low), float(p.high)  # type: ignore[arg-type]
    if p.name == "incorrect_rate":
        hi = min(hi, 0.4)  # keep every grid point below the lowest correct rate
    if k == 1:
        return (math.sqrt(lo * hi) if p.log else (lo + hi) / 2,)
    if p.log:
        return tuple(round(lo * (hi / lo) ** ((i + 0.5) / k), 6) for i in range(k))
    return tuple(round(lo + (hi - lo) * (i + 0.5) / k, 4) for i in range(k))


def budget_space(mode: str, budget: Budget) -> SearchSpace:
    """The default space with a grid of at most ``budget.trials`` points, so grid costs what the others cost."""
    space = default_space(mode)
    levels = _levels(budget.trials, len(space.params))
    params = tuple(replace(p, grid=_spread(p, k)) for p, k in zip(space.params, levels))
    return SearchSpace(params, dict(budget.fixed))


@dataclass
class Row:
    mode: str
    method: str
    outcomes: list[TuneOutcome]

    def stat(self, pick: Callable[[TuneOutcome], float | None]) -> str:
        values = [v for v in map(pick, self.outcomes) if v is not None]
        if not values:
            return ""
        if len(values) == 1:
            return f"{100 * values[0]:.2f}"
        return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def run_reproduce(budget: Budget, data_dir: Path, out: Path, *, repeats: int = 1, modes: tuple[str, ...] = tuple(PAPER_ACCURACY),
                  methods: tuple[str, ...] = METHODS, storage: str | None = None, device: str = "auto",
                  cache_dir: Path | None = None, on_study: Callable[[str], None] | None = None) -> list[Row]:
    """Run every (network, method, seed) study of the comparison; resumes studies already stored.

    ``out`` belongs to one reproduction: absent, empty, or holding the marker of a run with the same
    storage (see :func:`~snnapp.tuning._paths.claim_reproduce_folder`); anything else is refused.
    """
    if repeats < 1:
        raise ConfigError("repeats must be at least 1")
    out = claim_reproduce_folder(out, storage)  # the folder of this reproduction, tied to its storage
    storage = storage or f"sqlite:///{out / 'studies.db'}"
    rows = []
    for mode in modes:
        mode_budget = budget.for_mode(mode)
        space = budget_space(mode, mode_budget)
        for method in methods:
            outcomes = []
            for seed in range(repeats):
                name = f"reproduce-{budget.name}-{mode}-{method}-s{seed}"
                if on_study:
                    on_study(name)
                settings = TuneSettings(mode=mode, method=method, space=space, epochs_per_trial=mode_budget.epochs,
                                        train_fraction=mode_budget.train_fraction, limit=mode_budget.limit,
                                        seed=seed, trials=mode_budget.trials, pruner="none", storage=storage, study=name,
                                        out=out / "trials" / study_file_name(name), device=device)
                outcomes.append(run_study(settings, data_dir, cache_dir=cache_dir))
            rows.append(Row(mode, method, outcomes))
    return rows


def _params(o: TuneOutcome) -> dict[str, Any]:
    return o.best.get("params", {}) if o.best else {}


def _data(b: Budget) -> str:
    """What a trial trains and validates on, in words."""
    parts = [f"training fraction {b.train_fraction}"]
    if b.limit is not None:
        parts.append(f"the first {b.limit} training and validation examples")
    parts += [_setting(k, v) for k, v in b.fixed]
    return ", ".join(parts)


def _setting(key: str, value: Any) -> str:
    if key == "fixed":
        return ", ".join(_setting(k, v) for k, v in value) or "no fixed settings"
    if key == "limit" and value is None:
        return "all examples"
    return f"{key.replace('_', ' ')} {value}"


def tables(rows: list[Row], budget: Budget, repeats: int) -> str:
    """Table I (unimodal) and Table II (multimodal) in Markdown, beside the paper's figures."""
    head = ("| network | method | lr | correct rate | incorrect rate | val accuracy (%) | test accuracy (%) | "
            "trials | paper, best method (%) |\n|---|---|---|---|---|---|---|---|---|")
    extra = "".join(f"; {mode}: " + ", ".join(_setting(k, v) for k, v in over) for mode, over in budget.per_mode)
    intro = (f"Budget `{budget.name}`: {budget.trials} trials x {budget.epochs} epochs per method, "
             f"{_data(budget)}{extra}, no pruning; {repeats} seed(s), "
             "mean ± standard deviation. Settings shown are the best repeat's.\n")
    out = [intro]
    for title, modes in (("Table I: unimodal", ("image", "audio")), ("Table II: multimodal", ("multimodal",))):
        mine = [r for r in rows if r.mode in modes]
        if not mine:
            continue
        out += [f"### {title}\n", head]
        for r in mine:
            best = max(r.outcomes, key=lambda o: (o.best.get("values") or [-1])[0] if o.best else -1)
            p = _params(best)
            fmt = ["" if p.get(k) is None else f"{p[k]:.3g}" for k in ("lr", "correct_rate", "incorrect_rate")]
            out.append(f"| {r.mode} | {r.method} | {' | '.join(fmt)} | "
                       f"{r.stat(lambda o: (o.best.get('values') or [None])[0] if o.best else None)} | "
                       f"{r.stat(lambda o: o.test_accuracy)} | {sum(o.finished for o in r.outcomes)} | "
                       f"{100 * PAPER_ACCURACY[r.mode]:.2f} |")
        out.append("")
    return "\n".join(out)


#: The first line of every TABLES.md (a comment, invisible when rendered): only a file bearing it
#: is replaced by the next run.
TABLES_MARK = "<!-- written by snnapp reproduce -->"


def write_tables(path: Path, text: str) -> Path:
    """Write :func:`tables`' text to ``path`` under :data:`TABLES_MARK`; a file there is replaced
    only where a run before wrote it."""
    from snnapp.core._atomic import write_claimed

    return write_claimed(path, f"{TABLES_MARK}\n\n{text}".encode("utf-8"), TABLES_MARK.encode(), "table file")
