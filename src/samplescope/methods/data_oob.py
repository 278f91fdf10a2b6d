"""Data-OOB: out-of-bag estimate of each sample's value (Kwon & Zou 2023, "Data-OOB: Out-of-bag
Estimate as a Simple and Efficient Data Value").

Train B models on bootstrap samples (as integer sample weights: the bag's multiplicity of each row).
For every sample, average a score of the models whose bag left it out:

    v_i = Σ_b 1[count_bi = 0] · T(y_i, f_b(x_i)) / Σ_b 1[count_bi = 0]

``metric="loss"`` (default): ``T = −ℓ(y_i, f_b(x_i))`` from predicted probabilities; ``metric="accuracy"``:
``T = 1[ŷ_b(x_i) = y_i]`` as in the paper. Higher = the sample agrees with models that never saw it.

Linear models train all bags at once: batched Newton–chord iterations, each bag preconditioned by its
own Hessian at the full-data optimum, with a Newton fall-back.

Ranking (query groups). A ranking loss couples the documents of a query, so the bootstrap draws **whole
query groups** (multiplicity ``c_bq`` on every document of ``q``: a weight constant within the group scales
its loss, see :mod:`samplescope.objectives.ranking`), and a document is out of bag exactly when its query is:

    unit="query":     v_q = mean_{b: c_bq = 0} T_q(f_b),   T_q = −L_q(f_b) (metric="loss", the group's weighted
                      loss) or NDCG@k of the query under f_b (metric="ndcg@k"; "ndcg" = the whole list)
    unit="document":  v_i = mean_{b: c_b,q(i) = 0} −ℓ_i(f_b)   (the document's share of its group's loss)

A query whose labels are all equal (among its documents of positive weight; a query of weight 0 has none)
holds no preference: its loss is 0 (and its NDCG 1, LightGBM's convention) under every model, which would make
it the "best" query of all; so would a document of weight 0 (absent). They get the mean value of the other
queries (documents) instead — neutral — and ``extras["degenerate"]`` marks them; the mean given to units that
were never out of bag leaves them out too.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from samplescope.errors import MethodError
from samplescope.execution.local import chunk_ranges, map_chunks
from samplescope.methods.registry import register
from samplescope.models.linear import LinearModel
from samplescope.models.linear_batch import batch_losses, batch_scores, chord_solve


def bootstrap_counts(n: int, n_estimators: int, seed: int, max_samples: float = 1.0) -> np.ndarray:
    """``(B, n)`` multiplicities of each row in each bootstrap bag."""
    rng = np.random.default_rng(seed)
    m = max(1, int(round(max_samples * n)))
    draws = rng.integers(0, n, size=(n_estimators, m))
    flat = (draws + n * np.arange(n_estimators)[:, None]).ravel()
    return np.bincount(flat, minlength=n * n_estimators).reshape(n_estimators, n).astype(np.float64)


def _metric(model, y, S, metric):
    if metric == "loss":
        return -batch_losses(model, y, S)  # (n, B); needs only model.objective
    P = S[:, :, 0] > 0 if S.shape[2] == 1 else np.argmax(S, axis=2)
    return (P == y[:, None]).astype(np.float64)


def _ndcg_k(metric: str):
    """``k`` of ``metric="ndcg@k"`` (``None`` for the whole list), or ``False`` for another metric."""
    found = re.fullmatch(r"ndcg(?:@([1-9][0-9]*))?", metric)
    return False if found is None else (int(found.group(1)) if found.group(1) else None)


@register("data_oob", family="loss", requires=("refit",), cost="B refits (linear: batched, O(B n p) per iteration)",
          summary="out-of-bag score of the sample under bootstrap models that never saw it",
          targets=("out-of-bag",), stochastic=True, paper="Kwon & Zou 2023",
          tasks=("binary", "multiclass", "regression", "ranking"), units=("document", "query"))
def data_oob(ctx, *, n_estimators: int = 200, metric: str = "loss", max_samples: float = 1.0):
    model, train = ctx.model, ctx.train
    k = _ndcg_k(metric)
    if metric not in ("loss", "accuracy") and k is False:
        raise MethodError(f"data_oob: metric must be 'loss', 'accuracy' or (ranking) 'ndcg'/'ndcg@K'; found {metric!r}")
    if metric == "accuracy" and model.objective.task not in ("binary", "multiclass"):
        raise MethodError(f"data_oob: metric 'accuracy' needs a classifier; the model's task is '{model.objective.task}'")
    if k is not False and not (model.objective.grouped and ctx.unit == "query"):
        raise MethodError(f"data_oob: metric {metric!r} is a per-query score; it needs a ranking model and "
                          f"unit 'query'; found task '{model.objective.task}', unit '{ctx.unit}'")
    if int(n_estimators) < 1:
        raise MethodError(f"data_oob: n_estimators must be >= 1; found {n_estimators}")
    if ctx.unit == "query" and not model.objective.grouped:
        raise MethodError(f"data_oob: unit 'query' needs a ranking model (a grouped objective); the model's "
                          f"objective is '{model.objective.name}'")
    if model.objective.grouped:
        return _data_oob_groups(ctx, int(n_estimators), metric, k, max_samples)
    counts = bootstrap_counts(train.n, int(n_estimators), ctx.seed, max_samples)
    total = np.zeros(train.n)
    seen = np.zeros(train.n)

    if isinstance(model, LinearModel):
        m = model.at_optimum(train)
        train = _sparse_copy(train)  # every bag's Hessians: X̃ᵀ diag(d) X̃ costs O(nnz·p) sparse, O(n p²) dense
        solver = m.hessian_solver(train)
        Xt = m.design(train)
        w = m.effective_weights(train)
        theta = m.theta

        def run(bags):
            W = w[:, None] * counts[bags].T
            # each bag's own Hessian at the full-data optimum: the chord then contracts by O(‖Θ_b − Θ*‖)
            Hinv = np.stack([m.hessian_solver(train, theta, W[:, r]).inverse() for r in range(len(bags))])

            def precondition(G, active):
                return np.einsum("bij,bj->bi", Hinv[active], G.reshape(len(G), -1)).reshape(G.shape)

            Theta = chord_solve(m, train, W, np.repeat(theta[None], len(bags), axis=0), precondition,
                                tol=1e-10, max_iter=100)
            return _metric(m, train.y, batch_scores(Xt, Theta), metric).T * (counts[bags] == 0)
    else:
        def run(bags):
            out = np.empty((len(bags), train.n))
            for r, b in enumerate(bags):
                fit = model.refit(train.with_weight(train.weights * counts[b]))
                S = fit.scores(train).reshape(train.n, 1, -1)
                out[r] = _metric(fit, train.y, S, metric)[:, 0] * (counts[b] == 0)
            return out

    per = max(1, int(2e7 // max(1, train.n * getattr(model, "n_outputs", 1))))
    for part, bags in zip(map_chunks(run, chunk_ranges(len(counts), per), n_jobs=ctx.n_jobs),
                          chunk_ranges(len(counts), per)):
        total += part.sum(axis=0)
        seen += (counts[bags] == 0).sum(axis=0)
        ctx.tick(0)
    return _finish(total, seen, "sample(s)")


def _sparse_copy(data, max_density: float = 0.25):
    """``data`` with its features as CSR when a dense matrix is mostly zeros (one-hot encodings): the same
    values, while the per-bag Hessians and scores cost O(nnz) instead of O(n p) per column."""
    import dataclasses

    import scipy.sparse as sp

    X = data.X
    if sp.issparse(X) or X.ndim != 2 or X.size < 100_000 or np.count_nonzero(X) > max_density * X.size:
        return data
    return dataclasses.replace(data, X=sp.csr_matrix(X), _fp=[])


def _finish(total, seen, what, neutral=None):
    """Mean out-of-bag score; units never out of bag (and ``neutral`` ones) get the mean of the others."""
    never = seen == 0
    values = np.divide(total, seen, out=np.zeros_like(total), where=~never)
    if never.any():
        warnings.warn(f"data_oob: {int(never.sum())} {what} were in every bag; they get the mean value. "
                      "Raise n_estimators", RuntimeWarning, stacklevel=3)
    fill = never if neutral is None else never | neutral
    if fill.any():
        values[fill] = values[~fill].mean() if (~fill).any() else 0.0
    return values, {"oob_count": seen}, "out-of-bag"


def _data_oob_groups(ctx, n_estimators, metric, k, max_samples):
    """Bootstrap over query groups; one refit per bag (any model with ``refit``)."""
    from samplescope.metrics import ndcg

    model, train = ctx.model, ctx.train
    b = train.group_bounds
    sizes = np.diff(b)
    by_query = ctx.unit == "query"
    counts = bootstrap_counts(len(sizes), n_estimators, ctx.seed, max_samples)  # (B, Q)
    width = len(sizes) if by_query else train.n

    def run(bags):
        out = np.empty((len(bags), width))
        for r, bag in enumerate(bags):
            fit = model.refit(train.with_weight(train.weights * np.repeat(counts[bag], sizes)))
            s = fit.scores(train)
            if k is not False:
                T = ndcg(train.y, s, b, k=k, per_group=True)
            else:
                share = fit.objective.loss(train.y, s, b, weight=train.weight)  # per unit weight, absent = 0
                T = -(np.add.reduceat(train.weights * share, b[:-1]) if by_query else share)
            oob = counts[bag] == 0
            out[r] = T * (oob if by_query else np.repeat(oob, sizes))
        return out

    total, seen = np.zeros(width), np.zeros(width)
    for part, bags in zip(map_chunks(run, chunk_ranges(n_estimators, 8), n_jobs=ctx.n_jobs),
                          chunk_ranges(n_estimators, 8)):
        total += part.sum(axis=0)
        oob = (counts[bags] == 0).sum(axis=0)
        seen += oob if by_query else np.repeat(oob, sizes)
        ctx.tick(0)
    # no preference to learn from: fewer than two label values among the query's documents of positive weight
    # (a query of weight 0 has none), and documents of weight 0 (absent from their query); their score would
    # be a perfect 0 loss / NDCG 1 under every model
    present = train.weights > 0
    hi = np.maximum.reduceat(np.where(present, train.y, -np.inf), b[:-1])
    lo = np.minimum.reduceat(np.where(present, train.y, np.inf), b[:-1])
    mark = (hi <= lo) if by_query else (np.repeat(hi <= lo, sizes) | ~present)
    values, extras, target = _finish(total, seen, "query group(s)" if by_query else "document(s)", mark)
    return values, {**extras, "degenerate": mark.astype(np.float64)}, target
