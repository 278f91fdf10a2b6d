"""GraNd: the norm of the sample's parameter gradient (Paul, Ganguli & Dziugaite 2021).

    GraNd_i = w_i ‖∇_θ ℓ(y_i, s_i(θ))‖₂          linear model: w_i ‖x̃_i‖ ‖λ_i‖

How hard the sample pulls on the parameters (weighted, so a weight-2 row pulls like two rows).
Oriented higher = more useful to keep: ``v_i = −GraNd_i``, the same orientation as negated
self-influence (``g_iᵀH⁻¹g_i`` with ``H = I``). Raw norms are in the ``grad_norm`` column.
"""

from __future__ import annotations

import numpy as np

from samplescope.methods.registry import register


@register("grad_norm", family="gradient", requires=("param_gradients",), cost="O(n p)",
          summary="minus the norm of the sample's parameter gradient (GraNd)", targets=("none",),
          paper="Paul et al. 2021", tasks=("binary", "regression", "multiclass", "ranking"), units=("document", "query"), aggregate="mean")
def grad_norm(ctx):
    w = ctx.train.weights
    norm = w * np.sqrt(ctx.model.gradient_sq_norms(ctx.train))
    return -norm, {"grad_norm": norm}, "none"
