"""Exact leave-one-out: retrain without each sample and measure the target loss.

    validation target:  v_i = L_valid(θ̂_{-i}) − L_valid(θ̂)        (positive = removing i hurts = helpful)
    self target:        v_i = −(ℓ_i(θ̂_{-i}) − ℓ_i(θ̂))

with ``θ̂_{-i} = argmin J_{-i}`` solved to ``max|Δθ| ≤ tol·(1 + max|θ|)`` (Cook 1977; the reference every
approximation here is measured against).

Linear models: no per-sample refit loop. For a batch of samples at once, start from the one-step
Newton estimate (Woodbury-downdated Hessian) and iterate the Newton–chord update with the downdated
Hessian fixed (:mod:`samplescope.models.linear_batch`); each iteration is two matrix products for the
whole batch, members that do not converge fall back to full damped Newton. Batches run on threads and
are checkpointed. Other models: one warm-started ``refit`` per sample, in parallel.

Query groups (``unit="query"``): ``θ̂_{-q}`` is retrained without every row of group ``q`` (weights 0), and the
self target is the group's own weighted loss ``L_q = Σ_{i∈q} w_i ℓ_i``. Ranking objectives
(``unit="document"``): removing document ``i`` removes it from its query (its pairs, its softmax mass, its
rank position; weight 0 == row removed, see :mod:`samplescope.objectives.ranking`), and the self target is
the document's share of its query's loss. Linear models do both in batches as above, preconditioned by
the exact rank-``m`` downdate of the query's Hessian block (:class:`~samplescope.models.linear_batch.GroupLeaveOut`).
"""

from __future__ import annotations

import numpy as np

from samplescope.execution.local import chunk_ranges, map_chunks
from samplescope.methods.registry import register
from samplescope.models.linear import LinearModel
from samplescope.models.linear_batch import (
    GroupLeaveOut,
    LeaveOut,
    chord_solve,
    mean_target_losses,
    own_group_losses,
    own_losses,
)


def batch_size(n: int, K: int, budget: float = 2e7) -> int:
    """Members per batch so that the ``(n, batch, K)`` work arrays stay near ``budget`` doubles."""
    return int(max(1, min(n, budget // max(1, n * K))))


@register("loo", family="loss", requires=("refit",), cost="linear: O(n² p) batched; other models: n refits",
          summary="exact change of the validation loss when the sample is removed (retraining)",
          targets=("validation", "self"), paper="Cook 1977",
          tasks=("binary", "regression", "multiclass", "ranking"), units=("document", "query"))
def loo(ctx, *, tol: float = 1e-10, chunk_size: int | None = None):
    if isinstance(ctx.model, LinearModel):
        if ctx.unit == "query" or ctx.model.grouped:
            return _linear_group_loo(ctx, tol, chunk_size)
        return _linear_loo(ctx, tol, chunk_size)
    return _refit_loo(ctx, chunk_size)


def _linear_group_loo(ctx, tol, chunk_size):
    """Batched refits without a document of a ranking query, or without a whole group."""
    train, valid = ctx.train, ctx.valid
    glo = GroupLeaveOut(ctx.model, train, ctx.unit)
    m = glo.model
    theta = m.theta
    if valid is not None:
        base = mean_target_losses(m, valid, theta[None])[0]
    elif ctx.unit == "query":
        base_own = own_group_losses(m, train, np.arange(glo.n_members), np.repeat(theta[None], glo.n_members, 0))
    else:
        base_own = m.losses(train)

    def run(idx):
        blocks = glo.blocks(idx)
        Theta0 = theta[None] + glo.newton_steps(idx, blocks)

        def precondition(G, active):
            return glo.downdated_solve(G, blocks.take(active))

        Theta = chord_solve(m, train, glo.weights(idx), Theta0, precondition, tol=tol)
        if valid is not None:
            return mean_target_losses(m, valid, Theta) - base
        own = own_group_losses(m, train, idx, Theta) if ctx.unit == "query" else own_losses(m, train, idx, Theta)
        return -(own - base_own[idx])

    per_member = train.n + glo.max_group * (glo.rows + glo.max_group)
    size = chunk_size or batch_size(per_member, glo.K)
    parts = map_chunks(run, chunk_ranges(glo.n_members, size), n_jobs=ctx.n_jobs, progress=ctx.progress,
                       checkpoint=ctx.checkpoint())
    return np.concatenate(parts)


def _linear_loo(ctx, tol, chunk_size):
    train, valid = ctx.train, ctx.valid
    lo = LeaveOut(ctx.model, train)
    m = lo.model
    theta = m.theta
    w_full = m.effective_weights(train)
    if valid is not None:
        base = mean_target_losses(m, valid, theta[None])[0]
    else:
        base_own = m.losses(train)

    def run(idx):
        blocks = lo.blocks(idx)
        Theta0 = theta[None] + lo.newton_steps(idx, blocks)
        W = np.repeat(w_full[:, None], len(idx), axis=1)
        W[idx, np.arange(len(idx))] = 0.0

        def precondition(G, active):
            return lo.downdated_solve(idx[active], G, tuple(b[active] for b in blocks))

        Theta = chord_solve(m, train, W, Theta0, precondition, tol=tol)
        if valid is not None:
            return mean_target_losses(m, valid, Theta) - base
        return -(own_losses(m, train, idx, Theta) - base_own[idx])

    size = chunk_size or batch_size(train.n, lo.K)
    parts = map_chunks(run, chunk_ranges(train.n, size), n_jobs=ctx.n_jobs, progress=ctx.progress,
                       checkpoint=ctx.checkpoint())
    return np.concatenate(parts)


def _refit_loo(ctx, chunk_size):
    model, train, valid = ctx.model, ctx.train, ctx.valid
    w = train.weights
    b = train.group_bounds
    by_group = ctx.unit == "query"
    members = len(b) - 1 if by_group else train.n
    if valid is not None:
        base = model.objective.mean_loss(valid.y, model.scores(valid), valid.weight, valid.group_bounds)
    else:
        base_losses = model.losses(train)

    def own(losses, k):  # a document's loss, or a group's weighted loss Σ_{i∈q} w_i ℓ_i
        return float(np.dot(losses[b[k]:b[k + 1]], w[b[k]:b[k + 1]])) if by_group else losses[k]

    def run(idx):
        out = np.empty(len(idx))
        for j, k in enumerate(idx):
            wi = w.copy()
            if by_group:
                wi[b[k]:b[k + 1]] = 0.0
            else:
                wi[k] = 0.0
            refit = model.refit(train.with_weight(wi))
            if valid is not None:
                out[j] = refit.objective.mean_loss(valid.y, refit.scores(valid), valid.weight, valid.group_bounds) - base
            else:
                out[j] = -(own(refit.losses(train), k) - own(base_losses, k))
        return out

    size = chunk_size or max(1, members // (8 * max(1, ctx.n_jobs)))
    parts = map_chunks(run, chunk_ranges(members, size), n_jobs=ctx.n_jobs, progress=ctx.progress,
                       checkpoint=ctx.checkpoint())
    return np.concatenate(parts)
