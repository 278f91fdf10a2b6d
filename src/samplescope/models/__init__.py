"""Model adapters: each model family seen through the quantities importance methods need."""

from __future__ import annotations

from samplescope.data.dataset import Dataset
from samplescope.errors import ModelError
from samplescope.models.base import CAPABILITIES, ModelAdapter
from samplescope.models.linear import LinearModel
from samplescope.models.sklearn_linear import SKLEARN_MODELS, fit_sklearn, from_sklearn

__all__ = ["CAPABILITIES", "ModelAdapter", "LinearModel", "SKLEARN_MODELS", "fit_model", "wrap_model"]


def wrap_model(model, train: Dataset | None = None) -> ModelAdapter:
    """Adapt a fitted model (an adapter is returned unchanged).

    Args:
        model: a fitted scikit-learn linear estimator, or a :class:`ModelAdapter`.
        train: the training data, for objectives that depend on it (e.g. ``SGDClassifier``'s 1/n).
    """
    if isinstance(model, ModelAdapter):
        return model
    mod = type(model).__module__
    if mod.startswith("sklearn."):
        return from_sklearn(model, train)
    raise ModelError(
        f"unsupported model {type(model).__name__} (module {mod}); expected a scikit-learn linear estimator "
        "or a samplescope ModelAdapter"
    )


def fit_model(kind: str, train: Dataset, **params) -> ModelAdapter:
    """Fit a model of the given kind on ``train`` and adapt it.

    Args:
        kind: one of ``logistic``, ``ridge``, ``linear``, ``sgd``.
        train: training data (its sample weights are honoured).
        **params: ``C``, ``alpha``, ``fit_intercept``, ``seed``, ``max_iter``.
    """
    if kind in SKLEARN_MODELS:
        return fit_sklearn(kind, train, **params)
    raise ModelError(f"unsupported model '{kind}'; expected one of {list(SKLEARN_MODELS)}")
