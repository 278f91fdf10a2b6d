"""Signed distance to the decision boundary.

Binary (score ``s = wᵀx + b``):      v_i = (2y_i − 1) · s_i / ‖w‖
Multiclass (label ``y``, strongest competitor ``j* = argmax_{j≠y} s_j``):

    v_i = (s_{i,y} − s_{i,j*}) / ‖w_y − w_{j*}‖

the distance to the boundary between the label's class and its closest rival, in feature units,
in any dimension. Positive when the sample lies on its label's side (correctly classified), negative
on the wrong side; larger = further inside its class = safer to keep. For models that are not linear
the first-order distance ``|f(x)| / ‖∇ₓ f‖`` takes the place of ``‖w‖``.
"""

from __future__ import annotations

import numpy as np

from samplescope.methods.registry import register


@register("margin", family="boundary", requires=("scores", "input_gradient"), cost="O(n d)",
          summary="signed distance to the decision boundary (+ on the label's side)", targets=("none",),
          tasks=("binary", "multiclass"), weights=False, paper="Cortes & Vapnik 1995; Elsayed et al. 2018")
def margin(ctx):
    m, data = ctx.model, ctx.train
    s = m.scores(data)
    W = m.input_gradient()  # (d, K)
    tiny = np.finfo(float).tiny
    if s.ndim == 1:
        return (2 * data.y - 1) * s / max(np.linalg.norm(W), tiny), {}, "none"
    y = data.y.astype(np.int64)
    rows = np.arange(data.n)
    rival = s.copy()
    rival[rows, y] = -np.inf
    j = np.argmax(rival, axis=1)
    diff = s[rows, y] - s[rows, j]
    norms = np.linalg.norm(W[:, :, None] - W[:, None, :], axis=0)  # (K, K) pairwise ‖w_a − w_b‖
    return diff / np.maximum(norms[y, j], tiny), {}, "none"
