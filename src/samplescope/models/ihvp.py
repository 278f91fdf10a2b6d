"""Inverse-Hessian-vector products: ``(H + δI)⁻¹ B`` from Hessian-vector products alone.

Every solver takes an *operator* with ``p`` and ``matvec(V) -> H V`` (``V`` of shape ``(p, m)``, numpy
float64) and returns an object with ``p``, ``solve(B)`` (``B`` of shape ``(p,)`` or ``(p, m)``) and
``inverse()`` (only for small ``p``), the interface of :class:`samplescope.linalg.SymmetricSolver`, so
methods use any of them unchanged.

* ``exact``  — the dense Hessian from ``p`` products, factorised (Cholesky, pseudo-inverse fallback).
* ``cg``     — conjugate gradients on ``(H + δI) x = b``, all right-hand sides at once, each stopped at
  ``‖r‖ ≤ tol ‖b‖``; exact after at most ``p`` iterations in exact arithmetic. Needs ``H + δI`` positive
  definite on the span of ``b`` (use ``damping`` or the Gauss–Newton curvature for non-convex models).
* ``lissa``  — the Neumann series of Agarwal, Bullins & Hazan 2017 (as used by Koh & Liang 2017):
  ``x_{t+1} = b + x_t − (H + δI) x_t / σ``, result ``x_T / σ``, with ``σ`` above the largest eigenvalue
  (estimated by power iteration when not given). Converges to the exact solve at the rate
  ``1 − λ_min/σ``; with an operator's ``sample_matvec`` (a minibatch estimate of ``H V``) it is the
  stochastic original.
* ``arnoldi`` — Schioppa, Zablotskaia, Vilar & Sokolov 2022, "Scaling Up Influence Functions": ``n_iter``
  Arnoldi steps from a seeded random start (default ``2·rank + 1``, or 200), the top ``rank`` eigenpairs of
  the Krylov projection (default ``n_iter / 2``; all of them when ``n_iter ≥ p``), and
  ``H⁻¹ ≈ U diag(1/(λ + δ)) Uᵀ`` on their span (directions outside it are dropped). With ``n_iter ≥ p`` and
  ``rank = p`` it is the exact inverse (an invariant Krylov space — repeated eigenvalues — restarts from a
fresh orthogonal direction). Exposes ``low_rank = (U, λ + δ)`` so that ``gᵀ H⁻¹ g`` needs only
  ``Uᵀ g``.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import MethodError
from samplescope.linalg import SymmetricSolver

__all__ = ["SOLVERS", "DenseOperator", "EigenSolver", "CGSolver", "LissaSolver", "ArnoldiSolver", "dense_hessian",
           "make_solver"]

SOLVERS = ("exact", "cg", "lissa", "arnoldi")
#: the largest ``p`` for which a solver builds an explicit ``p × p`` inverse.
MAX_DENSE = 8192


class DenseOperator:
    """A dense symmetric matrix seen as an operator (the linear models' Hessian)."""

    def __init__(self, H: np.ndarray):
        self.H = np.asarray(H, dtype=np.float64)
        self.p = self.H.shape[0]

    def matvec(self, V: np.ndarray) -> np.ndarray:
        return self.H @ V


def _cols(B: np.ndarray) -> tuple[np.ndarray, bool]:
    B = np.asarray(B, dtype=np.float64)
    return (B[:, None], True) if B.ndim == 1 else (B, False)


class _Solver:
    p: int

    def solve(self, B: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self) -> np.ndarray:
        """The explicit ``(p, p)`` approximate inverse (small models only)."""
        if self.p > MAX_DENSE:
            raise MethodError(f"an explicit inverse of a {self.p:,}-parameter Hessian is too large; expected p <= "
                              f"{MAX_DENSE:,} (use solver='arnoldi' for self-influence of large models)")
        inv = self.solve(np.eye(self.p))
        return 0.5 * (inv + inv.T)


def dense_hessian(op, block: int = 256) -> np.ndarray:
    """``H`` from ``p`` Hessian-vector products (``block`` columns at a time), symmetrised."""
    if op.p > MAX_DENSE:
        raise MethodError(f"the exact Hessian of {op.p:,} parameters is too large; expected p <= {MAX_DENSE:,} "
                          "(use solver='cg', 'lissa' or 'arnoldi')")
    H = np.empty((op.p, op.p))
    for s in range(0, op.p, block):
        E = np.zeros((op.p, min(block, op.p - s)))
        E[np.arange(s, s + E.shape[1]), np.arange(E.shape[1])] = 1.0
        H[:, s:s + E.shape[1]] = op.matvec(E)
    return 0.5 * (H + H.T)


class EigenSolver(_Solver):
    """``H⁺``: the inverse of a symmetric ``H`` on its eigenvalues above ``rtol · λ_max`` (the others dropped).

    For Hessians computed from products in finite precision: exactly flat directions (softmax logit shifts,
    ranking score shifts, an embedding's padding row) come out as round-off-sized eigenvalues that a
    Cholesky factorisation would invert; here they are dropped, and so are negative ones (non-convex models).
    """

    def __init__(self, H: np.ndarray, *, rtol: float = 1e-10):
        self.H = 0.5 * (H + H.T)
        self.p = H.shape[0]
        vals, vecs = np.linalg.eigh(self.H)
        keep = vals > rtol * max(vals.max(), 1e-300)
        self.eigenvalues, self.negative = vals, int(np.sum(vals < -rtol * max(abs(vals).max(), 1e-300)))
        self._vecs, self._inv = vecs[:, keep], 1.0 / vals[keep]

    def solve(self, B: np.ndarray) -> np.ndarray:
        inv = self._inv[:, None] if np.ndim(B) == 2 else self._inv
        return self._vecs @ (inv * (self._vecs.T @ B))


class CGSolver(_Solver):
    """Conjugate gradients, every right-hand side at once (see the module docstring)."""

    def __init__(self, op, *, damping: float = 0.0, tol: float = 1e-10, max_iter: int | None = None):
        self.op, self.p, self.damping, self.tol = op, op.p, float(damping), float(tol)
        self.max_iter = int(max_iter) if max_iter else 2 * op.p + 10
        self.iterations = 0

    def solve(self, B: np.ndarray) -> np.ndarray:
        B, flat = _cols(B)
        X = np.zeros_like(B)
        R = B.copy()
        P = R.copy()
        rs = np.einsum("ij,ij->j", R, R)
        stop = (self.tol ** 2) * np.maximum(rs, np.finfo(float).tiny)
        active = rs > stop
        for it in range(self.max_iter):
            if not active.any():
                break
            a = np.flatnonzero(active)
            HP = self.op.matvec(P[:, a]) + self.damping * P[:, a]
            curv = np.einsum("ij,ij->j", P[:, a], HP)
            if np.any(curv <= 0):
                raise MethodError("cg: the Hessian is not positive definite along a search direction "
                                  f"(curvature {curv.min():.3g}); add damping or use curvature='ggn'")
            alpha = rs[a] / curv
            X[:, a] += alpha * P[:, a]
            R[:, a] -= alpha * HP
            rs_new = np.einsum("ij,ij->j", R[:, a], R[:, a])
            P[:, a] = R[:, a] + (rs_new / rs[a]) * P[:, a]
            rs[a] = rs_new
            active[a] = rs_new > stop[a]
            self.iterations = it + 1
        return X[:, 0] if flat else X


def _power_max(op, damping: float, seed: int, iters: int = 30) -> float:
    v = np.random.default_rng(seed).normal(size=(op.p, 1))
    lam = 0.0
    for _ in range(iters):
        v /= np.linalg.norm(v)
        w = op.matvec(v) + damping * v
        lam = float(v[:, 0] @ w[:, 0])
        v = w
    return abs(lam)


class LissaSolver(_Solver):
    """The LiSSA Neumann series (see the module docstring)."""

    def __init__(self, op, *, damping: float = 0.0, depth: int = 1000, scale: float | None = None,
                 tol: float = 1e-12, stochastic: bool = False, seed: int = 0):
        self.op, self.p, self.damping, self.depth, self.tol = op, op.p, float(damping), int(depth), float(tol)
        self.stochastic, self.seed = bool(stochastic), int(seed)
        self.scale = float(scale) if scale else 1.1 * _power_max(op, self.damping, seed) + 1e-12

    def solve(self, B: np.ndarray) -> np.ndarray:
        B, flat = _cols(B)
        rng = np.random.default_rng(self.seed)
        X = B.copy()
        for _ in range(self.depth):
            HX = self.op.sample_matvec(X, rng) if self.stochastic else self.op.matvec(X)
            X_new = B + X - (HX + self.damping * X) / self.scale
            done = not self.stochastic and np.max(np.abs(X_new - X)) <= self.tol * max(np.max(np.abs(X_new)), 1e-300)
            X = X_new
            if done:
                break
        X /= self.scale
        return X[:, 0] if flat else X


class ArnoldiSolver(_Solver):
    """Arnoldi's top eigenpairs of ``H`` and a low-rank inverse (see the module docstring)."""

    def __init__(self, op, *, damping: float = 0.0, rank: int | None = None, n_iter: int | None = None,
                 seed: int = 0):
        self.op, self.p, self.damping = op, op.p, float(damping)
        # like pyDVL: 2·rank + 1 Krylov steps for a given rank; the top half of a given number of steps
        # (the bottom Ritz values converge last); everything when the Krylov space is the whole space
        n_iter = min(int(n_iter) if n_iter else (2 * int(rank) + 1 if rank else 200), op.p)
        rank = min(int(rank), n_iter) if rank else (n_iter if n_iter >= op.p else max(1, n_iter // 2))
        rng = np.random.default_rng(seed)
        Q = np.zeros((op.p, n_iter + 1))
        Hh = np.zeros((n_iter + 1, n_iter))
        q = rng.normal(size=op.p)
        Q[:, 0] = q / np.linalg.norm(q)
        k = n_iter
        for j in range(n_iter):
            w = self.op.matvec(Q[:, j:j + 1])[:, 0]
            for _ in range(2):  # full re-orthogonalisation, twice (Gram–Schmidt is unstable once)
                h = Q[:, :j + 1].T @ w
                w -= Q[:, :j + 1] @ h
                Hh[:j + 1, j] += h
            Hh[j + 1, j] = np.linalg.norm(w)
            if j + 1 < n_iter and Hh[j + 1, j] <= 1e-10 * max(np.abs(Hh[:j + 1, :j + 1]).max(), 1e-300):
                # the Krylov space is invariant (repeated eigenvalues): its eigenpairs are exact; restart
                # from a fresh direction orthogonal to it (subdiagonal 0), so n_iter = p spans everything
                Hh[j + 1, j] = 0.0
                w = rng.normal(size=op.p)
                for _ in range(2):
                    w -= Q[:, :j + 1] @ (Q[:, :j + 1].T @ w)
                Q[:, j + 1] = w / np.linalg.norm(w)
                continue
            Q[:, j + 1] = w / max(Hh[j + 1, j], 1e-300)
        T = Hh[:k, :k]
        vals, vecs = np.linalg.eigh(0.5 * (T + T.T))
        vals = vals + self.damping
        order = np.argsort(-vals)[:rank]
        keep = order[vals[order] > 1e-12 * max(vals.max(), 1e-300)]
        self.eigenvalues = vals[keep]
        self.U = Q[:, :k] @ vecs[:, keep]
        self.low_rank = (self.U, self.eigenvalues)

    def solve(self, B: np.ndarray) -> np.ndarray:
        return self.U @ ((self.U.T @ B) / (self.eigenvalues[:, None] if np.ndim(B) == 2 else self.eigenvalues))


def make_solver(method: str, op, *, damping: float = 0.0, iterations: int | None = None, rank: int | None = None,
                seed: int = 0, tol: float | None = None):
    """A solver of ``(H + δI) x = b`` by name (see :data:`SOLVERS`).

    Args:
        method: ``exact``, ``cg``, ``lissa`` or ``arnoldi``.
        op: the Hessian operator (``p``, ``matvec``; ``sample_matvec`` for stochastic LiSSA).
        damping: ``δ``.
        iterations: CG's maximum iterations, LiSSA's depth, Arnoldi's Krylov steps.
        rank: Arnoldi's number of eigenpairs kept.
        seed: seed of Arnoldi's start vector, LiSSA's power iteration and minibatches.
        tol: CG's relative residual (default 1e-10) or LiSSA's relative step (default 1e-12).
    """
    if method not in SOLVERS:
        raise MethodError(f"unknown Hessian solver '{method}'; expected one of {list(SOLVERS)}")
    if not np.isfinite(damping) or damping < 0:
        raise MethodError(f"damping must be a finite number >= 0; found {damping}")
    for name, v in (("iterations", iterations), ("rank", rank)):
        if v is not None and int(v) < 1:
            raise MethodError(f"{name} must be >= 1; found {v}")
    if method == "exact":
        H = op.H if isinstance(op, DenseOperator) else dense_hessian(op)
        return SymmetricSolver(H + damping * np.eye(op.p) if damping else H)
    if method == "cg":
        return CGSolver(op, damping=damping, max_iter=iterations, tol=1e-10 if tol is None else tol)
    if method == "lissa":
        return LissaSolver(op, damping=damping, depth=iterations or 1000, seed=seed,
                           tol=1e-12 if tol is None else tol, stochastic=bool(getattr(op, "stochastic", False)))
    return ArnoldiSolver(op, damping=damping, rank=rank, n_iter=iterations, seed=seed)
