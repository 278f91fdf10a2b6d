"""Signed distance to the decision boundary.

Binary (score ``s = wᵀx + b``):      v_i = (2y_i − 1) · s_i / ‖w‖
Multiclass (label ``y``, strongest competitor ``j* = argmax_{j≠y} s_j``):

    v_i = (s_{i,y} − s_{i,j*}) / ‖w_y − w_{j*}‖

the distance to the boundary between the label's class and its closest rival, in feature units,
in any dimension. Positive when the sample lies on its label's side (correctly classified), negative
on the wrong side; larger = further inside its class = safer to keep. For models that are not linear
the first-order distance ``|f(x)| / ‖∇ₓ f‖`` takes the place of ``‖w‖`` (with the adapter's per-sample
``input_gradients``: the torch adapter's, with respect to the float input rows).

Models without an input gradient (boosted trees: ∂s/∂x is zero almost everywhere, so no distance in feature
space exists) get the **score-space margin**, with scale 1:

    binary:      v_i = (2y_i − 1) · s_i                 (log-loss: the log-odds of the sample's own label)
    multiclass:  v_i = s_{i,y} − s_{i,j*}

Ranking objectives (any model) get a **pairwise margin** per document, in score units: over the documents
``j`` of the same query with a different label,

    v_i = mean_j sign(y_i − y_j) · (s_i − s_j)

positive when the document is, on average, ordered correctly against its query's differently-labelled
documents (above those less relevant, below those more relevant); 0 for a document without such a partner
(its query holds no preference about it). Computed from per-query label counts and score sums in
O(n log n), never pair by pair. ``unit="query"``: the mean over the query's documents.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import DataError
from samplescope.methods.registry import register


@register("margin", family="boundary", requires=("scores",), cost="O(n d); trees and ranking: O(n log n) after scoring",
          summary="signed distance to the decision boundary (+ on the label's side); trees: score margin; "
          "ranking: mean pairwise margin within the query", targets=("none",),
          tasks=("binary", "multiclass", "ranking"), weights=False, paper="Cortes & Vapnik 1995; Elsayed et al. 2018",
          units=("document", "query"), aggregate="mean")
def margin(ctx):
    m, data = ctx.model, ctx.train
    s = m.scores(data)
    if m.objective.task == "ranking":
        if data.group_bounds is None:
            raise DataError(f"{data.name}: objective '{m.objective.name}' needs query groups; expected a group "
                            "column or qid (rows of a query contiguous), found none")
        return pairwise_margin(data.y, s, data.group_bounds), {}, "none"
    if "input_gradient" not in m.capabilities:  # trees: the score-space margin (scale 1)
        return _score_margin(s, data.y), {}, "none"
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


def _score_margin(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(2y − 1) s`` or ``s_y − s_j*``: the margin in score units."""
    if s.ndim == 1:
        return (2 * y - 1) * s
    rows, y = np.arange(len(s)), y.astype(np.int64)
    rival = s.copy()
    rival[rows, y] = -np.inf
    return s[rows, y] - rival.max(axis=1)


def pairwise_margin(y: np.ndarray, s: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``mean_{j in q(i), y_j != y_i} sign(y_i − y_j)(s_i − s_j)`` per document (0 without a partner).

    With ``n_<, S_<`` (``n_>, S_>``) the count and score sum of the query's documents with a lower (higher)
    label: ``Σ_j sign(y_i − y_j)(s_i − s_j) = s_i (n_< − n_>) − (S_< − S_>)``.
    """
    y, s = np.asarray(y, dtype=np.float64), np.asarray(s, dtype=np.float64)
    n = len(y)
    b = np.asarray(bounds, dtype=np.int64)
    gid = np.repeat(np.arange(len(b) - 1), np.diff(b))
    order = np.lexsort((y, gid))  # by query, then label
    ys, ss_, gs = y[order], s[order], gid[order]
    csum = np.concatenate([[0.0], np.cumsum(ss_)])
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (gs[1:] != gs[:-1]) | (ys[1:] != ys[:-1])
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)
    g_lo, g_hi = b[gs[starts]], b[gs[starts] + 1]  # sorted rows of a query stay inside its bounds
    n_lo, n_hi = (starts - g_lo)[run_id], (g_hi - ends)[run_id]
    S_lo, S_hi = (csum[starts] - csum[g_lo])[run_id], (csum[g_hi] - csum[ends])[run_id]
    pairs = n_lo + n_hi
    total = ss_ * (n_lo - n_hi) - (S_lo - S_hi)
    out = np.empty(n)
    out[order] = np.divide(total, pairs, out=np.zeros(n), where=pairs > 0)
    return out
