"""TRAK: influence of a linearised model in a random low-dimensional projection of parameter space
(Park, Georgiev, Ilyas, Leclerc & Mądry 2023, "TRAK: Attributing Model Behavior at Scale").

For each model ``m`` of the ensemble — the adapter's training checkpoints (``checkpoint_models()``), or the
model itself — with a seeded Johnson–Lindenstrauss projection ``P_m`` of shape ``(p, k)``
(:mod:`samplescope.projectors`):

    ψ_i = P_mᵀ ∂s_i/∂θ   (K × k)          φ_i = ψ_iᵀ λ_i = P_mᵀ g_i          (λ_i = ∂ℓ_i/∂s_i)
    M   = Σ_i c w_i ψ_iᵀ A_i ψ_i  +  P_mᵀ diag(α + δ) P_m          (A_i = ∂²ℓ_i/∂s_i², α = weight decay)

    validation target:  τ_i = c w_i · φ_iᵀ M⁻¹ P_mᵀ ∇L_valid        (≈ L_valid(θ_{-i}) − L_valid(θ))
    self target:        τ_i = −c w_i · φ_iᵀ M⁻¹ φ_i                 (no n × n matrix)

and the value is the mean of ``τ`` over the ensemble. ``M`` is the Gauss–Newton Hessian of the training
objective plus ``damping`` δ (as in ``influence``) restricted to the subspace ``θ + P_m u`` — TRAK's regularised
kernel ``ΦᵀΦ + λI`` with each row weighted by the loss curvature (``PᵀP ≈ (p/k) I`` for ``k ≪ p``) — so
the values are influence-function values with the sign and units of
``influence`` (positive = helpful). For any full-rank square projection (``proj_dim ≥ p`` uses the
identity) they equal the Gauss–Newton influence exactly; for a linear model, the exact influence.
Ranking objectives use each query's dense score-space Hessian block ``A_q`` (``hessian_blocks``) in place of
``Σ_{i∈q} w_i ψ_iᵀA_iψ_i``. ``M`` is solved by Cholesky, or
its pseudo-inverse when singular (e.g. ``k`` larger than the number of training rows without damping).

Per-sample projected gradients are produced chunk by chunk (embedding tables project only the rows a
sample touches); they are kept for the second pass when ``n·K·k`` doubles fit in 512 MB, else recomputed.
For one output and ``A_i ≥ 0`` (log-loss, squared error) ``M`` is accumulated as ``(√A Ψ)ᵀ(√A Ψ)`` by
symmetric rank-``B`` updates (BLAS ``syrk``: half the flops of a general product). Everything is float64
for a float64 model: the dense ``Ψ = J P`` product, ``n·p·k`` multiply-adds per checkpoint, is the bulk of
the cost.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg.blas import dsyrk

from samplescope.errors import MethodError
from samplescope.methods.registry import register
from samplescope.models.linear import LinearModel
from samplescope.projectors import PROJECTORS, Projector

_KEEP_BYTES = 2**29


@register("trak", family="gradient", requires=("param_gradients",), cost="O(n p k + k³) per checkpoint",
          summary="influence in a random k-dimensional projection of the linearised model (Gauss–Newton kernel)",
          targets=("validation", "self"), tasks=("binary", "regression", "multiclass", "ranking"),
          stochastic=True, paper="Park et al. 2023", units=("document", "query"), aggregate="sum")
def trak(ctx, *, proj_dim: int = 2048, projector: str = "rademacher", damping: float = 0.0):
    total = np.zeros(ctx.train.n)
    stages = ensemble(ctx.model, ctx.seed, proj_dim, projector, damping)
    for m, P in stages:
        solve, z, stored = kernel(m, [ctx.train], ctx.valid, P, damping, keep=True)
        total += values(m, ctx.train, P, solve, z, stored[0])
    return total / len(stages)


def ensemble(model, seed: int, proj_dim: int, projector: str, damping: float) -> list:
    """``[(model at checkpoint t, its projector), ...]`` — the checkpoints, or the model itself."""
    if projector not in PROJECTORS:
        raise MethodError(f"trak: projector must be one of {list(PROJECTORS)}; found {projector!r}")
    if int(proj_dim) < 1:
        raise MethodError(f"trak: proj_dim must be >= 1; found {proj_dim}")
    if not (np.isfinite(damping) and damping >= 0):
        raise MethodError(f"trak: damping must be a finite number >= 0; found {damping}")
    models = [mt for mt, _ in model.checkpoint_models()] if hasattr(model, "checkpoint_models") else []
    out = []
    for t, mt in enumerate(models or [model]):
        p = _n_params(mt)
        kind = "identity" if int(proj_dim) >= p else projector
        out.append((mt, Projector(p, int(proj_dim), seed=seed * 1_000_003 + t, kind=kind)))
    return out


def _curvature(m, data):
    """The weighted score-space curvature ``c w_i A_i``: ``(n, K, K)`` blocks, or for a ranking objective the
    sparse block-diagonal ``(n, n)`` of its query blocks (weights inside)."""
    obj, S = m.objective, m.scores(data)
    if obj.grouped:
        return m.c * obj.hessian_blocks(data.y, S, data.group_bounds, weight=data.weights).tocsr()
    K = obj.n_outputs
    return obj.hessian(data.y, S, data.group_bounds).reshape(data.n, K, K) * m.loss_scale(data)[:, None, None]


def _lambda(m, data) -> np.ndarray:
    """``λ_i`` per unit weight, ``(n, K)``."""
    obj = m.objective
    kw = {"weight": data.weight} if obj.grouped and data.weight is not None else {}
    return obj.gradient(data.y, m.scores(data), data.group_bounds, **kw).reshape(data.n, -1)


def kernel(m, chunks, valid, P: Projector, damping: float, keep: bool = False):
    """Pass 1 over the training chunks (each with whole query groups): ``M``, its solver, ``z = M⁻¹ Pᵀ∇L_valid``
    (``None`` without validation data) and, with ``keep`` (and below 512 MB), each chunk's ``Ψ`` blocks."""
    M = _regulariser(_decay(m) + damping, P)
    upper = np.zeros((P.k, P.k), order="F")  # Σ (√a ψ)ᵀ(√a ψ) by syrk: upper triangle, half the flops
    stored = []
    for data in chunks:
        A = _curvature(m, data)
        keep = keep and data.n * m.objective.n_outputs * P.k * 8 <= _KEEP_BYTES
        blocks = []
        for s, e, psi in _projected(m, data, P):
            if m.objective.grouped:
                M += psi[:, 0].T @ (A[s:e, s:e] @ psi[:, 0])
            elif psi.shape[1] == 1 and np.all(A[s:e] >= 0):
                W = psi[:, 0] * np.sqrt(A[s:e, 0, 0])[:, None]
                upper = dsyrk(1.0, W.T, beta=1.0, c=upper, trans=0, lower=0, overwrite_c=1)
            else:  # Σ_b Ψ_bᵀ A_b Ψ_b as one matrix product
                M += psi.reshape(-1, P.k).T @ np.einsum("bkl,blj->bkj", A[s:e], psi).reshape(-1, P.k)
            blocks.append((s, e, psi))
        stored.append(blocks if keep else None)
    M += np.triu(upper) + np.triu(upper, 1).T
    solve = _solver(M)
    z = solve(P.project(m.mean_gradient(valid)[None])[0]) if valid is not None else None
    return solve, z, stored


def values(m, data, P: Projector, solve, z, blocks=None) -> np.ndarray:
    """Pass 2 on one chunk: ``c w_i φ_iᵀ z`` or ``−c w_i φ_iᵀ M⁻¹ φ_i``."""
    lam = _lambda(m, data)
    out = np.empty(data.n)
    for s, e, psi in blocks if blocks is not None else _projected(m, data, P):
        phi = np.einsum("bkj,bk->bj", psi, lam[s:e])
        out[s:e] = phi @ z if z is not None else -np.einsum("bj,jb->b", phi, solve(phi.T))
    return m.loss_scale(data) * out


def _one(m, train, valid, P: Projector, damping: float) -> np.ndarray:
    """``τ`` for one model and one projection (see the module docstring)."""
    solve, z, stored = kernel(m, [train], valid, P, damping, keep=True)
    return values(m, train, P, solve, z, stored[0])


def _solver(M: np.ndarray):
    M = 0.5 * (M + M.T)
    try:
        c = sla.cho_factor(M, lower=True, check_finite=False)
        return lambda B: sla.cho_solve(c, B, check_finite=False)
    except (np.linalg.LinAlgError, sla.LinAlgError):
        vals, vecs = np.linalg.eigh(M)
        ok = vals > 1e-10 * max(vals.max(), 1e-300)
        V, inv = vecs[:, ok], 1.0 / vals[ok]
        return lambda B: V @ ((V.T @ B) * (inv[:, None] if np.ndim(B) == 2 else inv))


def _n_params(m) -> int:
    if isinstance(m, LinearModel):
        return m.theta.size
    if hasattr(m, "projected_jacobians"):
        return m.p
    raise MethodError(f"trak needs per-sample score Jacobians, which {type(m).__name__} does not provide; "
                      "expected a linear or a torch model")


def _decay(m) -> np.ndarray:
    """The L2 strength ``α_j`` of every parameter, flat ``(p,)``."""
    if isinstance(m, LinearModel):
        return np.repeat(m.reg, m.n_outputs)
    return m.decay_vector()


def _regulariser(alpha: np.ndarray, P: Projector, budget: float = 5e10) -> np.ndarray:
    """``Pᵀ diag(α) P`` (exact by blocks of rows, ``syrk`` on ``√α P`` for ``α ≥ 0``; its expectation
    ``Σα/k · I`` beyond ``budget`` flops). A projection small enough to cache is generated whole here, once,
    and reused by the model's projected Jacobians."""
    rows = np.flatnonzero(alpha)
    if P.kind == "identity":
        return np.diag(alpha)
    if len(rows) * P.k**2 > budget:
        return np.eye(P.k) * alpha.sum() / P.k
    full = P.matrix() if P.p * P.k <= P.cache else None
    R = np.zeros((P.k, P.k), order="F")
    for s in range(0, len(rows), 4096):
        idx = rows[s:s + 4096]
        B = full[idx] if full is not None else P.rows(idx)
        if np.all(alpha[idx] >= 0):
            R = dsyrk(1.0, (np.sqrt(alpha[idx])[:, None] * B).T, beta=1.0, c=R, trans=0, lower=0, overwrite_c=1)
        else:
            R += np.triu(B.T @ (alpha[idx, None] * B))
    return np.triu(R) + np.triu(R, 1).T


def _projected(m, data, P: Projector, chunk: int = 4096):
    """Yield ``(s, e, Ψ)``, ``Ψ = (∂s_i/∂θ) P`` ``(e − s, K, k)``, for a torch or a linear model."""
    if not isinstance(m, LinearModel):
        yield from m.projected_jacobians(data, P)
        return
    K = m.n_outputs
    Pm = P.matrix().reshape(-1, K, P.k)  # rows j·K + k
    Xt = m.design(data)
    b = data.group_bounds if m.objective.grouped else None
    cuts = np.arange(0, data.n, chunk) if b is None else np.unique(b[np.searchsorted(b, np.arange(0, data.n, chunk))])
    cuts = cuts[cuts < data.n]
    for s, e in zip(cuts, np.r_[cuts[1:], data.n]):  # whole query groups for ranking objectives
        X = Xt[s:e]
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        yield s, e, np.einsum("bj,jkq->bkq", X, Pm)
