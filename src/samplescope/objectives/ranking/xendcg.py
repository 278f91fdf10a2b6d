"""XE-NDCG: the cross-entropy between a query's score softmax and a randomised NDCG-like target distribution
(Bruch, Wang, Bendersky & Najork 2019, "An Alternative Cross Entropy Loss for Learning-to-Rank", WWW'19),
exactly as LightGBM 4.7 computes it for ``objective="rank_xendcg"`` (``src/objective/rank_objective.hpp``,
``RankXENDCG::GetGradientsForOneQuery``; the generator is ``include/LightGBM/utils/random.h``).

For a query ``q`` with present documents (weight > 0), labels ``y_i`` and gammas ``γ_i ∈ [0, 1)``:

    φ_i = 2^{⌊y_i⌋} − γ_i            p_i = φ_i / max(ε, Σ_j φ_j)          ρ_i = e^{s_i} / Σ_j e^{s_j}
    L_q = −Σ_i w_i p_i log ρ_i                                  Ω_q = Σ_i w_i p_i
    ∂L_q/∂s_k = Ω_q ρ_k − w_k p_k         ∂²L_q/∂s∂sᵀ = Ω_q (diag ρ − ρ ρᵀ)          (ε = 1e-15, kEpsilon)

(weights as for ListNet, see :mod:`._groups`: a constant weight per query multiplies the query's loss,
weight 0 removes the document). A single-document query has loss, gradient and hessian 0. Unlike the
other ranking objectives a query whose labels are all equal is **not** degenerate: its target is (close to)
uniform, LightGBM trains on it, and so does this loss.

Which gammas
------------
LightGBM draws fresh gammas every boosting round: query ``q`` (its index among the training queries) owns
the generator ``Random(objective_seed + q)`` (an LCG, ``x ← 214013 x + 2531011 mod 2³²``,
``γ = ((x >> 16) & 0x7FFF) / 32768``) and, in every round, draws one gamma per document in row order —
queries of one document draw nothing. One generator per *query* (not per thread) makes training
deterministic whatever ``num_threads`` is. Round ``t`` of query ``q`` with ``c ≥ 2`` documents therefore
uses draws ``t·c … t·c + c − 1`` of its generator; :func:`lightgbm_gammas` computes them for any rows and
rounds at once (jump-ahead by binary powers of the affine map, no loop over documents).

* :class:`XENDCG` — the **loss** (validation targets, final gradients, loss values): the gammas are
  replaced by their mean over LightGBM's draws, ``γ̄ = 32767/65536`` (≈ 0.5), which makes it a smooth,
  deterministic loss with the exact gradient and Hessian above. (This is the loss at the expected gamma,
  not the expectation of the loss over the gammas; the two differ by a Jensen gap.)
* :meth:`XENDCG.for_round` ``(t)`` → :class:`XENDCGRound` — what boosting round ``t`` was **fitted to**:
  the round's own gammas and LightGBM's lambdas, which add two correction terms to the gradient
  ("approximate gradients and inverse Hessian" in LightGBM's source):

      r¹ = ρ − p                       u¹ = r¹ / (1 − ρ)      (sums over the query's documents)
      r² = ρ (Σ u¹ − u¹)               u² = r² / (1 − ρ)
      r³ = ρ (Σ u² − u²)
      λ = r¹ + r² + r³                 h = ρ (1 − ρ)

  ``order=1`` keeps only ``r¹``, the exact gradient of the round's cross-entropy. LightGBM multiplies λ
  and h by each document's weight afterwards, so per unit weight they do not depend on the weights
  (for weights that vary within a query they are not the gradient of any loss, as for LambdaRank).
  The tree adapters ask for it on the training rows only (:meth:`samplescope.models.trees.TreeEnsemble.rounds`).

LightGBM accumulates λ in float32; the values here are float64 (agreement ~1e-7 relative).
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import DataError, MethodError
from samplescope.objectives.ranking._groups import ALL, RankingObjective, check_bounds, present
from samplescope.objectives.ranking.listnet import _masked_log_softmax

__all__ = ["XENDCG", "XENDCGRound", "lightgbm_gammas", "GAMMA_MEAN"]

#: the mean of LightGBM's gammas k/32768, k = 0..32767
GAMMA_MEAN = 32767.0 / 65536.0
_EPS = 1e-15  # LightGBM's kEpsilon
_LCG_A, _LCG_C, _MASK = 214013, 2531011, 0xFFFFFFFF
_MAX_LABEL = 30  # LightGBM's Pow(2, int(label)) overflows int beyond 2^30


def lightgbm_gammas(seed, position) -> np.ndarray:
    """``NextFloat()`` of LightGBM's ``Random(seed)`` after ``position`` earlier draws (elementwise).

    ``x_k = A_k x_0 + C_k mod 2³²`` with ``(A_k, C_k)`` the ``k``-th power of ``x ↦ 214013 x + 2531011``,
    assembled from the binary powers of the map (one numpy step per bit of ``position + 1``).

    Args:
        seed: the generator's seed (``int``, wrapped to 32 bits as C++ does), array-like.
        position: how many draws came before, array-like of non-negative integers.
    """
    seed = np.asarray(seed, dtype=np.int64)
    steps = np.asarray(position, dtype=np.int64) + 1
    shape = np.broadcast_shapes(seed.shape, steps.shape)
    steps = np.broadcast_to(steps, shape).astype(np.uint64)
    mask = np.uint64(_MASK)
    A, C = np.ones(shape, dtype=np.uint64), np.zeros(shape, dtype=np.uint64)
    a, c = np.uint64(_LCG_A), np.uint64(_LCG_C)
    top = int(steps.max()) if steps.size else 0
    bit = 0
    while top >> bit:
        on = ((steps >> np.uint64(bit)) & np.uint64(1)).astype(bool)
        A, C = np.where(on, (a * A) & mask, A), np.where(on, (a * C + c) & mask, C)
        a, c = (a * a) & mask, (a * c + c) & mask  # the map applied 2^(bit+1) times
        bit += 1
    x = (A * (np.broadcast_to(seed, shape).astype(np.uint64) & mask) + C) & mask
    return ((x >> np.uint64(16)) & np.uint64(0x7FFF)).astype(np.float64) / 32768.0


def _check_seed(seed) -> int:
    try:
        s = int(seed)
    except (TypeError, ValueError):
        s = None
    if s is None or s != seed or not -2**31 <= s < 2**31:
        raise MethodError(f"objective 'xendcg': objective_seed must be a 32-bit integer; found {seed!r}")
    return s


class XENDCG(RankingObjective):
    """XE-NDCG (LightGBM ``rank_xendcg``) with the gammas at their mean: a smooth, deterministic loss.

    Args:
        objective_seed: LightGBM's ``objective_seed`` (default 5): seeds the per-query generators of the
            training rounds (:meth:`for_round`); the loss itself does not depend on it.
    """

    name = "xendcg"
    #: the gradients boosting fitted depend on the round: ask :meth:`for_round`
    stochastic = True

    def __init__(self, objective_seed: int = 5):
        self.objective_seed = _check_seed(objective_seed)

    def __repr__(self) -> str:
        return f"XENDCG(objective_seed={self.objective_seed})"

    def params(self) -> dict:
        return {"objective_seed": self.objective_seed, "gamma": "mean"}

    def check_labels(self, y, *, source="data", column="label"):
        super().check_labels(y, source=source, column=column)
        if np.any(y >= _MAX_LABEL + 1):
            raise DataError(f"{source}: column '{column}' must be < {_MAX_LABEL + 1} for objective 'xendcg' "
                            f"(LightGBM's 2^label overflows beyond); found max {float(np.max(y)):g}")

    def for_round(self, t: int, order: int = 3) -> "XENDCGRound":
        """The objective boosting round ``t`` (0-based) was fitted to: that round's gammas, LightGBM's lambdas."""
        return XENDCGRound(self.objective_seed, t, order=order)

    # ------------------------------------------------------------------ the kernel
    def _evaluate(self, y, s, bounds, weight, keys, *, at=None, per_unit=True):
        # a smooth loss has no reference scores; the `at` slot carries per-row gammas (XENDCGRound) instead
        return super()._evaluate(y, s, bounds, weight, keys, at=self._gammas(y, s, bounds, weight),
                                 per_unit=per_unit)

    def _gammas(self, y, s, bounds, weight):
        """Per-row gammas ``(n, B)``, or ``None`` for the mean."""
        return None

    def _kernel(self, Y, S, W, *, want=ALL, at=None):
        V = present(W)
        logQ = _masked_log_softmax(S, V)
        Q = np.where(V, np.exp(logQ), 0.0)
        gamma = GAMMA_MEAN if at is None else at
        phi = np.where(V, np.exp2(np.trunc(Y)) - gamma, 0.0)
        P = phi / np.maximum(_EPS, phi.sum(axis=1, keepdims=True))
        WP = W * P
        omega = WP.sum(axis=1, keepdims=True)
        out = {}
        if "share" in want:
            out["share"] = np.where(V, -WP * np.where(V, logQ, 0.0), 0.0)
        if "grad" in want:
            out["grad"] = omega * Q - WP
        if want & {"hess", "block"}:
            out["hess"] = omega * Q * (1.0 - Q)
        if "block" in want:
            blk = -omega[:, :, None, :] * Q[:, :, None, :] * Q[:, None, :, :]
            idx = np.arange(S.shape[1])
            blk[:, idx, idx, :] = out["hess"]
            out["block"] = blk
        return out


class XENDCGRound(XENDCG):
    """Boosting round ``t`` of LightGBM's ``rank_xendcg``: the round's gammas and LightGBM's lambdas.

    ``loss`` is the round's cross-entropy; ``gradient`` and ``hessian`` are LightGBM's λ and ``ρ(1 − ρ)``
    per unit weight (``order=1``: the exact gradient of the round's loss, for constant weights per query).
    The gammas of a row depend on the whole training set (its query's index, the query's size), so this
    objective only means something on the rows LightGBM was trained on; ``hessian_blocks`` and
    ``padded`` (ad-hoc groups) are refused.

    Args:
        objective_seed: LightGBM's ``objective_seed``.
        t: the boosting round (0-based).
        order: terms of LightGBM's series (1, 2 or 3 = LightGBM).
    """

    smooth = False  # λ is not the gradient of the loss

    def __init__(self, objective_seed: int = 5, t: int = 0, order: int = 3):
        super().__init__(objective_seed)
        if int(t) != t or t < 0:
            raise MethodError(f"objective 'xendcg': the round must be an integer >= 0; found {t!r}")
        if order not in (1, 2, 3):
            raise MethodError(f"objective 'xendcg': order must be 1, 2 or 3; found {order!r}")
        self.t, self.order = int(t), int(order)

    def __repr__(self) -> str:
        return f"XENDCGRound(objective_seed={self.objective_seed}, t={self.t}, order={self.order})"

    def params(self) -> dict:
        return {"objective_seed": self.objective_seed, "gamma": f"round {self.t}", "order": self.order}

    def for_round(self, t: int, order: int = 3) -> "XENDCGRound":
        return XENDCGRound(self.objective_seed, t, order=order)

    def _gammas(self, y, s, bounds, weight):
        n = len(y)
        b = check_bounds(bounds, n, self.name)
        B = 1 if np.ndim(s) == 1 else np.shape(s)[1]
        W2 = np.ones((n, B)) if weight is None else np.broadcast_to(
            np.asarray(weight, dtype=np.float64).reshape(n, -1), (n, B))
        Pr = (W2 > 0).astype(np.int64)
        sizes = np.diff(b)
        gid = np.repeat(np.arange(len(sizes)), sizes)
        cnt = np.add.reduceat(Pr, b[:-1], axis=0)  # (G, B) documents LightGBM would see
        csum = np.cumsum(Pr, axis=0)
        before = csum[b[:-1]] - Pr[b[:-1]]
        j = csum - 1 - before[gid]  # rank of a present row among its query's present rows
        kept = np.cumsum(cnt > 0, axis=0) - 1  # the query's index once empty queries are dropped
        seed = self.objective_seed + kept[gid]
        draws = (Pr > 0) & (cnt[gid] >= 2)
        pos = np.where(draws, self.t * cnt[gid] + j, 0)
        return np.where(draws, lightgbm_gammas(seed, pos), 0.0)

    def _kernel(self, Y, S, W, *, want=ALL, at=None):
        out = super()._kernel(Y, S, W, want=want & {"share"}, at=at)
        if not want & {"grad", "hess"}:
            return out
        if "block" in want:
            raise MethodError("objective 'xendcg' (one boosting round): no Hessian blocks; LightGBM's lambdas "
                              "are not the gradient of a loss. Use XENDCG() for the smooth loss")
        V = present(W)
        Q = np.where(V, np.exp(_masked_log_softmax(S, V)), 0.0)
        phi = np.where(V, np.exp2(np.trunc(Y)) - at, 0.0)
        P = phi / np.maximum(_EPS, phi.sum(axis=1, keepdims=True))
        big = V.sum(axis=1, keepdims=True) >= 2  # LightGBM skips queries of one document
        one_minus = 1.0 - Q
        r = np.where(V, Q - P, 0.0)
        lam = r.copy()
        for _ in range(self.order - 1):
            u = np.divide(r, one_minus, out=np.zeros_like(r), where=V & (one_minus > 0))
            r = np.where(V, Q * (u.sum(axis=1, keepdims=True) - u), 0.0)
            lam += r
        out["grad"] = np.where(big, lam * W, 0.0)  # weighted here, divided by W again in _evaluate
        out["hess"] = np.where(big, Q * one_minus * W, 0.0)
        return out

    def hessian_blocks(self, y, s, bounds=None, weight=None):
        raise MethodError("objective 'xendcg' (one boosting round): no Hessian blocks; LightGBM's lambdas are "
                          "not the gradient of a loss. Use XENDCG() for the smooth loss")

    def padded(self, y, s, I, M, W, *, want=ALL):
        raise MethodError("objective 'xendcg' (one boosting round): its gammas depend on the query's index in "
                          "the training data, so ad-hoc groups are refused. Use XENDCG() for the smooth loss")
