"""LeafInfluence: influence functions for GBDTs with the tree structures fixed (Sharchilev, Ustinovsky,
Serdyukov & de Rijke 2018, "Finding Influential Training Samples for Gradient Boosted Decision Trees", ICML).

Keep every split; let only the leaf values depend on the sample weights. Each leaf value is the Newton step
``o_{t,l} = −η G_{t,l}/(H_{t,l} + λ)`` on gradients taken at the scores of the earlier trees, so
up-weighting row ``i`` changes a leaf value directly (``i``'s own g and h enter the sums) and indirectly
(every earlier tree's change moves the scores ``F_j`` and with them every later ``g_j``, ``h_j``).
With ``J_{t,j} = ∂F_j^t/∂w_i`` (zero at t = 0) and ``v = o/η``:

    ∂o_{t,l}/∂w_i = −η/(H_{t,l} + λ) · [ 1[i ∈ l] (g_i + v_{t,l} h_i)
                                          + Σ_{j ∈ l ∩ U_t} w_j (h_j + v_{t,l} h'_j) J_{t,j} ]
    J_{t+1,j} = J_{t,j} + ∂o_{t,leaf_t(j)}/∂w_i        (j ∈ U_t; h' = ∂h/∂s, the loss's third derivative)

``update_set`` chooses the rows ``U_t`` whose scores are followed (the paper's approximation knob, as in
tree-influence's ``LeafInfluence``): ``-1`` every training row (exact first-order derivative of the
fixed-structure model; O(n² T)), ``0`` only the removed row itself (O(n T)), ``k ≥ 1`` the rows of the k
leaves of each tree whose rows have moved most so far (Σ|J|; ties to the higher leaf index) plus row i.

Removing row ``i`` is ``Δw_i = −w_i``, so with the final scores' gradients ``g_e``:

    validation:  v_i = −w_i · (1/Σω) Σ_e ω_e g_e ∂F_e/∂w_i   ≈ L_valid(without i) − L_valid
    self:        v_i =  w_i · g_i ∂F_i/∂w_i                   ≈ −(ℓ_i(without i) − ℓ_i)

in the units of ``loo`` (positive = helpful). With ``update_set=-1`` this is the exact derivative of
re-fitting the leaf values with the structure fixed, so it matches that refit to first order (the tests
check both). tree-influence's ``LeafInfluence`` reports the ``(n_train, n_test)`` matrix for ``w_i = 1``;
the validation value here is its ω-weighted row mean; the same matrix (transposed, times ``w_i``) is the
pairwise attribution (``samplescope.methods.pairwise``, ``kind="loss"``; ``kind="score"``:
``s_j − s_j(without i) ≈ w_i ∂F_j/∂w_i``).

Ranking objectives (LambdaRank, RankNet, ListNet, XGBoost's rank:ndcg / rank:pairwise, XE-NDCG)
------------------------------------------------------------------------------------------------
``G_{t,l} = Σ_{j∈l} ĝ_j``, ``H_{t,l} = Σ_{j∈l} ĥ_j`` with ``ĝ_j = w_j λ_j``, ``ĥ_j = w_j h_j`` the weighted lambdas
and diagonal hessians at ``F^t``; now a weight moves (a) the document's own ĝ, ĥ, (b) its query partners' ĝ, ĥ
directly (pair weights ``√(w_i w_j)``, ListNet's ``Ω = Σ w P``) and (c) every document's ĝ, ĥ through the
score changes ``J``, coupled within each query. With the per-query blocks of :mod:`._leaf_blocks`
(``Kg = ∂ĝ/∂s``: the exact Hessian blocks; ``Kh = ∂ĥ/∂s``; ``Wg``, ``Wh`` = ``w_i ∂(ĝ, ĥ)/∂w_i``; LambdaRank's
|ΔNDCG| frozen — exact a.e., it is piecewise constant — while the smooth score normalisation is differentiated,
so what is differentiated is the library's own gradient) and ``P_t`` the leaf-sum operator of tree ``t``:

    ∂o_{t,·}/∂θ = −η/(H_{t,·} + λ) · [ P_t (Wg + v Wh) e_i  +  P_t (Kg + v Kh) J_t ]     (per column θ)
    J_{t+1} = J_t + ∂o_{t,leaf_t(·)}/∂θ

vectorised as dense ``(L_t, n)`` matrices ``C_t = P_t(Kg + v Kh)``, ``E_t = P_t(Wg + v Wh)`` per tree (one
kernel pass over the padded query blocks; kept for every tree: Σ_t L_t·n doubles, twice that for documents),
so the walk is ``C_t @ J`` for a chunk of columns. The column
``θ`` is ``w_i ∂/∂w_i`` (document unit; removing ``i`` is ``Δw_i = −w_i``) or the scale ``c_q`` of all the
weights of query ``q`` (``unit="query"``; the group's ĝ, ĥ, loss are homogeneous of degree 1 in its weights,
so the direct term is ``Σ_{j∈l∩q} (ĝ_j + v ĥ_j)``, and ``J`` has one column per query, ``n × Q``). XGBoost divides
query weights by their mean, a rank-one extra direct term. ``v`` is the Newton value at the recomputed sums
(LightGBM's sigmoid table moves the stored one by ~1e-5). Targets, as ``loo`` defines them: validation
``v = −Σ_e ∂L̄_valid/∂F_e · J_e`` (``L̄`` = the weighted mean loss ``Σ_q L_q/Σω``, its gradient with
LambdaRank's pair weights re-frozen at each score, like the refit's loss), self ``v = Σ_k ∂ℓ_i/∂s_k J_{k}``
(the document's share, or the query's loss ``L_q``). ``update_set`` as above (``0``: the member's own rows).
Removing a document sets its pair weights to 0 along ``√w_i`` (first order: half of the pairs' effect) and
the score normalisation ``1/(0.01 + |s_a − s_b|)`` is far from linear, so removal (ε = 1) can rank differently
from the derivative; for smooth losses query removal ranks like it (tests). ``unit="query"`` of a pointwise
model uses the same walk with diagonal blocks (``Kh = w h'``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from samplescope.errors import MethodError
from samplescope.execution.local import chunk_ranges, map_chunks
from samplescope.methods._leaf_ranking import ranked_pairwise, ranked_values
from samplescope.methods.registry import register
from samplescope.models.trees import third_derivative


def _tree_arrays(m, train):
    """One pass over the rounds: per tree the leaf-rate, unshrunk values, and the sparse (L_t, n) matrix of
    ``w_j (h_j + v h'_j)``; per row and tree the gradients and hessians."""
    n, T, w = train.n, m.n_trees, train.weights
    st = {"rate": [], "v": [], "C": [], "G": np.empty((n, T)), "Hs": np.empty((n, T)), "L": m.leaves(train)}
    for r in m.rounds(train, check=True):
        o = m.outputs(r.t)
        st["rate"].append(m.leaf_rate(r.t, np.bincount(r.leaf, w * r.hess, minlength=len(o))))
        st["v"].append(o / m.learning_rate)
        t3 = third_derivative(m.objective, train.y, r.scores, train.group_bounds)
        st["G"][:, r.t], st["Hs"][:, r.t] = r.grad, r.hess
        st["C"].append(sp.csr_matrix((w * (r.hess + st["v"][-1][r.leaf] * t3), (r.leaf, np.arange(n))),
                                     shape=(len(o), n)))
    L = st["L"]
    st["ones"] = [sp.csr_matrix((np.ones(n), (L[:, t], np.arange(n))), shape=(len(st["v"][t]), n)) for t in range(T)]
    return st


def _derivatives(st, idx, update_set, sink):
    """Walk the trees for the removed rows ``idx``; ``sink(t, D)`` receives ``D[l, b] = ∂o_{t,l}/∂w_{idx[b]}``.
    Returns ``J[idx[b], b] = ∂F_{idx[b]}/∂w_{idx[b]}``."""
    L, G, Hs = st["L"], st["G"], st["Hs"]
    n, T = L.shape
    B, cols = len(idx), np.arange(len(idx))
    J = np.zeros((n, B))  # J[j, b] = ∂F_j/∂w_{idx[b]} so far
    for t in range(T):
        leaf = L[:, t]
        if update_set == -1:
            U = None
            S = st["C"][t] @ J
        else:
            top = np.zeros((len(st["v"][t]), B), dtype=bool)
            if update_set > 0:
                moved = np.asarray(st["ones"][t] @ np.abs(J))  # (L_t, B): Σ|J| over each leaf's rows
                np.put_along_axis(top, np.argsort(moved, axis=0, kind="stable")[-update_set:], True, axis=0)
            U = top[leaf]
            U[idx, cols] = True
            S = st["C"][t] @ (J * U)
        S = np.asarray(S)
        S[leaf[idx], cols] += G[idx, t] + st["v"][t][leaf[idx]] * Hs[idx, t]
        D = -st["rate"][t][:, None] * S
        J += D[leaf] if U is None else D[leaf] * U
        sink(t, D)
    return J[idx, cols]


def _check_update_set(update_set):
    if isinstance(update_set, bool) or not isinstance(update_set, (int, np.integer)) or update_set < -1:
        raise MethodError(f"leaf_influence: update_set must be an integer >= -1 (-1 = every row, 0 = the removed "
                          f"row only, k = the rows of the top-k leaves); found {update_set!r}")


def leaf_influence_pairwise(ctx, targets, *, kind: str = "loss", update_set: int = -1) -> np.ndarray:
    """``(n_target, n_train)``: ``−w_i g_j ∂F_j/∂w_i`` (loss) or ``w_i ∂F_j/∂w_i`` (score); ``g_j`` at the
    final model."""
    _check_update_set(update_set)
    m, train = ctx.model, ctx.train
    if m.objective.grouped:
        return ranked_pairwise(ctx, targets, kind, int(update_set))
    st = _tree_arrays(m, train)
    Lt = m.leaves(targets)
    P = np.zeros((targets.n, train.n))
    for idx in chunk_ranges(train.n, int(max(1, min(train.n, 2e6 // train.n)))):
        def sink(t, D, idx=idx):
            P[:, idx] += D[Lt[:, t]]
        _derivatives(st, idx, int(update_set), sink)
    w = train.weights
    return -w[None, :] * m.final_gradient(targets)[:, None] * P if kind == "loss" else w[None, :] * P


@register("leaf_influence", family="loss", requires=("tree_structure",),
          cost="update_set=0: O((n + m) T); -1 or k: O(n² T) in chunks of O(n·chunk) memory; ranking: + O(Σ_q m_q² T); "
               "unit='query': O(n Q T)",
          summary="first-order change of the target loss when the row is removed, tree structures fixed (GBDT)",
          targets=("validation", "self"), tasks=("binary", "regression", "ranking"), paper="Sharchilev et al. 2018",
          pairwise=leaf_influence_pairwise, units=("document", "query"), aggregate="native")
def leaf_influence(ctx, *, update_set: int = -1, chunk_size: int | None = None):
    _check_update_set(update_set)
    if ctx.model.objective.grouped or ctx.unit == "query":
        return ranked_values(ctx, int(update_set), chunk_size)
    m, train, valid = ctx.model, ctx.train, ctx.valid
    n, w = train.n, train.weights
    g_final = m.final_gradient(train)
    A = []  # per tree: the target's final-model gradient gathered per leaf
    if valid is not None:
        omega = valid.weights / valid.weights.sum()
        gv, Lv = omega * m.final_gradient(valid), m.leaves(valid)
        A = [np.bincount(Lv[:, t], gv, minlength=len(m.outputs(t))) for t in range(m.n_trees)]
    if update_set == 0:  # every row at once, O(n T): only the removed row's own score is followed
        J, acc = np.zeros(n), np.zeros(n)
        for r in m.rounds(train, check=True):
            o = m.outputs(r.t)
            rate = m.leaf_rate(r.t, np.bincount(r.leaf, w * r.hess, minlength=len(o)))[r.leaf]
            vl = o[r.leaf] / m.learning_rate
            t3 = third_derivative(m.objective, train.y, r.scores, train.group_bounds)
            D = -rate * (r.grad + vl * r.hess + w * (r.hess + vl * t3) * J)
            J += D
            if valid is not None:
                acc += A[r.t][r.leaf] * D
        ctx.tick(n)
        return (-w * acc if valid is not None else w * g_final * J), {}, ctx.target

    st = _tree_arrays(m, train)

    def run(idx):
        acc = np.zeros(len(idx))

        def sink(t, D):
            if valid is not None:
                acc[:] += A[t] @ D

        own = _derivatives(st, idx, int(update_set), sink)
        return -w[idx] * acc if valid is not None else w[idx] * g_final[idx] * own

    size = chunk_size or int(max(1, min(n, 2e6 // n)))
    parts = map_chunks(run, chunk_ranges(n, size), n_jobs=ctx.n_jobs, progress=ctx.progress,
                       checkpoint=ctx.checkpoint())
    return np.concatenate(parts), {}, ctx.target
