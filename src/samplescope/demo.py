"""The main job on bundled real data: Open Bandit Dataset clicks (ZOZOTOWN, Apache-2.0).

Fits a logistic click model on a chronological split of the pooled ``all`` campaign (both logging
policies; 16,000 training and 4,000 validation impressions, ~0.4 % clicked), lets ``samplescope select``
measure every method on subsamples and recommend one for finding noisy clicks, scores every training
impression with the recommended method and a method of each family, explains two validation
predictions, writes one Parquet file of scores per method, the selection as JSON and the full HTML
report, and returns a summary.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["DEMO_METHODS", "run_demo"]

DEMO_METHODS = ("newton_loo", "influence", "tracin", "grad_norm", "el2n", "margin")


def run_demo(out: str | Path = "out/demo", *, methods=DEMO_METHODS, C: float = 1.0, n_jobs: int = 1,
             goal: str = "noise", budget_s: float = 60.0, select_seconds: float = 45.0,
             on_step: Callable[[str], None] | None = None) -> dict:
    """Run the demo; returns ``{"paths": ..., "results": ..., "summary": ..., "selection": ...}``.

    Args:
        out: output folder (created).
        methods: registered method names run on every row besides the recommended one and the baselines.
        C: inverse L2 strength of the logistic click model.
        n_jobs: threads.
        goal, budget_s: what ``samplescope select`` recommends a method for, and the time it may take.
        select_seconds: time the selection itself may spend.
        on_step: called with a short message before each step (the CLI prints it).
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import average_precision_score, roc_auc_score

    from samplescope.data.readers import read_table
    from samplescope.datasets import write_obd_files
    from samplescope.models import fit_model
    from samplescope.report import explain_examples, run_full, write_report
    from samplescope.select import select

    say = on_step or (lambda msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say("writing the Open Bandit Dataset split (pooled policies, campaign 'all')")
    train_path, valid_path = write_obd_files(out / "data", policy="pooled", campaign="all")
    train = read_table(train_path, label="click", id="impression_id")
    valid = read_table(valid_path, label="click", id="impression_id", encoder=train.encoder)
    say(f"fitting a logistic click model (C={C}) on {train.n} impressions × {train.n_features} features")
    t0 = time.perf_counter()
    model = fit_model("logistic", train, C=C)
    s_valid = model.scores(valid)
    summary = {
        "train impressions / clicks": f"{train.n} / {int(train.y.sum())} (CTR {train.y.mean():.2%})",
        "valid impressions / clicks": f"{valid.n} / {int(valid.y.sum())} (CTR {valid.y.mean():.2%})",
        "validation log-loss": f"{model.objective.mean_loss(valid.y, s_valid):.5f}",
        "validation ROC-AUC": f"{roc_auc_score(valid.y, s_valid):.3f}",
        "validation PR-AUC": f"{average_precision_score(valid.y, s_valid):.4f}",
        "fit seconds": f"{time.perf_counter() - t0:.2f}",
    }
    say(f"measuring every method on subsamples for goal '{goal}' (samplescope select, budget {budget_s:g} s)")
    selection = select(model, train, valid, goal=goal, budget_s=budget_s, max_seconds=select_seconds, n_jobs=n_jobs,
                       on_step=say)
    say(f"recommended: {selection.recommendation}")
    results = run_full(model, train, valid, selection, extra=methods, n_jobs=n_jobs, say=say)
    first = {m: i for i, m in enumerate(methods)}
    results.sort(key=lambda r: first.get(r.method, len(first)))  # the demo's methods first, in their order
    paths = {res.method: res.to_parquet(out / f"scores_{res.method}.parquet") for res in results}
    paths["selection"] = out / "selection.json"
    selection.to_json(paths["selection"])
    say("explaining two validation predictions by their training impressions")
    explanations, note = explain_examples(model, train, valid, selection.recommendation)
    agreement = {}
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            agreement[(a.method, b.method)] = float(spearmanr(a.values, b.values)[0])
    paths["report"] = write_report(
        out / "report.html", train=train, valid=valid, results=results,
        title="samplescope demo — Open Bandit Dataset clicks",
        model_desc=f"scikit-learn LogisticRegression(C={C}), L2, intercept; {train.n_features} one-hot/numeric features",
        summary=summary, agreement=agreement, selection=selection, explanations=explanations,
        explanation_note=note)
    return {"paths": paths, "results": results, "summary": summary, "agreement": agreement,
            "train": train, "valid": valid, "selection": selection}
