"""LeafInfluence against (1) a loop-by-loop statement of Sharchilev et al.'s recursion on 2-tree boosters and
(2) re-fitting the leaf values with every tree structure fixed (tolerances: ``TREES``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import samplescope as ss
from samplescope.errors import MethodError
from tolerances import TREES, close
from tree_reference import Structure, fit, grad, hess, loss, third


def leaf_influence_direct(S: Structure, train, valid, update_set):
    """For each removed row i: walk the trees, derive every leaf value w.r.t. w_i over the update set."""
    task, w, n = S.task, train.weights, train.n
    L, F = S.leaves(train), S.round_scores(train)
    T = L.shape[1]
    g = [grad(task, train.y, F[:, t]) for t in range(T)]
    h = [hess(task, train.y, F[:, t]) for t in range(T)]
    h3 = [third(task, train.y, F[:, t]) for t in range(T)]
    H = [{l: np.sum(w[L[:, t] == l] * h[t][L[:, t] == l]) for l in S.o[t]} for t in range(T)]
    g_final = grad(task, train.y, F[:, -1])
    if valid is not None:
        Lv = S.leaves(valid)
        omega = valid.weights / valid.weights.sum()
        gv = grad(task, valid.y, S.round_scores(valid)[:, -1])
    out = np.zeros(n)
    for i in range(n):
        da = np.zeros(n)  # ∂F_j/∂w_i
        dF_valid = np.zeros(valid.n) if valid is not None else None
        for t in range(T):
            leaves = sorted(S.o[t])
            if update_set == -1:
                update = set(range(n))
            elif update_set == 0:
                update = {i}
            else:
                moved = [np.sum(np.abs(da[L[:, t] == l])) for l in leaves]
                top = [leaves[k] for k in np.argsort(moved, kind="stable")[-update_set:]]
                update = {i} | {j for j in range(n) if L[j, t] in top}
            for l in leaves:
                docs = [j for j in range(n) if L[j, t] == l and j in update]
                v = S.o[t][l] / S.eta
                num = sum(da[j] * w[j] * (h[t][j] + v * h3[t][j]) for j in docs)
                if L[i, t] == l:
                    num += g[t][i] + v * h[t][i]
                d = -S.eta * num / (H[t][l] + S.lam)
                for j in docs:
                    da[j] += d
                if valid is not None:
                    dF_valid[Lv[:, t] == l] += d
        out[i] = -w[i] * np.sum(omega * gv * dF_valid) if valid is not None else w[i] * g_final[i] * da[i]
    return out


@pytest.mark.parametrize("kind,task", [("lightgbm", "binary"), ("xgboost", "binary"), ("lightgbm", "regression")])
@pytest.mark.parametrize("update_set", [-1, 0, 2])
def test_leaf_influence_matches_its_recursion_on_two_trees(problem, kind, task, update_set):
    train, valid = problem(task, n=30, n_valid=12, weights=True, seed=4)
    m = fit(kind, train, rounds=2)
    S = Structure(m, train, task)
    for v in (valid, None):
        r = ss.score("leaf_influence", m, train, valid=v, update_set=update_set)
        close(r.values, leaf_influence_direct(S, train, v, update_set), TREES["direct"])


def leaf_refit(S: Structure, train, valid, w, L, Lv):
    """Re-run the boosting rounds with every structure fixed (leaf indices ``L``, ``Lv``) and the Newton leaf
    values recomputed under weights ``w``: mean validation loss and every training row's own loss."""
    task = S.task
    F, Fv = np.full(train.n, S.b), np.full(valid.n, S.b)
    for t in range(L.shape[1]):
        g, h = grad(task, train.y, F), hess(task, train.y, F)
        o = {l: S.leaf_value(np.sum((w * g)[L[:, t] == l]), np.sum((w * h)[L[:, t] == l])) for l in S.o[t]}
        F = F + np.array([o[l] for l in L[:, t]])
        Fv = Fv + np.array([o[l] for l in Lv[:, t]])
    return np.mean(loss(task, valid.y, Fv)), loss(task, train.y, F)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_leaf_influence_is_the_derivative_of_refitting_leaf_values(problem, kind):
    train, valid = problem("binary", n=40, n_valid=15, seed=6)
    m = fit(kind, train, rounds=4)
    S = Structure(m, train, "binary")
    w, eps = train.weights, 1e-4
    L, Lv = S.leaves(train), S.leaves(valid)
    base, own = leaf_refit(S, train, valid, w, L, Lv)
    fd = np.empty(train.n)
    removed, removed_own = np.empty(train.n), np.empty(train.n)
    for i in range(train.n):
        up, down, out = w.copy(), w.copy(), w.copy()
        up[i] *= 1 + eps
        down[i] *= 1 - eps
        out[i] = 0.0
        fd[i] = (leaf_refit(S, train, valid, down, L, Lv)[0] - leaf_refit(S, train, valid, up, L, Lv)[0]) / (2 * eps)
        lv, lo = leaf_refit(S, train, valid, out, L, Lv)
        removed[i], removed_own[i] = lv - base, -(lo[i] - own[i])
    li = ss.score("leaf_influence", m, train, valid=valid).values
    close(li, fd, TREES["leaf_refit_derivative"])  # first order: exact
    close(li, removed, TREES["leaf_refit_removal"])  # removal: second-order terms
    assert spearmanr(li, removed)[0] >= TREES["leaf_refit_removal_spearman"]["spearman"]
    li_self = ss.score("leaf_influence", m, train).values
    assert spearmanr(li_self, removed_own)[0] >= TREES["leaf_refit_removal_spearman"]["spearman"]


def test_update_set_all_leaves_equals_every_row(problem):
    """k at least the number of leaves updates every row: the same as update_set=-1."""
    train, valid = problem("binary", n=40, n_valid=15, seed=2)
    m = fit("lightgbm", train, rounds=3)
    a = ss.score("leaf_influence", m, train, valid=valid, update_set=-1).values
    b = ss.score("leaf_influence", m, train, valid=valid, update_set=int(m.n_leaves.max())).values
    close(b, a, TREES["direct"])


@pytest.mark.parametrize("bad", [-2, 1.5, "all", True])
def test_update_set_is_validated(binary, bad):
    train, valid = binary
    m = fit("lightgbm", train)
    with pytest.raises(MethodError, match=r"leaf_influence: update_set must be an integer >= -1 .* found"):
        ss.score("leaf_influence", m, train, valid=valid, update_set=bad)


def test_leaf_influence_refuses_linear_models(binary):
    train, valid = binary
    with pytest.raises(MethodError, match=r"needs \['tree_structure'\]"):
        ss.score("leaf_influence", ss.fit_model("logistic", train), train, valid=valid)
    # (ranking objectives: tests/trees/test_leaf_influence_ranking.py)
