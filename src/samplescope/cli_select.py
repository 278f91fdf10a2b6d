"""The commands ``samplescope select`` and ``samplescope report``, registered on :data:`samplescope.cli.app`.

Thin like the rest of the CLI: parse → :func:`samplescope.select.select` / :func:`samplescope.report.build_report`
→ write files atomically. User errors end as one ``error:`` line and exit status 2 (the shared ``_guard``).
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table
from rich.text import Text

from samplescope.cli import CLIError, _err, _guard, _out, app
from samplescope.cli_actions import (AlphaOpt, COpt, ExcludeOpt, FeaturesOpt, GroupOpt, IdOpt, LabelOpt, ModelOpt,
                                     NoInterceptOpt, SeedOpt, WeightOpt, _check_model_opts, _fit, _need_label,
                                     _read_other, _read_train)
from samplescope.select import GOALS
from samplescope.select.table import gain_text

__all__: list[str] = []

Goal = Enum("Goal", {k: k for k in GOALS}, type=str)
_S = "Selection"
GoalOpt = Annotated[Goal, typer.Option(case_sensitive=False, rich_help_panel=_S,
                                       help="What the scores are for: noise (find mislabeled rows), explain "
                                       "(attribute the validation loss), prune (drop rows safely), imbalance "
                                       "(find the rows each class relies on).")]
BudgetOpt = Annotated[float, typer.Option("--budget", metavar="SECONDS", rich_help_panel=_S,
                                          help="Time the full run of the recommended method may take.")]
MethodsOpt = Annotated[Optional[str], typer.Option(metavar="NAMES", rich_help_panel=_S,
                                                   help="Candidate methods, comma-separated \\[default: every "
                                                   "method the model supports]; random scores and the cheap "
                                                   "baselines are always compared.")]
MaxSecondsOpt = Annotated[Optional[float], typer.Option(metavar="SECONDS", rich_help_panel=_S,
                                                        help="Time select itself may spend \\[default: the budget, "
                                                        "at least 20 s].")]
ValidOpt = Annotated[Optional[Path], typer.Option("--valid", metavar="FILE", rich_help_panel="Data",
                                                  help="Validation file with the same columns (without it a fifth "
                                                  "of TRAIN is held out for the removal curves).")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", metavar="N", rich_help_panel="Run",
                                      help="Threads; -1 = all cores.")]
TrainArg = Annotated[Path, typer.Argument(metavar="TRAIN", show_default=False,
                                          help="Training file: CSV/TSV/Parquet (.gz ok), or LibSVM.")]


def _check_path(path: Path | None, suffix: str, flag: str) -> None:
    if path is None:
        return
    if path.suffix.lower() != suffix:
        raise CLIError(f"{flag} {path}: expected a {suffix} file; found suffix {path.suffix or '(none)'!r}")
    if path.is_dir():
        raise CLIError(f"{flag} {path}: expected a file path; found a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {path}: cannot write here; directory '{parent}' does not exist or is not writable")


def _prepare(train, label, valid, group, weight, id, features, exclude, model, C, alpha, no_intercept, seed, jobs,
             methods, budget):
    """Checks that need no data, then the data and the fitted model."""
    kind = model.value
    _check_model_opts(kind, C, alpha)
    if jobs < 1 and jobs != -1:
        raise CLIError(f"--jobs must be >= 1, or -1 for all cores; found {jobs}")
    if not budget > 0:
        raise CLIError(f"--budget must be > 0 seconds; found {budget}")
    names = None
    if methods is not None:
        names = [m.strip() for m in methods.split(",") if m.strip()]
        if not names:
            raise CLIError(f"--methods must name at least one method; found {methods!r}")
        from samplescope.methods import get_method

        for m in names:
            get_method(m)
    _need_label(train, label)
    train_ds = _read_train(train, label=label, group=group, weight=weight, id=id, features=features, exclude=exclude)
    valid_ds = None if valid is None else _read_other(valid, train_ds, label=label, group=group, weight=weight)
    fitted = _fit(kind, train_ds, C=C, alpha=alpha, no_intercept=no_intercept, seed=seed)
    return train_ds, valid_ds, fitted, names


def _say(msg: str) -> None:
    _err().print(Text.assemble(("· ", "dim"), msg))


def _print_selection(sel) -> None:
    con = _out()
    t = sel.table
    table = Table(title=f"Methods compared for goal '{sel.goal}' (budget {sel.budget_s:g} s, "
                        f"{sel.dataset['rows']:,} rows)", title_justify="left", pad_edge=False)
    for col in ("method", "LOO ρ", "flips", "stab.", "prune", "time", "score", "note"):
        table.add_column(col, justify="left" if col in ("method", "note") else "right",
                         no_wrap=col != "note", overflow="fold")

    def f(v, fmt="{:.2f}"):
        return "–" if v is None or not np.isfinite(v) else fmt.format(v)

    for m in t.sort_values("score", ascending=False).index:
        r = t.loc[m]
        if not r["supported"] or not np.isfinite(r["pred_seconds"]):
            continue
        note = "recommended" if m == sel.recommendation else (r.get("excluded") or
                                                              ("reference" if not r["candidate"] else ""))
        table.add_row(Text(m, style="bold green" if m == sel.recommendation else ""), f(r["loo_spearman"]),
                      f(r["flip_auc"]), f(r["stability"]), gain_text(r["prune_gain"]),
                      f(r["pred_seconds"], "{:.2g} s"), f(r["score"]), note)
    con.print(table)
    skipped = [m for m in t.index if not t.loc[m, "supported"]]
    if skipped:
        con.print(Text(f"not available for this model/data: {', '.join(skipped)}", style="dim"))
    idle = [m for m in t.index if t.loc[m, "supported"] and not np.isfinite(t.loc[m, "pred_seconds"])]
    if idle:
        con.print(Text(f"not compared: {', '.join(idle)}", style="dim"))
    head = (f"Recommended for '{sel.goal}': " if sel.recommendation else f"No recommendation for '{sel.goal}'")
    con.print(Text.assemble((head, "bold"), (sel.recommendation or "", "bold green")))
    for r in sel.reasons:
        con.print(Text(f"  - {r}"))


_SELECT_HELP = (
    "Measure every importance method on your own data and model, and recommend one for a goal.\n\n"
    "On stratified subsamples (the model refitted there): agreement with exact leave-one-out, detection of "
    "planted label errors, removal curves (drop the most helpful / most harmful / random rows, retrain), rank "
    "stability, and time and memory fitted as a·n^b and extrapolated to all rows. Methods predicted to exceed "
    "--budget on the full data are left out, with the reason.\n\n"
    "Example:\n\n"
    "  samplescope select train.parquet --valid valid.parquet --label click --model logistic --goal noise "
    "--budget 60 --out selection.json --html selection.html"
)


@app.command("select", help=_SELECT_HELP, short_help="Measure the methods on your data and recommend one.")
@_guard
def select_cmd(
    train: TrainArg, label: LabelOpt = None, valid: ValidOpt = None, group: GroupOpt = None,
    weight: WeightOpt = None, id: IdOpt = None, features: FeaturesOpt = None, exclude: ExcludeOpt = None,
    model: ModelOpt = ..., C: COpt = None, alpha: AlphaOpt = None, no_intercept: NoInterceptOpt = False,
    goal: GoalOpt = Goal.noise, budget: BudgetOpt = 60.0, methods: MethodsOpt = None,
    max_seconds: MaxSecondsOpt = None, seed: SeedOpt = 0, jobs: JobsOpt = 1,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="OUT.json", rich_help_panel="Output",
                                                help="Write every measurement as JSON (read back by "
                                                "samplescope report --selection).")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", metavar="OUT.html", rich_help_panel="Output",
                                                 help="Write the comparison as a self-contained HTML page.")] = None,
) -> None:
    from samplescope.select import select

    _check_path(out, ".json", "--out")
    _check_path(html, ".html", "--html")
    if max_seconds is not None and not max_seconds > 0:
        raise CLIError(f"--max-seconds must be > 0; found {max_seconds}")
    train_ds, valid_ds, fitted, names = _prepare(train, label, valid, group, weight, id, features, exclude, model, C,
                                                 alpha, no_intercept, seed, jobs, methods, budget)
    sel = select(fitted, train_ds, valid_ds, goal=goal.value, budget_s=budget, methods=names, seed=seed, n_jobs=jobs,
                 max_seconds=max_seconds, on_step=_say)
    _print_selection(sel)
    con = _out()
    if out is not None:
        sel.to_json(out)
        con.print(Text.assemble(("wrote ", "dim"), str(out)))
    if html is not None:
        sel.to_html(html, train=train_ds, valid=valid_ds, title=f"samplescope select — {train_ds.name}")
        con.print(Text.assemble(("wrote ", "dim"), str(html)))
    con.print(Text(f"select took {sel.seconds:.1f} s", style="dim"))


_REPORT_HELP = (
    "Write the full HTML report: dataset, the method comparison, removal curves, score distributions of the "
    "recommended method and the cheap baselines on every row, the most helpful and harmful rows, explanations "
    "of single predictions, and the recommendation. One self-contained file (no network needed to open it).\n\n"
    "Runs samplescope select first, unless --selection gives its JSON.\n\n"
    "Example:\n\n"
    "  samplescope report train.parquet --valid valid.parquet --label click --model logistic --out report.html"
)


@app.command("report", help=_REPORT_HELP, short_help="Write the full self-contained HTML report.")
@_guard
def report_cmd(
    train: TrainArg, label: LabelOpt = None, valid: ValidOpt = None, group: GroupOpt = None,
    weight: WeightOpt = None, id: IdOpt = None, features: FeaturesOpt = None, exclude: ExcludeOpt = None,
    model: ModelOpt = ..., C: COpt = None, alpha: AlphaOpt = None, no_intercept: NoInterceptOpt = False,
    goal: GoalOpt = Goal.noise, budget: BudgetOpt = 60.0, methods: MethodsOpt = None,
    max_seconds: MaxSecondsOpt = None, seed: SeedOpt = 0, jobs: JobsOpt = 1,
    selection: Annotated[Optional[Path], typer.Option(metavar="FILE.json", rich_help_panel=_S,
                                                      help="Reuse the measurements of samplescope select --out "
                                                      "(same TRAIN).")] = None,
    explain_rows: Annotated[int, typer.Option("--explain", metavar="N", min=0, rich_help_panel="Output",
                                              help="Predictions explained by their training rows.")] = 2,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="OUT.html", show_default=False, rich_help_panel="Output",
                                      help="The HTML file to write (atomically).")] = ...,
) -> None:
    from samplescope.report import build_report
    from samplescope.select import SelectionReport

    _check_path(out, ".html", "--out")
    if selection is not None and not selection.is_file():
        raise CLIError(f"--selection {selection}: file not found; expected the JSON written by "
                       "samplescope select --out")
    sel = None if selection is None else SelectionReport.from_json(selection)
    train_ds, valid_ds, fitted, names = _prepare(train, label, valid, group, weight, id, features, exclude, model, C,
                                                 alpha, no_intercept, seed, jobs, methods, budget)
    res = build_report(out, fitted, train_ds, valid_ds, selection=sel, goal=goal.value, budget_s=budget, methods=names,
                       seed=seed, n_jobs=jobs, max_seconds=max_seconds, explain_rows=explain_rows, on_step=_say)
    _print_selection(res["selection"])
    _out().print(Text.assemble(("wrote ", "dim"), str(res["path"])))
