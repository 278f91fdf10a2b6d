"""EL2N: the L2 norm of the error vector (Paul, Ganguli & Dziugaite 2021, "Deep Learning on a Data Diet").

    EL2N_i = ‖p_i − y_i‖₂            p_i = predicted probabilities (softmax / sigmoid), y_i one-hot

For log-loss and softmax this is the norm of the score-space gradient ``λ_i``; for squared error it is
the absolute residual. Oriented so that higher = more useful to keep: ``v_i = −EL2N_i`` (hard and
mislabeled samples score lowest). The paper averages over early-training checkpoints; with one model
this is the final-model EL2N. For pruning by "keep the hardest", sort ascending.
"""

from __future__ import annotations

import numpy as np

from samplescope.methods.registry import register


@register("el2n", family="gradient", requires=("scores",), cost="O(n) after one forward pass",
          summary="minus the norm of the error p − y (prediction error vector)", targets=("none",), weights=False,
          paper="Paul et al. 2021", tasks=("binary", "regression", "multiclass", "ranking"), units=("document", "query"), aggregate="mean")
def el2n(ctx):
    m = ctx.model
    lam = m.objective.gradient(ctx.train.y, m.scores(ctx.train), ctx.train.group_bounds)
    norm = np.abs(lam) if lam.ndim == 1 else np.linalg.norm(lam, axis=1)
    return -norm, {"el2n": norm}, "none"
