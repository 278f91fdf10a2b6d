"""Recommendation: planted problems where the right answer is known, and the scoring rule itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import samplescope as ss
from samplescope.select import GOALS, select
from samplescope.select.recommend import criteria, goal_scores, recommend


def _high_leverage_ridge(seed: int = 0):
    """Ridge regression with heavy-tailed features and few rows per parameter: leverages are large, so
    first-order influence drifts from exact leave-one-out, while the Newton step is exact for a quadratic loss."""
    rng = np.random.default_rng(seed)
    n, m, d = 200, 100, 40
    X = rng.standard_t(2, size=(n + m, d))
    y = X @ rng.normal(size=d) + 2 * rng.normal(size=n + m)
    return ss.from_arrays(X[:n], y[:n], name="train"), ss.from_arrays(X[n:], y[n:], name="valid")


def test_explain_on_ridge_recommends_the_exact_newton_step():
    train, valid = _high_leverage_ridge()
    model = ss.fit_model("ridge", train, alpha=1.0)
    sel = select(model, train, valid, goal="explain", budget_s=30, max_seconds=15,
                 methods=["newton_loo", "influence", "tracin", "grad_norm"])
    t = sel.table
    assert t.loc["newton_loo", "loo_spearman"] == pytest.approx(1.0, abs=1e-9)  # exact for ridge
    assert t.loc["influence", "loo_spearman"] < 0.99
    assert sel.recommendation == "newton_loo"
    assert "leave-one-out" in " ".join(sel.reasons)
    # newton_loo has no per-prediction attributions: the reasons point to one that has
    assert any("to explain one prediction" in r for r in sel.reasons)


def test_explain_with_every_method_recommends_an_exact_one():
    train, valid = _high_leverage_ridge(1)
    sel = select(ss.fit_model("ridge", train, alpha=1.0), train, valid, goal="explain", budget_s=30, max_seconds=15)
    assert sel.recommendation in ("loo", "newton_loo")


def _table(**cols):
    base = {"candidate": True, "supported": True, "status": "ok", "loo_spearman": np.nan, "loo_n": 300,
            "flip_auc": np.nan, "stability": np.nan, "stability_seed": np.nan, "prune_gain": np.nan,
            "helpful_drop": np.nan, "prune_gain_balanced": np.nan, "helpful_drop_balanced": np.nan,
            "pred_seconds": 1.0, "pred_memory_mb": 10.0, "time_law": "1·n^1.00", "time_points": 3}
    n = len(next(iter(cols.values())))
    data = {k: [v] * n for k, v in base.items()}
    data.update({k: v for k, v in cols.items() if k != "method"})
    return pd.DataFrame(data, index=pd.Index(cols["method"], name="method"))


def test_noise_goal_follows_flip_detection():
    t = _table(method=["a", "b", "random"], flip_auc=[0.95, 0.7, 0.5], stability=[0.9, 0.9, 0.0])
    pick, scores, reasons, _ = recommend(t, GOALS["noise"], budget_s=10, n=1000)
    assert pick == "a" and scores["a"] > scores["b"] > scores["random"]
    assert "ROC-AUC 0.95" in " ".join(reasons)


def test_budget_and_memory_exclude_and_ties_go_to_the_faster():
    t = _table(method=["slow", "fast", "fat"], loo_spearman=[1.0, 0.999, 1.0], stability=[1.0, 1.0, 1.0],
               pred_seconds=[100.0, 0.5, 1.0], pred_memory_mb=[1.0, 1.0, 1e6])
    pick, _, reasons, excluded = recommend(t, GOALS["explain"], budget_s=10, n=5000, memory_bytes=2**30)
    assert pick == "fast"
    assert "over the 10.0 s budget" in excluded["slow"] and "MB" in excluded["fat"]
    assert any("Left out for the budget: slow" in r for r in reasons)


def test_criteria_are_normalised_and_unmeasured_ones_drop_out():
    t = _table(method=["a", "b"], flip_auc=[1.0, 0.25], prune_gain=[0.02, 0.01], stability=[np.nan, np.nan])
    c = criteria(t, GOALS["prune"])
    assert c.loc["a", "flip_auc"] == 1.0 and c.loc["b", "flip_auc"] == 0.0
    assert c.loc["b", "prune_gain"] == pytest.approx(0.5)
    _, weights = goal_scores(t, GOALS["prune"])
    assert set(weights) == {"prune_gain", "flip_auc"} and sum(weights.values()) == pytest.approx(1.0)


def test_imbalance_goal_uses_the_balanced_removal_curves():
    t = _table(method=["a", "b"], helpful_drop=[0.5, 0.1], helpful_drop_balanced=[0.1, 0.5])
    pick, _, reasons, _ = recommend(t, GOALS["imbalance"], budget_s=10, n=100)
    assert pick == "b" and "class-balanced" in " ".join(reasons)


def test_no_candidate_in_budget_says_so():
    t = _table(method=["a"], pred_seconds=[50.0])
    pick, _, reasons, _ = recommend(t, GOALS["noise"], budget_s=1, n=100)
    assert pick is None and "cheapest, a" in reasons[0]


def test_gain_text_drops_false_precision_beyond_100_percent():
    from samplescope.select.table import gain_text

    assert gain_text(0.1171) == "+11.7%" and gain_text(-0.05, 2) == "-5.00%"
    assert gain_text(-14.7552) == "-1,476%" and gain_text(1.5) == "+150%"  # removing the rows broke the model
    assert gain_text(None) == gain_text(float("nan")) == "–"
