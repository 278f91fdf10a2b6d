"""The linear ranker: exact optimum, exact Hessian of grouped losses, weight 0 == row removed, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import samplescope as ss
from samplescope.errors import DataError, MethodError
from samplescope.models import LinearModel
from ranking_data import make_ranking
from tolerances import RANKING, close

SMOOTH = ["ranknet", "listnet"]


def fd_hessian(m, data, theta, w, step=1e-6):
    p = theta.size
    H = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = step
        H[:, j] = (m.objective_gradient(data, theta + e.reshape(theta.shape), w)
                   - m.objective_gradient(data, theta - e.reshape(theta.shape), w)).ravel() / (2 * step)
    return H


@pytest.mark.parametrize("objective", SMOOTH + ["lambdarank_nonorm"])
@pytest.mark.parametrize("weights", [None, "document"])
def test_optimum_gradient_and_hessian(objective, weights):
    train = make_ranking(weights=weights, n_groups=9, seed=1)
    kw = {"objective": "lambdarank", "norm": False} if objective == "lambdarank_nonorm" else {"objective": objective}
    m = ss.fit_model("linear_ranker", train, alpha=0.7, **kw)
    assert isinstance(m, LinearModel) and m.name == "linear_ranker" and not m.fit_intercept
    w = train.weights
    assert np.abs(m.objective_gradient(train, m.theta, w)).max() < 1e-10
    theta = m.theta + 0.3 * np.random.default_rng(0).normal(size=m.theta.shape)
    # gradient = central differences of J (LambdaRank: its surrogate with the weights frozen at theta)
    g = np.empty(theta.size)
    for j in range(theta.size):
        e = np.zeros(theta.size)
        e[j] = 1e-6
        T1, T2 = theta + e.reshape(theta.shape), theta - e.reshape(theta.shape)
        g[j] = (m.objective_value(train, T1, w, at=theta) - m.objective_value(train, T2, w, at=theta)) / 2e-6
    close(m.objective_gradient(train, theta, w).ravel(), g, RANKING["ranker_fd"])
    close(m.hessian(train, theta), fd_hessian(m, train, theta, w), RANKING["ranker_fd"])
    # g_i = x_i λ_i weighted sum to the loss part of the gradient; per-group gradients add up to it too
    G = m.group_gradients(train)
    assert G.shape == (len(train.group_bounds) - 1, m.theta.size)
    close(G.sum(axis=0), m.objective_gradient(train, m.theta, w).ravel() - m.reg * m.theta.ravel(),
          {"atol": 1e-12})
    assert m.params()["objective"] == kw["objective"]
    assert ("objective.sigmoid" in m.params()) == (kw["objective"] != "listnet")


@pytest.mark.parametrize("objective", SMOOTH)
def test_weight_zero_equals_rows_removed(objective):
    """The reference refit of every leave-out: weights 0 give exactly the optimum without those rows."""
    train = make_ranking(n_groups=8, seed=2, weights="document")
    m = ss.fit_model("linear_ranker", train, objective=objective, alpha=0.5)
    drop = np.array([0, 5, 11])
    w = train.weights.copy()
    w[drop] = 0.0
    keep = np.setdiff1d(np.arange(train.n), drop)
    a = m.solve(train, weights=w)
    b = m.solve(train.subset(keep))
    close(a, b, RANKING["ranker_optimum"])
    # and a whole group
    g0 = train.group == train.group[0]
    w = train.weights * ~g0
    close(m.solve(train, weights=w), m.solve(train.subset(~g0)), RANKING["ranker_optimum"])


def test_sparse_equals_dense_and_intercept_is_inert():
    train = make_ranking(n_groups=7, seed=3)
    sparse = ss.from_arrays(sp.csr_matrix(train.X), train.y, group=train.group)
    a = ss.fit_model("linear_ranker", train, objective="ranknet", alpha=1.0)
    b = ss.fit_model("linear_ranker", sparse, objective="ranknet", alpha=1.0)
    close(a.theta, b.theta, RANKING["ranker_optimum"])
    close(a.hessian(train), b.hessian(sparse), {"scale_rtol": 1e-12})
    c = ss.fit_model("linear_ranker", train, objective="ranknet", alpha=1.0, fit_intercept=True)
    close(c.coef, a.coef, RANKING["ranker_optimum"])
    assert abs(c.intercept[0]) < 1e-12
    assert np.all(np.isfinite(ss.score("influence", c, train).values))  # the flat intercept direction is filled


def test_lambdarank_with_norm_may_not_settle_and_says_so():
    """LambdaRank's normalised |ΔNDCG| weights jump with the ranking: a stationary point need not exist."""
    train = make_ranking(n_groups=12, seed=1, max_size=8)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = ss.fit_model("linear_ranker", train, objective="lambdarank", alpha=1.0, max_iter=30)
    stationary = np.abs(m.objective_gradient(train, m.theta, train.weights)).max() < 1e-6
    assert stationary or any("did not reach a stationary point" in str(r.message) for r in rec)


def test_errors():
    train = make_ranking()
    flat = ss.from_arrays(train.X, train.y, name="flat.csv")
    with pytest.raises(DataError, match=r"flat.csv: model 'linear_ranker' needs query groups; expected a group column"):
        ss.fit_model("linear_ranker", flat)
    with pytest.raises(MethodError, match=r"objective must be one of \['lambdarank', 'ranknet', 'listnet'\]; "
                                          r"found 'logloss'"):
        ss.fit_model("linear_ranker", train, objective="logloss")
    with pytest.raises(MethodError, match=r"alpha must be a finite number >= 0; found -1"):
        ss.fit_model("linear_ranker", train, alpha=-1.0)
    m = ss.fit_model("linear_ranker", train)
    with pytest.raises(DataError, match=r"flat.csv: objective 'ranknet' needs query groups; expected a group column"):
        ss.score("influence", m, flat)
    bad = ss.from_arrays(train.X, train.y - 5, group=train.group, name="neg.csv")
    with pytest.raises(DataError, match=r"neg.csv: column 'label' must hold graded relevance >= 0"):
        ss.score("influence", m, bad)
