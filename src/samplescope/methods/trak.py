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
kernel ``ΦᵀΦ + λI`` with each row weighted by the loss curvature (``PᵀP ≈ (p/k) I`` for ``k ≪ p``) — so the values are influence-function values with the sign and units of
``influence`` (positive = helpful). For any full-rank square projection (``proj_dim ≥ p`` uses the
identity) they equal the Gauss–Newton influence exactly; for a linear model, the exact influence.
Ranking objectives use each query's dense score-space Hessian block ``A_q`` (``hessian_blocks``) in place of
``Σ_{i∈q} w_i ψ_iᵀA_iψ_i``. ``M`` is solved by Cholesky, or
its pseudo-inverse when singular (e.g. ``k`` larger than the number of training rows without damping).

Per-sample projected gradients are produced chunk by chunk (embedding tables project only the rows a
sample touches); they are kept for the second pass when ``n·K·k`` doubles fit in 512 MB, else recomputed.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

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
    if projector not in PROJECTORS:
        raise MethodError(f"trak: projector must be one of {list(PROJECTORS)}; found {projector!r}")
    if int(proj_dim) < 1:
        raise MethodError(f"trak: proj_dim must be >= 1; found {proj_dim}")
    if not (np.isfinite(damping) and damping >= 0):
        raise MethodError(f"trak: damping must be a finite number >= 0; found {damping}")
    m = ctx.model
    models = [mt for mt, _ in m.checkpoint_models()] if hasattr(m, "checkpoint_models") else []
    total = np.zeros(ctx.train.n)
    for t, mt in enumerate(models or [m]):
        p = _n_params(mt)
        kind = "identity" if int(proj_dim) >= p else projector
        P = Projector(p, int(proj_dim), seed=ctx.seed * 1_000_003 + t, kind=kind)
        total += _one(mt, ctx.train, ctx.valid, P, float(damping))
    return total / max(1, len(models))


def _one(m, train, valid, P: Projector, damping: float) -> np.ndarray:
    """``τ`` for one model and one projection (see the module docstring)."""
    obj = m.objective
    S = m.scores(train)
    kw = {"weight": train.weight} if obj.grouped and train.weight is not None else {}
    lam = obj.gradient(train.y, S, train.group_bounds, **kw).reshape(train.n, -1)
    K = lam.shape[1]
    scale = m.loss_scale(train)
    if obj.grouped:  # the query's dense score-space Hessian block (weights inside), c Ψ_qᵀ A_q Ψ_q
        Aq = m.c * obj.hessian_blocks(train.y, S, train.group_bounds, weight=train.weights).tocsr()
    else:
        A = obj.hessian(train.y, S, train.group_bounds).reshape(train.n, K, K) * scale[:, None, None]
    keep = train.n * K * P.k * 8 <= _KEEP_BYTES
    M = _regulariser(_decay(m) + damping, P)
    stored = []
    for s, e, psi in _projected(m, train, P):
        if obj.grouped:
            M += psi[:, 0].T @ (Aq[s:e, s:e] @ psi[:, 0])
        else:
            M += np.einsum("bki,bkl,blj->ij", psi, A[s:e], psi)
        if keep:
            stored.append((s, e, psi))
    solve = _solver(M)
    target = P.project(m.mean_gradient(valid)[None])[0] if valid is not None else None
    z = solve(target) if target is not None else None
    out = np.empty(train.n)
    for s, e, psi in (stored if keep else _projected(m, train, P)):
        phi = np.einsum("bkj,bk->bj", psi, lam[s:e])
        out[s:e] = phi @ z if z is not None else -np.einsum("bj,jb->b", phi, solve(phi.T))
    return scale * out


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
    """``Pᵀ diag(α) P`` (exact by blocks of rows; its expectation ``Σα/k · I`` beyond ``budget`` flops)."""
    rows = np.flatnonzero(alpha)
    if P.kind == "identity":
        return np.diag(alpha)
    if len(rows) * P.k**2 > budget:
        return np.eye(P.k) * alpha.sum() / P.k
    R = np.zeros((P.k, P.k))
    for s in range(0, len(rows), 4096):
        idx = rows[s:s + 4096]
        B = P.rows(idx)
        R += B.T @ (alpha[idx, None] * B)
    return R


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
