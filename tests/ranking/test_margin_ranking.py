"""``margin`` for boosted trees (score-space margin) and ranking objectives (mean pairwise margin in a query)."""

from __future__ import annotations

import numpy as np
import pytest

import samplescope as ss
from samplescope.errors import DataError
from samplescope.methods.margin import _score_margin, pairwise_margin

from ranking_data import make_ranking

TREE = {"n_estimators": 3, "num_leaves": 4, "min_data_in_leaf": 2, "min_data_in_bin": 1}


def brute_margin(y, s, bounds):
    out = np.zeros(len(y))
    for q in range(len(bounds) - 1):
        rows = range(bounds[q], bounds[q + 1])
        for i in rows:
            js = [j for j in rows if y[j] != y[i]]
            if js:
                out[i] = np.mean([np.sign(y[i] - y[j]) * (s[i] - s[j]) for j in js])
    return out


def test_pairwise_margin_is_the_mean_over_differently_labelled_documents():
    rng = np.random.default_rng(4)
    sizes = np.r_[1, 5, 3, rng.integers(1, 12, size=20)]
    b = np.r_[0, np.cumsum(sizes)]
    y = rng.integers(0, 4, b[-1]).astype(float)
    y[b[2]:b[3]] = 1.0  # a query whose labels are all equal: no preference, margin 0
    s = rng.normal(size=b[-1])
    got = pairwise_margin(y, s, b)
    np.testing.assert_allclose(got, brute_margin(y, s, b), rtol=1e-12, atol=1e-14)
    assert got[0] == 0.0 and np.all(got[b[2]:b[3]] == 0.0)


def test_ranking_models_get_the_pairwise_margin_by_document_and_query():
    train = make_ranking(n_groups=10, seed=2)
    b = train.group_bounds
    for model in (ss.fit_model("lightgbm", train, objective="lambdarank", **TREE),
                  ss.fit_model("linear_ranker", train, objective="ranknet")):
        want = brute_margin(train.y, model.scores(train), b)
        doc = ss.score("margin", model, train)
        np.testing.assert_allclose(doc.values, want, rtol=1e-12, atol=1e-14)
        query = ss.score("margin", model, train, unit="query")
        np.testing.assert_allclose(query.values, np.add.reduceat(want, b[:-1]) / np.diff(b), rtol=1e-12, atol=1e-14)
        assert doc.target == "none"


def test_boosters_get_the_score_margin(problem):
    train, _ = problem("binary", n=40)
    for kind, kw in (("lightgbm", TREE), ("xgboost", {"n_estimators": 3, "max_depth": 2})):
        model = ss.fit_model(kind, train, **kw)
        np.testing.assert_allclose(ss.score("margin", model, train).values,
                                   (2 * train.y - 1) * model.scores(train), rtol=1e-12)
    S = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    np.testing.assert_allclose(_score_margin(S, np.array([0, 1])), [1.5, -2.0])


def test_a_ranking_model_on_data_without_groups_is_a_data_error(problem):
    train = make_ranking(n_groups=6, seed=1)
    model = ss.fit_model("lightgbm", train, objective="lambdarank", **TREE)
    flat = ss.from_arrays(train.X, train.y, name="flat")
    with pytest.raises(DataError, match="flat: .*needs query groups"):
        ss.score("margin", model, flat)
