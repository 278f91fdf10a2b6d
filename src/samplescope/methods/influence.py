"""Influence functions with the exact Hessian (Koh & Liang 2017, "Understanding Black-box Predictions
via Influence Functions"; Cook & Weisberg 1982).

Removing sample i removes ``c w_i ℓ_i`` from the training objective ``J``; to first order the optimum
moves by ``θ_{-i} − θ̂ ≈ c w_i H⁻¹ g_i`` (``H`` = Hessian of ``J`` at θ̂, ``g_i = ∇_θ ℓ_i``). Hence

    validation target:  v_i = c w_i · ∇L_valid(θ̂)ᵀ H⁻¹ g_i   ≈ L_valid(θ_{-i}) − L_valid(θ̂)
    self target:        v_i = −c w_i · g_iᵀ H⁻¹ g_i           ≈ −(ℓ_i(θ_{-i}) − ℓ_i(θ̂))

in the units of exact leave-one-out (positive = helpful). θ̂ is the exact optimum of the model's
objective (a model stopped early is first moved there by Newton's method). ``damping`` adds ``δI``
to ``H``. ``solver`` chooses how ``H⁻¹`` is applied: ``exact`` (factorised), or from Hessian-vector
products ``cg``, ``lissa``, ``arnoldi`` (:mod:`samplescope.models.ihvp`; ``iterations`` = CG steps /
LiSSA depth / Krylov steps, ``rank`` = Arnoldi eigenpairs) — what deep models use.

Query groups (``unit="query"``): removing group ``q`` removes ``c Σ_{i∈q} w_i ℓ_i`` from ``J``; with
``G_q = c Σ_{i∈q} w_i g_i`` (``= c ∇L_q``, the sum of the document terms above)

    validation target:  v_q = G_qᵀ H⁻¹ ∇L_valid(θ̂)   (= the sum of the group's document values)
    self target:        v_q = −G_qᵀ H⁻¹ G_q / c       (≈ −(L_q(θ_{-q}) − L_q(θ̂)), L_q = Σ_{i∈q} w_i ℓ_i)

Ranking objectives: ``g_i = λ_i ∂s_i/∂θ`` with ``λ_i`` the document's lambda (per unit weight), so the
document values are the document's share of its query's first-order value (they add up to it); removing
one document also deletes its pairs with the other documents, which only ``loo`` and ``newton_loo`` see.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import MethodError
from samplescope.linalg import SymmetricSolver
from samplescope.methods.pairwise import influence_pairwise
from samplescope.methods.registry import register
from samplescope.models.ihvp import DenseOperator, make_solver


def hessian_solver(model, train, damping: float, solver: str = "exact", iterations: int | None = None,
                   rank: int | None = None, seed: int = 0):
    if hasattr(model, "hvp_operator"):  # reached through Hessian-vector products (torch models)
        return model.hessian_solver(train, method=solver, damping=damping, iterations=iterations, rank=rank,
                                    seed=seed)
    if solver != "exact":  # on the factorised matrix's H: flat directions (softmax, rankers) filled in
        return make_solver(solver, DenseOperator(model.hessian_solver(train).H), damping=damping,
                           iterations=iterations, rank=rank, seed=seed)
    solver = model.hessian_solver(train)
    if damping:
        solver = SymmetricSolver(solver.H + damping * np.eye(solver.p))
    return solver


@register("influence", family="loss", requires=("param_gradients", "hessian"), cost="O(n p + p³)",
          summary="first-order change of the validation loss when the sample is removed (exact Hessian)",
          targets=("validation", "self"), paper="Koh & Liang 2017", pairwise=influence_pairwise,
          tasks=("binary", "regression", "multiclass", "ranking"), units=("document", "query"))
def influence(ctx, *, damping: float = 0.0, solver: str = "exact", iterations: int | None = None,
              rank: int | None = None):
    m = ctx.model.at_optimum(ctx.train)
    solver = hessian_solver(m, ctx.train, damping, solver, iterations, rank, ctx.seed)
    if ctx.unit == "query":
        return _by_group(ctx, m, solver)
    scale = m.loss_scale(ctx.train)
    if ctx.valid is not None:
        z = solver.solve(m.mean_gradient(ctx.valid))
        return scale * m.gradient_dot(ctx.train, z)
    return -scale * m.gradient_quadratic(ctx.train, solver)


def _by_group(ctx, m, solver):
    """One value per query group: ``G_qᵀ H⁻¹ ∇L_valid`` or ``−G_qᵀ H⁻¹ G_q / c``."""
    if not hasattr(m, "group_gradients"):
        raise MethodError(f"influence: unit 'query' needs per-group gradients (group_gradients) from the model, "
                          f"which {type(m).__name__} does not provide; use unit 'document'")
    G = m.group_gradients(ctx.train)  # (n_groups, p)
    if ctx.valid is not None:
        return G @ solver.solve(m.mean_gradient(ctx.valid))
    return -np.einsum("qp,pq->q", G, solver.solve(G.T)) / m.c
