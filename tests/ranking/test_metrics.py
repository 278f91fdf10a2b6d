"""Ranking metrics: NDCG@k and MAP@k against LightGBM's own evaluation, loop references, edge cases, errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import samplescope.metrics as metrics
from samplescope.errors import DataError, MethodError
from samplescope.metrics import mean_average_precision, mrr, ndcg
from tolerances import RANKING, close


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 20, size=40)
    n = int(sizes.sum())
    b = np.r_[0, np.cumsum(sizes)]
    y = rng.integers(0, 4, n).astype(float)
    y[b[3]:b[4]] = 0.0  # a query without relevant documents
    s = np.round(rng.normal(size=n), 1) + 10.0  # many ties
    return y, s, b, sizes, rng


def lightgbm_metrics(y, s, sizes, weight, ks):
    """LightGBM's ``ndcg@k`` / ``map@k`` of scores ``s``: the validation metrics of a 1-round booster with a
    learning rate of 1e-300 on ``init_score = s`` (its tree changes no score)."""
    lgb = pytest.importorskip("lightgbm")
    X = np.random.default_rng(0).normal(size=(len(y), 2))
    train = lgb.Dataset(X, y, group=sizes, init_score=s, weight=weight)
    valid = lgb.Dataset(X, y, group=sizes, init_score=s, weight=weight, reference=train)
    rec = {}
    lgb.train(dict(objective="lambdarank", metric=["ndcg", "map"], eval_at=list(ks), learning_rate=1e-300,
                   num_leaves=2, min_data_in_leaf=1, verbose=-1, num_threads=1),
              train, num_boost_round=1, valid_sets=[valid], valid_names=["v"], callbacks=[lgb.record_evaluation(rec)])
    return {k: v[0] for k, v in rec["v"].items()}


KS = (1, 3, 5, 100)


@pytest.mark.parametrize("weighted", [False, True])
def test_ndcg_and_map_match_lightgbm(data, weighted):
    y, s, b, sizes, rng = data
    w = np.repeat(rng.uniform(0.5, 2.0, len(sizes)), sizes) if weighted else None
    ref = lightgbm_metrics(y, s, sizes, w, KS)
    for k in KS:
        close(mean_average_precision(y, s, b, k=k, weight=w), ref[f"map@{k}"], RANKING["lightgbm_metric"])
        if not weighted:
            close(ndcg(y, s, b, k=k), ref[f"ndcg@{k}"], RANKING["lightgbm_metric"])
        else:
            # LightGBM adds 1 (not the query weight) for a query with ideal DCG 0 when weights are given;
            # here such a query counts with its weight like any other (documented in samplescope.metrics)
            per = ndcg(y, s, b, k=k, per_group=True)
            qw = np.add.reduceat(w, b[:-1]) / sizes
            zero = np.add.reduceat(y, b[:-1]) == 0
            quirk = (np.dot(per[~zero], qw[~zero]) + zero.sum()) / qw.sum()
            close(quirk, ref[f"ndcg@{k}"], RANKING["lightgbm_metric"])
            close(ndcg(y, s, b, k=k, weight=w), np.dot(per, qw) / qw.sum(), {"atol": 1e-15})


def loop_reference(y, s, b, k, metric):
    out = []
    for q in range(len(b) - 1):
        yy, ss = y[b[q]:b[q + 1]], s[b[q]:b[q + 1]]
        order = sorted(range(len(yy)), key=lambda i: -ss[i])  # stable: ties by row
        kk = len(yy) if k is None else min(k, len(yy))
        ranked = yy[order]
        if metric == "ndcg":
            dcg = sum((2 ** ranked[r] - 1) / np.log2(r + 2) for r in range(kk))
            ideal = sorted(yy, reverse=True)
            idcg = sum((2 ** ideal[r] - 1) / np.log2(r + 2) for r in range(kk))
            out.append(dcg / idcg if idcg > 0 else 1.0)
        else:
            hits = [r for r in range(kk) if ranked[r] > 0.5]
            out.append(1.0 / (hits[0] + 1) if hits else 0.0)
    return np.array(out)


@pytest.mark.parametrize("k", [None, 1, 2, 4])
def test_ndcg_and_mrr_per_group_equal_a_loop(data, k):
    y, s, b, _, _ = data
    close(ndcg(y, s, b, k=k, per_group=True), loop_reference(y, s, b, k, "ndcg"), {"atol": 1e-14})
    close(mrr(y, s, b, k=k, per_group=True), loop_reference(y, s, b, k, "mrr"), {"atol": 1e-14})
    assert mrr(y, s, b, k=k) == pytest.approx(loop_reference(y, s, b, k, "mrr").mean(), abs=1e-14)


def test_edge_cases():
    b = np.array([0, 1, 3, 6])
    y = np.array([0.0, 0.0, 0.0, 2.0, 0.0, 1.0])
    s = np.array([0.0, 1.0, 1.0, 0.1, 0.5, 0.3])
    np.testing.assert_allclose(ndcg(y, s, b, per_group=True)[:2], [1.0, 1.0])  # no relevant document: 1
    np.testing.assert_allclose(mean_average_precision(y, s, b, per_group=True)[:2], [1.0, 1.0])
    np.testing.assert_allclose(mrr(y, s, b, per_group=True), [0.0, 0.0, 0.5])  # no relevant document: 0
    perfect = np.array([0.0, 0.0, 0.0, 3.0, 1.0, 2.0])
    assert ndcg(y, perfect, b) == 1.0 and mean_average_precision(y, perfect, b) == 1.0
    # a custom label gain and a cut-off beyond the query
    assert ndcg(y, s, b, k=50, label_gain=[0, 1, 10]) == ndcg(y, s, b, label_gain=[0, 1, 10])


def test_doctests():
    assert doctest.testmod(metrics).failed == 0


def test_errors():
    y, s, b = np.array([0.0, 1.0]), np.array([0.1, 0.2]), np.array([0, 2])
    with pytest.raises(MethodError, match=r"metric 'ndcg': k must be an integer >= 1 or None; found 0"):
        ndcg(y, s, b, k=0)
    with pytest.raises(DataError, match=r"metric 'ndcg': labels must be integers in 0..2 .*found values in \[0, 1.5\] "
                                        r"with non-integers"):
        ndcg(np.array([0.0, 1.5]), s, b, label_gain=[0, 1, 3])
    with pytest.raises(DataError, match=r"metric 'mrr': expected one score per label \(2\); found 3"):
        mrr(y, np.zeros(3), b)
    with pytest.raises(DataError, match=r"metric 'map' needs query groups"):
        mean_average_precision(y, s, None)
