"""The full report in one call: select a method, run it (and the cheap baselines) on every row, explain a
few predictions, write the HTML."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, SamplescopeError

__all__ = ["build_report", "explain_examples", "run_full"]


def run_full(model, train: Dataset, valid: Dataset | None, selection, *, extra: Sequence[str] = (), seed: int = 0,
             n_jobs: int = 1, say: Callable[[str], None] = lambda m: None) -> list:
    """Score every training row with the recommended method, the cheap baselines and ``extra`` methods.

    The wall time of each full run is written into ``selection.table["full_seconds"]`` next to the
    time the selection predicted.
    """
    from samplescope.methods.base import score
    from samplescope.select.recommend import BASELINES

    t = selection.table
    if "full_seconds" not in t.columns:
        t["full_seconds"] = np.nan
    names = [m for m in [selection.recommendation, *extra, *BASELINES] if m and m in t.index and t.loc[m, "supported"]]
    results = []
    for name in dict.fromkeys(names):
        say(f"scoring all {train.n:,} rows with {name}")
        t0 = time.perf_counter()
        res = score(name, model, train, valid=valid, seed=seed, n_jobs=n_jobs)
        t.loc[name, "full_seconds"] = time.perf_counter() - t0
        results.append(res)
    return results


def explain_examples(model, train: Dataset, valid: Dataset | None, method: str | None = None, *, rows: int = 2,
                     top: int = 5) -> tuple[list, str]:
    """``(explanations, note)``: the worst-predicted and a typical target row, explained by the training rows.

    Targets are validation rows when there is a validation set, else training rows. Uses
    :func:`samplescope.actions.explain` with ``method`` when it has pairwise attributions, else its default.
    An empty list comes with the reason.
    """
    try:
        from samplescope.actions import explain
    except ImportError:  # pragma: no cover - the actions package is part of samplescope
        return [], "the explain action is not available in this installation"
    from samplescope.methods.registry import REGISTRY
    from samplescope.models import wrap_model

    adapter = wrap_model(model, train)
    data = valid if valid is not None else train
    where = "validation" if valid is not None else "training"
    losses = adapter.losses(data)
    picks = [(int(np.argmax(losses)), f"{where} row the model gets most wrong"),
             (int(np.argsort(losses, kind="stable")[len(losses) // 2]), f"a typical {where} row (median loss)")][:rows]
    info = REGISTRY.get(method or "")
    use = method if info is not None and getattr(info, "pairwise", None) is not None else "auto"
    out = []
    try:
        for row, why in picks:
            ex = explain(adapter, train, row=row, targets=valid, top=top, method=use)
            out.append((f"{where} row {row} (id {data.row_ids[row]}): {why}", ex))
    except SamplescopeError as exc:
        return out, f"explanations stopped: {exc}"
    note = "" if use == method else (f"{method} has no per-prediction attributions; these come from the "
                                     f"explain action's default method." if method else "")
    return out, note


def build_report(path: str | Path, model, train: Dataset, valid: Dataset | None = None, *, selection=None,
                 goal: str = "noise", budget_s: float = 60.0, methods: Sequence[str] | None = None, seed: int = 0,
                 n_jobs: int = 1, max_seconds: float | None = None, explain_rows: int = 2, title: str | None = None,
                 model_desc: str = "", summary: dict | None = None,
                 on_step: Callable[[str], None] | None = None) -> dict:
    """Select a method (unless ``selection`` is given), score every row with it and the cheap baselines,
    explain a few predictions, and write the HTML report.

    Args:
        path: the ``.html`` file to write (atomically).
        model, train, valid: as for :func:`samplescope.select.select`.
        selection: a :class:`~samplescope.select.SelectionReport` measured on the same training data.
        goal, budget_s, methods, seed, n_jobs, max_seconds: passed to :func:`~samplescope.select.select`.
        explain_rows: predictions explained (0 = none).
        title, model_desc, summary: header of the page.
        on_step: called with a short message before each step.

    Returns:
        ``{"path", "selection", "results", "explanations"}``.
    """
    from samplescope.report.html import write_report
    from samplescope.select import select

    say = on_step or (lambda msg: None)
    if selection is None:
        selection = select(model, train, valid, goal=goal, budget_s=budget_s, methods=methods, seed=seed,
                           n_jobs=n_jobs, max_seconds=max_seconds, on_step=say)
    elif selection.dataset.get("fingerprint") not in (None, train.fingerprint()):
        raise DataError(f"{train.name}: the selection was measured on other training data (fingerprint "
                        f"{selection.dataset.get('fingerprint')}); expected {train.fingerprint()}. Run select again")
    results = run_full(model, train, valid, selection, seed=seed, n_jobs=n_jobs, say=say)
    exps, note = ([], "not requested") if explain_rows <= 0 else \
        explain_examples(model, train, valid, selection.recommendation, rows=explain_rows)
    out = write_report(path, train=train, valid=valid, results=results, selection=selection, explanations=exps,
                       explanation_note=note, title=title or f"samplescope report — {train.name}",
                       model_desc=model_desc, summary=summary)
    return {"path": out, "selection": selection, "results": results, "explanations": exps}
