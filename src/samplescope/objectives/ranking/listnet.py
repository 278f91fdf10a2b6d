"""ListNet: cross-entropy between the top-one distributions of labels and scores in each query
(Cao et al. 2007, "Learning to Rank: From Pairwise Approach to Listwise Approach"; φ = exp).

For a query ``q`` with present documents (weight > 0):

    P_i = e^{y_i} / Σ_j e^{y_j}          Q_i = e^{s_i} / Σ_j e^{s_j}          (softmax within the query)
    L_q = −Σ_i w_i P_i log Q_i                                           Ω_q = Σ_i w_i P_i
    ∂L_q/∂s_k = Ω_q Q_k − w_k P_k
    ∂²L_q/∂s∂sᵀ = Ω_q (diag(Q) − Q Qᵀ)                                   (exact; singular along 1)

The per-document loss share is its own cross-entropy term ``−P_i log Q_i`` (per unit weight), so the
shares add up to ``L_q`` without any splitting. Weights: ``w_i`` multiplies document ``i``'s term; a
constant weight per query multiplies the query's loss; weight 0 removes the document from both softmaxes
(see :mod:`._groups`). A query whose present documents all carry the same label (or just one document)
has no preference to learn and gets loss 0, gradient 0 and hessian 0, as in LightGBM's ranking objectives.
The diagonal hessian is ``Ω_q Q_k (1 − Q_k)``.
"""

from __future__ import annotations

import numpy as np

from samplescope.objectives.ranking._groups import ALL, RankingObjective, informative, present

__all__ = ["ListNet"]


def _masked_log_softmax(Z: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``log softmax`` over axis 1 restricted to ``V`` (``-inf`` off ``V``); rows without ``V`` give ``-inf``."""
    Zm = np.where(V, Z, -np.inf)
    top = Zm.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    E = np.where(V, np.exp(Zm - top), 0.0)
    tot = E.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return Zm - top - np.log(np.where(tot > 0, tot, 1.0))


class ListNet(RankingObjective):
    """ListNet's top-one cross-entropy (softmax of labels vs softmax of scores) per query group."""

    name = "listnet"

    def __repr__(self) -> str:
        return "ListNet()"

    def _kernel(self, Y, S, W, *, want=ALL, at=None):
        V = present(W)
        act = informative(Y, V)  # (G, 1, B)
        Vq = V & act
        logQ = _masked_log_softmax(S, Vq)
        logP = _masked_log_softmax(np.broadcast_to(Y, S.shape), Vq)
        Q = np.where(Vq, np.exp(logQ), 0.0)
        P = np.where(Vq, np.exp(logP), 0.0)
        WP = W * P
        omega = WP.sum(axis=1, keepdims=True)
        out = {
            "share": np.where(Vq, -WP * np.where(Vq, logQ, 0.0), 0.0),
            "grad": omega * Q - WP,
            "hess": omega * Q * (1.0 - Q),
        }
        if "block" in want:
            blk = -omega[:, :, None, :] * Q[:, :, None, :] * Q[:, None, :, :]
            m = S.shape[1]
            idx = np.arange(m)
            blk[:, idx, idx, :] = out["hess"]
            out["block"] = blk
        return out
