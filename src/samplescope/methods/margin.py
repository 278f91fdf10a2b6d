"""Signed distance to the decision boundary.

Binary (score ``s = wᵀx + b``):      v_i = (2y_i − 1) · s_i / ‖w‖
Multiclass (label ``y``, strongest competitor ``j* = argmax_{j≠y} s_j``):

    v_i = (s_{i,y} − s_{i,j*}) / ‖w_y − w_{j*}‖

the distance to the boundary between the label's class and its closest rival, in feature units,
in any dimension. Positive when the sample lies on its label's side (correctly classified), negative
on the wrong side; larger = further inside its class = safer to keep. For models that are not linear
the first-order distance ``|f(x)| / ‖∇ₓ f‖`` takes the place of ``‖w‖`` (with the adapter's per-sample
``input_gradients``: the torch adapter's, with respect to the float input rows).
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
    if hasattr(m, "input_gradients"):  # not linear: per-sample ∂s/∂x, (n, d) or (n, d, K)
        return _first_order(s, m.input_gradients(data), data.y), {}, "none"
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


def _first_order(s: np.ndarray, G: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(2y − 1) s_i / ‖∇ₓ s_i‖`` or ``(s_y − s_j*) / ‖∇ₓ(s_y − s_j*)‖`` with per-sample gradients ``G``."""
    tiny = np.finfo(float).tiny
    if s.ndim == 1:
        return (2 * y - 1) * s / np.maximum(np.linalg.norm(G, axis=1), tiny)
    rows, y = np.arange(len(s)), y.astype(np.int64)
    rival = s.copy()
    rival[rows, y] = -np.inf
    j = np.argmax(rival, axis=1)
    return (s[rows, y] - s[rows, j]) / np.maximum(np.linalg.norm(G[rows, :, y] - G[rows, :, j], axis=1), tiny)
