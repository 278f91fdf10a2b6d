"""The recursion of ``leaf_influence`` for ranking objectives and for query units (Sharchilev et al. 2018 with
the per-query Jacobians of :mod:`samplescope.methods._leaf_blocks`; the maths is in
:mod:`samplescope.methods.leaf_influence`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from samplescope.errors import DataError
from samplescope.execution.local import chunk_ranges, map_chunks
from samplescope.methods._leaf_blocks import check_supported, chunk_blocks, share_gradient, weight_norm_derivative

__all__ = ["tree_arrays", "walk", "target_gradient", "ranked_values", "ranked_pairwise"]


# ------------------------------------------------------------------ the recursion over the trees
def group_index(train) -> np.ndarray:
    b = train.group_bounds
    return np.repeat(np.arange(len(b) - 1), np.diff(b))


def tree_arrays(m, train, unit: str) -> dict:
    """Per tree: the leaf rate, ``C_t[l, k] = Σ_{j∈l} (Kg + v_l Kh)[j, k]`` ``(L_t, n)`` and the direct term:
    ``E_t[l, i] = Σ_{j∈l} (Wg + v_l Wh)[j, i]`` ``(L_t, n)`` (document unit) or ``Σ_{j∈l∩q} (γ_j + v_l η_j)``
    ``(L_t, Q)`` (query unit); one pass of the objective's kernel per round."""
    n, w, obj = train.n, train.weights, m.objective
    doc = unit == "document"
    pairs = (("Kg", "Kh"), ("Wg", "Wh")) if doc else (("Kg", "Kh"),)
    want = frozenset(k for p in pairs for k in p)
    st = {"rate": [], "C": [], "E": [], "L": m.leaves(train), "ones": []}
    if not doc:
        gid, Q = group_index(train), len(train.group_bounds) - 1
    proj = {}
    kappa = weight_norm_derivative(obj, train, unit)  # XGBoost's mean-weight normalisation
    round_objective = getattr(m, "round_objective", lambda t: obj)  # XE-NDCG: each round's own gammas

    def derivatives(t, F):  # γ, η and the leaf projections of the blocks, one kernel pass
        leaf, Lt = st["L"][:, t], len(m.outputs(t))
        gam, eta = np.zeros(n), np.zeros(n)
        idx, vals = [], {k: [] for k in want}
        for I, blk in chunk_blocks(round_objective(t), train.y, F, train.group_bounds, w, want):
            gam[I] += blk["gam"]  # padding slots add exact zeros to row 0
            eta[I] += blk["eta"]
            idx.append((leaf[I][:, :, None].astype(np.int64) * n + I[:, None, :]).ravel())
            for k in want:
                vals[k].append(blk[k].ravel())
        idx = np.concatenate(idx)
        for k in want:
            proj[k] = np.bincount(idx, np.concatenate(vals[k]), minlength=Lt * n).reshape(Lt, n)
        pos = w > 0
        return (np.divide(gam, w, out=np.zeros(n), where=pos), np.divide(eta, w, out=np.zeros(n), where=pos))

    for r in m.rounds(train, check=True, derivatives=derivatives):
        Lt = len(m.outputs(r.t))
        H = np.bincount(r.leaf, w * r.hess, minlength=Lt)
        st["rate"].append(m.leaf_rate(r.t, H))
        # the Newton value at these sums (not the stored one, which LightGBM's sigmoid table moves by ~1e-5)
        v = m.leaf_output(np.bincount(r.leaf, w * r.grad, minlength=Lt), H) / m.learning_rate
        st["C"].append(proj["Kg"] + v[:, None] * proj["Kh"])
        if doc:
            E = proj["Wg"] + v[:, None] * proj["Wh"]
        else:
            E = np.bincount(r.leaf * Q + gid, w * (r.grad + v[r.leaf] * r.hess), minlength=Lt * Q).reshape(Lt, Q)
        if kappa is not None:  # every output scales with f_w: Σ_{j∈l} (γ_j + v η_j) · ∂log f_w
            E += np.bincount(r.leaf, w * (r.grad + v[r.leaf] * r.hess), minlength=Lt)[:, None] * kappa[None, :]
        st["E"].append(E)
        st["ones"].append(sp.csr_matrix((np.ones(n), (r.leaf, np.arange(n))), shape=(Lt, n)))
    return st


def walk(st, cols, own_rows, own_cols, update_set: int, sink) -> np.ndarray:
    """Follow ``J[j, b] = ∂F_j/∂(weight scale of member cols[b])`` through the trees; ``sink(t, D)`` receives
    ``D[l, b] = ∂o_{t,l}/∂(…)``. ``own_rows, own_cols``: the member's own rows, always followed."""
    L = st["L"]
    n, T = L.shape
    J = np.zeros((n, len(cols)))
    for t in range(T):
        leaf, C = L[:, t], st["C"][t]
        if update_set == -1:
            U, S = None, C @ J
        else:
            top = np.zeros((C.shape[0], len(cols)), dtype=bool)
            if update_set > 0:
                moved = np.asarray(st["ones"][t] @ np.abs(J))
                np.put_along_axis(top, np.argsort(moved, axis=0, kind="stable")[-update_set:], True, axis=0)
            U = top[leaf]
            U[own_rows, own_cols] = True
            S = C @ (J * U)
        D = -st["rate"][t][:, None] * (S + st["E"][t][:, cols])
        J += D[leaf] if U is None else D[leaf] * U
        sink(t, D)
    return J


def target_gradient(m, data) -> np.ndarray:
    """``∂(Σ_q L_q)/∂s`` at the model's scores (weighted; LambdaRank's pair weights re-frozen at each score)."""
    s = m.scores(data)
    if not m.objective.grouped:
        return data.weights * m.objective.gradient(data.y, s)
    return np.asarray(share_gradient(m.objective, data, s).sum(axis=0)).ravel()


def ranked_values(ctx, update_set: int, chunk_size):
    """``leaf_influence`` for ranking objectives (and ``unit="query"`` of any objective)."""
    m, train, valid, unit = ctx.model, ctx.train, ctx.valid, ctx.unit
    check_supported(m.objective)
    for data in (train, valid):
        if m.objective.grouped and data is not None and data.group_bounds is None:
            raise DataError(f"leaf_influence: the model's objective '{m.objective.name}' ranks query groups; "
                            f"expected a group column in {data.name} (rows of a query contiguous); found none")
    n, T = train.n, m.n_trees
    A = []
    if valid is not None:
        gv, Lv = target_gradient(m, valid) / valid.weights.sum(), m.leaves(valid)
        A = [np.bincount(Lv[:, t], gv, minlength=len(m.outputs(t))) for t in range(T)]
    st = tree_arrays(m, train, unit)
    if unit == "query":  # one column of J per query (n × chunk), not one per document
        b, gid = train.group_bounds, group_index(train)
        tg = None if valid is not None else target_gradient(m, train)

        def run_queries(qidx):
            rows = np.arange(b[qidx[0]], b[qidx[-1] + 1])  # groups are contiguous
            own = gid[rows] - qidx[0]
            acc = np.zeros(len(qidx))

            def sink(t, D):
                if valid is not None:
                    acc[:] += A[t] @ D

            J = walk(st, qidx, rows, own, update_set, sink)
            return -acc if valid is not None else np.bincount(own, tg[rows] * J[rows, own], minlength=len(qidx))

        Q = len(b) - 1
        size = chunk_size or int(max(1, min(Q, 2e6 // n)))
        parts = map_chunks(run_queries, chunk_ranges(Q, size), n_jobs=ctx.n_jobs, progress=ctx.progress,
                           checkpoint=ctx.checkpoint())
        return np.concatenate(parts), {}, ctx.target
    SgU = None if valid is not None else share_gradient(m.objective, train, m.scores(train), per_unit=True)
    if update_set == 0:  # every row at once, O(n T): only the removed row's own score is followed
        J, acc, cols = np.zeros(n), np.zeros(n), np.arange(n)
        for t in range(T):
            leaf = st["L"][:, t]
            D = -st["rate"][t][:, None] * (st["C"][t] * J[None, :] + st["E"][t])
            J += D[leaf, cols]
            if valid is not None:
                acc += A[t] @ D
        ctx.tick(n)
        return (-acc if valid is not None else SgU.diagonal() * J), {}, ctx.target

    def run(idx):
        acc = np.zeros(len(idx))

        def sink(t, D):
            if valid is not None:
                acc[:] += A[t] @ D

        J = walk(st, idx, idx, np.arange(len(idx)), update_set, sink)
        return -acc if valid is not None else np.asarray(SgU[idx].multiply(J.T).sum(axis=1)).ravel()

    size = chunk_size or int(max(1, min(n, 2e6 // n)))
    parts = map_chunks(run, chunk_ranges(n, size), n_jobs=ctx.n_jobs, progress=ctx.progress,
                       checkpoint=ctx.checkpoint())
    return np.concatenate(parts), {}, ctx.target


def ranked_pairwise(ctx, targets, kind: str, update_set: int) -> np.ndarray:
    """``(n_target, n_train)``: ``w_i ∂F_j/∂w_i`` (score) or ``−Σ_k ∂ℓ_j/∂s_k · w_i ∂F_k/∂w_i`` (loss)."""
    m, train = ctx.model, ctx.train
    for data in (train, targets):
        if data.group_bounds is None:
            raise DataError(f"leaf_influence: the model's objective '{m.objective.name}' ranks query groups; "
                            f"expected a group column in {data.name} (rows of a query contiguous); found none")
    check_supported(m.objective)
    st = tree_arrays(m, train, "document")
    Lt = m.leaves(targets)
    P = np.zeros((targets.n, train.n))
    for idx in chunk_ranges(train.n, int(max(1, min(train.n, 2e6 // train.n)))):
        def sink(t, D, idx=idx):
            P[:, idx] += D[Lt[:, t]]

        walk(st, idx, idx, np.arange(len(idx)), update_set, sink)
    if kind == "score":
        return P
    return -(share_gradient(m.objective, targets, m.scores(targets), per_unit=True) @ P)

