"""``reproduce`` on a tiny budget: equal trials per method, a grid sized to the budget, mean ± spread."""

from __future__ import annotations

from snnapp.tuning import BUDGETS, Budget, budget_space, run_reproduce, tables

from .conftest import TINY_FIXED


def test_grid_is_sized_to_the_budget():
    for budget in BUDGETS.values():
        grid = budget_space("image", budget).grid()
        points = 1
        for values in grid.values():
            points *= len(values)
        assert budget.trials * 0.5 < points <= budget.trials
    assert [len(v) for v in budget_space("audio", BUDGETS["quick"]).grid().values()] == [5, 2, 1]


def test_per_network_overrides_of_a_budget():
    quick = BUDGETS["quick"]
    audio, image = quick.for_mode("audio"), quick.for_mode("image")
    assert (audio.epochs, audio.train_fraction, audio.trials) == (6, 1.0, quick.trials)
    assert (image.epochs, image.train_fraction, image.limit) == (quick.epochs, quick.train_fraction, quick.limit)
    # image trials take small batches on a slice; audio trains on all of FSDD at the default batch size
    assert dict(image.fixed) == {"batch_size": 32} and budget_space("image", image).fixed == {"batch_size": 32}
    assert audio.limit is None and audio.fixed == () and budget_space("audio", audio).fixed == {}
    intro = tables([], quick, 1)
    assert "audio: epochs 6, all examples, no fixed settings" in intro
    assert "the first 3000 training and validation examples, batch size 32" in intro


def test_reproduce_compares_methods_at_equal_budget(tmp_path, data_dir, warm_cache):
    tiny = Budget("tiny", trials=2, epochs=1, limit=96, fixed=tuple(TINY_FIXED.items()))
    rows = run_reproduce(tiny, data_dir, tmp_path, repeats=2, modes=("audio",), device="cpu", cache_dir=warm_cache)
    assert [r.method for r in rows] == ["grid", "random", "bayes"]
    assert all(o.finished == 2 and o.test_accuracy is not None for r in rows for o in r.outcomes)
    text = tables(rows, tiny, 2)
    assert "### Table I: unimodal" in text and "Table II" not in text
    assert text.count("| audio |") == 3 and " ± " in text and "| 86.64 |" in text
