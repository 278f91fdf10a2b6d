"""Influence functions with the exact Hessian (Koh & Liang 2017, "Understanding Black-box Predictions
via Influence Functions"; Cook & Weisberg 1982).

Removing sample i removes ``c w_i ℓ_i`` from the training objective ``J``; to first order the optimum
moves by ``θ_{-i} − θ̂ ≈ c w_i H⁻¹ g_i`` (``H`` = Hessian of ``J`` at θ̂, ``g_i = ∇_θ ℓ_i``). Hence

    validation target:  v_i = c w_i · ∇L_valid(θ̂)ᵀ H⁻¹ g_i   ≈ L_valid(θ_{-i}) − L_valid(θ̂)
    self target:        v_i = −c w_i · g_iᵀ H⁻¹ g_i           ≈ −(ℓ_i(θ_{-i}) − ℓ_i(θ̂))

in the units of exact leave-one-out (positive = helpful). θ̂ is the exact optimum of the model's
objective (a model stopped early is first moved there by Newton's method). ``damping`` adds ``δI``
to ``H``.
"""

from __future__ import annotations

import numpy as np

from samplescope.linalg import SymmetricSolver
from samplescope.methods.registry import register


def hessian_solver(model, train, damping: float):
    solver = model.hessian_solver(train)
    if damping:
        solver = SymmetricSolver(solver.H + damping * np.eye(solver.p))
    return solver


@register("influence", family="loss", requires=("param_gradients", "hessian"), cost="O(n p + p³)",
          summary="first-order change of the validation loss when the sample is removed (exact Hessian)",
          targets=("validation", "self"), paper="Koh & Liang 2017")
def influence(ctx, *, damping: float = 0.0):
    m = ctx.model.at_optimum(ctx.train)
    solver = hessian_solver(m, ctx.train, damping)
    scale = m.loss_scale(ctx.train)
    if ctx.valid is not None:
        z = solver.solve(m.mean_gradient(ctx.valid))
        return scale * m.gradient_dot(ctx.train, z)
    return -scale * m.gradient_quadratic(ctx.train, solver)
