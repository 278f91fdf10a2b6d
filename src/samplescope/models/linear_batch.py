"""Many refits of one linear model at once: leave-one-out downdates and batched Newton–chord solves.

Removing sample ``i`` from ``J`` changes the Hessian by a rank-K term, so (Woodbury)

    H_{-i}⁻¹ v = H⁻¹v + V_i A'_i (I − Q_i A'_i)⁻¹ V_iᵀ v,   V_i = H⁻¹J_i,  Q_i = J_iᵀH⁻¹J_i,  A'_i = c w_i A_i

with ``J_i = x̃_i ⊗ I_K`` the score Jacobian and ``A_i`` the score-space hessian at the optimum.
One Newton step of the leave-one-out objective from ``Θ*`` is ``Δ_i = H_{-i}⁻¹ c w_i J_i λ_i``
(Beirami et al. 2017, Rad & Maleki 2020, "approximate leave-one-out").

:func:`chord_solve` finishes the job exactly: it iterates ``Θ ← Θ − P(∇J_b(Θ))`` for a batch of
objectives ``J_b`` (different sample weights) with a fixed preconditioner ``P`` (the Hessian at the
optimum, downdated per ``b`` for leave-one-out). Each iteration is two matrix products over the whole
batch; convergence is linear with a rate of the order of ‖Θ_b − Θ*‖, so a handful of iterations
reach 1e-12. Members that do not converge fall back to a full damped Newton solve.

:class:`GroupLeaveOut` is the same algebra for removals that stay inside one query group: a whole group
(``unit="query"``, any objective), or one document of a ranking query. A ranking loss couples the documents
of a query, so removing document ``i`` changes the whole score-space Hessian block of its query, not just
a rank-1 term: with ``U = X̃_q`` (the group's rows, ``m × p``) and the block change
``D = c (A_q − A_q^{(-i)})`` (both blocks at the optimum, ``A^{(-i)}`` with ``w_i = 0``),

    H_{-i} = H − Uᵀ D U,      H_{-i}⁻¹ v = H⁻¹v + V D (I − Q D)⁻¹ U H⁻¹ v,      V = H⁻¹Uᵀ,  Q = U V

(a rank-``m`` Woodbury downdate, exact); the Newton step uses the group's gradient change
``r = c (∂L_q/∂s − ∂L_q^{(-i)}/∂s)`` in place of ``c w_i λ_i``. Pointwise objectives with ``unit="query"``
use ``D = blockdiag(c w_r A_r)`` over the group's rows (rank ``m·K``). Cost per member ``O(m p² + m³)``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import scipy.sparse as sp

from samplescope.data.dataset import Dataset
from samplescope.models.linear import LinearModel

__all__ = ["LeaveOut", "GroupLeaveOut", "chord_solve", "batch_scores", "batch_losses"]


def _rows(Xt, idx: np.ndarray) -> np.ndarray:
    R = Xt[idx]
    return R.toarray() if sp.issparse(R) else np.asarray(R)


def batch_scores(Xt, Theta: np.ndarray) -> np.ndarray:
    """Scores of every row under every member: ``Θ`` ``(B, rows, K)`` → ``(n, B, K)``."""
    B, rows, K = Theta.shape
    M = np.ascontiguousarray(Theta.transpose(1, 0, 2).reshape(rows, B * K))
    return np.asarray(Xt @ M).reshape(-1, B, K)


def _per_member(fn, y: np.ndarray, S: np.ndarray, K: int) -> np.ndarray:
    n, B, _ = S.shape
    if K == 1:
        return fn(y[:, None], S[:, :, 0])[:, :, None]
    return fn(np.repeat(y, B), S.reshape(n * B, K)).reshape(n, B, K)


def batch_losses(model: LinearModel, y: np.ndarray, S: np.ndarray, bounds: np.ndarray | None = None,
                 weight: np.ndarray | None = None) -> np.ndarray:
    """Per-sample losses ``(n, B)`` for a score batch ``(n, B, K)`` (ranking: ``bounds`` and ``weight`` needed)."""
    n, B, K = S.shape
    if getattr(model.objective, "grouped", False):
        return model.objective.loss(y, S[:, :, 0], bounds, weight=weight)
    if K == 1:
        return model.objective.loss(y[:, None], S[:, :, 0])
    return model.objective.loss(np.repeat(y, B), S.reshape(n * B, K)).reshape(n, B)


def chord_solve(model: LinearModel, data: Dataset, W: Callable[[], np.ndarray] | np.ndarray, Theta0: np.ndarray,
                precondition: Callable[[np.ndarray, np.ndarray], np.ndarray], *, tol: float = 1e-12,
                max_iter: int = 50) -> np.ndarray:
    """Minimise ``J_b(Θ) = c Σ_i W_ib ℓ_i(Θ) + ½ Σ_j α_j‖Θ_j‖²`` for every column ``b`` of ``W``.

    Args:
        model: the linear model (objective and hyper-parameters).
        data: training data.
        W: ``(n, B)`` sample weights of each member (effective weights, class weights included).
        Theta0: ``(B, rows, K)`` starting points.
        precondition: ``precondition(G, active)`` maps gradients ``(b, rows, K)`` of the still active members
            (indices ``active``) to steps.
        tol: stop a member when ``max|ΔΘ| ≤ tol (1 + max|Θ|)``.
        max_iter: chord iterations before the Newton fall-back.
    """
    Xt = model.design(data)
    Theta = Theta0.copy()
    B, rows, K = Theta.shape
    active = np.arange(B)
    Wa = W
    reg = model.reg[None, :, None]
    for _ in range(max_iter):
        if len(active) == 0:
            break
        T = Theta[active]
        S = batch_scores(Xt, T)
        if model.grouped:  # a query's lambdas depend on each member's weights of the whole query
            lam = model.objective.gradient(data.y, S[:, :, 0], data.group_bounds, weight=Wa)[:, :, None]
        else:
            lam = _per_member(model.objective.gradient, data.y, S, K)
        lam *= Wa[:, :, None]
        G = np.asarray(Xt.T @ lam.reshape(data.n, -1)).reshape(rows, len(active), K).transpose(1, 0, 2)
        G *= model.c
        G += reg * T
        step = precondition(G, active)
        if not np.all(np.isfinite(step)):
            break
        Theta[active] = T - step
        size = np.abs(step).reshape(len(active), -1).max(axis=1)
        scale = 1.0 + np.abs(Theta[active]).reshape(len(active), -1).max(axis=1)
        keep = size > tol * scale
        if not keep.all():
            active = active[keep]
            Wa = W[:, active]
    for b in active:  # not converged: exact damped Newton from where the chord got to (or the start)
        start = Theta[b] if np.all(np.isfinite(Theta[b])) else Theta0[b]
        Theta[b] = model.solve(data, weights=W[:, b], theta0=start, tol=tol)
    if K > 1 and model.fit_intercept:
        Theta[:, -1, :] -= Theta[:, -1, :].mean(axis=1, keepdims=True)
    return Theta


class LeaveOut:
    """The Woodbury algebra of leave-one-out for a linear model at its optimum on ``train``."""

    def __init__(self, model: LinearModel, train: Dataset):
        self.model = model.with_theta(model.optimum(train))
        self.train = train
        m = self.model
        self.Xt = m.design(train)
        self.K = m.n_outputs
        self.rows = m.theta.shape[0]
        self.cw = m.c * m.effective_weights(train)
        self.solver = m.hessian_solver(train)
        S = m.scores(train)
        self.lam = m.objective.gradient(train.y, S).reshape(train.n, self.K)
        A = m.objective.hessian(train.y, S)
        self.A = A.reshape(train.n, self.K, self.K)

    def blocks(self, idx: np.ndarray):
        """``X_i`` ``(b, rows)``, ``V_i = H⁻¹J_i`` ``(b, rows, K, K)``, ``Q_i`` ``(b, K, K)``, ``A'_i``."""
        K, rows, b = self.K, self.rows, len(idx)
        Xi = _rows(self.Xt, idx)
        E = Xi[:, :, None, None] * np.eye(K)[None, None, :, :]  # (b, rows, K_out, K_col)
        rhs = E.reshape(b, rows * K, K).transpose(1, 0, 2).reshape(rows * K, b * K)
        V = self.solver.solve(rhs).reshape(rows, K, b, K).transpose(2, 0, 1, 3)
        Q = np.einsum("bj,bjlk->blk", Xi, V)
        Ap = self.cw[idx, None, None] * self.A[idx]
        return Xi, V, Q, Ap

    def downdated_solve(self, idx: np.ndarray, G: np.ndarray, blocks=None) -> np.ndarray:
        """``H_{-i}⁻¹ G_i`` for each ``i`` in ``idx``; ``G`` ``(b, rows, K)``."""
        Xi, V, Q, Ap = blocks if blocks is not None else self.blocks(idx)
        b, K = len(idx), self.K
        z = self.solver.solve(G.reshape(b, -1).T).T.reshape(b, self.rows, K)
        t = np.einsum("bjk,bj->bk", z, Xi)
        return z + np.einsum("bjkl,bl->bjk", V, self._woodbury(Q, Ap, t))

    @staticmethod
    def _woodbury(Q: np.ndarray, Ap: np.ndarray, t: np.ndarray) -> np.ndarray:
        K = Q.shape[1]
        M = np.eye(K)[None] - Q @ Ap
        return np.einsum("bkl,bl->bk", Ap, np.linalg.solve(M, t[:, :, None])[:, :, 0])

    def newton_steps(self, idx: np.ndarray, blocks=None) -> np.ndarray:
        """``Δ_i = H_{-i}⁻¹ c w_i J_i λ_i`` ``(b, rows, K)``: one Newton step of each leave-one-out objective."""
        Xi, V, Q, Ap = blocks if blocks is not None else self.blocks(idx)
        r = self.cw[idx, None] * self.lam[idx]
        t = np.einsum("bkl,bl->bk", Q, r)
        beta = r + self._woodbury(Q, Ap, t)
        return np.einsum("bjkl,bl->bjk", V, beta)


def mean_target_losses(model: LinearModel, target: Dataset, Theta: np.ndarray) -> np.ndarray:
    """Weighted mean loss on ``target`` under each member ``Θ_b`` → ``(B,)``."""
    S = batch_scores(model.design(target), Theta)
    w = model.effective_weights(target) if model.grouped else target.weights
    L = batch_losses(model, target.y, S, target.group_bounds, w)
    w = target.weights
    return (w @ L) / w.sum()


def own_losses(model: LinearModel, data: Dataset, idx: np.ndarray, Theta: np.ndarray) -> np.ndarray:
    """Loss of sample ``idx[b]`` under its own member ``Θ_b`` → ``(B,)``."""
    if model.grouped:  # a document's share depends on its whole query
        S = batch_scores(model.design(data), Theta)
        L = batch_losses(model, data.y, S, data.group_bounds, model.effective_weights(data))
        return L[idx, np.arange(len(idx))]
    Xi = _rows(model.design(data), idx)
    S = np.einsum("bj,bjk->bk", Xi, Theta)
    return model.objective.loss(data.y[idx], model.squeeze(S))


def own_group_losses(model: LinearModel, data: Dataset, groups: np.ndarray, Theta: np.ndarray) -> np.ndarray:
    """Weighted loss ``Σ_{i∈q} w_i ℓ_i`` of group ``groups[b]`` under its own member ``Θ_b`` → ``(B,)``."""
    b = data.group_bounds
    S = batch_scores(model.design(data), Theta)
    w = model.effective_weights(data)
    L = batch_losses(model, data.y, S, b, w) * w[:, None]
    return np.add.reduceat(L, b[:-1], axis=0)[groups, np.arange(len(groups))]


class GroupLeaveOut:
    """Woodbury algebra of removals inside one query group, for a linear model at its optimum on ``train``.

    Args:
        model: the linear model.
        train: training data with query groups.
        unit: ``"document"`` (member ``i`` removes row ``i``; ranking objectives) or ``"query"`` (member ``q``
            removes group ``q``).
    """

    def __init__(self, model: LinearModel, train: Dataset, unit: str):
        self.model = model.with_theta(model.optimum(train))
        self.train, self.unit = train, unit
        m = self.model
        self.Xt = m.design(train)
        self.K = m.n_outputs
        self.rows = m.theta.shape[0]
        self.w = m.effective_weights(train)
        self.solver = m.hessian_solver(train)
        self.s = m.scores(train)
        self.bounds = train.group_bounds
        self.group_of = np.repeat(np.arange(len(self.bounds) - 1), np.diff(self.bounds))
        if not m.grouped:
            self.lam = m.objective.gradient(train.y, self.s).reshape(train.n, self.K)
            self.A = m.objective.hessian(train.y, self.s).reshape(train.n, self.K, self.K)

    @property
    def n_members(self) -> int:
        return self.train.n if self.unit == "document" else len(self.bounds) - 1

    @property
    def max_group(self) -> int:
        return int(np.diff(self.bounds).max())

    def groups(self, idx: np.ndarray) -> np.ndarray:
        """The group each member removes rows from."""
        return self.group_of[idx] if self.unit == "document" else np.asarray(idx)

    def layout(self, idx: np.ndarray):
        """Rows ``I`` ``(b, m)`` of each member's group, mask ``M``, removed rows ``R``."""
        q = self.groups(idx)
        start, size = self.bounds[q], np.diff(self.bounds)[q]
        m = int(size.max())
        slot = np.arange(m)
        M = slot[None, :] < size[:, None]
        I = np.where(M, start[:, None] + slot[None, :], 0)
        R = M & (I == np.asarray(idx)[:, None]) if self.unit == "document" else M
        return I, M, R

    def weights(self, idx: np.ndarray) -> np.ndarray:
        """``(n, b)`` training weights of each member (its removed rows at 0)."""
        I, M, R = self.layout(idx)
        W = np.repeat(self.w[:, None], len(idx), axis=1)
        bb = np.broadcast_to(np.arange(len(idx))[:, None], I.shape)
        W[I[R], bb[R]] = 0.0
        return W

    def blocks(self, idx: np.ndarray) -> "Blocks":
        """The Woodbury pieces of each member: per group ``U`` (its score Jacobian, ``(mK, p)``), ``V = U H⁻¹``,
        ``Q = U H⁻¹ Uᵀ`` (shared by the members removing from the same group), per member the block change ``D``
        ``(mK, mK)`` and the gradient change ``r`` ``(mK,)``."""
        m_, c, K = self.model, self.model.c, self.K
        I, M, R = self.layout(idx)
        b, m = I.shape
        q = self.groups(idx)
        uq, first, g = np.unique(q, return_index=True, return_inverse=True)
        Iu, Mu = I[first], M[first]
        X = _rows(self.Xt, Iu.ravel()).reshape(len(uq), m, -1) * Mu[:, :, None]
        if m_.grouped:
            obj, y, wI = m_.objective, self.train.y, self.w[I]
            full = obj.padded(y, self.s, I, M, wI, want=("grad", "block"))
            less = obj.padded(y, self.s, I, M, np.where(R, 0.0, wI), want=("grad", "block"))
            D = c * (full["block"] - less["block"])
            r = c * (full["grad"] - less["grad"])
            U = X
        else:
            cw = np.where(R, c * self.w[I], 0.0)  # (b, m)
            D = np.zeros((b, m, K, m, K))
            ii = np.arange(m)
            D[:, ii, :, ii, :] = (cw[:, :, None, None] * self.A[I]).transpose(1, 0, 2, 3)
            D = D.reshape(b, m * K, m * K)
            r = (cw[:, :, None] * self.lam[I]).reshape(b, m * K)
            U = (X[:, :, None, :, None] * np.eye(K)[None, None, :, None, :]).reshape(len(uq), m * K, -1)
        p = U.shape[2]
        V = self.solver.solve(U.reshape(-1, p).T).T.reshape(U.shape)
        Q = np.einsum("gip,gjp->gij", U, V)
        return Blocks(U, V, Q, g, D, r)

    @staticmethod
    def _woodbury(Q: np.ndarray, D: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``D (I − Q D)⁻¹ t`` per member."""
        M = np.eye(Q.shape[1])[None] - Q @ D
        try:
            x = np.linalg.solve(M, t[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a removal that leaves the Hessian singular (α = 0)
            x = np.einsum("bij,bj->bi", np.linalg.pinv(M), t)
        return np.einsum("bij,bj->bi", D, x)

    def newton_steps(self, idx: np.ndarray, blocks: "Blocks | None" = None) -> np.ndarray:
        """One Newton step of each member's objective from the optimum, ``(b, rows, K)``."""
        B = blocks if blocks is not None else self.blocks(idx)
        Q = B.Q[B.g]
        beta = B.r + self._woodbury(Q, B.D, np.einsum("bij,bj->bi", Q, B.r))
        return np.einsum("bi,bip->bp", beta, B.V[B.g]).reshape(len(B.g), self.rows, self.K)

    def downdated_solve(self, G: np.ndarray, blocks: "Blocks") -> np.ndarray:
        """``H_b⁻¹ G_b`` for each member; ``G`` ``(b, rows, K)``."""
        B = blocks
        b = len(G)
        z = self.solver.solve(G.reshape(b, -1).T).T
        t = np.einsum("bip,bp->bi", B.U[B.g], z)
        return (z + np.einsum("bi,bip->bp", self._woodbury(B.Q[B.g], B.D, t), B.V[B.g])).reshape(G.shape)


class Blocks(NamedTuple):
    """Woodbury pieces of a batch of group removals: ``U``, ``V``, ``Q`` per distinct group, ``g`` (member → group
    slot), ``D``, ``r`` per member."""

    U: np.ndarray
    V: np.ndarray
    Q: np.ndarray
    g: np.ndarray
    D: np.ndarray
    r: np.ndarray

    def take(self, members: np.ndarray) -> "Blocks":
        """The pieces of a subset of the members."""
        return self._replace(g=self.g[members], D=self.D[members], r=self.r[members])
