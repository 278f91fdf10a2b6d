"""Pairwise attributions and ``explain``: exact references on tiny data; explain's tables are the sorted row."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import samplescope as ss
from samplescope.actions import Explanation, explain, find_row
from samplescope.errors import DataError, MethodError
from samplescope.methods import REGISTRY
from samplescope.methods import pairwise as pairwise_module
from samplescope.methods.pairwise import feature_contributions, influence_pairwise, pairwise, tracin_pairwise
from samplescope.models import ModelAdapter

MODEL = {"binary": "logistic", "multiclass": "logistic", "regression": "ridge"}


class Opaque(ModelAdapter):
    """A linear model seen only through the capability protocols (not a ``LinearModel``)."""

    kind = "opaque"

    def __init__(self, inner, capabilities=None):
        self.inner, self.objective = inner, inner.objective
        self.capabilities = frozenset(capabilities if capabilities is not None else inner.capabilities)

    def scores(self, data):
        return self.inner.scores(data)

    def refit(self, data):
        return Opaque(self.inner.refit(data), self.capabilities)

    def at_optimum(self, train):
        return Opaque(self.inner.at_optimum(train), self.capabilities)

    def fingerprint(self):
        return "opaque-" + self.inner.fingerprint()

    def __getattr__(self, name):  # loss_scale, mean_gradient, gradient_dot, hessian, hessian_solver, ...
        if name in ("inner", "objective", "capabilities"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def fitted(problem, task, **kw):
    train, valid = problem(task, n=36, weights=True, **kw)
    return ss.fit_model(MODEL[task], train), train, valid


def centred_score(model, data, ref):
    s = model.scores(data)
    if s.ndim == 1:
        return s
    k = np.argmax(ref.scores(data), axis=1)
    return s[np.arange(len(s)), k] - s.mean(axis=1)


# ------------------------------------------------------------------ pairwise
@pytest.mark.parametrize("task", sorted(MODEL))
@pytest.mark.parametrize("method", ["influence", "tracin"])
def test_rows_average_to_the_method_values(problem, task, method):
    model, train, valid = fitted(problem, task)
    targets = valid.with_weight(np.linspace(0.5, 2.0, valid.n))
    A = pairwise(model, train, targets, method=method)
    assert A.shape == (valid.n, train.n)
    expect = ss.score(method, model, train, valid=targets).values
    np.testing.assert_allclose(np.average(A, axis=0, weights=targets.weights), expect, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("task", sorted(MODEL))
def test_influence_is_the_derivative_of_exact_refits(problem, task):
    """S_ji = ds_j/dt and A_ji = −dℓ_j/dt when sample i's weight is t·w_i, at t = 1 (central differences)."""
    model, train, valid = fitted(problem, task)
    S = pairwise(model, train, valid, method="influence", kind="score")
    A = pairwise(model, train, valid, method="influence", kind="loss")
    opt = model.at_optimum(train)
    h = 1e-4
    for i in (0, 7, 20):
        def at(t):
            w = train.weights.copy()
            w[i] *= t
            m = opt.refit(train.with_weight(w))
            return centred_score(m, valid, opt), m.losses(valid)
        (s_up, l_up), (s_dn, l_dn) = at(1 + h), at(1 - h)
        np.testing.assert_allclose(S[:, i], (s_up - s_dn) / (2 * h), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(A[:, i], -(l_up - l_dn) / (2 * h), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("task", sorted(MODEL))
@pytest.mark.parametrize("method", ["influence", "tracin"])
@pytest.mark.parametrize("kind", ["loss", "score"])
def test_generic_adapter_path_equals_the_linear_path(problem, task, method, kind):
    model, train, valid = fitted(problem, task)
    expect = pairwise(model, train, valid, method=method, kind=kind)
    got = pairwise(Opaque(model), train, valid, method=method, kind=kind)
    np.testing.assert_allclose(got, expect, rtol=1e-9, atol=1e-14)


def test_without_a_hessian_auto_is_a_gradient_dot_product(binary):
    train, valid = binary
    model = ss.fit_model("logistic", train)
    opaque = Opaque(model, {"scores", "param_gradients", "refit"})
    got = pairwise(opaque, train, valid)  # auto → tracin with learning_rate 1
    np.testing.assert_allclose(got, pairwise(model, train, valid, method="tracin", learning_rate=1.0))
    with pytest.raises(MethodError, match="hessian"):
        pairwise(opaque, train, valid, method="influence")


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("method", ["influence", "tracin"])
def test_feature_terms_sum_to_the_score_attribution(problem, task, method):
    model, train, valid = fitted(problem, task)
    S = pairwise(model, train, valid, method=method, kind="score")
    rows = [0, 5, 11]
    C = feature_contributions(model, train, valid.subset([2]), rows, method=method)
    assert C.shape == (3, train.n_features + 1)
    np.testing.assert_allclose(C.sum(axis=1), S[2, rows], rtol=1e-9, atol=1e-15)
    assert feature_contributions(Opaque(model), train, valid.subset([2]), rows) is None


def test_registry_hook_and_errors(binary, monkeypatch):
    train, valid = binary
    model = ss.fit_model("logistic", train)
    assert REGISTRY["influence"].pairwise is influence_pairwise
    assert REGISTRY["tracin"].pairwise is tracin_pairwise
    with pytest.raises(MethodError, match=r"no pairwise.*\[.*'influence'.*'tracin'"):
        pairwise(model, train, valid, method="margin")
    with pytest.raises(MethodError, match="kind.*'loss', 'score'.*'gradient'"):
        pairwise(model, train, valid, kind="gradient")
    with pytest.raises(MethodError, match="unknown method"):
        pairwise(model, train, valid, method="nope")
    with pytest.raises(MethodError, match=r"no pairwise parameter\(s\) \['k'\].*damping"):
        pairwise(model, train, valid, method="influence", k=3)
    cg = pairwise(model, train, valid, method="influence", solver="cg")
    np.testing.assert_allclose(cg, pairwise(model, train, valid, method="influence"), rtol=1e-6, atol=1e-12)
    monkeypatch.setattr(pairwise_module, "MAX_CELLS", 100)
    with pytest.raises(DataError, match="15 targets × 40 training rows"):
        pairwise(model, train, valid)


# ------------------------------------------------------------------ explain
@pytest.mark.parametrize("task", sorted(MODEL))
@pytest.mark.parametrize("target_row", [0, 3, 9])
def test_explain_tables_are_the_sorted_pairwise_row(problem, task, target_row):
    model, train, valid = fitted(problem, task)
    top = 5
    ex = explain(model, train, targets=valid, row=target_row, top=top, method="influence")
    S = pairwise(model, train, valid.subset([target_row]), method="influence", kind="score")[0]
    A = pairwise(model, train, valid.subset([target_row]), method="influence", kind="loss")[0]
    if task == "binary":
        sign = 1.0 if model.scores(valid)[target_row] >= 0 else -1.0
        assert ex.predicted == (1.0 if sign > 0 else 0.0) and ex.prediction >= 0.5
    else:
        sign = 1.0
    support = sign * S
    up = [r for r in np.argsort(-support, kind="stable")[:top] if support[r] > 0]
    dn = [r for r in np.argsort(support, kind="stable")[:top] if support[r] < 0]
    assert ex.support["row"].tolist() == up and ex.oppose["row"].tolist() == dn
    np.testing.assert_allclose(ex.support["support"], support[up])
    np.testing.assert_allclose(ex.oppose["loss_effect"], A[dn])
    assert ex.support["rank"].tolist() == list(range(1, len(up) + 1))
    assert all(ex.support["features"]) and ex.note == ""
    assert ex.id == target_row and ex.label == valid.y[target_row]


def test_explain_tracin_and_a_training_row(binary):
    train, _ = binary
    model = ss.fit_model("logistic", train)
    ex = explain(model, train, row=4, top=3, method="tracin", learning_rate=0.5)
    S = pairwise(model, train, train.subset([4]), method="tracin", kind="score", learning_rate=0.5)[0]
    sign = 1.0 if ex.predicted == 1.0 else -1.0
    assert ex.support["row"].tolist() == [r for r in np.argsort(-sign * S, kind="stable")[:3] if sign * S[r] > 0]
    df = ex.to_frame()
    assert set(df["side"]) <= {"support", "oppose"} and len(df) == len(ex.support) + len(ex.oppose)
    assert isinstance(ex, Explanation)


def test_features_name_columns_and_values():
    rng = np.random.default_rng(1)
    import pandas as pd

    frame = pd.DataFrame({"price": rng.normal(size=50), "colour": rng.choice(["red", "blue"], 50)})
    frame["y"] = (frame["price"] + (frame["colour"] == "red") + rng.normal(size=50) > 0.5).astype(int)
    train = ss.from_frame(frame, label="y")
    ex = explain(ss.fit_model("logistic", train), train, row=0, top=2, n_features=2)
    text = " ".join(ex.support["features"]) + " ".join(ex.oppose["features"])
    assert "price=" in text or "colour=" in text
    assert "colour=red=1" not in text  # a one-hot column shows as its name alone
    none = explain(ss.fit_model("logistic", train), train, row=0, top=2, n_features=0)
    assert set(none.support["features"]) <= {""}


def test_explain_by_query_and_item():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] + rng.normal(size=30) > 0).astype(float)
    group = np.repeat(np.arange(10), 3)
    ids = np.array([f"q{i // 3}-i{i % 3}" for i in range(30)])
    train = ss.from_arrays(X, y, group=group, ids=ids)
    model = ss.fit_model("logistic", train)
    assert find_row(train, query=4, item="q4-i1") == 13
    by_key = explain(model, train, query="4", item="q4-i1", top=4)
    by_row = explain(model, train, row=13, top=4)
    assert by_key.row == 13 and by_key.support["row"].tolist() == by_row.support["row"].tolist()
    with pytest.raises(DataError, match="exactly one row"):
        explain(model, train, query=4, top=2)
    with pytest.raises(DataError, match="query 99 not found"):
        find_row(train, query=99)


def test_explain_input_errors(binary):
    train, valid = binary
    model = ss.fit_model("logistic", train)
    with pytest.raises(DataError, match=r"row must be an integer in 0..14; found 15"):
        explain(model, train, targets=valid, row=15)
    with pytest.raises(DataError, match="row or a query"):
        explain(model, train, row=1, query=2)
    with pytest.raises(DataError, match="expected a row"):
        explain(model, train)
    with pytest.raises(DataError, match="group column"):
        explain(model, train, query=1)
    with pytest.raises(DataError, match="top"):
        explain(model, train, row=0, top=-1)
    with pytest.raises(MethodError, match="no pairwise"):
        explain(model, train, row=0, method="el2n")


def test_explain_without_a_linear_model_says_why_features_are_missing(binary):
    train, _ = binary
    model = Opaque(ss.fit_model("logistic", train))
    ex = explain(model, train, row=0, top=3)
    assert "linear models" in ex.note and set(ex.support["features"]) == {""}


@pytest.mark.parametrize("module", ["samplescope.actions.explain", "samplescope.methods.pairwise"])
def test_doctests(module):
    assert doctest.testmod(importlib.import_module(module)).failed == 0
