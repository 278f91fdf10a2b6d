"""Newton-step leave-one-out ("approximate LOO"; Beirami et al. 2017, Rad & Maleki 2020,
Giordano et al. 2019).

One Newton step of the leave-one-out objective ``J_{-i} = J − c w_i ℓ_i`` from the optimum θ̂:

    θ̃_{-i} = θ̂ + c w_i H_{-i}⁻¹ g_i,      H_{-i} = H − c w_i J_i A_i J_iᵀ   (rank-K downdate, Woodbury)

For a linear model with one output, ``H_{-i}⁻¹ x_i = H⁻¹x_i / (1 − c w_i h_i x_iᵀH⁻¹x_i)``: the influence
step divided by one minus the sample's leverage. The target loss is then **evaluated** at θ̃_{-i}, not
linearised, which is what makes it track exact LOO on real data far better than ``influence``:

    validation target:  v_i = L_valid(θ̃_{-i}) − L_valid(θ̂)
    self target:        v_i = −(ℓ_i(θ̃_{-i}) − ℓ_i(θ̂))

Query groups (``unit="query"``) and documents of a ranking query: the removal changes the Hessian by the
group's whole block, ``H_{-q} = H − Uᵀ D U`` (``U`` = the group's score Jacobian, ``D`` = the change of the
group's score-space Hessian block: rank ``m·K``), and the Newton step uses the change of the group's
gradient; the Woodbury solve is exact (:class:`~samplescope.models.linear_batch.GroupLeaveOut`). For a ranking
document, removing it deletes its pairs (or softmax mass) from its query, so the other documents' lambdas
change too. Self target of a group: its weighted loss ``L_q = Σ_{i∈q} w_i ℓ_i``.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import MethodError
from samplescope.execution.local import chunk_ranges, map_chunks
from samplescope.methods.loo import batch_size
from samplescope.methods.registry import register
from samplescope.models.linear import LinearModel
from samplescope.models.linear_batch import GroupLeaveOut, LeaveOut, mean_target_losses, own_group_losses, own_losses


@register("newton_loo", family="loss", requires=("param_gradients", "hessian"), cost="O(p³ + n m p)",
          summary="one Newton step of each leave-one-out objective, validation loss evaluated exactly",
          targets=("validation", "self"), paper="Rad & Maleki 2020",
          tasks=("binary", "regression", "multiclass", "ranking"), units=("document", "query"))
def newton_loo(ctx, *, chunk_size: int | None = None):
    if not isinstance(ctx.model, LinearModel):
        raise MethodError(f"newton_loo needs a linear model (its leave-one-out Hessian downdates are exact there); "
                          f"found {type(ctx.model).__name__}; use influence or loo")
    if ctx.unit == "query" or getattr(ctx.model, "grouped", False):
        return _group_newton_loo(ctx, chunk_size)
    train, valid = ctx.train, ctx.valid
    lo = LeaveOut(ctx.model, train)
    m = lo.model
    theta = m.theta
    if valid is not None:
        base = mean_target_losses(m, valid, theta[None])[0]
    else:
        base_own = m.losses(train)

    def run(idx):
        Theta = theta[None] + lo.newton_steps(idx)
        if valid is not None:
            return mean_target_losses(m, valid, Theta) - base
        return -(own_losses(m, train, idx, Theta) - base_own[idx])

    n_eval = valid.n if valid is not None else 1
    size = chunk_size or batch_size(max(n_eval, lo.rows), lo.K)
    parts = map_chunks(run, chunk_ranges(train.n, size), n_jobs=ctx.n_jobs, progress=ctx.progress)
    return np.concatenate(parts)


def _group_newton_loo(ctx, chunk_size):
    if not isinstance(ctx.model, LinearModel):
        raise MethodError(f"newton_loo: unit '{ctx.unit}' with objective '{ctx.model.objective.name}' needs a linear "
                          f"model (the group downdate is exact there); found {type(ctx.model).__name__}")
    train, valid = ctx.train, ctx.valid
    glo = GroupLeaveOut(ctx.model, train, ctx.unit)
    m = glo.model
    theta = m.theta
    by_group = ctx.unit == "query"
    if valid is not None:
        base = mean_target_losses(m, valid, theta[None])[0]
    elif by_group:
        base_own = own_group_losses(m, train, np.arange(glo.n_members), np.repeat(theta[None], glo.n_members, 0))
    else:
        base_own = m.losses(train)

    def run(idx):
        Theta = theta[None] + glo.newton_steps(idx)
        if valid is not None:
            return mean_target_losses(m, valid, Theta) - base
        own = own_group_losses(m, train, idx, Theta) if by_group else own_losses(m, train, idx, Theta)
        return -(own - base_own[idx])

    n_eval = valid.n if valid is not None else train.n
    size = chunk_size or batch_size(max(n_eval, glo.max_group * (glo.rows + glo.max_group)), glo.K)
    parts = map_chunks(run, chunk_ranges(glo.n_members, size), n_jobs=ctx.n_jobs, progress=ctx.progress)
    return np.concatenate(parts)
