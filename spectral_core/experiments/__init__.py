"""Experiments: grids of runs, a resumable run log, executors, and the paper's reproductions.

A grid is a list of :class:`RunSpec` values. :func:`run_grid` runs the ones not yet in the
folder's ``runs.jsonl`` (one JSON line per finished run, appended with fsync, so an interrupted
sweep resumes where it stopped) through any ``concurrent.futures`` executor: this process,
local worker processes, or a Dask cluster. Every run goes through
:func:`spectral_core.runs.run_training`.

TensorFlow is imported only inside the functions that train, so ``spectral-lab --help`` and the
report code stay quick.

Every run executes into its :class:`~spectral_core.record.RunRecord`; its ``runs.jsonl`` line is
derived from that record by :func:`run_row` alone, and ``runs.csv`` flattens those lines.

One module a job: :mod:`.specs` (the plan of a run), :mod:`.execution` (running one into its
record, and its log row), :mod:`.runlog` (the folder's log, lock and manifest), :mod:`.executors` (where runs execute),
:mod:`.grid` (running a grid, resumably), :mod:`.paper` (the paper's plans and values),
:mod:`.tables` and :mod:`.plots` (reports), :mod:`.reproduce` (the command).
"""

from __future__ import annotations

from spectral_core.experiments.execution import (  # noqa: F401
    RunResult,
    execute_run,
    load_source,
    run_row,
    worker_init,
)
from spectral_core.experiments.executors import (  # noqa: F401
    InlineExecutor,
    add_executor_options,
    make_executor,
    run_inline,
)
from spectral_core.experiments.grid import (  # noqa: F401
    GridOutcome,
    load_kernels,
    plan_order,
    run_grid,
)
from spectral_core.experiments.paper import (  # noqa: F401
    DEFAULT_DEEP,
    DEFAULT_SIZES,
    FAMILY_TITLES,
    PAPER_PERCEPTRON,
    PAPER_TABLE1,
    TABLE1_FAMILIES,
    TABLE1_REGIMES,
    linear_architecture,
    nonlinear_architecture,
    perceptron_architecture,
    perceptron_plan,
    size_label,
    table1_plan,
)
from spectral_core.experiments.plots import (  # noqa: F401
    REGIME_COLOURS,
    plot_accuracy,
    plot_perceptron_accuracy,
    plot_weight_histograms,
)
from spectral_core.experiments.reproduce import (  # noqa: F401
    Report,
    add_parser,
    cmd_reproduce,
    parse_deep,
    parse_int_list,
    parse_regimes,
    parse_settings,
    pooled_kernels,
    reproduce_command,
    write_report,
)
from spectral_core.experiments.runlog import (  # noqa: F401
    MANIFEST,
    RUN_LOG,
    RunLog,
    check_manifest,
    folder_lock,
)
from spectral_core.experiments.specs import (  # noqa: F401
    EPOCH_OVERHEAD,
    SCHEME_ID_NAMES,
    DataSource,
    ExperimentError,
    RunSpec,
    settings_tuple,
)
from spectral_core.experiments.tables import (  # noqa: F401
    CSV_COLUMNS,
    Group,
    best_groups,
    budget_text,
    group_rows,
    perceptron_table,
    plan_rows,
    runs_csv,
    sizes_table,
    table1_table,
)

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_DEEP",
    "DEFAULT_SIZES",
    "DataSource",
    "EPOCH_OVERHEAD",
    "ExperimentError",
    "FAMILY_TITLES",
    "GridOutcome",
    "Group",
    "InlineExecutor",
    "MANIFEST",
    "PAPER_PERCEPTRON",
    "PAPER_TABLE1",
    "REGIME_COLOURS",
    "RUN_LOG",
    "Report",
    "RunLog",
    "RunResult",
    "RunSpec",
    "SCHEME_ID_NAMES",
    "TABLE1_FAMILIES",
    "TABLE1_REGIMES",
    "add_executor_options",
    "add_parser",
    "best_groups",
    "budget_text",
    "check_manifest",
    "cmd_reproduce",
    "execute_run",
    "folder_lock",
    "group_rows",
    "linear_architecture",
    "load_kernels",
    "load_source",
    "make_executor",
    "nonlinear_architecture",
    "parse_deep",
    "parse_int_list",
    "parse_regimes",
    "parse_settings",
    "perceptron_architecture",
    "perceptron_plan",
    "perceptron_table",
    "plan_order",
    "plan_rows",
    "plot_accuracy",
    "plot_perceptron_accuracy",
    "plot_weight_histograms",
    "pooled_kernels",
    "reproduce_command",
    "run_grid",
    "run_inline",
    "run_row",
    "runs_csv",
    "settings_tuple",
    "size_label",
    "sizes_table",
    "table1_plan",
    "table1_table",
    "worker_init",
    "write_report",
]
