"""LambdaRank: RankNet pairs weighted by the change of NDCG when the two documents swap places
(Burges, Ragno & Le 2006, "Learning to Rank with Nonsmooth Cost Functions"; Burges 2010, "From RankNet to
LambdaRank to LambdaMART: An Overview"), exactly as LightGBM's ``objective="lambdarank"`` computes it
(``src/objective/rank_objective.hpp``, ``LambdarankNDCG::GetGradientsForOneQuery``).

Per query, documents are ranked by score (descending; ties keep row order, like ``std::stable_sort``),
``r_i`` = 0-based position, ``D(r) = 1/log2(r + 2)``, ``G(y) = label_gain[y]`` (default ``2^y − 1``),
``IDCG`` = the ideal DCG of the query truncated at ``truncation_level`` (0 → the query is skipped). For
every pair with ``y_i > y_j`` whose better-ranked document sits above the truncation level
(``min(r_i, r_j) < truncation_level``):

    |ΔNDCG_ij| = (G(y_i) − G(y_j)) · |D(r_i) − D(r_j)| / IDCG
    norm:       |ΔNDCG_ij| /= (0.01 + |s_i − s_j|)         (only if the query's scores are not all equal)
    ρ_ij = 1 / (1 + e^{σ(s_i − s_j)})
    λ_i −= σ ρ_ij |ΔNDCG_ij|,  λ_j += σ ρ_ij |ΔNDCG_ij|,  h_i, h_j += σ² ρ_ij (1 − ρ_ij) |ΔNDCG_ij|
    norm:       λ, h *= log2(1 + Λ)/Λ,   Λ = Σ_pairs 2σ ρ_ij |ΔNDCG_ij|

(``norm`` = LightGBM's ``lambdarank_norm``, default true). ``λ`` is the gradient of the loss to minimise
(negative = push the score up), as in LightGBM. Weights: pair ``(i, j)`` is multiplied by ``√(w_i w_j)``
after the normalisation (see :mod:`._groups`; for weights constant within a query this is LightGBM's
"multiply each document's lambda and hessian by its weight").

The loss behind the lambdas
---------------------------
The |ΔNDCG| weights (and both normalisations) depend on the ranking, so no smooth loss has these lambdas
as its gradient. What is defined here, and what a refit minimises, is the **lambda-weighted RankNet
surrogate with the weights frozen** at reference scores ``a``:

    L_q(s; a) = Σ_{pairs} C_ij(a) · log(1 + e^{−σ(s_i − s_j)}),   C_ij(a) = the final pair weight above

``loss(y, s, bounds, weight, at=a)`` evaluates it (``at`` defaults to ``s``); its gradient at ``s = a`` is
exactly LightGBM's lambda, its Hessian is the Gauss–Newton / graph-Laplacian form whose diagonal is
LightGBM's hessian (:meth:`hessian_blocks`). A Newton refit re-freezes the weights at every iterate
(what gradient boosting does at every round); it converges to a point whose lambdas balance the
regulariser, where such a point exists (``smooth = False`` tells the solver to freeze them).
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import DataError, MethodError
from samplescope.objectives.ranking._groups import ALL, RankingObjective, present
from samplescope.objectives.ranking import pairwise as _pairwise
from samplescope.objectives.ranking.pairwise import check_sigma, pair_mask, pair_terms, pair_weights

__all__ = ["LambdaRank", "default_label_gain"]

_NORM_EPS = float(np.float32(0.01))  # LightGBM adds the float literal 0.01f


def default_label_gain(n: int = 31) -> np.ndarray:
    """LightGBM's default ``label_gain``: ``2^i − 1`` for ``i = 0..30``."""
    return np.exp2(np.arange(n, dtype=np.float64)) - 1.0


class LambdaRank(RankingObjective):
    """LightGBM's LambdaRank (NDCG) objective.

    Args:
        sigmoid: slope σ (LightGBM ``sigmoid``, default 1.0).
        truncation_level: only pairs with a document ranked above this position count, and the ideal DCG is
            truncated here (LightGBM ``lambdarank_truncation_level``, default 30).
        label_gain: gain of each integer label (LightGBM ``label_gain``, default ``2^i − 1``, i = 0..30).
        norm: LightGBM ``lambdarank_norm`` (default true): divide |ΔNDCG| by the score distance and rescale
            each query's lambdas by ``log2(1 + Λ)/Λ``.
    """

    name = "lambdarank"
    smooth = False

    def __init__(self, sigmoid: float = 1.0, truncation_level: int = 30, label_gain=None, norm: bool = True):
        self.sigmoid = check_sigma(sigmoid, self.name)
        try:
            t = int(truncation_level)
        except (TypeError, ValueError):
            t = 0
        if t < 1 or t != truncation_level:
            raise MethodError(f"objective 'lambdarank': truncation_level must be an integer >= 1; "
                              f"found {truncation_level!r}")
        self.truncation_level = t
        gain = default_label_gain() if label_gain is None else np.asarray(label_gain, dtype=np.float64).reshape(-1)
        if gain.size == 0 or not np.all(np.isfinite(gain)):
            raise MethodError(f"objective 'lambdarank': label_gain must be a non-empty list of finite numbers; "
                              f"found {label_gain!r}")
        self.label_gain = gain
        self.norm = bool(norm)

    def __repr__(self) -> str:
        default = np.array_equal(self.label_gain, default_label_gain())
        custom = "" if default else f", label_gain={self.label_gain.tolist()}"
        return (f"LambdaRank(sigmoid={self.sigmoid:g}, truncation_level={self.truncation_level}, "
                f"norm={self.norm}{custom})")

    def params(self) -> dict:
        return {"sigmoid": self.sigmoid, "truncation_level": self.truncation_level,
                "label_gain": self.label_gain.tolist(), "norm": self.norm}

    def check_labels(self, y, *, source="data", column="label"):
        super().check_labels(y, source=source, column=column)
        frac = y != np.floor(y)
        if np.any(frac):
            raise DataError(
                f"{source}: column '{column}' must hold integer relevance labels for objective 'lambdarank'; "
                f"found {int(frac.sum())} non-integer value(s), first {float(y[frac][0]):g}"
            )
        top = len(self.label_gain)
        if np.any(y >= top):
            raise DataError(
                f"{source}: column '{column}' must be < {top} (the number of label_gain entries) for objective "
                f"'lambdarank'; found max {float(np.max(y)):g}. Pass a longer label_gain"
            )

    def _gain(self, Y: np.ndarray) -> np.ndarray:
        idx = np.clip(Y, 0, len(self.label_gain) - 1).astype(np.int64)
        return self.label_gain[idx]

    def coefficients(self, Y, A, W) -> np.ndarray:
        """Final pair weights ``C_ij(a)`` ``(G, m, m, B)`` at reference scores ``A`` (weights included)."""
        sigma, T = self.sigmoid, self.truncation_level
        V = present(W)
        G, m, B = W.shape
        A = np.broadcast_to(A, W.shape)
        gain = np.where(V, self._gain(Y), 0.0)
        slot = np.arange(m)[None, :, None]
        order = np.argsort(np.where(V, -A, np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(slot, order.shape), axis=1)
        disc = 1.0 / np.log2(rank + 2.0)
        # ideal DCG: LightGBM fills the top positions by label, highest first
        ideal = np.take_along_axis(gain, np.argsort(np.where(V, -np.broadcast_to(Y, W.shape), np.inf), axis=1,
                                                    kind="stable"), axis=1)
        k = min(T, m)
        idcg = (ideal[:, :k, :] / np.log2(np.arange(k) + 2.0)[None, :, None]).sum(axis=1)  # (G, B)
        inv = np.divide(1.0, idcg, out=np.zeros_like(idcg), where=idcg > 0)
        top = np.minimum(rank[:, :, None, :], rank[:, None, :, :]) < T
        dN = (gain[:, :, None, :] - gain[:, None, :, :]) * np.abs(disc[:, :, None, :] - disc[:, None, :, :])
        dN *= inv[:, None, None, :]
        dN = np.where(pair_mask(Y, W) & top, dN, 0.0)
        if self.norm:
            dA = A[:, :, None, :] - A[:, None, :, :]
            best = np.where(V, A, -np.inf).max(axis=1)
            worst = np.where(V, A, np.inf).min(axis=1)
            spread = (best != worst)[:, None, None, :]
            dN = np.where(spread, dN / (_NORM_EPS + np.abs(dA)), dN)
            total = (2.0 * sigma * _pairwise.pair_sigmoid(sigma * dA) * dN).sum(axis=(1, 2))
            factor = np.divide(np.log2(1.0 + total), total, out=np.ones_like(total), where=total > 0)
            dN *= factor[:, None, None, :]
        return dN * pair_weights(W)

    def _kernel(self, Y, S, W, *, want=ALL, at=None):
        C = self.coefficients(Y, S if at is None else at, W)
        return pair_terms(S, C, self.sigmoid, want=want)
