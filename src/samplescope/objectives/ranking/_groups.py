"""Query groups as padded blocks, and the base class every ranking objective shares.

Groups are never looped over one by one. They are bucketed by size (exact sizes up to 32 documents, then
eight buckets per doubling, so padding wastes at most 1/8 of a group's slots), each bucket is padded to its
largest group and cut into chunks of at most ``MAX_CELLS`` pair cells, and every kernel works on whole
chunks: index arrays ``I`` ``(G, m)`` (row of each slot, padding points at row 0) and a mask ``M``
``(G, m)``. The only Python loop is over those chunks, whose number grows like ``32 + 8·log2(largest
group)`` plus the size of the data divided by the chunk budget.

Every kernel also carries a trailing batch axis ``B``: scores ``(n, B)`` and weights ``(n, B)`` evaluate
``B`` models (or ``B`` weightings of the data, e.g. ``B`` leave-one-out refits) in one call.

Weights (every ranking objective here)
--------------------------------------
A document with weight ``w_i = 0`` is **absent**: it leaves its group (its pairs, its softmax mass, its
rank position and the group's ideal DCG), so "weight 0" and "row removed" give the same loss, gradient
and hessian exactly. Positive weights enter as

* pairwise losses (RankNet, LambdaRank): pair ``(i, j)`` is weighted by ``√(w_i w_j)``;
* ListNet: document ``i``'s cross-entropy term is weighted by ``w_i``;

so a weight that is constant within a group (XGBoost's per-group weight ``w_q``) multiplies that group's
loss, gradient and hessian by ``w_q`` — exactly what LightGBM does with per-document weights that are
constant within a group (it multiplies each document's lambda and hessian by the document's weight).
For weights that vary within a group LightGBM's weighted lambdas are not the gradient of any loss; the
losses here stay proper losses (their gradient is what a refit minimises).

The public arrays are **per unit weight**, as for every objective: ``loss`` returns the share ``ℓ_i``
with ``Σ_i w_i ℓ_i`` = the weighted loss of all groups, ``gradient`` returns ``λ_i`` with
``w_i λ_i = ∂L/∂s_i``, ``hessian`` returns ``h_i`` with ``w_i h_i`` = LightGBM's (weighted) diagonal
hessian. Absent documents get 0. ``hessian_blocks`` returns the weighted score-space Hessian of ``L``
(block diagonal over groups) as a sparse matrix.

Degenerate groups
-----------------
A group whose present documents carry fewer than two distinct labels — a single document, or all labels
equal (for LambdaRank also: all gains zero, i.e. ideal DCG 0) — contains no preference. Like LightGBM
(which finds no pair with different labels in such a group) every objective here gives it loss 0,
gradient 0 and hessian 0. It still counts as rows of the data; it simply does not move the model.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

import numpy as np
import scipy.sparse as sp

from samplescope.errors import DataError
from samplescope.objectives.base import Objective

__all__ = ["RankingObjective", "group_chunks", "check_bounds", "MAX_CELLS"]

#: Pair cells ``G·m²·B`` per chunk (each work array of a chunk is at most 8·MAX_CELLS bytes).
MAX_CELLS = 1 << 21
#: every output a kernel can compute
ALL = frozenset({"share", "grad", "hess", "block"})


def check_bounds(bounds, n: int, name: str, kind: str = "objective") -> np.ndarray:
    """``bounds`` as int64 offsets ``0 = b_0 < b_1 < … < b_G = n``, or a clear error naming ``kind`` ``name``."""
    if bounds is None:
        raise DataError(
            f"{kind} '{name}' needs query groups (a group/qid column, rows of a query contiguous); found none"
        )
    b = np.asarray(bounds, dtype=np.int64).reshape(-1)
    if len(b) < 2 or b[0] != 0 or b[-1] != n or np.any(np.diff(b) <= 0):
        raise DataError(
            f"{kind} '{name}': group bounds must be increasing offsets from 0 to n={n}; "
            f"found {len(b)} offsets starting {b[:3].tolist()} and ending {b[-1:].tolist()}"
        )
    return b


def group_chunks(bounds: np.ndarray, batch: int = 1, *, max_cells: int | None = None, groups: np.ndarray | None = None,
                 pairwise: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(gidx, I, M)``: group indices ``(G,)``, row indices ``(G, m)``, mask ``(G, m)``.

    Args:
        bounds: group offsets (start of each group, then ``n``).
        batch: the trailing batch size ``B`` the chunk budget accounts for.
        max_cells: budget of ``G·m²·B`` (``G·m·B`` when not ``pairwise``) cells per chunk (default
            :data:`MAX_CELLS`, read at call time).
        groups: restrict to these groups (default: all).
        pairwise: the work arrays are ``(G, m, m, B)`` (else ``(G, m, B)``).
    """
    max_cells = MAX_CELLS if max_cells is None else max_cells
    starts, sizes = bounds[:-1], np.diff(bounds)
    gsel = np.arange(len(sizes)) if groups is None else np.asarray(groups, dtype=np.int64)
    if len(gsel) == 0:
        return
    sz = sizes[gsel]
    step = np.where(sz <= 32, 1, 2 ** np.maximum(np.floor(np.log2(np.maximum(sz, 1))).astype(np.int64) - 3, 0))
    level = -(-sz // step) * step
    for lv in np.unique(level):
        gs = gsel[level == lv]
        m = int(sizes[gs].max())
        per = max(1, max_cells // max(1, (m * m if pairwise else m) * batch))
        for c in range(0, len(gs), per):
            g = gs[c:c + per]
            slot = np.arange(m)
            M = slot[None, :] < sizes[g][:, None]
            I = np.where(M, starts[g][:, None] + slot[None, :], 0)
            yield g, I, M


class RankingObjective(Objective):
    """Shared machinery of the ranking losses: gather groups into padded blocks, scatter results back.

    A subclass implements :meth:`_kernel` on one padded chunk.
    """

    task = "ranking"
    grouped = True
    #: False when the loss is only piecewise smooth in the scores (LambdaRank's |ΔNDCG| weights).
    smooth: ClassVar[bool] = True

    # ------------------------------------------------------------------ to implement
    def _kernel(self, Y: np.ndarray, S: np.ndarray, W: np.ndarray, *, want=ALL,
                at: np.ndarray | None = None) -> dict:
        """One padded chunk: ``Y`` ``(G, m, 1)``, ``S``/``W`` ``(G, m, B)`` (``W = 0`` on padding and absent
        documents). Returns the weighted outputs named in ``want``: ``share``, ``grad``, ``hess`` ``(G, m, B)``,
        ``block`` ``(G, m, m, B)`` (the kernel may return more)."""
        raise NotImplementedError

    def params(self) -> dict:
        """The objective's hyper-parameters (recorded with results)."""
        return {}

    # ------------------------------------------------------------------ checks
    def check_labels(self, y, *, source="data", column="label"):
        if np.any(y < 0):
            raise DataError(
                f"{source}: column '{column}' must hold graded relevance >= 0 for objective '{self.name}'; "
                f"found {int(np.sum(y < 0))} negative value(s), min {float(np.min(y)):g}"
            )

    def check_groups(self, bounds, *, n: int, source: str = "data", column: str = "group") -> None:
        """Raise :class:`DataError` when the data has no query groups."""
        if bounds is None:
            raise DataError(
                f"{source}: objective '{self.name}' needs query groups; expected a group column "
                f"('{column}', rows of one query contiguous); found none"
            )
        check_bounds(bounds, n, self.name)

    # ------------------------------------------------------------------ gather / scatter
    def _evaluate(self, y, s, bounds, weight, keys, *, at=None, per_unit=True):
        s = np.asarray(s, dtype=np.float64)
        n = len(y)
        b = check_bounds(bounds, n, self.name)
        batched = s.ndim == 2
        S2 = s if batched else s[:, None]
        B = S2.shape[1]
        W2 = np.ones((n, B)) if weight is None else np.broadcast_to(
            np.asarray(weight, dtype=np.float64).reshape(n, -1), (n, B))
        A2 = None if at is None else np.asarray(at, dtype=np.float64).reshape(n, -1)
        out = {k: np.zeros((n, B)) for k in keys}
        for _, I, M in group_chunks(b, B):
            r = self._chunk(y, S2, W2, I, M, at=A2, want=keys)
            rows = I[M]
            for k in keys:
                out[k][rows] = r[k][M]
        if per_unit:
            pos = W2 > 0
            for k in keys:
                out[k] = np.divide(out[k], W2, out=np.zeros_like(out[k]), where=pos)
        return {k: (v if batched else v[:, 0]) for k, v in out.items()}

    def _chunk(self, y, S2, W2, I, M, *, at=None, want=ALL):
        Y = y[I][:, :, None].astype(np.float64)
        S = S2[I]
        W = np.where(M[:, :, None], W2[I], 0.0)
        A = None if at is None else at[I]
        return self._kernel(Y, S, W, want=frozenset(want), at=A)

    # ------------------------------------------------------------------ the interface
    def loss(self, y, s, bounds=None, weight=None, at=None):
        """Per-document share ``ℓ_i`` of its group's loss (per unit weight): ``Σ_i w_i ℓ_i = Σ_q L_q``."""
        return self._evaluate(y, s, bounds, weight, ("share",), at=at)["share"]

    def gradient(self, y, s, bounds=None, weight=None):
        """``λ_i`` with ``w_i λ_i = ∂(Σ_q L_q)/∂s_i`` (LightGBM's lambda for unit weights)."""
        return self._evaluate(y, s, bounds, weight, ("grad",))["grad"]

    def hessian(self, y, s, bounds=None, weight=None):
        """Diagonal hessian ``h_i`` per unit weight (LightGBM's hessian for unit weights)."""
        return self._evaluate(y, s, bounds, weight, ("hess",))["hess"]

    def group_losses(self, y, s, bounds, weight=None) -> np.ndarray:
        """Weighted loss ``L_q`` of every group, ``(G,)`` (or ``(G, B)`` for batched scores)."""
        share = self._evaluate(y, s, bounds, weight, ("share",), per_unit=False)["share"]
        b = check_bounds(bounds, len(y), self.name)
        return np.add.reduceat(share, b[:-1], axis=0)

    def mean_loss(self, y, s, weight=None, bounds=None) -> float:
        """``Σ_q L_q / Σ_i w_i``: the weighted mean of the documents' shares."""
        w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
        return float(np.dot(w, self.loss(y, s, bounds, w)) / w.sum())

    def hessian_blocks(self, y, s, bounds=None, weight=None) -> sp.csr_matrix:
        """The weighted score-space Hessian ``∂²(Σ_q L_q)/∂s∂sᵀ``, block diagonal over groups, ``(n, n)``.

        Exact for smooth losses (RankNet, ListNet); for LambdaRank the Hessian of the pairwise surrogate with
        the |ΔNDCG| weights frozen (its diagonal is LightGBM's hessian).
        """
        n = len(y)
        b = check_bounds(bounds, n, self.name)
        s2 = np.asarray(s, dtype=np.float64).reshape(n, 1)
        W2 = (np.ones((n, 1)) if weight is None else np.asarray(weight, dtype=np.float64).reshape(n, 1))
        rows, cols, vals = [], [], []
        for _, I, M in group_chunks(b, 1):
            blk = self._chunk(y, s2, W2, I, M, want=("block",))["block"][..., 0]
            pair = M[:, :, None] & M[:, None, :]
            rows.append(np.broadcast_to(I[:, :, None], blk.shape)[pair])
            cols.append(np.broadcast_to(I[:, None, :], blk.shape)[pair])
            vals.append(blk[pair])
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))

    def padded(self, y, s, I: np.ndarray, M: np.ndarray, W: np.ndarray, *, want=ALL) -> dict:
        """Weighted kernel outputs for ad-hoc groups: rows ``I`` ``(G, m)`` (mask ``M``), weights ``W`` ``(G, m)``.

        Each row of ``I`` is treated as one group (e.g. one leave-one-out member's copy of a query).
        Returns the outputs in ``want`` (``share``, ``grad``, ``hess`` ``(G, m)``, ``block`` ``(G, m, m)``), weighted.
        """
        s = np.asarray(s, dtype=np.float64)
        Y = y[I][:, :, None].astype(np.float64)
        S = s[I][:, :, None]
        Wp = np.where(M, W, 0.0)[:, :, None]
        r = self._kernel(Y, S, Wp, want=frozenset(want))
        return {k: v[..., 0] for k, v in r.items()}


def present(W: np.ndarray) -> np.ndarray:
    """Documents that take part: positive weight (padding has weight 0)."""
    return W > 0


def informative(Y: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``(G, 1, B)``: the group's present documents carry at least two distinct labels."""
    big = np.where(V, Y, -np.inf).max(axis=1, keepdims=True)
    small = np.where(V, Y, np.inf).min(axis=1, keepdims=True)
    return big > small
