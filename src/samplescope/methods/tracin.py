"""TracIn: gradient alignment along training (Pruthi et al. 2020, "Estimating Training Data Influence by
Tracing Gradient Descent").

    TracIn(i, target) = Σ_t η_t · c w_i · g_i(θ_t) · ∇L_target(θ_t)

A gradient step on sample i with learning rate η lowers the target loss by that amount to first order,
so the values are in the units of the validation loss, positive = helpful, like ``influence`` with
``H⁻¹`` replaced by ``η I``. With one checkpoint (the fitted model) and ``learning_rate="auto"``,
η = p / tr(H), the inverse of the Hessian's mean eigenvalue — the step size that makes TracIn and
influence agree for an isotropic Hessian. An adapter with training checkpoints (``checkpoint_models()``:
the torch adapter's ``checkpoints=[(state_dict, η_t), ...]``) is summed over them with their own learning
rates (a number given as ``learning_rate`` replaces every ``η_t``). Self target: ``v_i = −Σ_t η_t c w_i ‖g_i(θ_t)‖²``.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import MethodError
from samplescope.methods.pairwise import tracin_pairwise
from samplescope.methods.registry import register


@register("tracin", family="gradient", requires=("param_gradients",), cost="O(n p)",
          summary="gradient alignment with the validation loss (one checkpoint)", targets=("validation", "self"),
          paper="Pruthi et al. 2020", pairwise=tracin_pairwise, tasks=("binary", "regression", "multiclass", "ranking"),
          units=("document", "query"), aggregate="sum")
def tracin(ctx, *, learning_rate: float | str = "auto"):
    m, train = ctx.model, ctx.train
    checkpoints = m.checkpoint_models() if hasattr(m, "checkpoint_models") else []
    if checkpoints:  # Σ_t over the training checkpoints, each with its own η_t unless a number is given
        eta = None if learning_rate == "auto" else _number(learning_rate)
        return sum(_one(mt, train, ctx.valid, eta or lr) for mt, lr in checkpoints)
    if learning_rate == "auto":
        if "hessian" not in m.capabilities:
            raise MethodError("tracin: learning_rate='auto' needs the model's Hessian; pass a number")
        if hasattr(m, "hessian_trace"):  # models reached through Hessian-vector products
            eta = m.p / m.hessian_trace(train)
        else:
            H = m.hessian(train)
            eta = H.shape[0] / np.trace(H)
    else:
        eta = _number(learning_rate)
    return _one(m, train, ctx.valid, eta)


def _number(learning_rate) -> float:
    try:
        eta = float(learning_rate)
    except (TypeError, ValueError):
        raise MethodError(f"tracin: learning_rate must be a positive number or 'auto'; found {learning_rate!r}") from None
    if not eta > 0:
        raise MethodError(f"tracin: learning_rate must be > 0; found {eta}")
    return eta


def _one(m, train, valid, eta: float) -> np.ndarray:
    """``η c w_i g_i · ∇L_valid`` (or ``−η c w_i ‖g_i‖²``) at one set of parameters."""
    scale = eta * m.loss_scale(train) if hasattr(m, "loss_scale") else eta * train.weights
    if valid is not None:
        return scale * m.gradient_dot(train, m.mean_gradient(valid))
    return -scale * m.gradient_sq_norms(train)
