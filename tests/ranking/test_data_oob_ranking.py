"""data_oob on ranking models: bootstrap over whole query groups, per-query and per-document values."""

from __future__ import annotations

import numpy as np
import pytest

import samplescope as ss
from samplescope.errors import MethodError
from samplescope.methods.data_oob import bootstrap_counts
from samplescope.metrics import ndcg

from ranking_data import make_ranking

TREE = {"n_estimators": 3, "num_leaves": 4, "min_data_in_leaf": 2, "min_data_in_bin": 1}
pytestmark = pytest.mark.filterwarnings("ignore:data_oob:RuntimeWarning")


def _explicit(model, train, B, seed, metric, unit):
    """The definition, one bag at a time: refit on the bag's groups, score the out-of-bag ones."""
    b = train.group_bounds
    sizes = np.diff(b)
    counts = bootstrap_counts(len(sizes), B, seed)
    width = len(sizes) if unit == "query" else train.n
    total, seen = np.zeros(width), np.zeros(width)
    for c in counts:
        fit = model.refit(train.with_weight(train.weights * np.repeat(c, sizes)))
        s = fit.scores(train)
        for q in np.flatnonzero(c == 0):
            rows = slice(b[q], b[q + 1])
            if unit == "query":
                if metric == "loss":
                    total[q] -= fit.objective.group_losses(train.y, s, b, weight=train.weight)[q]
                else:
                    total[q] += ndcg(train.y, s, b, k=3, per_group=True)[q]
                seen[q] += 1
            else:
                total[rows] -= fit.objective.loss(train.y, s, b, weight=train.weight)[rows]
                seen[rows] += 1
    out = np.divide(total, seen, out=np.zeros(width), where=seen > 0)
    w = train.weights
    flat = np.array([np.unique(train.y[b[q]:b[q + 1]][w[b[q]:b[q + 1]] > 0]).size < 2 for q in range(len(sizes))])
    mark = flat if unit == "query" else np.repeat(flat, sizes) | (w == 0)
    fill = mark | (seen == 0)
    out[fill] = out[~fill].mean()  # no preference in the query, or never out of bag: neutral
    return out


@pytest.mark.parametrize("kind", ["linear_ranker", "lightgbm"])
@pytest.mark.parametrize("metric,unit", [("loss", "query"), ("ndcg@3", "query"), ("loss", "document")])
def test_equals_explicit_group_bootstrap(kind, metric, unit):
    train = make_ranking(n_groups=9, seed=3, weights="group")
    kw = {"objective": "ranknet", "alpha": 0.5} if kind == "linear_ranker" else {"objective": "lambdarank", **TREE}
    model = ss.fit_model(kind, train, **kw)
    got = ss.score("data_oob", model, train, unit=unit, seed=5, n_estimators=6, metric=metric)
    want = _explicit(ss.models.wrap_model(model, train), train, 6, 5, metric, unit)
    np.testing.assert_allclose(got.values, want, rtol=1e-10, atol=1e-12)
    assert len(got.values) == (len(train.group_bounds) - 1 if unit == "query" else train.n)


def test_degenerate_queries_are_neutral():
    """A query of one label value (group 2 is built so, group 1 is a single document) would score a perfect
    0 loss under every model; it gets the mean of the others instead."""
    train = make_ranking(n_groups=8, seed=4)
    model = ss.fit_model("linear_ranker", train, objective="ranknet", alpha=0.5)
    res = ss.score("data_oob", model, train, unit="query", n_estimators=6, seed=1)
    flat = res.extras["degenerate"].astype(bool)
    b = train.group_bounds
    assert flat[1] and flat[2]
    np.testing.assert_array_equal(flat, [np.ptp(train.y[b[q]:b[q + 1]]) == 0 for q in range(len(b) - 1)])
    assert (~flat).sum() >= 3
    np.testing.assert_allclose(res.values[flat], res.values[~flat].mean())


@pytest.mark.parametrize("unit", ["query", "document"])
def test_zero_weights_are_neutral(unit):
    """A query of weight 0 and a document of weight 0 are absent: loss 0 under every model, not "best"."""
    base = make_ranking(n_groups=9, seed=3, degenerate=False)
    w = np.ones(base.n)
    b = base.group_bounds
    w[b[2]:b[3]] = 0.0  # query 2
    w[b[4]] = 0.0  # the first document of query 4
    train = base.with_weight(w)
    model = ss.fit_model("linear_ranker", train, objective="ranknet", alpha=0.5)
    res = ss.score("data_oob", model, train, unit=unit, n_estimators=6, seed=0)
    zero = np.array([2]) if unit == "query" else np.r_[np.arange(b[2], b[3]), b[4]]
    assert res.extras["degenerate"][zero].all()
    np.testing.assert_allclose(res.values[zero], res.values[res.extras["degenerate"] == 0].mean())
    assert res.values.argmax() not in zero


def test_out_of_bag_is_per_query():
    """A document is out of bag exactly when its query is: documents of one query share their bag count."""
    train = make_ranking(n_groups=7, seed=1)
    model = ss.fit_model("linear_ranker", train, objective="ranknet", alpha=0.5)
    res = ss.score("data_oob", model, train, n_estimators=5, seed=2)
    b = train.group_bounds
    for q in range(len(b) - 1):
        assert np.unique(res.extras["oob_count"][b[q]:b[q + 1]]).size == 1


def test_finds_queries_with_inverted_labels():
    """Queries whose relevance labels were inverted get the lowest out-of-bag NDCG: models that never saw them rank
    them by the features, which now explain the labels backwards."""
    rng = np.random.default_rng(0)
    clean = make_ranking(n_groups=40, d=4, seed=11, max_size=10, degenerate=False)
    y, b = clean.y.copy(), clean.group_bounds
    bad = rng.choice(40, 6, replace=False)
    for q in bad:
        y[b[q]:b[q + 1]] = 3.0 - y[b[q]:b[q + 1]]  # relevance turned upside down
    train = ss.from_arrays(clean.X, y, group=clean.group)
    model = ss.fit_model("linear_ranker", train, objective="ranknet", alpha=1.0)
    v = ss.score("data_oob", model, train, unit="query", n_estimators=30, metric="ndcg@5").values
    from sklearn.metrics import roc_auc_score

    flags = np.isin(np.arange(40), bad)
    assert roc_auc_score(flags, -v) > 0.9, roc_auc_score(flags, -v)


@pytest.mark.parametrize("kw,words", [
    ({"metric": "ndcg@5"}, ["ndcg@5", "unit 'query'", "document"]),
    ({"metric": "ndcg@0"}, ["metric", "ndcg@K", "ndcg@0"]),
    ({"metric": "accuracy"}, ["accuracy", "classifier", "ranking"]),
])
def test_bad_ranking_parameters(kw, words):
    train = make_ranking(n_groups=5, seed=0)
    model = ss.fit_model("linear_ranker", train, objective="ranknet", alpha=0.5)
    with pytest.raises(MethodError) as err:
        ss.score("data_oob", model, train, n_estimators=2, **kw)
    for w in words:
        assert w in str(err.value)


def test_query_unit_needs_a_ranking_model():
    train = make_ranking(n_groups=6, seed=0)
    flat = ss.from_arrays(train.X, (train.y > 1).astype(float), group=train.group)
    model = ss.fit_model("logistic", flat)
    with pytest.raises(MethodError, match="ranking model"):
        ss.score("data_oob", model, flat, unit="query", n_estimators=2)
    with pytest.raises(MethodError, match="per-query"):
        ss.score("data_oob", model, flat, n_estimators=2, metric="ndcg")
