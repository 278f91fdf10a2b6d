"""Curvature of a :class:`~samplescope.models.torch_adapter.TorchModel`'s objective ``J``.

Hessian-vector products ``(∇²J) V`` by reverse-over-reverse (``grad(θ ↦ ∇J(θ)·v)``, several ``v`` at once
under ``vmap``; Pearlmutter 1994), or Gauss–Newton products ``Jᵀ ∇²_s L J V`` (``jvp``, then ``vjp``;
Schraudolph 2002) with ``curvature="ggn"`` (positive semi-definite for non-convex models), through the torch
version of the objective (:mod:`samplescope.models.torch_objectives`), in query-group-aligned chunks;
solvers: exact (a pseudo-inverse), CG, LiSSA, Arnoldi (:mod:`samplescope.models.ihvp`). An embedding's
``padding_idx`` row is no parameter (torch never moves it) and gets no curvature.

Small problems skip the per-product passes: an iterative solver runs on the explicit ``p × p`` curvature
(:class:`~samplescope.models.ihvp.DenseOperator`; the same iterates up to round-off) when building it costs
less than the products the solver would make — the Gauss–Newton matrix of a model without sparse tables,
``G = Σ_i J_iᵀ (c w_i A_i) J_i + diag(λ)`` (``J_i = ∂s_i/∂θ``, ``A_i = ∂²ℓ_i/∂s_i²``), from per-sample
Jacobians and one symmetric rank-``n`` update (``syrk``), when ``p ≤ 4096`` and ``p ≤ 32 ×`` the products;
the Hessian from ``p`` products batched under ``vmap`` (256 at a time) when ``p ≤ 1024`` and ``p ≤ 8 ×`` the products.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg.blas import dsyrk

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, require
from samplescope.models.ihvp import DenseOperator, EigenSolver, dense_hessian, make_solver

torch = require("torch", "torch")
from torch.func import grad, jvp, vjp, vmap  # noqa: E402

from samplescope.models.torch_gradients import _GRAD_BUDGET  # noqa: E402
from samplescope.models.torch_objectives import torch_loss  # noqa: E402

__all__ = ["Curvature"]

_DENSE_GGN_P, _DENSE_GGN_RATIO = 4096, 32  # explicit Gauss–Newton matrix from Jacobians: p and p / products
_DENSE_HVP_P, _DENSE_HVP_RATIO = 1024, 8  # explicit Hessian from batched products (256 per vmap)


def _products(method: str, p: int, iterations: int | None, rank: int | None) -> int:
    """The Hessian-vector products a solver makes at most (:func:`samplescope.models.ihvp.make_solver`'s
    defaults; CG is exact after ``p``)."""
    if method == "cg":
        return min(int(iterations) if iterations else 2 * p + 10, p)
    if method == "arnoldi":
        return min(int(iterations) if iterations else (2 * int(rank) + 1 if rank else 200), p)
    return (int(iterations) if iterations else 1000) + 30  # LiSSA: depth + power iteration


class Curvature:
    """Mixin of :class:`TorchModel`: chunk objectives, Hessian operators and solvers."""

    def _chunk_objective(self, data: Dataset, s: int, e: int, reference: dict | None = None):
        """``θ ↦ c Σ_{rows s..e} w_i ℓ_i`` and ``s ↦`` the same as a function of the chunk's scores.

        A loss that freezes weights at reference scores (LambdaRank) freezes them at ``reference``
        (default: the model's parameters), i.e. at the point where derivatives are taken."""
        x = self._x(data, s, e)
        y, w = data.y[s:e], data.weights[s:e]
        b = data.group_bounds if self.objective.grouped else None
        b = None if b is None else b[(b >= s) & (b <= e)] - s
        loss = torch_loss(self.objective)
        at = None
        if not getattr(self.objective, "smooth", True):
            with torch.no_grad():
                out = self._shape_scores(self._call(reference or self._theta, x), e - s)
            at = out.to("cpu", torch.float64).numpy()

        def of_scores(S):
            return self.c * loss(y, S.to(self._acc), b, w, at).sum()

        def of_theta(th):
            return of_scores(self._shape_scores(self._call(th, x), e - s))

        return of_theta, of_scores, x

    def _regulariser(self, th: dict):
        return 0.5 * sum(self._reg[n] * (th[n].to(self._acc) ** 2).sum() for n in self.names if self._reg[n])

    def hvp_operator(self, data: Dataset, *, curvature: str | None = None, stochastic: bool = False):
        """The Hessian (or Gauss–Newton matrix) of ``J`` on ``data`` as an operator for the solvers
        (``stochastic``: LiSSA draws one chunk of ``batch_size`` rows per product)."""
        return _HessianOperator(self, data, curvature or self.curvature, stochastic)

    def hessian(self, data: Dataset) -> np.ndarray:
        """The dense Hessian (or Gauss–Newton matrix) of ``J`` at the parameters, ``(p, p)`` (``p`` ≤ 8192): from
        per-sample Jacobians for the Gauss–Newton matrix of a pointwise objective without sparse tables, else
        from ``p`` products."""
        if self._ggn_from_jacobians():
            return self._ggn_dense(data)
        return dense_hessian(self.hvp_operator(data))

    def _ggn_from_jacobians(self) -> bool:
        return self.curvature == "ggn" and not self.objective.grouped and not self._tables

    def _ggn_dense(self, data: Dataset) -> np.ndarray:
        """``G = Σ_i J_iᵀ (c w_i A_i) J_i + diag(λ)`` chunk by chunk from per-sample Jacobians ``(B, K, p)``:
        ``syrk`` on ``√(c w_i A_i) J_i`` for one output with ``A_i ≥ 0``, else a full product."""
        K, p = self.objective.n_outputs, self.p
        A = self.objective.hessian(data.y, self.scores(data), data.group_bounds).reshape(data.n, K, K)
        A = A * self.loss_scale(data)[:, None, None]
        upper, full = np.zeros((p, p), order="F"), np.zeros((p, p))
        for s, e, Jc, _ in self._gradient_chunks(data, K, jacobian=True):
            Jc = Jc.to("cpu", torch.float64).numpy()
            a = A[s:e]
            if K == 1 and np.all(a >= 0):  # (√a J)ᵀ(√a J), upper triangle, half the flops
                W = Jc[:, 0] * np.sqrt(a[:, 0, 0])[:, None]
                upper = dsyrk(1.0, W.T, beta=1.0, c=upper, trans=0, lower=0, overwrite_c=1)
            else:
                full += Jc.reshape(-1, p).T @ np.einsum("bkl,blp->bkp", a, Jc).reshape(-1, p)
        G = full + np.triu(upper) + np.triu(upper, 1).T
        return 0.5 * (G + G.T) + np.diag(self.decay_vector())

    def _dense_operator(self, data: Dataset, method: str, iterations, rank):
        """The explicit curvature as an operator when that is cheaper than the solver's products, else ``None``
        (see the module docstring)."""
        k = _products(method, self.p, iterations, rank)
        if self._ggn_from_jacobians() and self.p <= _DENSE_GGN_P and self.p <= _DENSE_GGN_RATIO * k:
            return DenseOperator(self._ggn_dense(data))
        if self.p <= _DENSE_HVP_P and self.p <= _DENSE_HVP_RATIO * k:
            return DenseOperator(dense_hessian(self.hvp_operator(data)))
        return None

    def hessian_solver(self, data: Dataset, *, method: str = "exact", damping: float = 0.0,
                       iterations: int | None = None, rank: int | None = None, seed: int = 0):
        """A solver of ``(H + δI) x = b`` (``exact``, ``cg``, ``lissa`` or ``arnoldi``; see ``models.ihvp``).

        ``exact`` is the pseudo-inverse on the eigenvalues above ``rtol · λ_max`` (``rtol`` 1e-10 in float64,
        1e-4 in lower precisions): exactly flat directions come out of finite-precision products as round-off
        and are dropped; negative eigenvalues (a non-convex model, or parameters away from an optimum) are
        dropped with a warning."""
        if method != "exact":
            op = self._dense_operator(data, method, iterations, rank)
            return make_solver(method, op or self.hvp_operator(data), damping=damping, iterations=iterations,
                               rank=rank, seed=seed)
        solver = EigenSolver(self.hessian(data) + damping * np.eye(self.p),
                             rtol=1e-10 if self.dtype == torch.float64 else 1e-4)
        if solver.negative:
            warnings.warn(f"the Hessian of the training objective has {solver.negative} negative eigenvalue(s) "
                          f"(smallest {solver.eigenvalues[0]:.3g}: a non-convex model or parameters away from an "
                          "optimum); inverting it on its positive eigenvalues only — add damping or use "
                          "curvature='ggn'", RuntimeWarning, stacklevel=3)
        return solver

    def group_gradients(self, data: Dataset) -> np.ndarray:
        """``G_q = Σ_{i∈q} c w_i g_i`` for every query group, ``(n_groups, p)`` (dense: small models)."""
        b = data.group_bounds
        if b is None:
            raise DataError(f"{data.name}: expected query groups (column '{data.group_name}'); found none")
        gidx = np.repeat(np.arange(len(b) - 1), np.diff(b))
        scale = self.loss_scale(data)
        out = np.zeros((len(b) - 1, self.p))
        for s, e in self.chunks(data, max(1, min(self.batch_size, _GRAD_BUDGET // (8 * self.p)))):
            np.add.at(out, gidx[s:e], scale[s:e, None] * self.param_gradients(data.subset(np.arange(s, e))))
        return out

    def hessian_trace(self, data: Dataset, *, probes: int = 64, seed: int = 0) -> float:
        """``tr(H)``: exact from ``p`` products when ``p`` ≤ 1024, else Hutchinson with Rademacher probes."""
        if self.p <= 1024:
            return float(np.trace(self.hessian(data)))
        op = self.hvp_operator(data)
        Z = np.random.default_rng(seed).choice([-1.0, 1.0], size=(self.p, probes))
        return float(np.einsum("ij,ij->", Z, op.matvec(Z)) / probes)

    def gradient_quadratic(self, data: Dataset, solver) -> np.ndarray:
        """``g_iᵀ H⁻¹ g_i`` without an ``n × n`` matrix: through ``Uᵀg_i`` for a low-rank solver, else chunk
        by chunk (``solve`` of the chunk's gradients)."""
        if hasattr(solver, "low_rank"):
            U, lam = solver.low_rank
            Z = self.gradient_dot(data, U).reshape(data.n, -1)
            return (Z**2 / lam).sum(axis=1)
        out = np.empty(data.n)
        for s, e in self.chunks(data, max(1, min(self.batch_size, _GRAD_BUDGET // (8 * self.p)))):
            G = self.param_gradients(data.subset(np.arange(s, e)))  # whole query groups: same λ_i
            out[s:e] = np.einsum("ij,ji->i", G, solver.solve(G.T))
        return out


class _HessianOperator:
    """``V ↦ (∇²J) V`` (or the Gauss–Newton ``Jᵀ ∇²_s L J V``) over ``data`` in chunks, numpy in and out."""

    stochastic = False

    def __init__(self, model, data: Dataset, curvature: str, stochastic: bool = False):
        self.m, self.data, self.curvature, self.p, self.stochastic = model, data, curvature, model.p, stochastic

    def _chunk(self, s: int, e: int, T: dict) -> dict:
        m = self.m
        of_theta, of_scores, x = m._chunk_objective(self.data, s, e)
        theta = m._theta
        if self.curvature == "hessian":  # reverse-over-reverse: no forward-mode decompositions (much faster)
            def gv(th, t):
                g = grad(of_theta)(th)
                return sum((g[n] * t[n]).sum() for n in g)

            return vmap(grad(gv), in_dims=(None, 0))(theta, T)

        def f(th):
            return m._shape_scores(m._call(th, x), e - s)

        def one(t):
            S, JT = jvp(f, (theta,), (t,))
            _, AJ = jvp(grad(of_scores), (S,), (JT,))
            return vjp(f, theta)[1](AJ.to(S.dtype))[0]

        return vmap(one)(T)

    def sample_matvec(self, V: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An unbiased minibatch estimate of ``H V``: one random chunk, scaled by the number of chunks."""
        chunks = self.m.chunks(self.data)
        return self.matvec(V, [chunks[int(rng.integers(len(chunks)))]], scale=len(chunks))

    def matvec(self, V: np.ndarray, rows: list | None = None, scale: float = 1.0) -> np.ndarray:
        m = self.m
        T = m.unflat(V, dtype=m.dtype)
        for n, pad in m._padding.items():
            T[n] = T[n].index_fill(1, torch.tensor([pad], device=m.device), 0.0)
        total = {n: torch.zeros_like(t, dtype=m._acc) for n, t in T.items()}
        for s, e in rows if rows is not None else m.chunks(self.data):
            with warnings.catch_warnings():  # torch's forward-mode decompositions load through torch.jit once
                warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch")
                hv = self._chunk(s, e, T)
            for n in total:
                total[n] += hv[n].to(m._acc)
        out = np.stack([m.flat({n: total[n][j] for n in m.names}) for j in range(V.shape[1])], axis=1)
        return scale * out + m.decay_vector()[:, None] * V
