"""TracIn: gradient alignment along training (Pruthi et al. 2020, "Estimating Training Data Influence by
Tracing Gradient Descent").

    TracIn(i, target) = Σ_t η_t · c w_i · g_i(θ_t) · ∇L_target(θ_t)

A gradient step on sample i with learning rate η lowers the target loss by that amount to first order,
so the values are in the units of the validation loss, positive = helpful, like ``influence`` with
``H⁻¹`` replaced by ``η I``. With one checkpoint (the fitted model) and ``learning_rate="auto"``,
η = p / tr(H), the inverse of the Hessian's mean eigenvalue — the step size that makes TracIn and
influence agree for an isotropic Hessian. Several checkpoints arrive with the deep-model adapters.
Self target: ``v_i = −η c w_i ‖g_i‖²``.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import MethodError
from samplescope.methods.registry import register


@register("tracin", family="gradient", requires=("param_gradients",), cost="O(n p)",
          summary="gradient alignment with the validation loss (one checkpoint)", targets=("validation", "self"),
          paper="Pruthi et al. 2020")
def tracin(ctx, *, learning_rate: float | str = "auto"):
    m, train = ctx.model, ctx.train
    if learning_rate == "auto":
        if "hessian" not in m.capabilities:
            raise MethodError("tracin: learning_rate='auto' needs the model's Hessian; pass a number")
        H = m.hessian(train)
        eta = H.shape[0] / np.trace(H)
    else:
        try:
            eta = float(learning_rate)
        except (TypeError, ValueError):
            raise MethodError(f"tracin: learning_rate must be a positive number or 'auto'; found {learning_rate!r}") from None
        if not eta > 0:
            raise MethodError(f"tracin: learning_rate must be > 0; found {eta}")
    scale = eta * m.loss_scale(train) if hasattr(m, "loss_scale") else eta * train.weights
    if ctx.valid is not None:
        return scale * m.gradient_dot(train, m.mean_gradient(ctx.valid))
    return -scale * m.gradient_sq_norms(train)
