"""``clean``: never flags more than asked, deterministic ties, the retrain is the model's own refit."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import samplescope as ss
from samplescope.actions import CleanReport, clean, select_flagged, validation_metrics
from samplescope.errors import DataError, MethodError
from samplescope.models import LinearModel


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0]), min_size=0, max_size=40),
       st.one_of(st.floats(0, 1), st.none()), st.integers(0, 50), st.one_of(st.none(), st.floats(-3, 3)))
def test_never_more_than_asked_lowest_first_ties_by_row(vals, fraction, k, threshold):
    v = np.array(vals, dtype=float)
    n = len(v)
    kw = {"fraction": fraction} if fraction is not None else {"top_k": k}
    rows = select_flagged(v, threshold=threshold, **kw)
    cap = int(np.floor(fraction * n + 1e-9)) if fraction is not None else min(k, n)
    assert len(rows) <= cap and len(set(rows.tolist())) == len(rows)
    if threshold is None:
        assert len(rows) == cap
    else:
        assert np.all(v[rows] < threshold)
    # in order: by value, then by row; and nothing unflagged is strictly better placed
    assert all((v[a], a) < (v[b], b) for a, b in zip(rows[:-1], rows[1:]))
    if len(rows) and len(rows) == cap:
        rest = np.setdiff1d(np.arange(n), rows)
        last = (v[rows[-1]], rows[-1])
        assert all((v[r], r) > last for r in rest)
    assert np.array_equal(rows, select_flagged(v, threshold=threshold, **kw))  # deterministic


def test_threshold_alone_flags_every_row_below_it():
    v = np.array([0.2, -0.1, -0.3, 0.0])
    assert select_flagged(v, threshold=0.0).tolist() == [2, 1]


@pytest.mark.parametrize("kwargs, words", [
    ({}, ["fraction", "top_k", "threshold", "none"]),
    ({"fraction": 0.1, "top_k": 2}, ["not both"]),
    ({"fraction": 1.5}, ["fraction", "[0, 1]", "1.5"]),
    ({"top_k": -1}, ["top_k", ">= 0"]),
    ({"top_k": 1.5}, ["top_k", "integer"]),
    ({"threshold": float("nan")}, ["threshold", "finite"]),
])
def test_bad_selection_arguments(kwargs, words):
    with pytest.raises(DataError) as exc:
        select_flagged(np.array([1.0, 2.0]), **kwargs)
    for w in words:
        assert w in str(exc.value)


def noisy_problem(seed=0, n=120, n_valid=200, flip=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + n_valid, 3))
    y = (X @ np.array([1.5, -1.0, 0.5]) + 0.3 * rng.normal(size=n + n_valid) > 0).astype(float)
    flipped = rng.choice(n, int(flip * n), replace=False)
    y[flipped] = 1 - y[flipped]
    ids = np.array([f"s{i}" for i in range(n)])
    return ss.from_arrays(X[:n], y[:n], ids=ids, name="train"), ss.from_arrays(X[n:], y[n:], name="valid"), flipped


def test_drop_retrains_on_the_kept_rows_and_improves_a_noisy_problem():
    train, valid, flipped = noisy_problem()
    model = ss.fit_model("logistic", train)
    res = ss.score("influence", model, train, valid=valid)
    rep = clean(res, train, model, fraction=0.1, valid=valid)
    assert isinstance(rep, CleanReport) and rep.action == "drop"
    assert len(rep.flagged) == 12 and len(rep.kept) == train.n - 12
    assert set(rep.flagged) | set(rep.kept) == set(range(train.n))
    assert np.all(rep.weights[rep.flagged] == 0) and np.all(rep.weights[rep.kept] == 1)
    np.testing.assert_allclose(rep.model.theta, model.refit(train.subset(rep.kept)).theta, atol=1e-10)
    assert rep.after["loss"] < rep.before["loss"]
    assert rep.change["loss"] == pytest.approx(rep.after["loss"] - rep.before["loss"])
    assert len(set(rep.flagged) & set(flipped)) >= 6  # most flagged rows are flipped labels
    df = rep.to_frame()
    assert df.columns.tolist() == ["row", "id", "importance", "flagged", "weight"]
    assert int(df["flagged"].sum()) == 12 and df["id"].iloc[0] == "s0"
    assert "flagged=12" in repr(rep)


def test_downweight_by_zero_is_the_same_fit_as_drop_and_by_half_halves():
    train, valid, _ = noisy_problem(seed=1)
    model = ss.fit_model("logistic", train)
    res = ss.score("self_loss", model, train)
    drop = clean(res, train, model, top_k=5)
    zero = clean(res, train, model, top_k=5, action="downweight", factor=0.0)
    np.testing.assert_allclose(drop.model.theta, zero.model.theta, atol=1e-8)
    half = clean(res, train, model, top_k=5, action="downweight", factor=0.5, valid=valid)
    assert np.all(half.weights[half.flagged] == 0.5) and len(half.kept) == train.n
    assert drop.before is None and drop.change == {}
    assert set(half.after) == {"loss", "roc_auc", "pr_auc"}


def test_existing_weights_are_kept_and_scaled(problem):
    train, valid = problem("binary", weights=True, n=40)
    model = ss.fit_model("logistic", train)
    rep = clean(ss.score("self_loss", model, train), train, model, top_k=3, action="downweight", factor=0.5)
    expect = train.weights.copy()
    expect[rep.flagged] *= 0.5
    np.testing.assert_allclose(rep.weights, expect)


@pytest.mark.parametrize("task, metric", [("multiclass", "accuracy"), ("regression", "rmse")])
def test_other_tasks(problem, task, metric):
    train, valid = problem(task, n=45)
    model = ss.fit_model("logistic" if task == "multiclass" else "ridge", train)
    rep = clean(ss.score("influence", model, train, valid=valid), train, model, threshold=0.0, fraction=0.2,
                valid=valid)
    assert len(rep.flagged) <= 9 and metric in rep.after


def test_input_errors(binary):
    train, valid = binary
    model = ss.fit_model("logistic", train)
    v = ss.score("self_loss", model, train).values
    with pytest.raises(DataError, match="39 rows.*has 40"):
        clean(v[:-1], train, model, top_k=1)
    with pytest.raises(DataError, match="action.*'erase'"):
        clean(v, train, model, top_k=1, action="erase")
    with pytest.raises(DataError, match="factor"):
        clean(v, train, model, top_k=1, action="downweight", factor=2.0)
    ones = np.where(train.y == 1)[0]
    worst_ones = np.zeros(train.n)
    worst_ones[ones] = -1.0
    with pytest.raises(DataError, match="every row of class"):
        clean(worst_ones, train, model, top_k=len(ones))


def test_scores_of_other_rows_are_refused(problem):
    train, valid = problem("binary", ids=True)
    model = ss.fit_model("logistic", train)
    res = ss.score("self_loss", model, train)
    other = ss.from_arrays(train.X, train.y, ids=np.array([f"x{i}" for i in range(train.n)]), name="other")
    with pytest.raises(DataError, match="ids differ"):
        clean(res, other, model, top_k=1)


def test_a_model_that_cannot_refit_is_refused(binary):
    train, _ = binary
    model = ss.fit_model("logistic", train)

    class NoRefit(LinearModel):
        capabilities = frozenset({"scores"})

    frozen = NoRefit(model.objective, model.coef, model.intercept, c=model.c, alpha=model.alpha)
    with pytest.raises(MethodError, match="refit"):
        clean(np.zeros(train.n), train, frozen, top_k=1)


def test_validation_metrics_keys(binary):
    train, valid = binary
    assert set(validation_metrics(ss.fit_model("logistic", train), valid)) == {"loss", "roc_auc", "pr_auc"}


def test_doctests():
    assert doctest.testmod(importlib.import_module("samplescope.actions.clean")).failed == 0


def test_actions_all_is_exactly_the_public_names():
    import samplescope.actions as actions

    assert sorted(actions.__all__) == ["CleanReport", "Explanation", "clean", "explain", "find_row",
                                       "recalibration_offset", "reweight", "select_flagged", "validation_metrics",
                                       "weights_frame", "write_weights"]
    for name in actions.__all__:
        assert getattr(actions, name).__doc__, name
