"""RankNet: the pairwise logistic loss over the document pairs of each query (Burges et al. 2005,
"Learning to Rank using Gradient Descent"; XGBoost's ``rank:pairwise``).

For a query ``q`` and every pair with ``y_i > y_j`` (``i`` should rank above ``j``), ``Δ_ij = s_i − s_j``:

    L_q = Σ_{y_i > y_j} c_ij · log(1 + e^{−σ Δ_ij})          c_ij = √(w_i w_j)
    ρ_ij = 1 / (1 + e^{σ Δ_ij})                               (LightGBM's name for it: p_lambda)
    ∂L_q/∂s_i = −σ Σ_j c_ij ρ_ij + σ Σ_k c_ki ρ_ki            (j below i, k above i)
    ∂²L_q/∂s_i² = σ² Σ_{pairs ∋ i} c ρ (1 − ρ)                ∂²L_q/∂s_i∂s_j = −σ² c_ij ρ_ij (1 − ρ_ij)

so the score-space Hessian of a group is a weighted graph Laplacian (positive semi-definite, singular
along "add a constant to every score of the query"). Pairs with equal labels contribute nothing.

Per-document loss share: every pair's loss is split equally between its two documents,
``share_i = ½ Σ_{pairs ∋ i} c_ij log(1 + e^{−σΔ})``, so the shares of a group add up to ``L_q``.

This is LambdaRank (:mod:`.lambdarank`) with every |ΔNDCG| set to 1, no truncation and no normalisation.
The same pair kernel (:func:`pair_terms`) serves both.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from samplescope.errors import MethodError
from samplescope.objectives.ranking._groups import ALL, RankingObjective, present

__all__ = ["RankNet", "pair_terms", "pair_sigmoid"]


def pair_sigmoid(x: np.ndarray) -> np.ndarray:
    """``ρ = 1 / (1 + e^{x})`` for ``x = σΔ`` (module-level so a test can swap in LightGBM's lookup table)."""
    return expit(-x)


def pair_mask(Y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``(G, m, m, 1|B)``: ``a`` has the higher label than ``b``, both present."""
    V = present(W)
    return (Y[:, :, None, :] > Y[:, None, :, :]) & V[:, :, None, :] & V[:, None, :, :]


def pair_weights(W: np.ndarray) -> np.ndarray:
    """``√(w_a w_b)`` ``(G, m, m, B)``."""
    return np.sqrt(W[:, :, None, :] * W[:, None, :, :])


def pair_terms(S: np.ndarray, C: np.ndarray, sigma: float, *, want=ALL) -> dict:
    """Loss share, gradient, diagonal hessian, Hessian blocks of ``Σ_{a,b} C_ab log(1 + e^{−σ(s_a − s_b)})``.

    Args:
        S: scores ``(G, m, B)``.
        C: pair coefficients ``(G, m, m, B)``, zero except where ``a`` should rank above ``b``.
        sigma: the sigmoid's slope σ.
        want: the outputs to compute (``share``, ``grad``, ``hess``, ``block``).
    """
    x = sigma * (S[:, :, None, :] - S[:, None, :, :])
    out = {}
    if "share" in want:
        Lp = C * np.logaddexp(0.0, -x)
        out["share"] = 0.5 * (Lp.sum(axis=2) + Lp.sum(axis=1))
        del Lp
    if not want & {"grad", "hess", "block"}:
        return out
    rho = pair_sigmoid(x)  # looked up at call time: tests may swap in LightGBM's table
    if "grad" in want:
        T = sigma * rho * C
        out["grad"] = T.sum(axis=1) - T.sum(axis=2)
        del T
    if want & {"hess", "block"}:
        Hp = (sigma * sigma) * rho * (1.0 - rho) * C
        out["hess"] = Hp.sum(axis=2) + Hp.sum(axis=1)
        if "block" in want:
            blk = -(Hp + Hp.transpose(0, 2, 1, 3))
            idx = np.arange(S.shape[1])
            blk[:, idx, idx, :] = out["hess"]
            out["block"] = blk
    return out


def check_sigma(sigma, name: str) -> float:
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise MethodError(f"objective '{name}': sigmoid must be a positive number; found {sigma!r}") from None
    if not sigma > 0 or not np.isfinite(sigma):
        raise MethodError(f"objective '{name}': sigmoid must be a positive number; found {sigma}")
    return sigma


class RankNet(RankingObjective):
    """Pairwise logistic loss (RankNet) over the pairs of each query group.

    Args:
        sigmoid: slope σ of the pair's logistic function (LightGBM's ``sigmoid``, default 1.0).
    """

    name = "ranknet"

    def __init__(self, sigmoid: float = 1.0):
        self.sigmoid = check_sigma(sigmoid, self.name)

    def __repr__(self) -> str:
        return f"RankNet(sigmoid={self.sigmoid:g})"

    def params(self) -> dict:
        return {"sigmoid": self.sigmoid}

    def _kernel(self, Y, S, W, *, want=ALL, at=None):
        C = np.where(pair_mask(Y, W), pair_weights(W), 0.0)  # a degenerate group has no pair: all zero
        return pair_terms(S, C, self.sigmoid, want=want)
