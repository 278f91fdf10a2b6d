"""Ranking objectives: finite differences, LightGBM's own lambdas, weights, degenerate groups, batching, errors.

How LightGBM's gradients are obtained (:func:`lightgbm_lambdas`): LightGBM computes its lambdas and hessians
at the init score of the first boosting round, ``init_score = s``. One tree is grown with one feature = the
row index (one bin per row), ``num_leaves = n``, ``min_data_in_leaf = 1``, ``lambda_l2 = 0``,
``learning_rate = 1``; ``dump_model()`` gives every leaf's ``leaf_value = −ΣG/ΣH`` and ``leaf_weight = ΣH``,
so ``ΣG = −leaf_value · leaf_weight`` per leaf. Almost every leaf holds one document; a few hold several
(where a split has no gain, e.g. zero-gradient documents), so the comparison is per leaf: the sum of our
lambdas (hessians) over the leaf's documents against LightGBM's. Two residuals remain, both understood:

* LightGBM reads ``1/(1 + e^{σΔ})`` from a 2^20-bin lookup table over ``[−25/σ, 25/σ]`` (left edge of the
  bin), not the exact sigmoid: observed ≤ 1.5e-5 of the largest lambda with the exact sigmoid here;
* it accumulates lambdas in float32: with the table emulated (``pair_sigmoid`` swapped for it) the
  agreement is float32 round-off (observed ≤ 1.7e-7).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import samplescope.objectives.ranking._groups as groups_mod
import samplescope.objectives.ranking.pairwise as pairwise_mod
from samplescope.errors import DataError, MethodError
from samplescope.objectives import LambdaRank, ListNet, RankNet, get_objective
from tolerances import RANKING, close

STEP = 1e-6


def random_groups(seed: int, n_groups: int = 12, max_size: int = 9, labels: int = 4, scale: float = 2.0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_size + 1, size=n_groups)
    n = int(sizes.sum())
    y = rng.integers(0, labels, size=n).astype(float)
    b = np.r_[0, np.cumsum(sizes)]
    y[b[2]:b[3]] = 1.0  # one group with equal labels
    return y, scale * rng.normal(size=n), b, sizes, rng


OBJECTIVES = {
    "ranknet": RankNet(),
    "ranknet_sigma2": RankNet(sigmoid=2.0),
    "listnet": ListNet(),
    "lambdarank": LambdaRank(),
    "lambdarank_nonorm_t3": LambdaRank(norm=False, truncation_level=3),
}


def total_loss(obj, y, s, b, w, at=None):
    kw = {"at": at} if at is not None else {}
    return float(np.dot(w, obj.loss(y, s, b, w, **kw)))


def fd_gradient(obj, y, s, b, w, frozen):
    at = s if frozen else None
    out = np.empty_like(s)
    for i in range(len(s)):
        e = np.zeros_like(s)
        e[i] = STEP
        out[i] = (total_loss(obj, y, s + e, b, w, at) - total_loss(obj, y, s - e, b, w, at)) / (2 * STEP)
    return out


# ------------------------------------------------------------------ calculus
@pytest.mark.parametrize("name", sorted(OBJECTIVES))
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_is_the_derivative_of_the_weighted_loss(name, weighted):
    """``w_i λ_i = ∂(Σ_j w_j ℓ_j)/∂s_i``; LambdaRank: of its surrogate with the |ΔNDCG| weights frozen at s."""
    obj = OBJECTIVES[name]
    y, s, b, _, rng = random_groups(1)
    w = rng.uniform(0.5, 2.0, len(y)) if weighted else np.ones(len(y))
    g = obj.gradient(y, s, b, w) * w
    close(g, fd_gradient(obj, y, s, b, w, frozen=not obj.smooth), RANKING["fd"])


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_hessian_blocks_are_the_jacobian_of_the_gradient(name):
    """Smooth losses (and LambdaRank without norm, piecewise constant weights): blocks = ∂(wλ)/∂s exactly;
    LambdaRank with norm: blocks = the Hessian of the frozen surrogate (second differences of its value)."""
    obj = OBJECTIVES[name]
    y, s, b, _, rng = random_groups(2, n_groups=6)
    w = rng.uniform(0.5, 2.0, len(y))
    A = obj.hessian_blocks(y, s, b, w).toarray()
    assert sp.issparse(obj.hessian_blocks(y, s, b, w))
    np.testing.assert_allclose(A, A.T, atol=1e-14)
    n = len(y)
    if obj.smooth or not obj.norm:
        J = np.empty((n, n))
        for i in range(n):
            e = np.zeros(n)
            e[i] = STEP
            J[:, i] = (obj.gradient(y, s + e, b, w) * w - obj.gradient(y, s - e, b, w) * w) / (2 * STEP)
        close(A, J, RANKING["fd"])
    else:
        h, E = 1e-4, np.eye(n)
        f = lambda v: total_loss(obj, y, v, b, w, at=s)  # noqa: E731
        i, j = np.triu_indices(n)
        fd = np.array([(f(s + h * (E[a] + E[c])) - f(s + h * (E[a] - E[c])) - f(s - h * (E[a] - E[c]))
                        + f(s - h * (E[a] + E[c]))) / (4 * h * h) for a, c in zip(i, j)])
        close(A[i, j], fd, RANKING["fd2"])
    # the diagonal is the (weighted) diagonal hessian, LightGBM's
    close(np.diag(A), obj.hessian(y, s, b, w) * w, {"scale_rtol": 1e-13})
    # positive semi-definite, flat along a shift of every score of a query
    assert np.linalg.eigvalsh(A).min() > -1e-10 * np.abs(A).max()
    ones = np.zeros((n, len(b) - 1))
    for q in range(len(b) - 1):
        ones[b[q]:b[q + 1], q] = 1.0
    assert np.abs(A @ ones).max() < 1e-12 * max(1.0, np.abs(A).max())


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_shares_add_up_and_lambdas_sum_to_zero_per_group(name):
    obj = OBJECTIVES[name]
    y, s, b, _, rng = random_groups(3)
    w = rng.uniform(0.5, 2.0, len(y))
    share = obj.loss(y, s, b, w)
    L = obj.group_losses(y, s, b, w)
    close(np.add.reduceat(w * share, b[:-1]), L, {"scale_rtol": 1e-13})
    assert np.all(share >= 0) and L.shape == (len(b) - 1,)
    close(np.add.reduceat(w * obj.gradient(y, s, b, w), b[:-1]), np.zeros(len(b) - 1), {"atol": 1e-13})
    assert np.all(obj.hessian(y, s, b, w) >= 0)
    assert obj.mean_loss(y, s, w, b) == pytest.approx(L.sum() / w.sum(), rel=1e-13)


def test_ranknet_closed_form_on_one_pair():
    """Two documents, y = (1, 0): L = log(1 + e^{−σΔ}), λ = ∓σ/(1 + e^{σΔ}), h = σ² ρ(1 − ρ), share = L/2."""
    s, y, b, sig = np.array([0.3, -0.4]), np.array([1.0, 0.0]), np.array([0, 2]), 1.7
    rho = 1 / (1 + np.exp(sig * 0.7))
    obj = RankNet(sigmoid=sig)
    np.testing.assert_allclose(obj.loss(y, s, b), [0.5 * np.log1p(np.exp(-sig * 0.7))] * 2, rtol=1e-14)
    np.testing.assert_allclose(obj.gradient(y, s, b), [-sig * rho, sig * rho], rtol=1e-14)
    np.testing.assert_allclose(obj.hessian(y, s, b), [sig**2 * rho * (1 - rho)] * 2, rtol=1e-14)


def test_lambdarank_equals_ranknet_with_unit_pair_weights():
    """LambdaRank with label gain (0, 1) on binary labels, no norm, one relevant document at rank 0 of two:
    |ΔNDCG| = (1 − 0)·(1 − 1/log2 3)/1, so its lambdas are RankNet's times that constant."""
    y, s, b = np.array([1.0, 0.0]), np.array([0.5, 0.1]), np.array([0, 2])
    lr = LambdaRank(norm=False, label_gain=[0.0, 1.0])
    np.testing.assert_allclose(lr.gradient(y, s, b), RankNet().gradient(y, s, b) * (1 - 1 / np.log2(3)), rtol=1e-14)


def test_listnet_closed_form():
    y, s, b = np.array([2.0, 0.0, 1.0]), np.array([0.1, 0.5, -0.2]), np.array([0, 3])
    P, Q = np.exp(y) / np.exp(y).sum(), np.exp(s) / np.exp(s).sum()
    obj = ListNet()
    np.testing.assert_allclose(obj.loss(y, s, b), -P * np.log(Q), rtol=1e-14)
    np.testing.assert_allclose(obj.gradient(y, s, b), Q - P, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(obj.hessian_blocks(y, s, b).toarray(), np.diag(Q) - np.outer(Q, Q), atol=1e-15)


# ------------------------------------------------------------------ weights and degenerate groups
@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_weight_zero_is_the_document_removed(name):
    obj = OBJECTIVES[name]
    y, s, b, sizes, rng = random_groups(4)
    w = rng.uniform(0.5, 2.0, len(y))
    drop = np.array([b[0] + 1, b[5], b[7] + 2])
    w0 = w.copy()
    w0[drop] = 0.0
    keep = np.setdiff1d(np.arange(len(y)), drop)
    sizes_k = np.array([np.sum((keep >= b[q]) & (keep < b[q + 1])) for q in range(len(sizes))])
    bk = np.r_[0, np.cumsum(sizes_k[sizes_k > 0])]
    for f in ("loss", "gradient", "hessian"):
        full = getattr(obj, f)(y, s, b, w0)
        sub = getattr(obj, f)(y[keep], s[keep], bk, w[keep])
        close(full[keep], sub, {"scale_rtol": 1e-13})
        assert np.all(full[drop] == 0.0)
    A = obj.hessian_blocks(y, s, b, w0).toarray()
    close(A[np.ix_(keep, keep)], obj.hessian_blocks(y[keep], s[keep], bk, w[keep]).toarray(), {"scale_rtol": 1e-13})


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_a_weight_constant_in_a_group_scales_that_group(name):
    """XGBoost's per-group weight w_q: the group's loss, λ·w and hessian·w are w_q times the unweighted ones
    (LightGBM multiplies each document's lambda and hessian by its weight: the same thing here)."""
    obj = OBJECTIVES[name]
    y, s, b, sizes, rng = random_groups(5)
    wq = rng.uniform(0.5, 2.0, len(sizes))
    w = np.repeat(wq, sizes)
    close(obj.group_losses(y, s, b, w), wq * obj.group_losses(y, s, b), {"scale_rtol": 1e-13})
    for f in ("gradient", "hessian"):
        close(getattr(obj, f)(y, s, b, w) * w, w * getattr(obj, f)(y, s, b), {"scale_rtol": 1e-13})


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_degenerate_groups_get_zero(name):
    """A single document, all labels equal, all labels 0 (LambdaRank: ideal DCG 0): loss, λ, h are 0,
    as LightGBM gives them (it finds no pair with different labels)."""
    obj = OBJECTIVES[name]
    y = np.array([2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 3.0, 0.0])
    s = np.array([0.3, 0.1, -0.5, 0.9, 0.2, -0.1, 0.4, 0.0])
    b = np.array([0, 1, 4, 6, 8])  # [single], [equal], [all zero], [informative]
    for f in ("loss", "gradient", "hessian"):
        v = getattr(obj, f)(y, s, b)
        assert np.all(v[:6] == 0.0), (f, v)
        assert np.all(np.abs(v[6:]) > 0)


@pytest.mark.parametrize("name", ["ranknet", "listnet", "lambdarank"])
def test_batched_scores_and_weights_equal_columnwise_calls(name, monkeypatch):
    obj = OBJECTIVES[name]
    y, s, b, _, rng = random_groups(6)
    S = s[:, None] + rng.normal(size=(len(y), 3))
    W = rng.uniform(0.0, 2.0, size=(len(y), 3)) * (rng.uniform(size=(len(y), 3)) > 0.2)
    batched = {f: getattr(obj, f)(y, S, b, W) for f in ("loss", "gradient", "hessian")}
    monkeypatch.setattr(groups_mod, "MAX_CELLS", 7)  # one group per chunk: the chunking is invisible
    for f, v in batched.items():
        assert v.shape == S.shape
        for k in range(3):
            close(v[:, k], getattr(obj, f)(y, S[:, k], b, W[:, k]), {"scale_rtol": 1e-13})


# ------------------------------------------------------------------ LightGBM's own lambdas
def lightgbm_lambdas(y, s, sizes, weight=None, **params):
    """LightGBM's lambdas and hessians at scores ``s``, summed per leaf of a one-row-per-leaf tree (see module doc).

    Returns ``(leaf of each row, G per leaf, H per leaf)``."""
    lgb = pytest.importorskip("lightgbm")
    n = len(y)
    X = np.arange(n, dtype=float)[:, None]
    ds = lgb.Dataset(X, y, group=sizes, init_score=s, weight=weight,
                     params={"max_bin": n + 1, "min_data_in_bin": 1, "feature_pre_filter": False, "verbose": -1})
    p = dict(objective="lambdarank", num_leaves=max(2, n), min_data_in_leaf=1, min_sum_hessian_in_leaf=1e-12,
             lambda_l2=0.0, learning_rate=1.0, verbose=-1, num_threads=1, deterministic=True, force_row_wise=True,
             **params)
    booster = lgb.train(p, ds, num_boost_round=1)
    leaf = booster.predict(X, pred_leaf=True).ravel().astype(np.int64)
    info = {}

    def walk(node):
        if "split_index" in node:
            walk(node["left_child"])
            walk(node["right_child"])
        else:
            info[node.get("leaf_index", 0)] = (node["leaf_value"], node.get("leaf_weight", 0.0))

    walk(booster.dump_model()["tree_info"][0]["tree_structure"])
    L = max(info) + 1
    value = np.array([info.get(k, (0.0, 0.0))[0] for k in range(L)])
    H = np.array([info.get(k, (0.0, 0.0))[1] for k in range(L)])
    return leaf, -value * H, H


def lightgbm_sigmoid_table(sigma: float):
    """LightGBM's ``GetSigmoid`` lookup (``ConstructSigmoidTable``) as a function of ``x = σΔ``."""
    bins = 1024 * 1024
    lo = -50.0 / sigma / 2
    factor = bins / (-2 * lo)
    table = 1.0 / (1.0 + np.exp((np.arange(bins) / factor + lo) * sigma))

    def rho(x):
        d = x / sigma
        idx = np.clip(((d - lo) * factor).astype(np.int64), 0, bins - 1)
        return np.where(d <= lo, table[0], np.where(d >= -lo, table[-1], table[idx]))

    return rho


LGB_CASES = [
    {},
    {"lambdarank_norm": False},
    {"lambdarank_truncation_level": 4},
    {"sigmoid": 2.0},
    {"label_gain": [0.0, 1.0, 2.0, 5.0, 9.0]},
]


@pytest.fixture(scope="module")
def lgb_problem():
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 22, size=24)
    n = int(sizes.sum())
    y = rng.integers(0, 5, n).astype(float)
    b = np.r_[0, np.cumsum(sizes)]
    y[b[3]:b[4]] = 2.0
    s = 2.0 * rng.normal(size=n)
    s[b[5]:b[5] + 3] = 0.25  # ties: stable order by row
    return y, s, b, sizes, np.repeat(rng.uniform(0.5, 2.0, len(sizes)), sizes)


@pytest.mark.parametrize("params", LGB_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "group_weights"])
@pytest.mark.parametrize("table", [False, True], ids=["exact_sigmoid", "lightgbm_table"])
def test_lambdarank_matches_lightgbm(lgb_problem, params, weighted, table, monkeypatch):
    y, s, b, sizes, wq = lgb_problem
    w = wq if weighted else None
    leaf, G, H = lightgbm_lambdas(y, s, sizes, weight=w, **params)
    obj = get_objective("lambdarank", **params)
    if table:
        monkeypatch.setattr(pairwise_mod, "pair_sigmoid", lightgbm_sigmoid_table(obj.sigmoid))
    ww = np.ones(len(y)) if w is None else w
    g = np.bincount(leaf, obj.gradient(y, s, b, w) * ww, minlength=len(G))
    h = np.bincount(leaf, obj.hessian(y, s, b, w) * ww, minlength=len(H))
    assert len(np.unique(leaf)) > 0.6 * len(y)  # most leaves hold one document
    tol = RANKING["lightgbm_table" if table else "lightgbm"]
    close(g, G, tol)
    close(h, H, tol)


# ------------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["ranknet", "listnet", "lambdarank"]))
def test_properties_on_random_groups(seed, name):
    obj = OBJECTIVES[name]
    y, s, b, _, rng = random_groups(seed, n_groups=5, max_size=6, scale=float(rng_scale(seed)))
    w = rng.uniform(0.0, 2.0, len(y)) * (rng.uniform(size=len(y)) > 0.15)
    lam, h, share = obj.gradient(y, s, b, w), obj.hessian(y, s, b, w), obj.loss(y, s, b, w)
    assert np.all(np.isfinite(lam)) and np.all(np.isfinite(share)) and np.all(h >= 0) and np.all(share >= 0)
    assert np.abs(np.add.reduceat(w * lam, b[:-1])).max() < 1e-12 * max(1.0, np.abs(w * lam).max())
    assert np.all(lam[w == 0] == 0) and np.all(h[w == 0] == 0)
    # shift invariance: adding a constant to a query's scores changes nothing
    shift = np.repeat(rng.normal(size=len(b) - 1) * 3, np.diff(b))
    close(obj.gradient(y, s + shift, b, w), lam, {"atol": 1e-9})


def rng_scale(seed: int) -> float:
    return [0.1, 1.0, 5.0, 30.0][seed % 4]


# ------------------------------------------------------------------ errors and parameters
def test_registry_and_aliases():
    assert get_objective("lambdarank", lambdarank_truncation_level=5, lambdarank_norm=False).params() == \
        {"sigmoid": 1.0, "truncation_level": 5, "label_gain": (2.0 ** np.arange(31) - 1).tolist(), "norm": False}
    assert get_objective("ranknet", sigmoid=0.5).sigmoid == 0.5
    for name in ("ranknet", "lambdarank", "listnet"):
        obj = get_objective(name)
        assert obj.task == "ranking" and obj.grouped and obj.name == name
    with pytest.raises(MethodError, match=r"objective 'listnet' has no parameter\(s\) \['sigmoid'\]"):
        get_objective("listnet", sigmoid=2.0)


@pytest.mark.parametrize("kw, match", [
    ({"sigmoid": 0.0}, r"sigmoid must be a positive number; found 0.0"),
    ({"sigmoid": "x"}, r"sigmoid must be a positive number; found 'x'"),
    ({"truncation_level": 0}, r"truncation_level must be an integer >= 1; found 0"),
    ({"truncation_level": 2.5}, r"truncation_level must be an integer >= 1; found 2.5"),
    ({"label_gain": []}, r"label_gain must be a non-empty list of finite numbers"),
])
def test_bad_parameters(kw, match):
    with pytest.raises(MethodError, match=match):
        LambdaRank(**kw)


def test_label_and_group_errors_name_the_file_and_column():
    y = np.array([0.0, 1.5, 2.0])
    with pytest.raises(DataError, match=r"train.tsv: column 'rel' must hold integer relevance labels for objective "
                                        r"'lambdarank'; found 1 non-integer value\(s\), first 1.5"):
        LambdaRank().check_labels(y, source="train.tsv", column="rel")
    with pytest.raises(DataError, match=r"column 'rel' must be < 3 \(the number of label_gain entries\).*found max 5"):
        LambdaRank(label_gain=[0, 1, 3]).check_labels(np.array([0.0, 5.0]), source="t", column="rel")
    for obj in (RankNet(), ListNet()):
        with pytest.raises(DataError, match=rf"column 'rel' must hold graded relevance >= 0 for objective "
                                            rf"'{obj.name}'; found 1 negative value\(s\), min -1"):
            obj.check_labels(np.array([0.0, -1.0]), source="t", column="rel")
        with pytest.raises(DataError, match=rf"objective '{obj.name}' needs query groups"):
            obj.gradient(np.zeros(3), np.zeros(3), None)
        with pytest.raises(DataError, match=r"t: objective .* needs query groups; expected a group column \('qid'"):
            obj.check_groups(None, n=3, source="t", column="qid")
        with pytest.raises(DataError, match=r"group bounds must be increasing offsets from 0 to n=3"):
            obj.loss(np.zeros(3), np.zeros(3), np.array([0, 2, 2, 3]))


@pytest.mark.parametrize("name", ["ranknet", "listnet", "lambdarank"])
def test_large_groups_in_shared_padded_buckets_equal_one_group_at_a_time(name, monkeypatch):
    """Sizes above 32 share buckets (padding up to 1/8); small chunk budgets split buckets: results unchanged."""
    obj = OBJECTIVES[name]
    rng = np.random.default_rng(8)
    sizes = np.array([33, 35, 47, 70, 75, 130, 2, 31])
    b = np.r_[0, np.cumsum(sizes)]
    y = rng.integers(0, 4, b[-1]).astype(float)
    s = rng.normal(size=b[-1])
    w = rng.uniform(0.5, 2.0, b[-1])
    monkeypatch.setattr(groups_mod, "MAX_CELLS", 10_000)
    g, A = obj.gradient(y, s, b, w), obj.hessian_blocks(y, s, b, w).toarray()
    for q in range(len(sizes)):
        r = slice(b[q], b[q + 1])
        one = np.array([0, sizes[q]])
        close(g[r], obj.gradient(y[r], s[r], one, w[r]), {"scale_rtol": 1e-13})
        close(A[r, r], obj.hessian_blocks(y[r], s[r], one, w[r]).toarray(), {"scale_rtol": 1e-13})
