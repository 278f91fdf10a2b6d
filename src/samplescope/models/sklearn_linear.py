"""Reading scikit-learn linear estimators into a :class:`LinearModel` with their exact objective.

| estimator | objective scikit-learn minimises | here |
|---|---|---|
| ``LogisticRegression`` (L2) | C·Σ w_i ℓ_i + ½‖W‖² (binary: 1 logit; K ≥ 3: K logits) | c = C, α = 1 (C = inf: c = 1, α = 0) |
| ``Ridge`` | Σ w_i (y_i − s_i)² + alpha‖w‖² | c = 1, α = alpha, ℓ = ½r² |
| ``LinearRegression`` | Σ w_i (y_i − s_i)² | c = 1, α = 0 |
| ``SGDClassifier(loss="log_loss", penalty="l2")`` | (1/n) Σ w_i ℓ_i + ½ alpha‖w‖² | c = 1/n, α = alpha |

The intercept is never penalised. ``class_weight`` multiplies the sample weights, computed once from the
training data exactly as scikit-learn does; leave-one-out refits keep those factors fixed.
``SGDClassifier`` stops short of its objective's optimum; the methods that need an optimum
(``loo``, ``influence``, ``newton_loo``) use the exact optimum of the same objective. Its 1/n factor is part
of that objective and, like class weights, stays fixed when a sample is left out (a refit of scikit-learn's
SGD on n − 1 rows would use 1/(n − 1): every value shifts slightly, the ranking does not change).
"""

from __future__ import annotations

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, ModelError
from samplescope.models.linear import LinearModel, check_fitted
from samplescope.objectives import LogLoss, SoftmaxCrossEntropy, SquaredError

__all__ = ["SKLEARN_MODELS", "from_sklearn", "fit_sklearn"]

SKLEARN_MODELS = ("logistic", "ridge", "linear", "sgd")


def _estimator(kind: str, *, C: float, alpha: float | None, fit_intercept: bool, seed: int, max_iter: int | None):
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier

    if kind == "logistic":
        return LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-10, max_iter=max_iter or 10_000)
    if kind == "ridge":
        return Ridge(alpha=1.0 if alpha is None else alpha, fit_intercept=fit_intercept)
    if kind == "linear":
        return LinearRegression(fit_intercept=fit_intercept)
    if kind == "sgd":
        return SGDClassifier(loss="log_loss", penalty="l2", alpha=1e-4 if alpha is None else alpha,
                             fit_intercept=fit_intercept, random_state=seed, max_iter=max_iter or 1000, tol=1e-6)
    raise ModelError(f"unsupported model '{kind}'; expected one of {list(SKLEARN_MODELS)}")


def fit_sklearn(kind: str, train: Dataset, *, C: float = 1.0, alpha: float | None = None,
                fit_intercept: bool = True, seed: int = 0, max_iter: int | None = None) -> LinearModel:
    """Fit a scikit-learn linear model on ``train`` (honouring its weights) and wrap it.

    Args:
        kind: ``logistic``, ``ridge``, ``linear`` or ``sgd``.
        train: training data.
        C: inverse regularisation of ``logistic``.
        alpha: L2 strength of ``ridge`` (default 1.0) and ``sgd`` (default 1e-4).
        fit_intercept: fit an unpenalised intercept.
        seed: random state of ``sgd``.
        max_iter: solver iterations.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    est = _estimator(kind, C=C, alpha=alpha, fit_intercept=fit_intercept, seed=seed, max_iter=max_iter)
    if kind in ("logistic", "sgd"):
        classes = np.unique(train.y)
        if len(classes) < 2:
            raise DataError(
                f"{train.name}: label column '{train.label_name}' must contain at least two classes "
                f"for model '{kind}'; found only {classes.tolist()}"
            )
        if not np.array_equal(classes, np.arange(len(classes))):
            shown = ", ".join(f"{c:g}" for c in classes[:10])
            raise DataError(
                f"{train.name}: label column '{train.label_name}' must hold class indices 0..K-1 for model "
                f"'{kind}' (0/1 for binary); found values {{{shown}{', ...' if len(classes) > 10 else ''}}}"
            )
        if kind == "sgd" and len(classes) > 2:
            raise DataError(
                f"{train.name}: label column '{train.label_name}' must be 0/1 for model 'sgd' (binary only); "
                f"found {len(classes)} classes"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        y = train.y.astype(np.int64) if kind in ("logistic", "sgd") else train.y
        est.fit(train.X, y, sample_weight=train.weight)
    return from_sklearn(est, train)


def from_sklearn(est, train: Dataset | None = None) -> LinearModel:
    """Wrap a fitted scikit-learn linear estimator, reading its exact training objective.

    Args:
        est: fitted ``LogisticRegression``, ``Ridge``, ``LinearRegression`` or ``SGDClassifier``.
        train: the training data (needed for ``SGDClassifier``'s 1/n and ``class_weight="balanced"``).
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier

    name = type(est).__name__
    if not isinstance(est, (LogisticRegression, SGDClassifier, Ridge, LinearRegression)):
        raise ModelError(
            f"unsupported model {name}; expected LogisticRegression, Ridge, LinearRegression or "
            "SGDClassifier(loss='log_loss') (trees and torch modules have their own adapters)"
        )
    check_fitted(est)
    fit_intercept = bool(getattr(est, "fit_intercept", True))
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    icpt = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64)) if fit_intercept else None

    if isinstance(est, (LogisticRegression, SGDClassifier)):
        classes = np.asarray(est.classes_)
        if not np.issubdtype(classes.dtype, np.number) or not np.array_equal(classes, np.arange(len(classes))):
            raise ModelError(
                f"{name}: classes must be 0..K-1 (encode labels as integers first); found {classes.tolist()}"
            )
        K = len(classes)
        class_weight = _class_weight(est, classes, train)
        if isinstance(est, LogisticRegression):
            l1 = getattr(est, "l1_ratio", 0.0)
            penalty = getattr(est, "penalty", "deprecated")
            if (l1 not in (0, 0.0, None) and penalty != "l2") or penalty in ("l1", "elasticnet"):
                raise ModelError(f"{name}: only the L2 penalty is supported; found penalty={penalty!r}, l1_ratio={l1!r}")
            no_penalty = penalty is None or penalty == "none" or not np.isfinite(est.C)
            c, alpha, kind = (1.0, 0.0, "logistic") if no_penalty else (float(est.C), 1.0, "logistic")
        else:
            if est.loss != "log_loss":
                raise ModelError(f"{name}: only loss='log_loss' is supported; found loss={est.loss!r}")
            if est.penalty not in ("l2", None):
                raise ModelError(f"{name}: only penalty='l2' is supported; found penalty={est.penalty!r}")
            if K > 2:
                raise ModelError(f"{name}: multiclass SGDClassifier is one-vs-rest; only binary is supported")
            if train is None:
                raise ModelError(f"{name}: pass the training data to read its objective (1/n scaling)")
            c = 1.0 / train.n
            alpha = float(est.alpha) if est.penalty == "l2" else 0.0
            kind = "sgd"
        if K == 2:
            objective = LogLoss()
            coef = coef.reshape(1, -1).T
            icpt = icpt.reshape(1) if icpt is not None else np.zeros(1)
        else:
            objective = SoftmaxCrossEntropy(n_classes=K)
            coef = coef.T
            icpt = icpt if icpt is not None else np.zeros(K)
        return LinearModel(objective, coef, icpt, c=c, alpha=alpha, fit_intercept=fit_intercept,
                           class_weight=class_weight, name=kind, estimator=est)

    if isinstance(est, (Ridge, LinearRegression)):
        if coef.shape[0] != 1:
            raise ModelError(f"{name}: only single-target regression is supported; found {coef.shape[0]} targets")
        alpha = float(np.ravel(est.alpha)[0]) if isinstance(est, Ridge) else 0.0
        if isinstance(est, Ridge) and np.ndim(est.alpha) and np.size(est.alpha) > 1:
            raise ModelError(f"{name}: a per-target alpha is not supported")
        return LinearModel(SquaredError(), coef.T, icpt if icpt is not None else np.zeros(1), c=1.0,
                           alpha=alpha, fit_intercept=fit_intercept,
                           name="ridge" if isinstance(est, Ridge) else "linear", estimator=est)

    raise ModelError(
        f"unsupported model {name}; expected LogisticRegression, Ridge, LinearRegression or "
        "SGDClassifier(loss='log_loss') (trees and torch modules have their own adapters)"
    )


def _class_weight(est, classes: np.ndarray, train: Dataset | None) -> dict | None:
    cw = getattr(est, "class_weight", None)
    if cw is None:
        return None
    if isinstance(cw, dict):
        return {float(k): float(v) for k, v in cw.items()}
    if train is None:
        raise ModelError(f"{type(est).__name__}: class_weight={cw!r} needs the training data to be read exactly")
    from sklearn.utils.class_weight import compute_class_weight

    w = compute_class_weight(cw, classes=classes, y=train.y.astype(np.int64), sample_weight=train.weight)
    return {float(k): float(v) for k, v in zip(classes, w)}
