"""Jacobians of the per-document lambdas and hessians of the ranking objectives, for ``leaf_influence``.

For one query (weighted outputs, see :mod:`samplescope.objectives.ranking._groups`), with ``ĝ_j = w_j λ_j``
the weighted lambda (the library's gradient), ``ĥ_j = w_j h_j`` the weighted diagonal hessian and ``share_i``
the weighted loss share, the dense ``(m, m)`` blocks

    Kg[j, k] = ∂ĝ_j/∂s_k          Kh[j, k] = ∂ĥ_j/∂s_k
    Wg[j, i] = w_i ∂ĝ_j/∂w_i      Wh[j, i] = w_i ∂ĥ_j/∂w_i        Sg[i, k] = ∂share_i/∂s_k

Pairwise (RankNet, LambdaRank, XGBoost's rank:ndcg / rank:pairwise): ``x = σ(s_a − s_b)``, ``ρ = 1/(1 + e^x)``,
``C`` the pair coefficients (weights ``√(w_a w_b)`` included), ``T = σρC``, ``Hp = σ²ρ(1−ρ)C``, and the
hessian's pair terms ``He = κ σ²ρ(1−ρ)C``, ``De = κ σ³ρ(1−ρ)(1−2ρ)C`` (κ = 1; XGBoost doubles its hessian,
κ = 2), so ``ĝ_j = Σ_a T_aj − Σ_b T_jb``, ``ĥ_j = Σ_b He_jb + Σ_a He_aj``:

    Kg = lap(Hp)        lap(P) = diag(rowsum P + colsum P) − (P + Pᵀ)       (the exact Hessian block)
    Kh = anti(De)       anti(P) = diag(colsum P − rowsum P) + (P − Pᵀ)
    Wg = diag(ĝ)/2 + (Tᵀ − T)/2      Wh = diag(ĥ)/2 + (He + Heᵀ)/2      Sg = Wgᵀ

(``w_i ∂C_ab/∂w_i = C_ab/2`` for the pairs of ``i``). |ΔNDCG| (positions, ideal DCG) is piecewise constant in
the scores, so freezing it is exact wherever the order does not change — and documents with the same leaf in
every tree keep their tie, since their scores move alike. The normalisations (LightGBM ``lambdarank_norm``,
XGBoost ``lambdarank_score_normalization`` / ``lambdarank_normalization``) make the pair weights smooth in
the scores, ``C_ab = u_ab f(Λ) √(w_a w_b)``, ``u_ab = δ_ab/(ε + |s_a − s_b|)``, ``f(Λ) = log2(1+Λ)/Λ``,
``Λ = Σ 2σρu``; their derivatives are added (``ς = sign(s_a − s_b)/(ε + |s_a − s_b|)``):

    dC_ab = C_ab (−ς_ab (ds_a − ds_b) + φ dΛ),   φ = f'/f = 1/((1+Λ) ln(1+Λ)) − 1/Λ,
    dΛ = Σ_k ℓ_k ds_k,   ℓ = rowsum β − colsum β,   β = 2σu(−σρ(1−ρ) − ρς)
    Kg += lap(ς T) + φ ĝ ℓᵀ     Kh += anti(ς He) + φ ĥ ℓᵀ     Sg += ½ anti(ς C log(1 + e^{−x})) + φ share ℓᵀ

i.e. what is differentiated is the library's own gradient as a function of the scores. XGBoost's query
weights are divided by their mean (``f_w = n_Q/Σ_q w̄_q`` multiplies every output); its derivative is the
rank-one term :func:`weight_norm_derivative`. Softmax losses (ListNet; XE-NDCG's loss at the mean gamma),
``Ω = Σ w P``, ``Q`` = softmax of the scores:

    Kg = Ω(diag Q − QQᵀ)     Kh[k, j] = Ω(1 − 2Q_k)Q_k(δ_kj − Q_j)
    Wg[k, i] = Q_k w_iP_i − δ_ki w_kP_k     Wh[k, i] = Q_k(1 − Q_k) w_iP_i     Sg = Wgᵀ

A boosting round of LightGBM's ``rank_xendcg`` (that round's gammas, λ = r¹ + r² + r³ per unit weight,
``h = Q(1 − Q)``; weights multiply afterwards): ``Wg = diag ĝ``, ``Wh = diag ĥ`` and ``Kg``, ``Kh`` by the chain
rule through ``dQ = (diag Q − QQᵀ) ds`` and the series ``u = r/(1 − Q)``, ``r' = Q(Σu − u)``. A pointwise
objective gives diagonal blocks (``Kg = w h``, ``Kh = w h'``, ``Wg = w g``, ``Wh = w h``, ``Sg = w g``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from samplescope.errors import MethodError
from samplescope.objectives.ranking import LambdaRank, ListNet, RankNet
from samplescope.objectives.ranking import pairwise as _pairwise
from samplescope.objectives.ranking._groups import group_chunks, informative, present
from samplescope.objectives.ranking.lambdarank import _NORM_EPS
from samplescope.objectives.ranking.listnet import _masked_log_softmax
from samplescope.objectives.ranking.pairwise import pair_mask, pair_weights
from samplescope.objectives.ranking.xendcg import _EPS as _XE_EPS, GAMMA_MEAN, XENDCG, XENDCGRound
from samplescope.objectives.ranking.xgb_lambdarank import _EPS64, XGBoostLambdaRank

__all__ = ["chunk_blocks", "share_gradient", "check_supported", "weight_norm_derivative"]

SUPPORTED = (LambdaRank, RankNet, ListNet, XGBoostLambdaRank, XENDCG)


def check_supported(objective) -> None:
    if objective.grouped and not isinstance(objective, SUPPORTED):
        raise MethodError(f"leaf_influence: ranking objective '{objective.name}' has no lambda/hessian Jacobians "
                          f"here; expected one of ['lambdarank', 'ranknet', 'listnet', 'xgb_ndcg', 'xgb_pairwise', "
                          f"'xendcg']")


def _lap(P):
    out = -(P + P.transpose(0, 2, 1))
    i = np.arange(P.shape[1])
    out[:, i, i] += P.sum(axis=2) + P.sum(axis=1)
    return out


def _anti(P):
    out = P - P.transpose(0, 2, 1)
    i = np.arange(P.shape[1])
    out[:, i, i] += P.sum(axis=1) - P.sum(axis=2)
    return out


def _diag(x):
    out = np.zeros(x.shape + (x.shape[-1],))
    i = np.arange(x.shape[-1])
    out[:, i, i] = x
    return out


def _pair_spec(obj):
    """σ, ε of the score normalisation (None: off), list normalisation on, hessian factor κ, clamp."""
    if isinstance(obj, XGBoostLambdaRank):
        return 1.0, (0.01 if obj.score_normalization else None), obj.normalization, 2.0, True
    if isinstance(obj, LambdaRank):
        return obj.sigmoid, (_NORM_EPS if obj.norm else None), obj.norm, 1.0, False
    return obj.sigmoid, None, False, 1.0, False


def _pair_blocks(obj, Y, S, W, want):
    """Blocks of a pairwise objective on one padded chunk (``Y``, ``S``, ``W``: ``(G, m, 1)``)."""
    sigma, eps, listnorm, kappa, clamp = _pair_spec(obj)
    dA = (S[:, :, None, :] - S[:, None, :, :])[..., 0]
    C = (obj.coefficients(Y, S, W) if hasattr(obj, "coefficients")
         else np.where(pair_mask(Y, W), pair_weights(W), 0.0))[..., 0]
    rho = _pairwise.pair_sigmoid(sigma * dA)
    r1 = rho * (1.0 - rho)
    T, Hp = sigma * rho * C, sigma * sigma * r1 * C
    He = kappa * sigma * sigma * (np.maximum(r1, _EPS64) if clamp else r1) * C
    De = kappa * sigma ** 3 * np.where(r1 > _EPS64, r1, 0.0 if clamp else r1) * (1.0 - 2.0 * rho) * C
    gam, eta = T.sum(axis=1) - T.sum(axis=2), He.sum(axis=2) + He.sum(axis=1)
    Pg, Ph, extra = Hp, De, None
    if eps is not None or listnorm:
        # C = u f(Λ) √(w_a w_b): with Cu = C/√(w_a w_b), Σ 2σρ Cu = f(Λ) Λ = log2(1 + Λ) gives Λ, f and u
        root = pair_weights(W)[..., 0]
        Cu = np.divide(C, root, out=np.zeros_like(C), where=root > 0)
        if listnorm:
            lf = (2.0 * sigma * rho * Cu).sum(axis=(1, 2))
            lam = np.expm1(lf * np.log(2.0))
            f = np.divide(lf, lam, out=np.ones_like(lf), where=lam > 0)
            safe = np.where(lam > 0, lam, 1.0)
            phi = np.where(lam > 0, 1.0 / ((1.0 + safe) * np.log1p(safe)) - 1.0 / safe, 0.0)[:, None, None]
        else:
            f, phi = np.ones(C.shape[0]), np.zeros((C.shape[0], 1, 1))
        u = Cu / f[:, None, None]
        vs = np.zeros_like(dA)
        if eps is not None:
            V = present(W)
            A = S.astype(np.float32) if isinstance(obj, XGBoostLambdaRank) else S  # XGBoost: float32 ties
            spread = (np.where(V, A, -np.inf).max(axis=1) != np.where(V, A, np.inf).min(axis=1))[:, :, None]
            vs = np.where(spread, np.sign(dA) / (eps + np.abs(dA)), 0.0)
        beta = 2.0 * sigma * u * (-sigma * r1 - rho * vs)
        ell = (beta.sum(axis=2) - beta.sum(axis=1))[:, None, :]  # (G, 1, m): dΛ = Σ_k ℓ_k ds_k
        Pg, Ph = Pg + vs * T, Ph + vs * He
        extra = (vs, phi, ell)
    out = {"gam": gam, "eta": eta}
    if "Kg" in want:
        out["Kg"] = _lap(Pg) + (0.0 if extra is None else extra[1] * gam[:, :, None] * extra[2])
    if "Kh" in want:
        out["Kh"] = _anti(Ph) + (0.0 if extra is None else extra[1] * eta[:, :, None] * extra[2])
    if want & {"Wg", "Sg"}:
        Wg = _diag(0.5 * gam) + 0.5 * (T.transpose(0, 2, 1) - T)
        out["Wg"] = Wg
        if "Sg" in want:
            Sg = Wg.transpose(0, 2, 1).copy()
            if extra is not None:
                vs, phi, ell = extra
                Lp = C * np.logaddexp(0.0, -sigma * dA)
                Sg += 0.5 * _anti(Lp * vs) + phi * (0.5 * (Lp.sum(axis=2) + Lp.sum(axis=1)))[:, :, None] * ell
            out["Sg"] = Sg
    if "Wh" in want:
        out["Wh"] = _diag(0.5 * eta) + 0.5 * (He + He.transpose(0, 2, 1))
    return out


def _softmax_blocks(obj, Y, S, W, want):
    """ListNet, and XE-NDCG's loss (the gammas at their mean)."""
    V = present(W)
    if isinstance(obj, XENDCG):
        Vq = V
        phi = np.where(V, np.exp2(np.trunc(Y)) - GAMMA_MEAN, 0.0)
        P = (phi / np.maximum(_XE_EPS, phi.sum(axis=1, keepdims=True)))[..., 0]
    else:
        Vq = V & informative(Y, V)
        P = np.where(Vq, np.exp(_masked_log_softmax(np.broadcast_to(Y, S.shape), Vq)), 0.0)[..., 0]
    Q = np.where(Vq, np.exp(_masked_log_softmax(S, Vq)), 0.0)[..., 0]
    WP = W[..., 0] * P
    om = WP.sum(axis=1)[:, None, None]
    out = {"gam": om[:, :, 0] * Q - WP, "eta": om[:, :, 0] * Q * (1.0 - Q)}
    if "Kg" in want:
        out["Kg"] = om * (_diag(Q) - Q[:, :, None] * Q[:, None, :])
    if "Kh" in want:
        out["Kh"] = om * ((1.0 - 2.0 * Q) * Q)[:, :, None] * (_diag(np.ones_like(Q)) - Q[:, None, :])
    if want & {"Wg", "Sg"}:
        Wg = Q[:, :, None] * WP[:, None, :] - _diag(WP)
        out.update({k: (Wg if k == "Wg" else Wg.transpose(0, 2, 1)) for k in ("Wg", "Sg") if k in want})
    if "Wh" in want:
        out["Wh"] = (Q * (1.0 - Q))[:, :, None] * WP[:, None, :]
    return out


def _xendcg_round_blocks(obj, Y, S, W, gamma, want):
    """One round of LightGBM's ``rank_xendcg``: ``gamma`` ``(G, m, 1)`` the round's draws."""
    if "Sg" in want:
        raise MethodError("leaf_influence: a boosting round of 'xendcg' has no loss share; use XENDCG()")
    V = present(W)[..., 0]
    w = W[..., 0]
    Q = np.where(V, np.exp(_masked_log_softmax(S, V[..., None]))[..., 0], 0.0)
    phi = np.where(V, np.exp2(np.trunc(Y[..., 0])) - gamma[..., 0], 0.0)
    P = phi / np.maximum(_XE_EPS, phi.sum(axis=1, keepdims=True))
    big = (V.sum(axis=1, keepdims=True) >= 2)
    dQ = _diag(Q) - Q[:, :, None] * Q[:, None, :]  # dQ_j/ds_k
    om = 1.0 - Q
    ok = V & (om > 0)
    inv = np.divide(1.0, om, out=np.zeros_like(om), where=ok)
    r = np.where(V, Q - P, 0.0)
    dr = dQ.copy()
    lam, dlam = r.copy(), dr.copy()
    for _ in range(obj.order - 1):
        u = r * inv
        du = dr * inv[:, :, None] + (r * inv * inv)[:, :, None] * dQ
        su, sdu = u.sum(axis=1, keepdims=True), du.sum(axis=1, keepdims=True)
        r = np.where(V, Q * (su - u), 0.0)
        dr = np.where(V[:, :, None], dQ * (su - u)[:, :, None] + Q[:, :, None] * (sdu - du), 0.0)
        lam, dlam = lam + r, dlam + dr
    wb = np.where(big, w, 0.0)
    gam, eta = wb * lam, wb * Q * om
    out = {"gam": gam, "eta": eta}
    if "Kg" in want:
        out["Kg"] = wb[:, :, None] * dlam
    if "Kh" in want:
        out["Kh"] = (wb * (1.0 - 2.0 * Q))[:, :, None] * dQ
    if "Wg" in want:
        out["Wg"] = _diag(gam)
    if "Wh" in want:
        out["Wh"] = _diag(eta)
    return out


def chunk_blocks(obj, y, s, bounds, w, want):
    """Yield ``(I, blocks)`` per padded chunk of groups: rows ``I`` ``(G, m)`` and the ``(G, m, m)`` blocks in
    ``want`` plus ``gam``, ``eta`` ``(G, m)``. Padding slots (row 0) carry exact zeros in every block."""
    n = len(y)
    if not obj.grouped:  # pointwise: one-by-one blocks
        from samplescope.models.trees import third_derivative

        g, h = w * obj.gradient(y, s), w * obj.hessian(y, s)
        blk = {"gam": g, "eta": h, "Kg": h, "Wh": h, "Wg": g, "Sg": g}
        if "Kh" in want:
            blk["Kh"] = w * third_derivative(obj, y, s)
        yield np.arange(n)[:, None], {k: v.reshape((n, 1) if k in ("gam", "eta") else (n, 1, 1))
                                      for k, v in blk.items()}
        return
    check_supported(obj)
    s2, w2 = np.asarray(s, dtype=np.float64).reshape(n, 1), np.asarray(w, dtype=np.float64).reshape(n, 1)
    gam = obj._gammas(y, s2, bounds, w2) if isinstance(obj, XENDCGRound) else None
    fw = float(obj.weight_norm(y, bounds, w2)[0]) if isinstance(obj, XGBoostLambdaRank) else 1.0
    for _, I, M in group_chunks(np.asarray(bounds, dtype=np.int64), 1):
        Y = y[I][:, :, None].astype(np.float64)
        S, Wc = s2[I], np.where(M[:, :, None], w2[I], 0.0)
        if isinstance(obj, XENDCGRound):
            blk = _xendcg_round_blocks(obj, Y, S, Wc, gam[I], want)
        elif isinstance(obj, (ListNet, XENDCG)):
            blk = _softmax_blocks(obj, Y, S, Wc, want)
        else:
            blk = _pair_blocks(obj, Y, S, Wc, want)
        yield I, ({k: v * fw for k, v in blk.items()} if fw != 1.0 else blk)


def weight_norm_derivative(obj, data, unit: str) -> np.ndarray | None:
    """XGBoost's ``f_w = n_Q/Σ_q w̄_q`` (w̄_q: mean weight of the query's present documents): ``w_i ∂log f_w/∂w_i``
    ``(n,)`` or, scaling a whole query, ``∂log f_w/∂c_q`` ``(Q,)``; ``None`` for the other objectives."""
    if not isinstance(obj, XGBoostLambdaRank):
        return None
    b, w = data.group_bounds, data.weights
    cnt = np.add.reduceat((w > 0).astype(np.float64), b[:-1])
    wq = np.divide(np.add.reduceat(w, b[:-1]), cnt, out=np.zeros_like(cnt), where=cnt > 0)
    if unit == "query":
        return -wq / wq.sum()
    return -w / (np.repeat(np.maximum(cnt, 1.0), np.diff(b)) * wq.sum())


def share_gradient(obj, data, s, *, per_unit=False) -> sp.csr_matrix:
    """``∂share_i/∂s_k`` ``(n, n)`` at scores ``s`` (weighted shares, or per unit weight), block diagonal."""
    w, n = data.weights, data.n
    rows, cols, vals = [], [], []
    for I, blk in chunk_blocks(obj, data.y, s, data.group_bounds, w, frozenset({"Sg"})):
        m = I.shape[1]
        rows.append(np.repeat(I, m, axis=1).ravel())
        cols.append(np.tile(I, (1, m)).ravel())
        vals.append(blk["Sg"].ravel())
    r, v = np.concatenate(rows), np.concatenate(vals)
    if per_unit:
        v = np.divide(v, w[r], out=np.zeros_like(v), where=w[r] > 0)
    return sp.csr_matrix((v, (r, np.concatenate(cols))), shape=(n, n))  # duplicates (padding zeros) are summed
