"""XE-NDCG (LightGBM's ``rank_xendcg``): LightGBM's generator, calculus of the mean-gamma loss, LightGBM's own
per-round lambdas, the adapter (replay, refit, threads, weight 0), methods on an xendcg booster, errors.

How LightGBM's per-round lambdas are read (:func:`lightgbm_rounds`): one feature = the row index (one bin per
row), ``num_leaves = n``, ``min_data_in_leaf = 1``, ``lambda_l2 = 0``: every leaf of every tree holds (almost
always) one document, and ``dump_model()`` gives its ``leaf_value = −η ΣG/ΣH`` and ``leaf_weight = ΣH``, so
``ΣG = −leaf_value · leaf_weight / η`` per leaf and round; the round's scores are the sums of the earlier leaf
values. Tolerance ``LGB`` (relative to the largest value): LightGBM keeps λ and h in float32 (observed ≤ 7e-8).
"""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pytest

import samplescope as ss
from samplescope.errors import DataError, MethodError
from samplescope.objectives import XENDCG, get_objective
from samplescope.objectives.ranking.xendcg import GAMMA_MEAN, XENDCGRound, lightgbm_gammas
from booster_reference import assert_boostin_and_loo_match  # noqa: E402
from tolerances import RANKING, close

LGB = {"scale_rtol": 1e-6}  # float32 lambdas and hessians in LightGBM (observed ≤ 7e-8)
STEP = 1e-6


def problem(seed=3, weights=None):
    """Queries of sizes 5, 1 (single document), 7, 4 (all labels equal), 6, 3, 2, 8."""
    rng = np.random.default_rng(seed)
    sizes = np.array([5, 1, 7, 4, 6, 3, 2, 8])
    n = int(sizes.sum())
    y = rng.integers(0, 4, n).astype(float)
    b = np.r_[0, np.cumsum(sizes)]
    y[b[3]:b[4]] = 2.0
    w = None
    if weights == "group":
        w = np.repeat(rng.uniform(0.5, 2.0, len(sizes)), sizes)
    elif weights == "document":
        w = rng.uniform(0.5, 2.0, n)
    return y, b, sizes, w, rng


def lightgbm_rounds(y, sizes, weight=None, rounds=4, lr=0.3, **params):
    """``[(leaf of each row, ΣG per leaf, ΣH per leaf, leaf values)]`` for every round (see module doc)."""
    n = len(y)
    X = np.arange(n, dtype=float)[:, None]
    ds = lgb.Dataset(X, y, group=sizes, weight=weight,
                     params={"max_bin": n + 1, "min_data_in_bin": 1, "feature_pre_filter": False, "verbose": -1})
    p = dict(objective="rank_xendcg", num_leaves=max(2, n), min_data_in_leaf=1, min_sum_hessian_in_leaf=1e-12,
             lambda_l2=0.0, learning_rate=lr, verbose=-1, num_threads=1, deterministic=True, force_row_wise=True,
             **params)
    booster = lgb.train(p, ds, num_boost_round=rounds)
    L = booster.predict(X, pred_leaf=True).astype(np.int64).reshape(n, -1)
    out = []
    for t, tree in enumerate(booster.dump_model()["tree_info"]):
        info = {}

        def walk(node):
            if "split_index" in node:
                walk(node["left_child"])
                walk(node["right_child"])
            else:
                info[node.get("leaf_index", 0)] = (node["leaf_value"], node.get("leaf_weight", 0.0))

        walk(tree["tree_structure"])
        K = max(info) + 1
        v = np.array([info.get(k, (0.0, 0.0))[0] for k in range(K)])
        H = np.array([info.get(k, (0.0, 0.0))[1] for k in range(K)])
        out.append((L[:, t], -v * H / lr, H, v))
    return out


# ------------------------------------------------------------------ LightGBM's generator
def test_gammas_are_lightgbms_lcg_draws():
    def loop(seed, k):
        x, out = seed & 0xFFFFFFFF, []
        for _ in range(k):
            x = (214013 * x + 2531011) & 0xFFFFFFFF
            out.append(((x >> 16) & 0x7FFF) / 32768.0)
        return np.array(out)

    for seed in (5, 0, 8855, -7, 2**31 - 1):
        np.testing.assert_array_equal(lightgbm_gammas(seed, np.arange(2000)), loop(seed, 2000))
    np.testing.assert_array_equal(lightgbm_gammas([5, 6], [[1], [0]]), [[loop(5, 2)[1], loop(6, 2)[1]],
                                                                         [loop(5, 1)[0], loop(6, 1)[0]]])
    assert GAMMA_MEAN == pytest.approx(0.5, abs=2e-5)


# ------------------------------------------------------------------ calculus of the mean-gamma loss
def total(obj, y, s, b, w):
    return float(np.dot(np.ones(len(y)) if w is None else w, obj.loss(y, s, b, w)))


@pytest.mark.parametrize("weights", [None, "group", "document"])
def test_gradient_and_hessian_blocks_are_derivatives_of_the_loss(weights):
    y, b, _, w, rng = problem(weights=weights)
    s = 2.0 * rng.normal(size=len(y))
    obj = XENDCG()
    ww = np.ones(len(y)) if w is None else w
    eye = np.eye(len(y)) * STEP
    fd = np.array([(total(obj, y, s + e, b, w) - total(obj, y, s - e, b, w)) / (2 * STEP) for e in eye])
    close(ww * obj.gradient(y, s, b, w), fd, RANKING["fd"])
    J = np.array([(ww * obj.gradient(y, s + e, b, w) - ww * obj.gradient(y, s - e, b, w)) / (2 * STEP) for e in eye])
    Hb = obj.hessian_blocks(y, s, b, w).toarray()
    close(Hb, J.T, RANKING["fd"])
    close(ww * obj.hessian(y, s, b, w), np.diag(Hb), {"scale_rtol": 1e-13})


def test_first_order_round_gradient_is_the_derivative_of_the_rounds_loss():
    y, b, _, w, rng = problem(weights="group")
    s = rng.normal(size=len(y))
    r = XENDCG(objective_seed=11).for_round(3, order=1)
    fd = np.array([(total(r, y, s + e, b, w) - total(r, y, s - e, b, w)) / (2 * STEP) for e in np.eye(len(y)) * STEP])
    close(w * r.gradient(y, s, b, w), fd, RANKING["fd"])


def test_queries_all_equal_are_trained_single_documents_are_not():
    y, b, _, _, rng = problem()
    s = rng.normal(size=len(y))
    for obj in (XENDCG(), XENDCG().for_round(2)):
        g, h, share = obj.gradient(y, s, b), obj.hessian(y, s, b), obj.loss(y, s, b)
        assert g[b[1]] == 0 and h[b[1]] == 0 and share[b[1]] == 0  # the single-document query
        assert np.all(np.abs(g[b[3]:b[4]]) > 0)  # all labels equal: a (near) uniform target
    g = XENDCG().gradient(y, s, b)
    q = slice(b[3], b[4])
    np.testing.assert_allclose(g[q], np.exp(s[q]) / np.exp(s[q]).sum() - 0.25, atol=1e-15)
    # shift invariance and lambdas summing to zero per query (constant weights)
    close(XENDCG().gradient(y, s + 3.0, b), g, {"atol": 1e-12})
    assert np.abs(np.add.reduceat(g, b[:-1])).max() < 1e-12


# ------------------------------------------------------------------ LightGBM's own lambdas, round by round
@pytest.mark.parametrize("weights", [None, "group", "document"])
@pytest.mark.parametrize("seed", [5, 1234])
def test_round_lambdas_match_lightgbm(weights, seed):
    y, b, sizes, w, _ = problem(weights=weights)
    obj = XENDCG(objective_seed=seed)
    ww = np.ones(len(y)) if w is None else w
    F = np.zeros(len(y))
    for t, (leaf, G, H, v) in enumerate(lightgbm_rounds(y, sizes, w, rounds=4, objective_seed=seed)):
        r = obj.for_round(t)
        assert len(np.unique(leaf)) > 0.8 * len(y)
        close(np.bincount(leaf, ww * r.gradient(y, F, b, w), minlength=len(G)), G, LGB)
        close(np.bincount(leaf, ww * r.hessian(y, F, b, w), minlength=len(H)), H, LGB)
        if t == 1:  # the mean gamma, or the first-order term alone, is not what LightGBM fitted
            off = np.bincount(leaf, ww * obj.gradient(y, F, b, w), minlength=len(G))
            assert np.abs(off - G).max() > 1e-3 * np.abs(G).max()
        F = F + v[leaf]


# ------------------------------------------------------------------ the adapter
def ranked(seed=0, n_queries=14, size=8):
    rng = np.random.default_rng(seed)
    n = n_queries * size
    X = rng.normal(size=(n, 3))
    y = np.clip(np.round(X[:, 0] + 0.5 * rng.normal(size=n) + 1), 0, 3)
    y[:size] = 1.0  # one query of equal labels
    g = np.repeat(np.arange(n_queries), size)
    g[-3:] = n_queries  # and a query of three documents
    return ss.from_arrays(X, y, group=g), ss.from_arrays(X[:40] + 0.1, y[:40], group=g[:40])


TREE = dict(num_leaves=4, min_data_in_leaf=3, min_data_in_bin=1, learning_rate=0.3, lambda_l2=0.7)


def test_adapter_replays_every_round_and_refits_exactly():
    train, valid = ranked()
    m = ss.fit_model("lightgbm", train, objective="rank_xendcg", n_estimators=6, **TREE)
    assert m.objective.name == "xendcg" and m.objective.objective_seed == int(m.params_["objective_seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Newton check: stored leaf values == formula on replayed lambdas
        rounds = list(m.rounds(train, check=True))
    r = rounds[3]
    close(r.grad, m.round_objective(3).gradient(train.y, r.scores, train.group_bounds), {"atol": 0})
    # validation rows get the (deterministic) mean-gamma loss, not a round's draws
    rv = list(m.rounds(valid))[3]
    np.testing.assert_array_equal(rv.grad, m.objective.gradient(valid.y, rv.scores, valid.group_bounds))
    again = m.refit(train)
    assert again.booster.model_to_string() == m.booster.model_to_string()


def test_weight_zero_is_removal_of_documents_and_queries():
    """Query indices (the generators' seeds) and sizes are those of the data without the zero-weight rows."""
    train, _ = ranked(1)
    w = np.ones(train.n)
    w[[3, 17]] = 0.0
    w[24:32] = 0.0  # a whole query
    m = ss.fit_model("lightgbm", train.with_weight(w), objective="rank_xendcg", n_estimators=4, **TREE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = list(m.rounds(train.with_weight(w), check=True))
    kept = np.flatnonzero(w > 0)
    b = list(m.rounds(train.subset(kept), check=True))
    np.testing.assert_allclose(a[-1].grad[kept], b[-1].grad, atol=1e-15)


def test_lightgbm_xendcg_is_deterministic_across_threads():
    """One generator per query (not per thread) in LightGBM 4.7: num_threads does not change the booster."""
    train, _ = ranked(2, n_queries=60)
    one = ss.fit_model("lightgbm", train, objective="rank_xendcg", n_estimators=5, num_threads=1, **TREE)
    two = ss.fit_model("lightgbm", train, objective="rank_xendcg", n_estimators=5, num_threads=2, **TREE)
    body = lambda m: m.booster.model_to_string().split("parameters:")[0]  # noqa: E731
    assert body(one) == body(two)


def test_boostin_and_loo_run_on_an_xendcg_booster():
    train, valid = ranked(3)
    m = ss.fit_model("lightgbm", train, objective="rank_xendcg", n_estimators=3, **TREE)
    assert_boostin_and_loo_match(m, train, valid)


# ------------------------------------------------------------------ errors and parameters
def test_registry_parameters_and_refusals():
    assert get_objective("xendcg", objective_seed=9).params() == {"objective_seed": 9, "gamma": "mean"}
    assert XENDCG().for_round(4).params() == {"objective_seed": 5, "gamma": "round 4", "order": 3}
    with pytest.raises(MethodError, match=r"objective 'xendcg': objective_seed must be a 32-bit integer; found 1.5"):
        XENDCG(objective_seed=1.5)
    with pytest.raises(MethodError, match=r"the round must be an integer >= 0; found -1"):
        XENDCGRound(5, -1)
    with pytest.raises(MethodError, match=r"order must be 1, 2 or 3; found 4"):
        XENDCG().for_round(0, order=4)
    y, b, _, _, rng = problem()
    s = rng.normal(size=len(y))
    r = XENDCG().for_round(1)
    with pytest.raises(MethodError, match=r"no Hessian blocks; LightGBM's lambdas are not the gradient of a loss"):
        r.hessian_blocks(y, s, b)
    with pytest.raises(MethodError, match=r"ad-hoc groups are refused"):
        r.padded(y, s, np.array([[0, 1]]), np.ones((1, 2), bool), np.ones((1, 2)))
    with pytest.raises(DataError, match=r"t.csv: column 'label' must be < 31 for objective 'xendcg' .*; found max 40"):
        XENDCG().check_labels(np.array([0.0, 40.0]), source="t.csv")
    with pytest.raises(DataError, match=r"must hold graded relevance >= 0 for objective 'xendcg'"):
        XENDCG().check_labels(np.array([0.0, -1.0]))
