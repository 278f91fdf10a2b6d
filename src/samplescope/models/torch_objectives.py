"""The samplescope objectives written in torch, for autograd (Hessian-vector products, refits).

``torch_loss(objective)`` returns ``fn(y, s, bounds, w, at=None) -> (n,)``: each document's **weighted**
share of the loss, whose sum is the weighted training loss ``Σ_q L_q`` with exactly the definition of the
numpy objective of the same name (``samplescope.objectives``): ``y`` labels ``(n,)``, ``s`` scores ``(n,)``
or ``(n, K)``, ``bounds`` query-group offsets (start of each group, then ``n``) or ``None``, ``w`` sample
weights ``(n,)`` (labels and weights as numpy arrays), ``at`` reference scores (numpy) where a loss freezes
weights (LambdaRank).
Per-sample parameter gradients never go through these functions — they are composed as
``g_i = λ_iᵀ ∂s_i/∂θ`` with ``λ_i`` from the numpy objective — so the torch losses are needed only where
second derivatives are taken or a model is trained.

Pointwise (share = ``w_i ℓ_i``):

* ``logloss``        ℓ = log(1 + e^s) − y s
* ``squared_error``  ℓ = ½ (s − y)²
* ``softmax``        ℓ = logsumexp(s) − s_y

Ranking (``objectives/ranking``; weights 0 = absent, groups with one label = no loss):

* ``ranknet``     L_q = Σ_{y_i > y_j} √(w_i w_j) log(1 + e^{−σ(s_i − s_j)}), each pair split ½/½
* ``lambdarank``  the same with LightGBM's pair weights ``C_ij(a)`` (|ΔNDCG|, truncation, normalisation)
  frozen at the reference scores ``a`` (``at``; default: the current scores) — its gradient at ``s = a`` is
  LightGBM's lambda; the numpy :meth:`LambdaRank.coefficients` computes ``C``
* ``listnet``     L_q = −Σ_i w_i P_i log Q_i, P = softmax(y), Q = softmax(s) over the present documents
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from samplescope.errors import ModelError, require

torch = require("torch", "torch")

__all__ = ["TORCH_LOSSES", "torch_loss", "group_matrix"]


def _t(a, s):
    return torch.as_tensor(a, dtype=s.dtype, device=s.device)


def _logloss(obj, y, s, bounds, w, at=None):
    return _t(w, s) * (torch.nn.functional.softplus(s) - _t(y, s) * s)


def _squared_error(obj, y, s, bounds, w, at=None):
    return _t(w, s) * 0.5 * (s - _t(y, s)) ** 2


def _softmax(obj, y, s, bounds, w, at=None):
    idx = torch.as_tensor(np.asarray(y, dtype=np.int64).reshape(-1, 1), device=s.device)
    return _t(w, s) * (torch.logsumexp(s, dim=1) - s.gather(1, idx).reshape(-1))


def group_matrix(bounds, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each group padded to the longest ``(G, m)`` (padding points at row 0), and the validity mask."""
    b = np.asarray(bounds, dtype=np.int64)
    if len(b) < 2 or b[0] != 0 or b[-1] != n:
        raise ModelError(f"ranking objectives need query-group offsets from 0 to n={n}; found {b[:3].tolist()}...")
    sizes = np.diff(b)
    slot = np.arange(int(sizes.max()))
    M = slot[None, :] < sizes[:, None]
    return np.where(M, b[:-1, None] + slot[None, :], 0), M


def _scatter(n: int, I: np.ndarray, M: np.ndarray, share):
    out = torch.zeros(n, dtype=share.dtype, device=share.device)
    rows = torch.as_tensor(I[M], device=share.device)
    return out.index_put((rows,), share[torch.as_tensor(M, device=share.device)])


def _pairs(obj, y, s, bounds, w, C):
    """Weighted shares of ``Σ C_ab log(1 + e^{−σ(s_a − s_b)})``, each pair split between its documents."""
    I, M = group_matrix(bounds, len(s))
    S = s[torch.as_tensor(I, device=s.device)]
    x = obj.sigmoid * (S[:, :, None] - S[:, None, :])
    Lp = C * torch.nn.functional.softplus(-x)
    return _scatter(len(s), I, M, 0.5 * (Lp.sum(dim=2) + Lp.sum(dim=1)))


def _padded(y, w, bounds, n):
    I, M = group_matrix(bounds, n)
    y, w = np.asarray(y, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return I, M, y[I], np.where(M, w[I], 0.0)


def _ranknet(obj, y, s, bounds, w, at=None):
    I, M, Y, W = _padded(y, w, bounds, len(s))
    V = W > 0
    pair = (Y[:, :, None] > Y[:, None, :]) & V[:, :, None] & V[:, None, :]
    C = np.where(pair, np.sqrt(W[:, :, None] * W[:, None, :]), 0.0)
    return _pairs(obj, y, s, bounds, w, torch.as_tensor(C, dtype=s.dtype, device=s.device))


def _lambdarank(obj, y, s, bounds, w, at=None):
    I, M, Y, W = _padded(y, w, bounds, len(s))
    a = s.detach().cpu().numpy() if at is None else np.asarray(at, dtype=np.float64)
    C = obj.coefficients(Y[:, :, None].astype(np.float64), a[I][:, :, None], W[:, :, None])[..., 0]
    return _pairs(obj, y, s, bounds, w, torch.as_tensor(C, dtype=s.dtype, device=s.device))


def _listnet(obj, y, s, bounds, w, at=None):
    I, M, Y, W = _padded(y, w, bounds, len(s))
    V = W > 0
    big = np.where(V, Y, -np.inf).max(axis=1, keepdims=True)
    small = np.where(V, Y, np.inf).min(axis=1, keepdims=True)
    Vq = V & (big > small)
    dev, dt = s.device, s.dtype
    Vt = torch.as_tensor(Vq, device=dev)
    lowest = torch.finfo(dt).min / 4
    S = torch.where(Vt, s[torch.as_tensor(I, device=dev)], torch.full((), lowest, dtype=dt, device=dev))
    logQ = torch.log_softmax(S, dim=1)
    P = torch.as_tensor(np.exp(_log_softmax_np(np.where(Vq, Y, -np.inf))), dtype=dt, device=dev)
    Wt = torch.as_tensor(W, dtype=dt, device=dev)
    share = torch.where(Vt, -Wt * P * logQ, torch.zeros((), dtype=dt, device=dev))
    return _scatter(len(s), I, M, share)


def _xendcg(obj, y, s, bounds, w, at=None):
    """XE-NDCG at the mean gamma (:class:`samplescope.objectives.XENDCG`): ListNet's form with ``P = φ/Σφ``,
    ``φ = 2^⌊y⌋ − γ̄``."""
    from samplescope.objectives.ranking.xendcg import _EPS, GAMMA_MEAN

    I, M, Y, W = _padded(y, w, bounds, len(s))
    V = W > 0
    dev, dt = s.device, s.dtype
    Vt = torch.as_tensor(V, device=dev)
    lowest = torch.full((), torch.finfo(dt).min / 4, dtype=dt, device=dev)
    S = torch.where(Vt, s[torch.as_tensor(I, device=dev)], lowest)
    phi = np.where(V, np.exp2(np.trunc(Y)) - GAMMA_MEAN, 0.0)
    P = torch.as_tensor(phi / np.maximum(_EPS, phi.sum(axis=1, keepdims=True)), dtype=dt, device=dev)
    Wt = torch.as_tensor(W, dtype=dt, device=dev)
    share = torch.where(Vt, -Wt * P * torch.log_softmax(S, dim=1), torch.zeros((), dtype=dt, device=dev))
    return _scatter(len(s), I, M, share)


def _log_softmax_np(Z: np.ndarray) -> np.ndarray:
    top = Z.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    E = np.exp(Z - top)
    tot = E.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return Z - top - np.log(np.where(tot > 0, tot, 1.0))


TORCH_LOSSES: dict[str, Callable] = {
    "logloss": _logloss,
    "squared_error": _squared_error,
    "softmax": _softmax,
    "ranknet": _ranknet,
    "lambdarank": _lambdarank,
    "listnet": _listnet,
    "xendcg": _xendcg,
}


def torch_loss(objective) -> Callable:
    """``fn(y, s, bounds, w, at=None) -> (n,)`` weighted shares: the torch version of ``objective``."""
    fn = TORCH_LOSSES.get(objective.name)
    if fn is None:
        raise ModelError(
            f"objective '{objective.name}' has no torch version, which second-order methods and refits of torch "
            f"models need; expected one of {sorted(TORCH_LOSSES)}"
        )
    return lambda y, s, bounds, w, at=None: fn(objective, y, s, bounds, w, at)
