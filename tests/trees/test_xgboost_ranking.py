"""XGBoost's exact ``rank:ndcg`` / ``rank:pairwise`` lambdas (``xgb_ndcg`` / ``xgb_pairwise``): calculus of the
frozen surrogate, XGBoost's own per-round gradients and hessians, the adapter, methods, refusals.

How XGBoost's per-round gradients are read (:func:`xgboost_rounds`): one feature = the row index, ``tree_method =
"exact"``, ``max_depth = 12``, ``min_child_weight = 0``, ``reg_lambda = 0``, ``base_score = 0``: every leaf holds
(almost always) one document and ``trees_to_dataframe()`` gives its value ``−η ΣG/ΣH`` and cover ``ΣH``, so
``ΣG = −value · cover / η`` per leaf and round; the round's scores are the float32 sums of the earlier leaf
values (XGBoost's own prediction cache). Tolerance ``XGB`` (relative to the largest value): XGBoost computes
σ in float32 and accumulates float32 gradient pairs (observed ≤ 7e-7).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xgboost as xgb

import samplescope as ss
from samplescope.errors import DataError, MethodError, ModelError
from samplescope.objectives.ranking import XGBoostNDCG, XGBoostPairwise
from booster_reference import assert_boostin_and_loo_match  # noqa: E402
from tolerances import RANKING, close

XGB = {"scale_rtol": 2e-6}  # float32 σ and gradient pairs in XGBoost (observed ≤ 7e-7)
STEP = 1e-6

CASES = [  # (XGBoost objective, its parameters, ours)
    ("rank:ndcg", {}, XGBoostNDCG()),
    ("rank:pairwise", {}, XGBoostPairwise()),
    ("rank:ndcg", {"lambdarank_num_pair_per_sample": 3, "ndcg_exp_gain": False},
     XGBoostNDCG(num_pair_per_sample=3, exp_gain=False)),
    ("rank:ndcg", {"lambdarank_normalization": False}, XGBoostNDCG(normalization=False)),
    ("rank:pairwise", {"lambdarank_score_normalization": False, "lambdarank_num_pair_per_sample": 2},
     XGBoostPairwise(score_normalization=False, num_pair_per_sample=2)),
]
IDS = ["ndcg", "pairwise", "ndcg_k3_lineargain", "ndcg_nonorm", "pairwise_noscorenorm_k2"]


def problem(seed=4, weighted=False):
    """Queries of sizes 5, 1 (single document), 7, 4 (all labels equal), 6, 3, 2, 8, 40 (beyond K = 32)."""
    rng = np.random.default_rng(seed)
    sizes = np.array([5, 1, 7, 4, 6, 3, 2, 8, 40])
    n = int(sizes.sum())
    y = rng.integers(0, 4, n).astype(float)
    b = np.r_[0, np.cumsum(sizes)]
    y[b[3]:b[4]] = 2.0
    gw = rng.uniform(0.5, 2.0, len(sizes)) if weighted else None
    return y, b, sizes, gw, rng


def xgboost_rounds(y, sizes, gw=None, rounds=3, eta=0.5, **params):
    """``[(leaf of each row, ΣG of the row's leaf, ΣH of the row's leaf, the row's leaf value)]`` per round."""
    n = len(y)
    X = np.arange(n, dtype=float)[:, None]
    d = xgb.DMatrix(X, y, weight=gw, nthread=1)
    d.set_group(sizes)
    p = dict(tree_method="exact", max_depth=12, min_child_weight=0, reg_lambda=0.0, eta=eta, nthread=1,
             base_score=0.0, **params)
    booster = xgb.train(p, d, rounds)
    df = booster.trees_to_dataframe()
    L = booster.predict(d, pred_leaf=True).reshape(n, -1).astype(int)
    out = []
    for t in range(rounds):
        leaves = df[(df.Tree == t) & (df.Feature == "Leaf")]
        value = dict(zip(leaves.Node, leaves.Gain))
        cover = dict(zip(leaves.Node, leaves.Cover))
        v = np.array([value[k] for k in L[:, t]])
        H = np.array([cover[k] for k in L[:, t]])
        out.append((L[:, t], -v * H / eta, H, v))
    return out


# ------------------------------------------------------------------ XGBoost's own gradients, round by round
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "group_weights"])
@pytest.mark.parametrize("name, params, obj", CASES, ids=IDS)
def test_round_gradients_match_xgboost(name, params, obj, weighted):
    y, b, sizes, gw, _ = problem(weighted=weighted)
    w = None if gw is None else np.repeat(gw, sizes)
    ww = np.ones(len(y)) if w is None else w
    F = np.zeros(len(y), dtype=np.float32)
    for leaf, G, H, v in xgboost_rounds(y, sizes, gw, objective=name, **params):
        first = np.unique(leaf, return_index=True)[1]  # one row per leaf
        assert len(first) > 0.2 * len(y)  # most leaves hold one or two documents
        g = np.bincount(leaf, ww * obj.gradient(y, F.astype(float), b, w))[leaf[first]]
        h = np.bincount(leaf, ww * obj.hessian(y, F.astype(float), b, w))[leaf[first]]
        close(g, G[first], XGB)
        close(h, H[first], XGB)
        F = F + v.astype(np.float32)


def test_group_of_equal_labels_and_single_document_get_nothing():
    y, b, _, _, rng = problem()
    s = rng.normal(size=len(y))
    for obj in (XGBoostNDCG(), XGBoostPairwise()):
        for q in (1, 3):
            assert np.all(obj.gradient(y, s, b)[b[q]:b[q + 1]] == 0)
            assert np.all(obj.hessian(y, s, b)[b[q]:b[q + 1]] == 0)


# ------------------------------------------------------------------ the frozen surrogate
def total(obj, y, s, b, w, at):
    return float(np.dot(np.ones(len(y)) if w is None else w, obj.loss(y, s, b, w, at=at)))


@pytest.mark.parametrize("obj", [XGBoostNDCG(), XGBoostPairwise(), XGBoostNDCG(num_pair_per_sample=3)],
                         ids=["ndcg", "pairwise", "ndcg_k3"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_and_blocks_are_derivatives_of_the_frozen_surrogate(obj, weighted):
    y, b, sizes, gw, rng = problem(weighted=weighted)
    w = None if gw is None else np.repeat(gw, sizes)
    ww = np.ones(len(y)) if w is None else w
    a = 2.0 * rng.normal(size=len(y))
    eye = np.eye(len(y)) * STEP
    fd = np.array([(total(obj, y, a + e, b, w, a) - total(obj, y, a - e, b, w, a)) / (2 * STEP) for e in eye])
    close(ww * obj.gradient(y, a, b, w), fd, RANKING["fd"])
    # the Hessian of the surrogate; XGBoost's diagonal hessian is twice its diagonal (where σ(1−σ) > 1e-16)
    Hb = obj.hessian_blocks(y, a, b, w).toarray()
    fd2 = np.array([[(total(obj, y, a + e + f, b, w, a) - total(obj, y, a + e - f, b, w, a)
                      - total(obj, y, a - e + f, b, w, a) + total(obj, y, a - e - f, b, w, a)) / (4e-8)
                     for f in np.eye(len(y))[:12] * 1e-4] for e in np.eye(len(y))[:12] * 1e-4])
    close(Hb[:12, :12], fd2, RANKING["fd2"])
    close(ww * obj.hessian(y, a, b, w), 2.0 * np.diag(Hb), {"scale_rtol": 1e-12})


def test_weights_are_normalised_to_mean_one_over_queries():
    y, b, sizes, gw, rng = problem(weighted=True)
    s = rng.normal(size=len(y))
    obj = XGBoostNDCG()
    w = np.repeat(gw, sizes)
    close(obj.gradient(y, s, b, w), obj.gradient(y, s, b) * len(sizes) / gw.sum(), {"scale_rtol": 1e-13})
    # what XGBoost fits (w_i λ_i) does not change when every weight is scaled alike
    close(3.0 * w * obj.gradient(y, s, b, 3.0 * w), w * obj.gradient(y, s, b, w), {"scale_rtol": 1e-13})
    # weight 0 on a whole query: the query is gone, the mean is over the others
    w0 = w.copy()
    w0[b[2]:b[3]] = 0.0
    keep = w0 > 0
    sub_b = np.r_[0, np.cumsum(np.delete(sizes, 2))]
    close(obj.gradient(y, s, b, w0)[keep], obj.gradient(y[keep], s[keep], sub_b, w0[keep]), {"scale_rtol": 1e-13})


# ------------------------------------------------------------------ the adapter and methods
def ranked(seed=0, n_queries=12, size=8, weights=False):
    rng = np.random.default_rng(seed)
    n = n_queries * size
    X = rng.normal(size=(n, 3))
    y = np.clip(np.round(X[:, 0] + 0.5 * rng.normal(size=n) + 1), 0, 3)
    y[:size] = 1.0
    g = np.repeat(np.arange(n_queries), size)
    w = np.repeat(rng.uniform(0.5, 2.0, n_queries), size) if weights else None
    return ss.from_arrays(X, y, group=g, weight=w), ss.from_arrays(X[:40] + 0.1, y[:40], group=g[:40])


TREE = dict(max_depth=3, eta=0.3, reg_lambda=0.7, min_child_weight=0.0)


@pytest.mark.parametrize("objective, params", [("rank:ndcg", {}), ("rank:pairwise", {}),
                                               ("rank:ndcg", {"lambdarank_num_pair_per_sample": 4})])
@pytest.mark.parametrize("weights", [False, True])
def test_adapter_replays_xgboost_rounds(objective, params, weights):
    train, _ = ranked(weights=weights)
    m = ss.fit_model("xgboost", train, objective=objective, n_estimators=5, **TREE, **params)
    assert m.objective.name == {"rank:ndcg": "xgb_ndcg", "rank:pairwise": "xgb_pairwise"}[objective]
    assert m.objective.topk == params.get("lambdarank_num_pair_per_sample", 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stored leaf values are the Newton step on the replayed lambdas
        list(m.rounds(train, check=True))


def test_boostin_and_loo_run_on_a_rank_pairwise_booster():
    train, valid = ranked(1)
    m = ss.fit_model("xgboost", train, objective="rank:pairwise", n_estimators=3, **TREE)
    assert_boostin_and_loo_match(m, train, valid)


def test_refusals():
    train, _ = ranked(2)
    with pytest.raises(ModelError, match=r"xgboost: objective 'rank:ndcg' with lambdarank_pair_method='mean' is not "
                                         r"supported; expected 'topk'"):
        ss.fit_model("xgboost", train, objective="rank:ndcg", n_estimators=1, lambdarank_pair_method="mean")
    with pytest.raises(ModelError, match=r"objective 'rank:pairwise' with lambdarank_unbiased=true is not "
                                         r"supported; expected false"):
        ss.fit_model("xgboost", train, objective="rank:pairwise", n_estimators=1, lambdarank_unbiased=True)
    w = np.ones(train.n)
    w[5] = 2.0
    with pytest.raises(DataError, match=r"XGBoost's ranking weights are per query group; expected weights constant "
                                        r"within each group; found 1 group\(s\) with varying weights, first group 0 "
                                        r"\(rows 0..7\) with weights 1..2"):
        ss.fit_model("xgboost", train.with_weight(w), objective="rank:ndcg", n_estimators=1)
    w[5] = 0.0  # weight 0 is removal: the rest of the group keeps weight 1
    assert ss.fit_model("xgboost", train.with_weight(w), objective="rank:ndcg", n_estimators=1).n_trees == 1
    with pytest.raises(MethodError, match=r"objective 'xgb_pairwise': num_pair_per_sample must be an integer >= 1; "
                                          r"found 0"):
        XGBoostPairwise(num_pair_per_sample=0)
    y, b, *_ = problem()
    with pytest.raises(DataError, match=r"must hold integer relevance labels for objective 'xgb_ndcg'"):
        XGBoostNDCG().check_labels(np.array([0.5, 1.0]))
    XGBoostNDCG(exp_gain=False).check_labels(np.array([0.5, 1.0]))
    with pytest.raises(MethodError, match=r"ad-hoc groups are refused"):
        XGBoostNDCG().padded(y, y, np.array([[0, 1]]), np.ones((1, 2), bool), np.ones((1, 2)))
