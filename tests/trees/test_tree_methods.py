"""The generic methods on boosters: exact refit LOO and Data-OOB against loops of the libraries' own training,
the score-space methods against their formulas, and clean refusals where the maths does not apply."""

from __future__ import annotations

import re
import warnings

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from scipy.special import expit

import samplescope as ss
from samplescope.errors import MethodError
from samplescope.methods import REGISTRY
from samplescope.methods.data_oob import bootstrap_counts
from samplescope.models import MODEL_FAMILIES
from tree_reference import LGB, XGB, fit

ROUNDS = 3


def train_native(kind, X, y, w=None):
    """The library's own training call with the parameters ``fit`` uses (independent of the adapters)."""
    if kind == "lightgbm":
        p = {"objective": "binary", "verbosity": -1, "deterministic": True, "force_row_wise": True, "num_threads": 1,
             "seed": 0, **LGB}
        b = lgb.train(p, lgb.Dataset(X, y, weight=w), num_boost_round=ROUNDS)
        return lambda Z: b.predict(Z, raw_score=True, num_threads=1)
    p = {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1, "seed": 0, **XGB}
    b = xgb.train(p, xgb.DMatrix(X, y, weight=w, nthread=1), num_boost_round=ROUNDS)
    return lambda Z: b.predict(xgb.DMatrix(Z, nthread=1), output_margin=True)


def logloss(y, s):
    return np.logaddexp(0, s) - y * s


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_loo_on_boosters_is_retraining_without_the_row(problem, kind):
    train, valid = problem("binary", n=24, n_valid=10, seed=11)
    m = fit(kind, train, rounds=ROUNDS)
    base = np.mean(logloss(valid.y, m.scores(valid)))
    own = logloss(train.y, m.scores(train))
    expected, expected_self = np.empty(train.n), np.empty(train.n)
    for i in range(train.n):
        keep = np.arange(train.n) != i
        f = train_native(kind, train.X[keep], train.y[keep])
        expected[i] = np.mean(logloss(valid.y, f(valid.X))) - base
        expected_self[i] = -(logloss(train.y[i], f(train.X[i:i + 1])[0]) - own[i])
    np.testing.assert_allclose(ss.score("loo", m, train, valid=valid).values, expected, atol=1e-6)
    np.testing.assert_allclose(ss.score("loo", m, train).values, expected_self, atol=1e-6)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_data_oob_on_boosters_is_a_bootstrap_loop(problem, kind):
    train, _ = problem("binary", n=24, seed=12)
    m = fit(kind, train, rounds=ROUNDS)
    B = 6
    counts = bootstrap_counts(train.n, B, 0)
    total, seen = np.zeros(train.n), np.zeros(train.n)
    for c in counts:
        bag = c > 0
        f = train_native(kind, train.X[bag], train.y[bag], c[bag])
        oob = ~bag
        total[oob] += -logloss(train.y[oob], f(train.X[oob]))
        seen[oob] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows in every bag
        r = ss.score("data_oob", m, train, n_estimators=B)
    ok = seen > 0
    np.testing.assert_allclose(r.values[ok], total[ok] / seen[ok], atol=1e-6)


def test_score_space_methods_on_boosters(binary):
    train, valid = binary
    m = fit("xgboost", train, rounds=ROUNDS)
    s = m.scores(train)
    p = expit(s)
    np.testing.assert_allclose(ss.score("self_loss", m, train).values, -logloss(train.y, s), atol=1e-12)
    np.testing.assert_allclose(ss.score("el2n", m, train).values, -np.abs(p - train.y), atol=1e-12)
    np.testing.assert_allclose(ss.score("grad_norm", m, train).values, -np.sqrt(ROUNDS) * np.abs(p - train.y),
                               atol=1e-12)
    r = ss.score("tracin", m, train, valid=valid, learning_rate=0.3)
    assert r.target == "validation" and np.all(np.isfinite(r.values))
    with pytest.raises(MethodError, match="tracin: learning_rate='auto' needs the model's Hessian; pass a number"):
        ss.score("tracin", m, train, valid=valid)
    assert np.all(np.isfinite(ss.score("knn_shapley", m, train, valid=valid).values))


@pytest.mark.parametrize("name", ["influence", "newton_loo"])
def test_methods_the_maths_excludes_refuse_boosters(binary, name):
    """influence/newton_loo need a parameter Hessian (margin falls back to the score margin for trees)."""
    train, valid = binary
    m = fit("lightgbm", train, rounds=ROUNDS)
    missing = sorted(REGISTRY[name].requires - MODEL_FAMILIES["lightgbm"])
    with pytest.raises(MethodError, match=re.escape(f"method '{name}' needs {missing!r} from the model, which LightGBMModel")):
        ss.score(name, m, train, valid=valid)


def test_methods_command_says_which_models_each_method_runs_on():
    import json

    from typer.testing import CliRunner

    from samplescope.cli import app

    res = CliRunner().invoke(app, ["methods", "--json"])
    assert res.exit_code == 0, res.output
    models = {r["name"]: r["models"] for r in json.loads(res.stdout)}
    assert models["boostin"] == models["leaf_influence"] == ["lightgbm", "xgboost"]
    assert {"linear", "lightgbm", "xgboost"} <= set(models["loo"]) & set(models["data_oob"])
    assert "lightgbm" in models["margin"] and "lightgbm" not in models["influence"]


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_flipped_labels_come_out_harmful(kind):
    """Sign convention: rows whose label was flipped lower the validation fit, so they score negative."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(240, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=240) > 0).astype(float)
    flip = rng.choice(120, 10, replace=False)
    y_noisy = y.copy()
    y_noisy[flip] = 1 - y_noisy[flip]
    train, valid = ss.from_arrays(X[:120], y_noisy[:120]), ss.from_arrays(X[120:], y[120:])
    m = fit(kind, train, rounds=20)
    others = np.setdiff1d(np.arange(120), flip)
    for method in ("boostin", "leaf_influence"):
        v = ss.score(method, m, train, valid=valid).values
        assert v[flip].mean() < 0 < v[others].mean()
        assert len(set(np.argsort(v)[:20]) & set(flip)) >= 6
