"""XGBoost's learning-to-rank lambdas (``rank:ndcg``, ``rank:pairwise``) exactly as XGBoost 3.2 computes them
on the CPU (``src/objective/lambdarank_obj.cc``: ``LambdaRankObj::CalcLambdaForGroup``;
``lambdarank_obj.h``: ``LambdaGrad``, ``DeltaNDCG``, ``MakePairs``; ``src/common/ranking_utils.{h,cc}``:
``LambdaRankParam``, ``RankingCache``, ``NDCGCache``). Method: Burges 2010, "From RankNet to LambdaRank to
LambdaMART: An Overview"; the normalisations are LightGBM's, adopted by XGBoost 2.0's LTR rewrite.

Per query, documents are ranked by score (descending, stable: ties keep row order), ``r_i`` = 0-based position,
``D(r) = 1/log2(r + 2)``, ``K`` = ``lambdarank_num_pair_per_sample`` (default 32; pair method ``topk``).
Every pair ``(i, j)`` with ``y_i > y_j`` and ``min(r_i, r_j) < K`` contributes, with ``Δ = s_i − s_j``,
``σ(Δ) = 1/(1 + e^{−Δ})``:

    δ_ij = 1                                                          rank:pairwise
    δ_ij = |(G(y_i) − G(y_j)) (D(r_i) − D(r_j))| / IDCG_K              rank:ndcg, G(y) = 2^y − 1 (ndcg_exp_gain)
                                                                      or y; IDCG_K = ideal DCG of the top K (0 → δ = 0)
    δ_ij /= |Δ| + 0.01              lambdarank_score_normalization (default), unless the query's scores are all equal
    λ_i += (σ(Δ) − 1) δ_ij          λ_j −= (σ(Δ) − 1) δ_ij
    h_i, h_j += 2 · max(σ(Δ)(1 − σ(Δ)), 1e-16) · δ_ij                 (XGBoost's factor 2)
    λ, h *= log2(1 + Λ)/Λ,  Λ = Σ_pairs 2 (1 − σ(Δ)) δ_ij             lambdarank_normalization (default), Λ > 0
    λ, h *= w_q · n_Q / Σ_q w_q                                        per-query weight, normalised to mean 1

Weights: XGBoost's weights are per query group (``w_q``, normalised by their mean over the ``n_Q`` queries).
Per document, pair ``(i, j)`` is weighted by ``√(w_i w_j)`` (= ``w_q`` for a weight constant within the query,
see :mod:`._groups`), and the mean is taken over the queries with a present document (``w_q`` = the mean weight of
its present documents), so weight 0 is "document removed" and a zero-weight query is "query removed".
The per-unit-weight gradient is therefore ``n_Q/Σ w_q`` times the unweighted lambda: it depends on the
other queries' weights, which is what XGBoost's trees were fitted to.

Not supported (refused by the XGBoost adapter): ``lambdarank_pair_method="mean"`` (pairs sampled with a
``std::minstd_rand`` per query and round) and ``lambdarank_unbiased`` (position biases re-estimated every
round).

The loss behind the lambdas
---------------------------
As for :mod:`.lambdarank` the pair weights depend on the ranking, so what is defined (and refits minimise)
is the surrogate with the weights frozen at reference scores ``a`` (``at=``, default ``s``):

    L_q(s; a) = Σ_pairs C_ij(a) log(1 + e^{−(s_i − s_j)})           C_ij(a) = the final pair weight above

whose gradient at ``s = a`` is XGBoost's λ exactly. ``hessian`` is XGBoost's diagonal — twice the diagonal of
the surrogate's Hessian (XGBoost doubles it); :meth:`hessian_blocks` is the surrogate's exact Hessian.
XGBoost works on float32 scores and accumulates float32 gradient pairs; these are float64 (agreement ~1e-6
relative).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from samplescope.errors import DataError, MethodError
from samplescope.objectives.ranking._groups import ALL, RankingObjective, check_bounds, present
from samplescope.objectives.ranking.pairwise import pair_mask, pair_terms, pair_weights

__all__ = ["XGBoostLambdaRank", "XGBoostNDCG", "XGBoostPairwise", "DEFAULT_TOPK"]

#: ``LambdaRankParam::DefaultK()``: pairs per document with the ``topk`` method when not set
DEFAULT_TOPK = 32
_NOT_SET = 2**32 - 1  # LambdaRankParam::NotSet()
_EPS64 = 1e-16
_MAX_REL = 31  # ltr::MaxRel(): the gain 2^y − 1 is a 32-bit shift


class XGBoostLambdaRank(RankingObjective):
    """Shared machinery of ``rank:ndcg`` and ``rank:pairwise`` (pair method ``topk``).

    Args:
        num_pair_per_sample: ``K`` (XGBoost ``lambdarank_num_pair_per_sample``; ``None`` or 2³²−1 = 32).
        score_normalization: ``lambdarank_score_normalization`` (divide δ by ``|Δ| + 0.01``).
        normalization: ``lambdarank_normalization`` (rescale a query by ``log2(1 + Λ)/Λ``).
    """

    smooth = False
    #: δ is |ΔNDCG| (rank:ndcg) or 1 (rank:pairwise)
    ndcg = False

    def __init__(self, num_pair_per_sample: int | None = None, score_normalization: bool = True,
                 normalization: bool = True):
        k = DEFAULT_TOPK if num_pair_per_sample in (None, _NOT_SET) else num_pair_per_sample
        try:
            ok = int(k) == k and int(k) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise MethodError(f"objective '{self.name}': num_pair_per_sample must be an integer >= 1; "
                              f"found {num_pair_per_sample!r}")
        self.topk = int(k)
        self.score_normalization = bool(score_normalization)
        self.normalization = bool(normalization)

    def params(self) -> dict:
        return {"num_pair_per_sample": self.topk, "score_normalization": self.score_normalization,
                "normalization": self.normalization}

    def __repr__(self) -> str:
        kw = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({kw})"

    # ------------------------------------------------------------------ pair weights
    def _delta(self, Y, V, rank) -> np.ndarray | float:
        return 1.0

    def coefficients(self, Y, A, W) -> np.ndarray:
        """Final pair weights ``C_ij(a)`` ``(G, m, m, B)`` at reference scores ``A`` (weights included, the
        mean-weight normalisation not)."""
        V = present(W)
        A = np.broadcast_to(A, W.shape)
        A32 = A.astype(np.float32)  # XGBoost ranks its float32 predictions: ties as it sees them
        slot = np.arange(W.shape[1])[None, :, None]
        order = np.argsort(np.where(V, -A32, np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(slot, order.shape), axis=1)
        top = np.minimum(rank[:, :, None, :], rank[:, None, :, :]) < self.topk
        mask = pair_mask(Y, W) & top
        d = np.where(mask, self._delta(Y, V, rank), 0.0)
        dA = A[:, :, None, :] - A[:, None, :, :]
        if self.score_normalization:
            spread = (np.where(V, A32, -np.inf).max(axis=1) != np.where(V, A32, np.inf).min(axis=1))[:, None, None, :]
            d = np.where(spread, d / (np.abs(dA) + 0.01), d)
        if self.normalization:
            total = (2.0 * expit(-dA) * d).sum(axis=(1, 2))  # Λ = Σ −2 λ_ij
            factor = np.divide(np.log2(1.0 + total), total, out=np.ones_like(total), where=total > 0)
            d = d * factor[:, None, None, :]
        return d * pair_weights(W)

    def _kernel(self, Y, S, W, *, want=ALL, at=None):
        C = self.coefficients(Y, S if at is None else at, W)
        out = pair_terms(S, C, 1.0, want=want - {"hess"})
        if "hess" in want:
            x = S[:, :, None, :] - S[:, None, :, :]
            s = expit(x)
            Hp = 2.0 * np.maximum(s * (1.0 - s), _EPS64) * C
            out["hess"] = Hp.sum(axis=2) + Hp.sum(axis=1)
        return out

    # ------------------------------------------------------------------ XGBoost's mean-weight normalisation
    def weight_norm(self, y, bounds, weight, batch: int = 1) -> np.ndarray:
        """``n_Q / Σ_q w_q`` per batch column ``(B,)`` over the queries with a present document."""
        n = len(y)
        b = check_bounds(bounds, n, self.name)
        if weight is None:
            return np.ones(batch)
        W = np.broadcast_to(np.asarray(weight, dtype=np.float64).reshape(n, -1), (n, batch))
        cnt = np.add.reduceat((W > 0).astype(np.float64), b[:-1], axis=0)
        tot = np.add.reduceat(W, b[:-1], axis=0)
        wq = np.divide(tot, cnt, out=np.zeros_like(tot), where=cnt > 0)  # mean weight of present documents
        nq = (cnt > 0).sum(axis=0)
        sw = wq.sum(axis=0)
        return np.divide(nq, sw, out=np.zeros_like(sw), where=sw > 0)

    def _evaluate(self, y, s, bounds, weight, keys, *, at=None, per_unit=True):
        out = super()._evaluate(y, s, bounds, weight, keys, at=at, per_unit=per_unit)
        B = 1 if np.ndim(s) == 1 else np.shape(s)[1]
        f = self.weight_norm(y, bounds, weight, B)
        return {k: v * (f if np.ndim(v) == 2 else f[0]) for k, v in out.items()}

    def hessian_blocks(self, y, s, bounds=None, weight=None):
        return super().hessian_blocks(y, s, bounds, weight) * float(self.weight_norm(y, bounds, weight)[0])

    def padded(self, y, s, I, M, W, *, want=ALL):
        raise MethodError(f"objective '{self.name}': XGBoost normalises the query weights by their mean over the "
                          "whole training set, so ad-hoc groups are refused")


class XGBoostPairwise(XGBoostLambdaRank):
    """XGBoost's ``rank:pairwise``: LambdaRank with δ = 1 (top-K pairs, both normalisations by default)."""

    name = "xgb_pairwise"


class XGBoostNDCG(XGBoostLambdaRank):
    """XGBoost's ``rank:ndcg``: δ = |ΔNDCG| with the ideal DCG of the top K.

    Args:
        exp_gain: ``ndcg_exp_gain`` (gain ``2^y − 1``; else ``y``).
        num_pair_per_sample, score_normalization, normalization: see :class:`XGBoostLambdaRank`.
    """

    name = "xgb_ndcg"
    ndcg = True

    def __init__(self, num_pair_per_sample: int | None = None, score_normalization: bool = True,
                 normalization: bool = True, exp_gain: bool = True):
        super().__init__(num_pair_per_sample, score_normalization, normalization)
        self.exp_gain = bool(exp_gain)

    def params(self) -> dict:
        return {**super().params(), "exp_gain": self.exp_gain}

    def check_labels(self, y, *, source="data", column="label"):
        super().check_labels(y, source=source, column=column)
        if not self.exp_gain:
            return
        frac = y != np.floor(y)
        if np.any(frac):
            raise DataError(f"{source}: column '{column}' must hold integer relevance labels for objective "
                            f"'{self.name}' (ndcg_exp_gain); found {int(frac.sum())} non-integer value(s), "
                            f"first {float(y[frac][0]):g}")
        if np.any(y > _MAX_REL):
            raise DataError(f"{source}: column '{column}' must be <= {_MAX_REL} for objective '{self.name}' "
                            f"(the gain 2^y − 1 is a 32-bit shift); found max {float(np.max(y)):g}")

    def _gain(self, Y):
        return np.exp2(Y) - 1.0 if self.exp_gain else Y

    def _delta(self, Y, V, rank):
        gain = np.where(V, self._gain(np.broadcast_to(Y, V.shape)), 0.0)
        disc = 1.0 / np.log2(rank + 2.0)
        ideal = -np.sort(np.where(V, -gain, 0.0), axis=1)  # present gains, highest first (absent: 0)
        k = min(self.topk, V.shape[1])
        idcg = (ideal[:, :k, :] / np.log2(np.arange(k) + 2.0)[None, :, None]).sum(axis=1)
        inv = np.divide(1.0, idcg, out=np.zeros_like(idcg), where=idcg != 0)
        d = np.abs((gain[:, :, None, :] - gain[:, None, :, :]) * (disc[:, :, None, :] - disc[:, None, :, :]))
        return d * inv[:, None, None, :]
