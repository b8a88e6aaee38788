"""Union of issue 11's Table 1 run folders → docs/figures/table1_runs.csv, and the tables.

Run from the project folder: ``.venv/bin/python docs/sweeps/table1_csv.py [CSV]``. Reads
``runs/table1_large``, ``runs/table1_deep`` and ``runs/table1_curves`` (see issue11_runs.sh),
prints Table 1 and the per-size tables, and writes the per-run CSV when a path is given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spectral_core.config import DEFAULT_INITIALIZATION
from spectral_core.experiments.paper import DEFAULT_DEEP
from spectral_core.experiments.tables import group_rows, runs_csv, sizes_table, table1_table

FOLDERS = ("runs/table1_large", "runs/table1_deep", "runs/table1_curves")


def read_rows(folders: tuple[str, ...] = FOLDERS) -> list[dict]:
    """Every finished run of the folders, with its initialization scheme as a column."""
    rows = []
    for folder in folders:
        log = Path(folder) / "runs.jsonl"
        if not log.is_file():
            continue
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a line cut short when a run was stopped
                continue
            settings = row.get("settings") or {}
            row["initialization"] = settings.get("initialization", DEFAULT_INITIALIZATION)
            rows.append(row)
    # The deep l = 3 configurations are wide networks (784→N→10): `reproduce` shares those runs
    # between the two families, and so does this table.
    one_hidden = {str(widths[0]) for widths in DEFAULT_DEEP if len(widths) == 1}
    deep_ids = {row["run_id"] for row in rows if row["family"] == "deep"}
    rows += [
        dict(row, family="deep")
        for row in rows
        if row["family"] == "wide" and str(row["size"]) in one_hidden and row["run_id"] not in deep_ids
    ]
    rows.sort(
        key=lambda row: (
            row["family"], [int(part) for part in str(row["size"]).split("-")],
            row["regime"], row["seed"],
        )
    )
    return rows


def main(argv: list[str]) -> None:
    rows = read_rows()
    if argv:
        Path(argv[0]).write_text(runs_csv(rows), encoding="utf-8")
    groups = group_rows(rows)
    print(len(rows), "runs")
    print(table1_table(groups, families=("wide", "deep", "nonlinear")))
    for family in ("wide", "nonlinear", "deep"):
        print(f"\n{family}\n{sizes_table(groups, family)}")
    lr_log = Path("runs/table1_wide_lr001/runs.jsonl")
    if lr_log.is_file():
        accuracies = [
            round(100 * json.loads(line)["test_accuracy"], 2)
            for line in lr_log.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        print("\nwide direct-full 2000, lr 0.01:", accuracies)


if __name__ == "__main__":
    main(sys.argv[1:])
