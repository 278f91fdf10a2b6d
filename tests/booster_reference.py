"""boostin and leaf-value leave-one-out on a booster, written out as plain loops (no vectorisation, no shared
code with ``methods/``) — references for the ranking boosters whose lambdas change every round (XE-NDCG's
gammas) or are the library's own (XGBoost's top-k pairs)."""

from __future__ import annotations

import numpy as np


def explicit_boostin(m, train, valid) -> np.ndarray:
    """``v_i = w_i Σ_t η (g_i + h_i v_{t,l}) / (H_{t,l} + λ) · Σ_{e ∈ l} ω_e g_e^t`` (l = leaf_t(i), ω = normalised
    validation weights), with the training lambdas of the round the tree was fitted to."""
    L, Lv = m.leaves(train), m.leaves(valid)
    F, Fv = np.full(train.n, m._init()), np.full(valid.n, m._init())
    w, om = train.weights, valid.weights / valid.weights.sum()
    values = np.zeros(train.n)
    for t in range(m.n_trees):
        obj = m.round_objective(t)
        g = obj.gradient(train.y, F, train.group_bounds, weight=train.weight)
        h = obj.hessian(train.y, F, train.group_bounds, weight=train.weight)
        gv = m.objective.gradient(valid.y, Fv, valid.group_bounds, weight=valid.weight)
        o = m.outputs(t)
        for i in range(train.n):
            leaf = L[i, t]
            H = sum(w[j] * h[j] for j in range(train.n) if L[j, t] == leaf)
            A = sum(om[e] * gv[e] for e in range(valid.n) if Lv[e, t] == leaf)
            values[i] += w[i] * m.learning_rate * (g[i] + h[i] * o[leaf] / m.learning_rate) / (H + m.reg_lambda) * A
        F, Fv = F + o[L[:, t]], Fv + o[Lv[:, t]]
    return values


def explicit_loo(m, train, valid, rows) -> np.ndarray:
    """``L_valid(refit without row i) − L_valid`` for the given rows: one retraining each."""
    def loss(model):
        return model.objective.mean_loss(valid.y, model.scores(valid), valid.weight, valid.group_bounds)

    base = loss(m)
    out = []
    for i in rows:
        w = train.weights.copy()
        w[i] = 0.0
        out.append(loss(m.refit(train.with_weight(w))) - base)
    return np.array(out)


def assert_boostin_and_loo_match(m, train, valid) -> None:
    """``boostin`` against :func:`explicit_boostin` and ``loo`` against :func:`explicit_loo` on four rows."""
    import warnings

    import samplescope as ss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bi = ss.score("boostin", m, train, valid=valid)
    lo = ss.score("loo", m, train, valid=valid)
    # against the recursion written out (each round's own lambdas) and against one retraining per row
    np.testing.assert_allclose(bi.values, explicit_boostin(m, train, valid), rtol=1e-9, atol=1e-12)
    rows = [0, 9, 17, len(lo.values) - 1]
    np.testing.assert_allclose(lo.values[rows], explicit_loo(m, train, valid, rows), rtol=1e-9, atol=1e-12)
    assert np.any(bi.values != 0) and np.any(lo.values != 0)

