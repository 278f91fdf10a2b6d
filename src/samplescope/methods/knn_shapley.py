"""KNN-Shapley: exact Shapley values of a K-nearest-neighbour classifier's validation utility, in
closed form (Jia et al. 2019, "Efficient Task-Specific Data Valuation for Nearest Neighbor Algorithms").

For one validation point with label y, order the N training points by distance, α_1 (closest) … α_N:

    s_{α_N} = 1[y_{α_N} = y] / max(N, K)
    s_{α_j} = s_{α_{j+1}} + (1[y_{α_j} = y] − 1[y_{α_{j+1}} = y]) / K · min(K, j) / j

and average over validation points. The utility is the KNN classifier's likelihood of the right label
(the fraction of the K nearest neighbours that carry it), so values are exact Shapley values of that
game — no sampling. Euclidean distance on the model's feature space; ties are broken by training row
order (a stable sort). Model-agnostic: the model is only used to know the task.

Cost O(m · N log N) for m validation points, chunked so memory stays O(chunk · N).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from samplescope.errors import MethodError
from samplescope.execution.local import chunk_ranges, map_chunks
from samplescope.methods.registry import register


def knn_shapley_values(X_train, y_train, X_valid, y_valid, k: int, *, n_jobs: int = 1, progress=None) -> np.ndarray:
    """Closed-form KNN-Shapley values ``(n_train,)`` averaged over the validation points."""
    from sklearn.metrics.pairwise import euclidean_distances

    n = X_train.shape[0]
    j = np.arange(1, n)  # 1-based positions 1..N-1
    coef = np.minimum(k, j) / (k * j)
    sq_train = np.asarray(X_train.multiply(X_train).sum(axis=1)).ravel() if sp.issparse(X_train) else \
        np.einsum("ij,ij->i", X_train, X_train)

    def run(rows):
        D = euclidean_distances(X_valid[rows], X_train, Y_norm_squared=sq_train[None, :], squared=True)
        order = np.argsort(D, axis=1, kind="stable")
        match = (y_train[order] == y_valid[rows][:, None]).astype(np.float64)
        diff = (match[:, :-1] - match[:, 1:]) * coef
        s = np.empty_like(match)
        s[:, -1] = match[:, -1] / max(n, k)  # = 1[match]/K · P(fewer than K points precede it) = min(K, N)/N
        s[:, :-1] = s[:, -1:] + np.cumsum(diff[:, ::-1], axis=1)[:, ::-1]
        vals = np.empty_like(s)
        np.put_along_axis(vals, order, s, axis=1)
        return vals.sum(axis=0)

    per = max(1, int(4e6 // max(1, n)))
    parts = map_chunks(run, chunk_ranges(X_valid.shape[0], per), n_jobs=n_jobs, progress=progress)
    return np.sum(parts, axis=0) / X_valid.shape[0]


@register("knn_shapley", family="loss", requires=("features",), cost="O(m n log n), memory O(n) per validation chunk",
          summary="exact Shapley value for a K-nearest-neighbour classifier on the validation set",
          targets=("knn-utility",), needs_valid=True, tasks=("binary", "multiclass"), weights=False,
          paper="Jia et al. 2019")
def knn_shapley(ctx, *, k: int = 10):
    if int(k) < 1:
        raise MethodError(f"knn_shapley: k must be >= 1; found {k}")
    t, v = ctx.train, ctx.valid
    tick = (lambda rows: ctx.tick(rows * t.n / v.n)) if ctx.progress is not None else None
    values = knn_shapley_values(t.X, t.y, v.X, v.y, int(k), n_jobs=ctx.n_jobs, progress=tick)
    return values, {}, "knn-utility"
