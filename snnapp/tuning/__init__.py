"""Hyper-parameter search (grid, random, Bayesian, CMA-ES) over the core's training function.

Built on Optuna: a study lives in a storage (SQLite file, journal file or database server), so it
resumes after a crash and several worker processes, on one machine or many, can share it.
"""

from ._defaults import (
    OPTIONAL_PARAMS,
    PAPER_PARAMS,
    base_config,
    check_trial_configs,
    default_space,
    load_space,
    make_config,
)
from ._keep import best_trial
from ._methods import (
    METHODS,
    BayesMethod,
    CmaesMethod,
    GridMethod,
    RandomMethod,
    SearchMethod,
    get_method,
)
from ._objective import ACTIVITY, Objective
from ._paths import claim_reproduce_folder, claim_study_folder, study_file_name
from ._plots import PNG_SIGNATURE, write_plots
from ._pruning import PRUNERS, PruningProgress, make_pruner
from ._report import (
    CSV_SIGNATURE,
    MARKDOWN_MARK,
    StudySummary,
    load_studies,
    summarize,
    to_csv,
    to_markdown,
    write_csv,
    write_markdown,
)
from ._reproduce import (
    BUDGETS,
    PAPER_ACCURACY,
    TABLES_MARK,
    Budget,
    budget_space,
    run_reproduce,
    tables,
    write_tables,
)
from ._space import COMPOUND_PARAMS, Param, SearchSpace, feasible
from ._storage import StorageError, default_storage_url, open_storage, redact
from ._study import (
    OBJECTIVES,
    StudyInterrupted,
    TuneOutcome,
    TuneSettings,
    open_study,
    run_study,
    trials_root,
)

__all__ = [
    "ACTIVITY",
    "BUDGETS",
    "CSV_SIGNATURE",
    "MARKDOWN_MARK",
    "METHODS",
    "OBJECTIVES",
    "OPTIONAL_PARAMS",
    "PAPER_ACCURACY",
    "PAPER_PARAMS",
    "COMPOUND_PARAMS",
    "PNG_SIGNATURE",
    "PRUNERS",
    "BayesMethod",
    "Budget",
    "CmaesMethod",
    "GridMethod",
    "Objective",
    "Param",
    "PruningProgress",
    "RandomMethod",
    "SearchMethod",
    "SearchSpace",
    "StorageError",
    "StudyInterrupted",
    "StudySummary",
    "TABLES_MARK",
    "TuneOutcome",
    "TuneSettings",
    "base_config",
    "best_trial",
    "budget_space",
    "claim_reproduce_folder",
    "claim_study_folder",
    "check_trial_configs",
    "default_space",
    "default_storage_url",
    "feasible",
    "get_method",
    "load_space",
    "load_studies",
    "make_config",
    "make_pruner",
    "open_storage",
    "open_study",
    "redact",
    "run_reproduce",
    "run_study",
    "study_file_name",
    "summarize",
    "tables",
    "to_csv",
    "to_markdown",
    "trials_root",
    "write_csv",
    "write_markdown",
    "write_plots",
    "write_tables",
]
