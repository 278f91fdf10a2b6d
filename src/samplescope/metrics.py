"""Ranking metrics over query groups: NDCG@k, MAP@k and MRR@k, with LightGBM's conventions.

Every metric ranks each query's documents by score, descending; ties keep row order (LightGBM's
``std::stable_sort``). Groups are vectorised as padded blocks (no loop over queries or documents), and the
mean over queries is weighted by the query weight ``mean_{i∈q} w_i`` (LightGBM's query weights, from
per-document weights).

* **NDCG@k** (Järvelin & Kekäläinen 2002; LightGBM ``ndcg``): ``DCG@k = Σ_{r<k} G(y_(r)) / log2(r + 2)``
  with ``G = label_gain`` (default ``2^y − 1``), divided by the ideal DCG@k (labels sorted descending).
  A query whose ideal DCG is 0 (no relevant document) counts as NDCG 1, as in LightGBM.
* **MAP@k** (LightGBM ``map``): a document is relevant when ``y > threshold`` (0.5);
  ``AP@k = Σ_{r<k} rel_r · P@(r+1) / min(n_rel, k)``, and a query without relevant documents counts 1.
* **MRR@k** (Voorhees 1999): ``1 / (1 + rank of the first relevant document)`` within the top k, 0 when
  there is none (LightGBM has no MRR).

``k = None`` means no cut-off (the whole query). One difference from LightGBM, on purpose: with weights,
LightGBM's NDCG adds 1 for a query with ideal DCG 0 instead of the query's weight (so such queries count
with weight 1 in a weighted mean); here they count with their weight like every other query. Unweighted
NDCG and (weighted or not) MAP equal LightGBM's.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import DataError, MethodError
from samplescope.objectives.ranking._groups import check_bounds, group_chunks
from samplescope.objectives.ranking.lambdarank import default_label_gain

__all__ = ["ndcg", "mean_average_precision", "mrr", "RANKING_METRICS"]


def _check_k(k, name: str) -> int | None:
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MethodError(f"metric '{name}': k must be an integer >= 1 or None; found {k!r}")
    return int(k)


def _inputs(y, s, bounds, weight, name):
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    s = np.asarray(s, dtype=np.float64).reshape(-1)
    if s.shape != y.shape:
        raise DataError(f"metric '{name}': expected one score per label ({len(y)}); found {len(s)}")
    b = check_bounds(bounds, len(y), name, kind="metric")
    w = None if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    if w is not None and w.shape != y.shape:
        raise DataError(f"metric '{name}': expected one weight per row ({len(y)}); found {len(w)}")
    return y, s, b, w


def _sorted_labels(y, s, I, M):
    """Labels of each padded query in score order (descending, stable), padding last as ``-inf``."""
    order = np.argsort(np.where(M, -s[I], np.inf), axis=1, kind="stable")
    return np.take_along_axis(np.where(M, y[I], -np.inf), order, axis=1)


def _gains(L: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """``label_gain[L]``, 0 on padding (``-inf``)."""
    pad = ~np.isfinite(L)
    return np.where(pad, 0.0, gain[np.where(pad, 0, L).astype(np.int64)])


def _reduce(per, b, w, per_group):
    if per_group:
        return per
    if w is None:
        return float(per.mean())
    qw = np.add.reduceat(w, b[:-1]) / np.diff(b)
    return float(np.dot(qw, per) / qw.sum())


def ndcg(y, s, bounds, *, k: int | None = None, label_gain=None, weight=None, per_group: bool = False):
    """NDCG@k, LightGBM's definition (a query with ideal DCG 0 scores 1).

    Args:
        y: integer relevance labels ``(n,)``.
        s: scores ``(n,)``.
        bounds: query-group offsets (``Dataset.group_bounds``).
        k: cut-off (``None``: the whole query).
        label_gain: gain of each label (default ``2^i − 1``).
        weight: per-document weights; queries are weighted by their mean.
        per_group: return the ``(n_groups,)`` values instead of their (weighted) mean.

    >>> ndcg([0, 1, 2], [0.1, 0.2, 0.3], [0, 3])
    1.0
    """
    k = _check_k(k, "ndcg")
    y, s, b, w = _inputs(y, s, bounds, weight, "ndcg")
    gain = default_label_gain() if label_gain is None else np.asarray(label_gain, dtype=np.float64)
    if np.any(y < 0) or np.any(y != np.floor(y)) or np.any(y >= len(gain)):
        raise DataError(f"metric 'ndcg': labels must be integers in 0..{len(gain) - 1} (one label_gain each); "
                        f"found values in [{y.min():g}, {y.max():g}]"
                        f"{' with non-integers' if np.any(y != np.floor(y)) else ''}")
    per = np.empty(len(b) - 1)
    for g, I, M in group_chunks(b, max_cells=1 << 20, pairwise=False):
        m = I.shape[1]
        kk = m if k is None else min(k, m)
        disc = 1.0 / np.log2(np.arange(kk) + 2.0)
        ranked = _sorted_labels(y, s, I, M)[:, :kk]
        ideal = -np.sort(-np.where(M, y[I], -np.inf), axis=1)[:, :kk]
        dcg, idcg = _gains(ranked, gain) @ disc, _gains(ideal, gain) @ disc
        per[g] = np.divide(dcg, idcg, out=np.ones_like(dcg), where=idcg > 0)
    return _reduce(per, b, w, per_group)


def mean_average_precision(y, s, bounds, *, k: int | None = None, threshold: float = 0.5, weight=None,
                           per_group: bool = False):
    """MAP@k, LightGBM's definition (relevant = ``y > threshold``; a query without relevant documents scores 1).

    >>> mean_average_precision([1, 0, 1], [0.3, 0.2, 0.1], [0, 3])  # hits at ranks 1 and 3: (1 + 2/3) / 2
    0.8333333333333333
    """
    k = _check_k(k, "map")
    y, s, b, w = _inputs(y, s, bounds, weight, "map")
    per = np.empty(len(b) - 1)
    for g, I, M in group_chunks(b, max_cells=1 << 20, pairwise=False):
        m = I.shape[1]
        kk = m if k is None else min(k, m)
        rel = (_sorted_labels(y, s, I, M) > threshold).astype(np.float64)
        n_rel = rel.sum(axis=1)
        top = rel[:, :kk]
        prec = np.cumsum(top, axis=1) / np.arange(1, kk + 1)
        denom = np.minimum(n_rel, np.minimum(kk, M.sum(axis=1)))
        per[g] = np.divide((top * prec).sum(axis=1), denom, out=np.ones(len(g)), where=n_rel > 0)
    return _reduce(per, b, w, per_group)


def mrr(y, s, bounds, *, k: int | None = None, threshold: float = 0.5, weight=None, per_group: bool = False):
    """Mean reciprocal rank of the first relevant document (``y > threshold``) within the top k; 0 when none.

    >>> mrr([0, 1, 0], [0.3, 0.2, 0.1], [0, 3])
    0.5
    """
    k = _check_k(k, "mrr")
    y, s, b, w = _inputs(y, s, bounds, weight, "mrr")
    per = np.empty(len(b) - 1)
    for g, I, M in group_chunks(b, max_cells=1 << 20, pairwise=False):
        m = I.shape[1]
        kk = m if k is None else min(k, m)
        rel = _sorted_labels(y, s, I, M)[:, :kk] > threshold
        first = np.argmax(rel, axis=1)
        per[g] = np.where(rel.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return _reduce(per, b, w, per_group)


#: name → function, for reports and the CLI
RANKING_METRICS = {"ndcg": ndcg, "map": mean_average_precision, "mrr": mrr}
