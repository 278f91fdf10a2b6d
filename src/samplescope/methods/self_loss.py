"""Self-loss: the model's own loss on each training sample.

    v_i = −ℓ(y_i, s_i)

The cheapest loss-based signal (used as a baseline by every data-valuation study): samples the model
cannot fit — mislabeled clicks, bots, outliers — have large losses. Uses predicted probabilities,
never hard labels. Target ``none``: unitless, higher = better fitted = safer to keep.
"""

from __future__ import annotations

from samplescope.methods.registry import register


@register("self_loss", family="loss", requires=("scores",), cost="O(n) after one forward pass",
          summary="minus the model's loss on the sample itself", targets=("none",), weights=True,
          tasks=("binary", "regression", "multiclass", "ranking"), paper="baseline", units=("document", "query"), aggregate="sum")
def self_loss(ctx):
    return -ctx.model.losses(ctx.train), {}, "none"
