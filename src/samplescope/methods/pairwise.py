"""Pairwise attributions: how much each training sample moves each target's loss or score.

Orientation ``(n_target, n_train)``; row ``j`` is one target (a validation row, a test row, a
training row), column ``i`` one training sample. Removing sample ``i`` moves the optimum by
``θ_{-i} − θ̂ ≈ c w_i H⁻¹ g_i`` (Koh & Liang 2017), so

    kind="loss":   A_ji =  c w_i · g_jᵀ H⁻¹ g_i      ≈ ℓ_j(θ_{-i}) − ℓ_j(θ̂)   positive = i helps j
    kind="score":  S_ji = −c w_i · ∇s_jᵀ H⁻¹ g_i     ≈ s_j(θ̂) − s_j(θ_{-i})   positive = i pushes s_j up

with the sign and units of the ``influence`` method: the mean of the rows of ``A`` (weighted by the
targets' weights) is exactly ``score("influence", ..., valid=targets)``. ``tracin`` replaces ``H⁻¹`` by
``η I`` (Pruthi et al. 2020). For ``K``-class softmax models the score of target ``j`` is the logit of its
predicted class minus the mean logit (invariant to the softmax's flat directions).

A registered method provides its own pairwise function through ``register(..., pairwise=fn)`` with
``fn(ctx, targets, *, kind="loss", **params) -> (n_target, n_train)``; :func:`pairwise` finds it, so
``explain`` works for every such method. ``influence`` and ``tracin`` provide one here.
The dense ``(n_target, n_train)`` matrix is the output: pass targets in chunks when both are large.
"""

from __future__ import annotations

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, MethodError
from samplescope.models.linear import LinearModel

__all__ = ["KINDS", "MAX_CELLS", "pairwise", "influence_pairwise", "tracin_pairwise", "feature_contributions"]

KINDS = ("loss", "score")
#: Largest ``n_target × n_train`` matrix :func:`pairwise` builds (8 bytes a cell: 2 GB).
MAX_CELLS = 250_000_000


def pairwise(model, train: Dataset, targets: Dataset, *, method: str = "auto", kind: str = "loss",
             **params) -> np.ndarray:
    """Attributions of every training sample to every target, ``(n_target, n_train)``.

    Args:
        model: a fitted model or adapter (trained on ``train``).
        train: the training data.
        targets: the rows whose loss or score is explained (encoded like ``train``).
        method: a registered method with a pairwise function; ``"auto"`` = ``influence`` when the
            model has a Hessian, else ``tracin`` with ``learning_rate=1.0`` (a gradient dot product).
        kind: ``"loss"`` (positive = the sample lowers the target's loss) or ``"score"``
            (positive = the sample pushes the target's score up).
        **params: the method's parameters (``damping`` for influence, ``learning_rate`` for tracin).

    Returns:
        ``A[j, i]``, in the units of the target's loss (or score).

    >>> import numpy as np, samplescope as ss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 2)); y = (X[:, 0] + rng.normal(size=30) > 0).astype(float)
    >>> train = ss.from_arrays(X[:20], y[:20]); valid = ss.from_arrays(X[20:], y[20:])
    >>> model = ss.fit_model("logistic", train)
    >>> A = pairwise(model, train, valid, method="influence")
    >>> A.shape
    (10, 20)
    >>> bool(np.allclose(A.mean(axis=0), ss.score("influence", model, train, valid=valid).values))
    True
    """
    from samplescope.methods.base import Context
    from samplescope.methods.registry import REGISTRY, get_method
    from samplescope.models import wrap_model

    if kind not in KINDS:
        raise MethodError(f"pairwise: kind must be one of {list(KINDS)}; found {kind!r}")
    if not isinstance(targets, Dataset):
        raise DataError(f"pairwise: targets must be a Dataset; found {type(targets).__name__}")
    adapter = wrap_model(model, train)
    if method == "auto":
        method = "influence" if "hessian" in adapter.capabilities else "tracin"
        if method == "tracin":
            params.setdefault("learning_rate", 1.0)
    info = get_method(method)
    if info.pairwise is None:
        have = sorted(n for n, m in REGISTRY.items() if m.pairwise is not None)
        raise MethodError(f"method '{method}' has no pairwise attributions; expected one of {have}")
    missing = info.requires - adapter.capabilities
    if missing:
        raise MethodError(f"method '{method}' needs {sorted(missing)} from the model, which "
                          f"{type(adapter).__name__} does not provide")
    cells = targets.n * train.n
    if cells > MAX_CELLS:
        raise DataError(f"pairwise: {targets.n:,} targets × {train.n:,} training rows = {cells:,} cells; expected "
                        f"at most {MAX_CELLS:,} (pass the targets in chunks)")
    adapter.check_data(train)
    adapter.check_data(targets)
    import inspect

    accepted = [p for p in list(inspect.signature(info.pairwise).parameters)[2:] if p != "kind"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise MethodError(f"method '{method}' has no pairwise parameter(s) {unknown}; expected some of {accepted}")
    ctx = Context(model=adapter, train=train, method=method, params=params)
    A = np.asarray(info.pairwise(ctx, targets, kind=kind, **params), dtype=np.float64)
    if A.shape != (targets.n, train.n):  # pragma: no cover - a broken plug-in
        raise MethodError(f"method '{method}': pairwise returned {A.shape}; expected {(targets.n, train.n)}")
    if not np.all(np.isfinite(A)):
        raise DataError(f"method '{method}' produced non-finite pairwise attributions; check the data and model")
    return A


# ------------------------------------------------------------------ the two providers
def influence_pairwise(ctx, targets: Dataset, *, kind: str = "loss", damping: float = 0.0, solver: str = "exact",
                       iterations: int | None = None, rank: int | None = None) -> np.ndarray:
    """``c w_i g_jᵀ H⁻¹ g_i`` (loss) or ``−c w_i ∇s_jᵀ H⁻¹ g_i`` (score), at the exact optimum; ``H⁻¹`` is
    applied exactly as the ``influence`` method does (``damping``, ``solver``, ``iterations``, ``rank``)."""
    m = ctx.model.at_optimum(ctx.train)
    Z = _influence_solver(m, ctx.train, damping, solver, iterations, rank, ctx.seed).solve(
        target_gradients(m, targets, kind).T)
    return _attribute(m, ctx.train, Z.reshape(-1, targets.n), kind)


def tracin_pairwise(ctx, targets: Dataset, *, kind: str = "loss", learning_rate: float | str = "auto") -> np.ndarray:
    """``η c w_i g_j · g_i`` (loss) or ``−η c w_i ∇s_j · g_i`` (score), at the model's parameters."""
    m = ctx.model
    eta = _learning_rate(m, ctx.train, learning_rate)
    Z = eta * target_gradients(m, targets, kind).T
    return _attribute(m, ctx.train, Z, kind)


# ------------------------------------------------------------------ building blocks
def target_gradients(model, targets: Dataset, kind: str) -> np.ndarray:
    """Dense ``(n_target, p)``: per-target loss gradients ``g_j``, or score gradients ``∇s_j``."""
    if isinstance(model, LinearModel):
        if kind == "loss":
            return model.param_gradients(targets)
        Xt = model.design(targets)
        Xt = Xt.toarray() if hasattr(Xt, "toarray") else np.asarray(Xt)
        K = model.n_outputs
        if K == 1:
            return Xt
        E = np.eye(K)[np.argmax(model.scores(targets), axis=1)] - 1.0 / K
        return (Xt[:, :, None] * E[:, None, :]).reshape(targets.n, -1)
    if kind == "loss":  # generic: the mean gradient of a one-row dataset is that row's gradient
        return np.stack([model.mean_gradient(targets.subset([j]).with_weight(np.ones(1))) for j in range(targets.n)])
    return _score_gradients_by_labels(model, targets)


def _score_gradients_by_labels(model, targets: Dataset) -> np.ndarray:
    """``∇s_j`` of a pointwise model from loss gradients: ``g(y=0) − g(y=1) = ∇s`` for log-loss and squared
    error (``λ`` falls by one when ``y`` rises by one); for softmax ``mean_a g(y=a) − g(y=k)`` is the
    gradient of the class-``k`` logit minus the mean logit."""
    from dataclasses import replace

    obj = model.objective
    if obj.grouped or obj.task not in ("binary", "regression", "multiclass"):
        raise MethodError(f"pairwise kind='score' needs the score gradient of a {type(model).__name__} with a "
                          f"'{obj.task}' objective; expected a linear model or a pointwise objective")

    def grad(j: int, label: float) -> np.ndarray:
        row = targets.subset([j])
        return model.mean_gradient(replace(row, y=np.array([float(label)]), weight=None, _fp=[]))

    if obj.task != "multiclass":
        return np.stack([grad(j, 0.0) - grad(j, 1.0) for j in range(targets.n)])
    K = obj.n_outputs
    pred = np.argmax(model.scores(targets), axis=1)
    return np.stack([np.mean([grad(j, a) for a in range(K)], axis=0) - grad(j, pred[j]) for j in range(targets.n)])


def _attribute(m, train: Dataset, Z: np.ndarray, kind: str) -> np.ndarray:
    """``sign · c w_i · (g_i · Z[:, j])`` as ``(n_target, n_train)``."""
    scale = m.loss_scale(train) if hasattr(m, "loss_scale") else train.weights
    D = _gradient_dots(m, train, Z)  # (n_train, n_target)
    D *= scale[:, None]
    return (-D if kind == "score" else D).T.copy()


def _gradient_dots(m, train: Dataset, Z: np.ndarray) -> np.ndarray:
    """``g_i · Z[:, t]`` for every training row and column, ``(n_train, n_target)``."""
    n_t = Z.shape[1]
    if not isinstance(m, LinearModel):
        return np.stack([m.gradient_dot(train, Z[:, t]) for t in range(n_t)], axis=1) if n_t else \
            np.zeros((train.n, 0))
    K = m.n_outputs
    lam = m.score_gradients(train)  # (n, K)
    out = np.empty((train.n, n_t))
    block = max(1, int(2e7 // max(1, train.n * K)))
    for s in range(0, n_t, block):
        Zb = Z[:, s:s + block]
        b = Zb.shape[1]
        Zr = Zb.reshape(-1, K, b).transpose(0, 2, 1).reshape(-1, b * K)
        M = m.matmul(train.X, Zr).reshape(train.n, b, K)
        out[:, s:s + b] = np.einsum("ntk,nk->nt", M, lam)
    return out


def _influence_solver(m, train: Dataset, damping: float = 0.0, solver: str = "exact", iterations=None, rank=None,
                      seed: int = 0):
    """The ``influence`` method's ``H⁻¹`` (imported late: that module imports this one)."""
    from samplescope.methods.influence import hessian_solver

    if solver == "exact" and iterations is None and rank is None:
        return hessian_solver(m, train, damping)
    return hessian_solver(m, train, damping, solver, iterations, rank, seed)


def _learning_rate(m, train: Dataset, learning_rate) -> float:
    """``η`` as the ``tracin`` method reads it (``"auto"`` = p / tr(H))."""
    if learning_rate == "auto":
        if "hessian" not in m.capabilities:
            raise MethodError("tracin: learning_rate='auto' needs the model's Hessian; pass a number")
        H = m.hessian(train)
        return H.shape[0] / np.trace(H)
    try:
        eta = float(learning_rate)
    except (TypeError, ValueError):
        raise MethodError(f"tracin: learning_rate must be a positive number or 'auto'; "
                          f"found {learning_rate!r}") from None
    if not eta > 0:
        raise MethodError(f"tracin: learning_rate must be > 0; found {eta}")
    return eta


def feature_contributions(model, train: Dataset, target: Dataset, rows, *, method: str = "influence",
                          **params) -> np.ndarray | None:
    """Per-feature split of the score attribution of ``rows`` to the one row of ``target``.

    For a linear model ``S_ji = −c w_i Σ_f x̃_i[f] (U_j[f, :] · λ_i)`` with ``U_j = H⁻¹∇s_j`` (influence) or
    ``η ∇s_j`` (tracin) reshaped to ``(d + 1, K)``; column ``f < d`` is feature ``f``'s term, the last
    column the intercept's, and each row sums to ``S_ji``.

    Returns:
        ``(len(rows), d + fit_intercept)``, or ``None`` when the model is not linear or the method is
        neither ``influence`` nor ``tracin``.
    """
    if not isinstance(model, LinearModel) or method not in ("influence", "tracin") or target.n != 1:
        return None
    rows = np.asarray(rows, dtype=np.int64)
    if method == "influence":
        m = model.at_optimum(train)
        keys = ("damping", "solver", "iterations", "rank")
        u = _influence_solver(m, train, **{k: params[k] for k in keys if k in params}).solve(
            target_gradients(m, target, "score")[0])
    else:
        m = model
        u = _learning_rate(m, train, params.get("learning_rate", "auto")) * target_gradients(m, target, "score")[0]
    U = u.reshape(-1, m.n_outputs)  # (d + 1, K)
    lam = m.score_gradients(train)[rows]  # (r, K); a ranking loss needs every row of each group
    X = train.X[rows]
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    Xt = np.hstack([X, np.ones((len(rows), 1))]) if m.fit_intercept else X
    scale = m.loss_scale(train)[rows]
    return -scale[:, None] * Xt * (lam @ U.T)
