"""LeafInfluence for ranking objectives (LambdaRank, RankNet, ListNet), document and query units, against
re-fitting the leaf values with every tree structure fixed, written out here round by round."""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

import samplescope as ss
from samplescope.errors import DataError
from samplescope.methods.pairwise import pairwise
from samplescope.objectives.ranking import ListNet
from tolerances import close

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ranking"))
from ranking_data import make_ranking  # noqa: E402

# update_set=-1 vs a central difference (ε = 1e-5, relative) of the fixed-structure refit: O(ε²) and round-off
# (observed ≤ 4e-9 of the largest value for every model, unit and target below)
FD = {"scale_rtol": 1e-6}
# the first-order query value vs actually removing the query (leaf values refit, structure fixed): rank only
REMOVAL_SPEARMAN = 0.9  # (observed ≥ 0.998)

LGB = dict(num_leaves=4, min_data_in_leaf=2, min_data_in_bin=1, learning_rate=0.3, lambda_l2=0.7)
XGB = dict(max_depth=2, eta=0.3, reg_lambda=0.7, min_child_weight=0.0)
MODELS = ["lightgbm_lambdarank", "lightgbm_lambdarank_nonorm", "lightgbm_rank_xendcg", "xgboost_ndcg",
          "xgboost_pairwise", "listnet"]


def quiet(method="leaf_influence", *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return ss.score(method, *args, **kw)


def newton_leaves(m, train, w, anchor=None, *, along_stored=False):
    """Leaf values of every tree re-fitted by the Newton formula under weights ``w``, the structures fixed;
    with ``anchor`` (the Newton values at the model's own weights and scores, ``along_stored=True``) shifted so
    that ``w = train.weights`` gives back the stored values exactly (LightGBM's sigmoid table and XGBoost's
    float32 move them by ~1e-6)."""
    b, L = train.group_bounds, m.leaves(train)
    F, out = np.full(train.n, m._init()), []
    for t in range(m.n_trees):
        obj, nl = m.round_objective(t), len(m.outputs(t))  # XE-NDCG: the round's own gammas
        G = np.bincount(L[:, t], w * obj.gradient(train.y, F, b, w), minlength=nl)
        H = np.bincount(L[:, t], w * obj.hessian(train.y, F, b, w), minlength=nl)
        den = H + m.reg_lambda
        o = -m.learning_rate * np.divide(G, den, out=np.zeros_like(G), where=den > 0)  # an emptied leaf: 0
        if anchor is not None:
            o = o - anchor[t] + m.outputs(t)
        out.append(o)
        F = F + (m.outputs(t) if along_stored else o)[L[:, t]]
    return out


def refit_losses(m, train, valid, w, anchor):
    """Mean validation loss and every training document's own loss share after the refit under ``w``."""
    o = newton_leaves(m, train, w, anchor)

    def scores(data):
        L = m.leaves(data)
        return m._init() + sum(o[t][L[:, t]] for t in range(m.n_trees))

    obj = m.objective
    return (obj.mean_loss(valid.y, scores(valid), valid.weight, valid.group_bounds),
            obj.loss(train.y, scores(train), train.group_bounds, train.weights))


def members(train, unit):
    b = train.group_bounds
    if unit == "document":
        return [[i] for i in range(train.n)]
    return [np.arange(b[q], b[q + 1]) for q in range(len(b) - 1)]


def listnet_model(train):
    """A ListNet booster: a LightGBM structure whose leaf values are re-fitted by the Newton formula under ListNet."""
    m = copy.copy(ss.fit_model("lightgbm", train, n_estimators=3, **LGB))
    m.objective, m._fp, m._leaf_cache = ListNet(), None, {}
    o = newton_leaves(m, train, train.weights)
    m.stored = [o[0] + (m._init() if m.init_in_first_tree else 0.0)] + o[1:]
    return m


@pytest.fixture(scope="module")
def data():
    train = make_ranking(n_groups=5, seed=1, max_size=6, weights="group")
    valid = make_ranking(n_groups=3, seed=2, name="valid", weights="document")
    return train, valid


def model(name, train):
    if name == "listnet":
        return listnet_model(train)
    if name.startswith("xgboost"):
        off = {"lambdarank_score_normalization": False, "lambdarank_normalization": False} if "nonorm" in name else {}
        return ss.fit_model("xgboost", train, n_estimators=3, objective="rank:" + name.split("_")[1], **XGB, **off)
    kw = {"lambdarank_norm": False} if "nonorm" in name else {"objective": "rank_xendcg"} if "xendcg" in name else {}
    return ss.fit_model("lightgbm", train, n_estimators=3, **LGB, **kw)


@pytest.mark.parametrize("unit", ["document", "query"])
@pytest.mark.parametrize("name", MODELS)
def test_the_derivative_of_refitting_leaf_values(data, name, unit):
    train, valid = data
    m = model(name, train)
    w, eps = train.weights, 1e-5
    anchor = newton_leaves(m, train, w, along_stored=True)
    fd_valid, fd_self = [], []
    for rows in members(train, unit):
        up, down = w.copy(), w.copy()
        up[rows] *= 1 + eps
        down[rows] *= 1 - eps
        (vu, ou), (vd, od) = refit_losses(m, train, valid, up, anchor), refit_losses(m, train, valid, down, anchor)
        fd_valid.append(-(vu - vd) / (2 * eps))  # ≈ L(without) − L
        own = (ou - od)[rows] if unit == "document" else w[rows] * (ou - od)[rows]
        fd_self.append(np.sum(own) / (2 * eps))  # ≈ −(ℓ(without) − ℓ), ℓ = the share or the query's loss
    r = quiet("leaf_influence", m, train, valid=valid, unit=unit)
    close(r.values, fd_valid, FD)
    close(quiet("leaf_influence", m, train, unit=unit).values, fd_self, FD)
    assert r.unit == unit and np.std(fd_valid) > 0
    if unit == "query" and name in ("lightgbm_lambdarank", "listnet"):  # one document or equal labels: no
        # preference, nothing moves (XGBoost divides by the mean query weight; XE-NDCG learns from equal labels)
        b = train.group_bounds
        flat = [q for q in range(len(b) - 1) if len(set(train.y[b[q]:b[q + 1]])) < 2]
        assert flat and np.all(r.values[flat] == 0)


@pytest.mark.parametrize("name", ["lightgbm_lambdarank_nonorm", "xgboost_pairwise_nonorm", "listnet"])
def test_query_values_rank_like_removing_the_query(name):
    """Smooth losses only: the score normalisation 1/(0.01 + |s_a − s_b|) (LightGBM's and XGBoost's default) and
    |ΔNDCG|'s jumps make removing a whole query far from linear (rank 0.3–0.99 observed), though the first-order
    value is the exact derivative (test above)."""
    train = make_ranking(n_groups=12, seed=3, max_size=7, degenerate=False)
    valid = make_ranking(n_groups=5, seed=4, name="valid", degenerate=False)
    m = model(name, train)
    w = train.weights
    anchor = newton_leaves(m, train, w, along_stored=True)
    base = refit_losses(m, train, valid, w, anchor)[0]
    removed = []
    for rows in members(train, "query"):
        out = w.copy()
        out[rows] = 0.0
        removed.append(refit_losses(m, train, valid, out, anchor)[0] - base)
    first = quiet("leaf_influence", m, train, valid=valid, unit="query").values
    assert spearmanr(first, removed)[0] >= REMOVAL_SPEARMAN


@pytest.mark.parametrize("unit", ["document", "query"])
def test_update_sets_agree_where_they_must(data, unit):
    """One tree: no earlier score moves, so every update set gives the validation value of -1; with several trees
    an update set of at least every leaf is -1 itself."""
    train, valid = data
    one = ss.fit_model("lightgbm", train, n_estimators=1, **LGB)
    ref = quiet("leaf_influence", one, train, valid=valid, unit=unit, update_set=-1).values
    for k in (0, 1):
        v = quiet("leaf_influence", one, train, valid=valid, unit=unit, update_set=k).values
        close(v, ref, {"scale_rtol": 1e-12})
    m = ss.fit_model("lightgbm", train, n_estimators=3, **LGB)
    for v in (valid, None):
        ref = quiet("leaf_influence", m, train, valid=v, unit=unit, update_set=-1).values
        allk = quiet("leaf_influence", m, train, valid=v, unit=unit, update_set=int(m.n_leaves.max())).values
        close(allk, ref, {"scale_rtol": 1e-12})
    # update_set=0 (every row at once, O(n T)) is the walk with only the removed row followed
    from samplescope.methods._leaf_ranking import target_gradient, tree_arrays, walk

    st, Lv = tree_arrays(m, train, "document"), m.leaves(valid)
    gv = target_gradient(m, valid) / valid.weights.sum()
    acc, idx = np.zeros(train.n), np.arange(train.n)

    def sink(t, D):
        acc[:] += np.bincount(Lv[:, t], gv, minlength=D.shape[0]) @ D

    walk(st, idx, idx, idx, 0, sink)
    close(quiet("leaf_influence", m, train, valid=valid, update_set=0).values, -acc, {"scale_rtol": 1e-12})


def test_pairwise_rows_average_to_the_validation_value(data):
    train, valid = data
    m = ss.fit_model("lightgbm", train, n_estimators=3, **LGB)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        A = pairwise(m, train, valid, method="leaf_influence")
        S = pairwise(m, train, valid, method="leaf_influence", kind="score")
    omega = valid.weights / valid.weights.sum()
    close(omega @ A, quiet("leaf_influence", m, train, valid=valid).values, {"scale_rtol": 1e-10})
    assert S.shape == A.shape == (valid.n, train.n)


@pytest.mark.parametrize("unit", ["document", "query"])
def test_chunks_and_threads_agree(data, unit):
    train, valid = data
    m = ss.fit_model("lightgbm", train, n_estimators=3, **LGB)
    for v in (valid, None):
        ref = quiet("leaf_influence", m, train, valid=v, unit=unit).values
        close(quiet("leaf_influence", m, train, valid=v, unit=unit, chunk_size=2, n_jobs=2).values, ref,
              {"scale_rtol": 1e-12})


def test_a_ranking_model_needs_query_groups(data):
    train, valid = data
    m = ss.fit_model("lightgbm", train, n_estimators=2, **LGB)
    flat = ss.from_arrays(train.X, train.y, name="flat")
    for tr, va in ((flat, None), (train, ss.from_arrays(valid.X, valid.y, name="flat"))):
        with pytest.raises(DataError, match=r"leaf_influence: the model's objective 'lambdarank' ranks query groups; "
                                            r"expected a group column in flat .*found none"):
            ss.score("leaf_influence", m, tr, valid=va)


def test_query_unit_of_a_pointwise_model(problem):
    """Binary log-loss on grouped rows: the walk with diagonal blocks; validation values add up over a query."""
    train, valid = problem("binary", n=30, n_valid=12, weights=True, seed=4)
    grouped = ss.from_arrays(train.X, train.y, group=np.repeat(np.arange(6), 5), weight=train.weight)
    m = ss.fit_model("lightgbm", grouped, objective="binary", n_estimators=3, **LGB)
    doc = quiet("leaf_influence", m, grouped, valid=valid).values
    q = quiet("leaf_influence", m, grouped, valid=valid, unit="query")
    close(q.values, doc.reshape(6, 5).sum(axis=1), {"scale_rtol": 1e-6})  # stored vs Newton leaf value: ~1e-8
    own = quiet("leaf_influence", m, grouped, unit="query").values
    assert own.shape == (6,) and np.all(np.isfinite(own))
