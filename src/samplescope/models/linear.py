"""Linear scorers and the exact calculus of their regularised objective.

A linear model scores ``s_i = x̃_iᵀ Θ`` with ``x̃_i = [x_i, 1]`` (the 1 only with an intercept) and
parameters ``Θ`` of shape ``(d + 1, K)`` (``K = 1`` for binary and regression). It is trained by
minimising

    J(Θ) = c · Σ_i w_i ℓ(y_i, x̃_iᵀΘ) + ½ Σ_j α_j ‖Θ_j‖²        α_j = α on weights, 0 on the intercept

which covers scikit-learn's ``LogisticRegression`` (c = C, α = 1), ``Ridge`` (c = 1, α = alpha, ℓ = ½r²),
``LinearRegression`` (α = 0) and ``SGDClassifier(loss="log_loss")`` (c = 1/n, α = alpha).

Everything a method needs is exact here:

* per-sample parameter gradient   g_i = x̃_i ⊗ λ_i            (λ_i = ∂ℓ_i/∂s_i from the objective)
* Hessian                         H = c Σ_i w_i (x̃_i x̃_iᵀ) ⊗ A_i + diag(α)   (A_i = ∂²ℓ_i/∂s_i²)
* refit                           damped Newton from a warm start, to ‖ΔΘ‖∞ ≤ 1e-12 (1 + ‖Θ‖∞)

Parameters are flattened row-major, index ``j·K + k``. For softmax the loss is unchanged by adding a
constant to every class of an unpenalised row; those directions ``u_j`` are added to the Hessian as
``s·u_j u_jᵀ`` before factorising, which leaves every solve with a right-hand side orthogonal to them
(every gradient is) unchanged.

Ranking (``objective.grouped``): a linear ranker scores documents ``s_i = x_iᵀw`` and is trained on the sum of
its query groups' losses, ``J(w) = c Σ_q L_q(s_q; w_q) + ½ α‖w‖²`` (:mod:`samplescope.objectives.ranking`).
The loss couples the documents of a query, so

* the objective's ``gradient``/``loss`` receive the sample weights (``w_i λ_i = ∂L/∂s_i``; a weight-0 row is
  absent from its query), and ``g_i = x̃_i λ_i`` still sums, weighted, to the query's gradient;
* the Hessian is ``H = c Σ_q X̃_qᵀ A_q X̃_q + diag(α)`` with ``A_q`` the query's dense score-space Hessian block
  (``objective.hessian_blocks``: exact for RankNet/ListNet, the frozen-weight Gauss–Newton form for LambdaRank);
* an intercept is not identifiable (every ranking loss ignores a shift of all scores of a query): it is
  a flat direction, filled in like softmax's, and stays where it starts;
* for LambdaRank (``objective.smooth`` false) the Newton line search compares surrogate values with the
  |ΔNDCG| weights frozen at the current iterate.
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse as sp

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, ModelError
from samplescope.linalg import SymmetricSolver
from samplescope.models.base import ModelAdapter
from samplescope.objectives.base import Objective

__all__ = ["LinearModel"]


class LinearModel(ModelAdapter):
    """A linear scorer with an exactly known training objective.

    Args:
        objective: training loss.
        coef: ``(d, K)`` weights.
        intercept: ``(K,)`` intercepts (zeros without one).
        c: loss scale (``C`` for logistic regression).
        alpha: L2 strength on the weights.
        fit_intercept: whether an (unpenalised) intercept is part of the parameters.
        class_weight: optional ``{label: factor}`` multiplying sample weights, as scikit-learn does.
        name: the model kind shown in results (``logistic``, ``ridge``, ...).
        estimator: the scikit-learn estimator this was read from, if any.
    """

    kind = "linear"
    capabilities = frozenset({"scores", "param_gradients", "hessian", "refit", "input_gradient", "features"})

    def __init__(self, objective: Objective, coef: np.ndarray, intercept: np.ndarray, *, c: float = 1.0,
                 alpha: float = 0.0, fit_intercept: bool = True, class_weight: dict | None = None,
                 name: str = "linear", estimator=None):
        self.objective = objective
        self.coef = np.asarray(coef, dtype=np.float64).reshape(len(coef), -1)
        self.intercept = np.asarray(intercept, dtype=np.float64).reshape(-1)
        self.c = float(c)
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.class_weight = class_weight
        self.name = name
        self.estimator = estimator
        self._optimum: dict[str, np.ndarray] = {}
        self._opt_solvers: dict = {}  # Hessian factorisation at the optimum, per training-data fingerprint
        self._solvers: dict = {}  # Hessian factorisation at this model's own Θ, per data fingerprint

    # ----------------------------------------------------------------- shapes
    @property
    def n_outputs(self) -> int:
        return self.coef.shape[1]

    @property
    def n_features(self) -> int:
        return self.coef.shape[0]

    @property
    def theta(self) -> np.ndarray:
        """Parameters ``(d + fit_intercept, K)``."""
        if self.fit_intercept:
            return np.vstack([self.coef, self.intercept[None, :]])
        return self.coef.copy()

    @property
    def reg(self) -> np.ndarray:
        """Per-row L2 strength ``α_j``."""
        r = np.full(self.theta.shape[0], self.alpha)
        if self.fit_intercept:
            r[-1] = 0.0
        return r

    def params(self) -> dict:
        out = {"model": self.name, "c": self.c, "alpha": self.alpha, "fit_intercept": self.fit_intercept,
               "objective": self.objective.name}
        if hasattr(self.objective, "params"):  # ranking objectives: sigmoid, truncation level, ...
            out.update({f"objective.{k}": v for k, v in self.objective.params().items()})
        return out

    def with_theta(self, theta: np.ndarray) -> "LinearModel":
        """A copy with other parameters (same objective and hyper-parameters)."""
        theta = np.asarray(theta, dtype=np.float64).reshape(-1, self.n_outputs)
        coef, icpt = (theta[:-1], theta[-1]) if self.fit_intercept else (theta, np.zeros(self.n_outputs))
        m = LinearModel(self.objective, coef, icpt, c=self.c, alpha=self.alpha, fit_intercept=self.fit_intercept,
                        class_weight=self.class_weight, name=self.name, estimator=None)
        return m

    # ------------------------------------------------------------------ data
    def check_data(self, data: Dataset) -> None:
        if data.n_features != self.n_features:
            raise DataError(
                f"{data.name}: the model expects {self.n_features} feature columns; found {data.n_features}"
            )
        if self.grouped:
            self.objective.check_groups(data.group_bounds, n=data.n, source=data.name, column=data.group_name)
        super().check_data(data)

    @property
    def grouped(self) -> bool:
        """The objective couples the documents of a query group (ranking)."""
        return bool(getattr(self.objective, "grouped", False))

    def _wkw(self, weights: np.ndarray) -> dict:
        return {"weight": weights} if self.grouped else {}

    def design(self, data: Dataset):
        """``X̃ = [X, 1]`` (dense or CSR like ``X``)."""
        X = data.X
        if not self.fit_intercept:
            return X
        if sp.issparse(X):
            return sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")
        return np.hstack([X, np.ones((X.shape[0], 1))])

    def effective_weights(self, data: Dataset) -> np.ndarray:
        """Sample weights times class weights."""
        w = data.weights
        if self.class_weight:
            factor = np.ones(data.n)
            for label, f in self.class_weight.items():
                factor[data.y == label] = f
            w = w * factor
        return w

    def squeeze(self, S: np.ndarray) -> np.ndarray:
        """``(n, K)`` → ``(n,)`` for single-output objectives."""
        return S[:, 0] if self.n_outputs == 1 else S

    # ------------------------------------------------------------ quantities
    def matmul(self, X, M: np.ndarray) -> np.ndarray:
        """``X̃ M`` without building ``X̃`` (``M`` has ``d + fit_intercept`` rows)."""
        out = np.asarray(X @ M[: self.n_features])
        return out + M[self.n_features] if self.fit_intercept else out

    def tmatmul(self, X, L: np.ndarray) -> np.ndarray:
        """``X̃ᵀ L`` without building ``X̃``."""
        top = np.asarray(X.T @ L)
        return np.vstack([top, L.sum(axis=0, keepdims=True)]) if self.fit_intercept else top

    def scores(self, data: Dataset, theta: np.ndarray | None = None) -> np.ndarray:
        T = self.theta if theta is None else theta
        return self.squeeze(self.matmul(data.X, T))

    def score_gradients(self, data: Dataset, theta: np.ndarray | None = None,
                        weights: np.ndarray | None = None) -> np.ndarray:
        """``λ_i = ∂ℓ_i/∂s_i`` as ``(n, K)`` (ranking: per unit weight, under ``weights``, default the data's)."""
        kw = self._wkw(self.effective_weights(data) if weights is None else weights)
        lam = self.objective.gradient(data.y, self.scores(data, theta), data.group_bounds, **kw)
        return lam.reshape(data.n, self.n_outputs)

    def losses(self, data: Dataset, theta: np.ndarray | None = None) -> np.ndarray:
        """Per-sample loss ``ℓ_i`` (ranking: the document's share of its query's loss, per unit weight)."""
        kw = self._wkw(self.effective_weights(data))
        return self.objective.loss(data.y, self.scores(data, theta), data.group_bounds, **kw)

    def param_gradients(self, data: Dataset, theta: np.ndarray | None = None) -> np.ndarray:
        """Dense per-sample gradients ``g_i = x̃_i ⊗ λ_i`` as ``(n, p)`` (unweighted ℓ_i). Memory n·p."""
        Xt = self.design(data)
        Xt = Xt.toarray() if sp.issparse(Xt) else Xt
        lam = self.score_gradients(data, theta)
        return (Xt[:, :, None] * lam[:, None, :]).reshape(data.n, -1)

    def objective_value(self, data: Dataset, theta: np.ndarray, weights: np.ndarray,
                        at: np.ndarray | None = None) -> float:
        """``J(Θ)`` for the given sample weights (``at``: parameters where LambdaRank's weights are frozen)."""
        kw = self._wkw(weights)
        if at is not None and self.grouped and not getattr(self.objective, "smooth", True):
            kw["at"] = self.scores(data, at)
        loss = self.objective.loss(data.y, self.scores(data, theta), data.group_bounds, **kw)
        return float(self.c * np.dot(weights, loss) + 0.5 * np.sum(self.reg[:, None] * theta**2))

    def objective_gradient(self, data: Dataset, theta: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``∇J(Θ)`` as ``(d + 1, K)``."""
        lam = self.score_gradients(data, theta, weights)
        return self.tmatmul(data.X, self.c * weights[:, None] * lam) + self.reg[:, None] * theta

    def hessian(self, data: Dataset, theta: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
        """The exact Hessian of ``J`` at ``Θ``, ``(p, p)`` with ``p = (d + 1)·K``."""
        T = self.theta if theta is None else theta
        w = self.effective_weights(data) if weights is None else weights
        Xt = self.design(data)
        if self.grouped:  # c X̃ᵀ A X̃ with A block diagonal over the query groups (weights inside A)
            A = self.objective.hessian_blocks(data.y, self.scores(data, T), data.group_bounds, weight=w)
            M = Xt.T @ np.asarray((A @ Xt).toarray() if sp.issparse(Xt) else A @ Xt)
            H = self.c * np.asarray(M)
            H = 0.5 * (H + H.T)
            H[np.diag_indices_from(H)] += self.reg
            return H
        A = self.objective.hessian(data.y, self.scores(data, T), data.group_bounds)
        K, rows = self.n_outputs, T.shape[0]
        A = A.reshape(data.n, K, K) if K > 1 else A.reshape(data.n, 1, 1)
        H4 = np.empty((rows, K, rows, K))
        for k in range(K):
            for l in range(k, K):
                M = self._gram(data.X, self.c * w * A[:, k, l])
                H4[:, k, :, l] = M
                H4[:, l, :, k] = M.T
        H = H4.reshape(rows * K, rows * K)
        H[np.diag_indices_from(H)] += np.repeat(self.reg, K)
        return H

    def _gram(self, X, d: np.ndarray) -> np.ndarray:
        """``X̃ᵀ diag(d) X̃`` without building ``X̃`` (a symmetric rank-k update when ``d ≥ 0``)."""
        if sp.issparse(X):
            XtDX = (X.T @ X.multiply(d[:, None])).toarray()
        elif np.all(d >= 0):
            Xs = X * np.sqrt(d)[:, None]
            XtDX = Xs.T @ Xs
        else:
            XtDX = X.T @ (X * d[:, None])
        if not self.fit_intercept:
            return np.asarray(XtDX)
        cross = np.asarray(X.T @ d).ravel()
        top = np.hstack([XtDX, cross[:, None]])
        return np.vstack([top, np.append(cross, d.sum())[None, :]])

    def null_directions(self) -> np.ndarray:
        """Orthonormal directions along which the softmax objective is flat, ``(p, m)``."""
        K, rows = self.n_outputs, self.theta.shape[0]
        if K == 1:
            if self.grouped and self.fit_intercept:  # a ranking loss ignores a shift of every score
                U = np.zeros((rows, 1))
                U[-1, 0] = 1.0
                return U
            return np.zeros((rows, 0))
        free = np.flatnonzero(self.reg == 0)
        U = np.zeros((rows * K, len(free)))
        for m, j in enumerate(free):
            U[j * K:(j + 1) * K, m] = 1.0 / np.sqrt(K)
        return U

    def hessian_solver(self, data: Dataset, theta: np.ndarray | None = None,
                       weights: np.ndarray | None = None) -> SymmetricSolver:
        """Factorised Hessian (with softmax's flat directions filled in)."""
        if theta is None and weights is None and data.fingerprint() in self._solvers:
            return self._solvers[data.fingerprint()]
        H = self.hessian(data, theta, weights)
        U = self.null_directions()
        if U.shape[1]:
            H = H + (np.trace(H) / H.shape[0]) * (U @ U.T)
        return SymmetricSolver(H)

    def input_gradient(self) -> np.ndarray:
        """``∂s/∂x = W``, ``(d, K)``."""
        return self.coef

    # ------------------------------------------------ gradient products (factored, never n×p)
    def loss_scale(self, data: Dataset) -> np.ndarray:
        """The factor of each ``ℓ_i`` in ``J``: ``c · w_i`` (class weights included)."""
        return self.c * self.effective_weights(data)

    def mean_gradient(self, data: Dataset) -> np.ndarray:
        """Gradient of the weighted mean loss ``Σ w_i ℓ_i / Σ w_i`` over ``data``, flat ``(p,)``."""
        w = data.weights
        lam = self.score_gradients(data) * (w / w.sum())[:, None]
        return self.tmatmul(data.X, lam).ravel()

    def gradient_dot(self, data: Dataset, v: np.ndarray) -> np.ndarray:
        """``g_i · v`` for every row (``v`` flat ``(p,)``): ``x̃_iᵀ V λ_i``."""
        V = v.reshape(-1, self.n_outputs)
        return np.sum(self.matmul(data.X, V) * self.score_gradients(data), axis=1)

    def gradient_sq_norms(self, data: Dataset) -> np.ndarray:
        """``‖g_i‖² = ‖x̃_i‖² ‖λ_i‖²`` (the outer product's norm)."""
        X = data.X
        xn = np.asarray(X.multiply(X).sum(axis=1)).ravel() if sp.issparse(X) else np.einsum("ij,ij->i", X, X)
        return (xn + float(self.fit_intercept)) * np.sum(self.score_gradients(data) ** 2, axis=1)

    def group_gradients(self, data: Dataset) -> np.ndarray:
        """``G_q = Σ_{i∈q} c w_i g_i`` for every query group (order of ``data.group_bounds``), ``(n_groups, p)``.

        ``G_q`` is the gradient of the group's term of ``J``, ``c ∇_θ L_q``: removing the group moves the optimum
        by ``H⁻¹ G_q`` to first order.
        """
        b = data.group_bounds
        if b is None:
            raise DataError(f"{data.name}: expected query groups (column '{data.group_name}'); found none")
        n, K = data.n, self.n_outputs
        lam = self.score_gradients(data) * self.loss_scale(data)[:, None]  # (n, K)
        Z = sp.csr_matrix((np.ones(n), (np.repeat(np.arange(len(b) - 1), np.diff(b)), np.arange(n))),
                          shape=(len(b) - 1, n))
        Xt = self.design(data)
        out = np.empty((len(b) - 1, Xt.shape[1], K))
        for k in range(K):
            M = Z @ (Xt.multiply(lam[:, k:k + 1]).tocsr() if sp.issparse(Xt) else Xt * lam[:, k:k + 1])
            out[:, :, k] = M.toarray() if sp.issparse(M) else np.asarray(M)
        return out.reshape(len(b) - 1, -1)

    def gradient_quadratic(self, data: Dataset, solver: SymmetricSolver, chunk: int = 4096) -> np.ndarray:
        """``g_iᵀ H⁻¹ g_i = λ_iᵀ Q_i λ_i`` with ``Q_i = J_iᵀ H⁻¹ J_i`` (leverage blocks)."""
        K, Xt, lam = self.n_outputs, self.design(data), self.score_gradients(data)
        Hinv = solver.inverse().reshape(-1, K, Xt.shape[1], K)
        out = np.empty(data.n)
        for s in range(0, data.n, chunk):
            X = Xt[s:s + chunk]
            X = X.toarray() if sp.issparse(X) else X
            L = lam[s:s + chunk]
            acc = np.zeros(len(X))
            for k in range(K):
                for l in range(K):
                    acc += L[:, k] * L[:, l] * np.einsum("ij,ij->i", X @ Hinv[:, k, :, l].T, X)
            out[s:s + chunk] = acc
        return out

    def at_optimum(self, data: Dataset) -> "LinearModel":
        """This model with its parameters moved to the exact optimum of ``J`` on ``data``.

        The copy knows it is optimal on ``data``: its ``optimum(data)`` is itself, and its
        ``hessian_solver(data)`` reuses the factorisation of the last Newton step.
        """
        T = self.optimum(data)
        m = self.with_theta(T)
        key = data.fingerprint()
        m._optimum[key] = T
        if self._opt_solvers.get(key) is not None:
            m._solvers[key] = self._opt_solvers[key]
        return m

    # ----------------------------------------------------------------- refit
    def solve(self, data: Dataset, weights: np.ndarray | None = None, theta0: np.ndarray | None = None, *,
              tol: float = 1e-12, max_iter: int = 100) -> np.ndarray:
        """Exact minimiser of ``J`` by damped Newton from a warm start; returns ``Θ``."""
        return self._newton(data, weights, theta0, tol=tol, max_iter=max_iter)[0]

    def _newton(self, data: Dataset, weights, theta0, *, tol: float, max_iter: int):
        """Damped Newton; returns ``Θ`` and the factorised Hessian of the last full step.

        Stops when a step is below ``tol`` (relative), or when a full Newton step is below 1e-8: Newton's
        quadratic convergence puts the next step near 1e-16, so the optimum is reached to round-off.
        """
        w = self.effective_weights(data) if weights is None else weights
        T = (self.theta if theta0 is None else theta0).copy()
        frozen = self.grouped and not getattr(self.objective, "smooth", True)
        f = self.objective_value(data, T, w)
        solver = None
        for _ in range(max_iter):
            if frozen:  # LambdaRank: compare surrogate values with the |ΔNDCG| weights frozen at T
                f = self.objective_value(data, T, w, at=T)
            G = self.objective_gradient(data, T, w)
            solver = self.hessian_solver(data, T, w)
            step = solver.solve(G.ravel()).reshape(T.shape)
            scale = 1.0 + np.max(np.abs(T))
            if np.max(np.abs(step)) <= tol * scale:
                break
            t = 1.0
            while True:
                T_new = T - t * step
                f_new = self.objective_value(data, T_new, w, at=T if frozen else None)
                # Armijo, up to the round-off of J itself (near the optimum J cannot resolve the decrease)
                if f_new <= f + 1e-4 * t * -np.sum(G * step) + 1e-14 * (1.0 + abs(f)) or t < 1e-10:
                    break
                t *= 0.5
            T, f = T_new, f_new
            size = np.max(np.abs(t * step))
            if size <= tol * scale or (t == 1.0 and size <= 1e-8 * scale and not frozen):
                break
        if self.n_outputs > 1 and self.fit_intercept:
            T[-1] -= T[-1].mean()  # canonical softmax intercepts (the loss ignores a common shift)
        return T, solver

    def optimum(self, data: Dataset) -> np.ndarray:
        """The exact optimum of ``J`` on ``data`` (cached per dataset fingerprint)."""
        key = data.fingerprint()
        if key not in self._optimum:
            T, solver = self._newton(data, None, None, tol=1e-12, max_iter=100)
            self._optimum[key] = T
            self._opt_solvers[key] = solver
        return self._optimum[key]

    def refit(self, data: Dataset) -> "LinearModel":
        return self.with_theta(self.solve(data))

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(repr(sorted(self.params().items())).encode())
        h.update(np.ascontiguousarray(self.theta).tobytes())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:  # pragma: no cover
        return (f"LinearModel({self.name!r}, objective={self.objective!r}, d={self.n_features}, "
                f"K={self.n_outputs}, c={self.c:g}, alpha={self.alpha:g})")


def check_fitted(est) -> None:
    if not hasattr(est, "coef_"):
        raise ModelError(f"{type(est).__name__} is not fitted; fit it first or let samplescope fit it")
