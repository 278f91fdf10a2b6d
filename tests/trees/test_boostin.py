"""BoostIn against a loop-by-loop statement of its formula on 2-tree boosters (tolerances: ``TREES``)."""

from __future__ import annotations

import numpy as np
import pytest

import samplescope as ss
from samplescope.errors import MethodError
from tolerances import TREES, close
from tree_reference import Structure, fit, grad, hess


def boostin_direct(S: Structure, train, valid, shrunk=False):
    """Σ_t over rounds, for every row i and its leaf l: w_i η (g_i + h_i v_l)/(H_l + λ) × target gradient in l."""
    task, w = S.task, train.weights
    L, F = S.leaves(train), S.round_scores(train)
    if valid is not None:
        Lv, Fv = S.leaves(valid), S.round_scores(valid)
        omega = valid.weights / valid.weights.sum()
    out = np.zeros(train.n)
    for t in range(L.shape[1]):
        g, h = grad(task, train.y, F[:, t]), hess(task, train.y, F[:, t])
        for i in range(train.n):
            l = L[i, t]
            members = L[:, t] == l
            H = np.sum(w[members] * h[members])
            v = S.o[t][l] if shrunk else S.o[t][l] / S.eta
            d = S.eta * (g[i] + h[i] * v) / (H + S.lam)
            if valid is None:
                out[i] -= w[i] * g[i] * d
            else:
                e = Lv[:, t] == l
                out[i] += w[i] * d * np.sum(omega[e] * grad(task, valid.y[e], Fv[e, t]))
    return out


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_boostin_matches_its_formula_on_two_trees(problem, kind, task):
    train, valid = problem(task, n=40, n_valid=15, weights=True, seed=3)
    m = fit(kind, train, rounds=2)
    S = Structure(m, train, task)
    for v in (valid, None):
        r = ss.score("boostin", m, train, valid=v)
        assert r.target == ("validation" if v is not None else "self")
        close(r.values, boostin_direct(S, train, v), TREES["direct"])
    close(ss.score("boostin", m, train, valid=valid, shrunk_leaf=True).values,
          boostin_direct(S, train, valid, shrunk=True), TREES["direct"])


def test_boostin_refuses_linear_models(binary):
    train, valid = binary
    model = ss.fit_model("logistic", train)
    with pytest.raises(MethodError, match=r"method 'boostin' needs \['tree_structure'\] from the model"):
        ss.score("boostin", model, train, valid=valid)


def test_boostin_is_the_mean_over_validation_rows(problem):
    """The validation value is the mean of per-validation-row influences (tree-influence's matrix, row mean)."""
    train, valid = problem("binary", n=60, n_valid=40, seed=5)
    m = fit("lightgbm", train, rounds=3)
    full = ss.score("boostin", m, train, valid=valid).values
    halves = [valid.subset(np.arange(0, 20)), valid.subset(np.arange(20, 40))]
    parts = [ss.score("boostin", m, train, valid=h).values for h in halves]
    close(full, (parts[0] + parts[1]) / 2, TREES["direct"])  # the mean over validation rows is linear


@pytest.mark.parametrize("method", ["boostin", "leaf_influence"])
def test_pairwise_rows_average_to_the_validation_values(problem, method):
    """The (n_target, n_train) attributions (tree-influence's matrix, transposed, times w_i) average to the
    validation value; kind="score" is the removal's first-order change of each target's raw score."""
    from samplescope.methods.pairwise import pairwise

    train, valid = problem("binary", n=40, n_valid=15, weights=True, seed=9)
    m = fit("lightgbm", train, rounds=3)
    A = pairwise(m, train, valid, method=method)
    assert A.shape == (valid.n, train.n)
    close(A.mean(axis=0), ss.score(method, m, train, valid=valid).values, TREES["direct"])
    S = pairwise(m, train, valid, method=method, kind="score")
    if method == "leaf_influence":  # loss = −g_j × (s_j − s_j(without i)) at the final model, to first order
        g = m.objective.gradient(valid.y, m.scores(valid))
        close(A, -g[:, None] * S, TREES["direct"])
    else:  # boostin weighs each round by that round's target gradient; at a single round they coincide
        one = fit("lightgbm", train, rounds=1)
        g0 = one.objective.gradient(valid.y, np.full(valid.n, one.init_score))
        close(pairwise(one, train, valid, method=method), -g0[:, None] * pairwise(one, train, valid, method=method,
                                                                                  kind="score"), TREES["direct"])
