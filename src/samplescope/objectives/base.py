"""The objective interface: per-sample loss, score-space gradient and hessian.

An objective knows nothing about models. It maps labels ``y`` and model scores ``s`` to
per-sample losses ``ℓ_i``, score-space gradients ``λ_i = ∂ℓ_i/∂s_i`` and hessians ``∂²ℓ_i/∂s_i²``.
Pointwise objectives treat every row as its own group; ranking objectives receive the query-group
boundaries (``bounds``: start offsets plus ``n``) and return, per document, its share of the group loss
and the group-loss derivative with respect to that document's score. Sample weights are applied by the
caller (``weight * loss``), so one interface serves pointwise, pairwise and listwise losses; a grouped
objective also receives the weights (``weight=``), because a document's pairs depend on its partners'
weights, and still returns per-unit-weight values (:mod:`samplescope.objectives.ranking`).

Single-output objectives use ``s`` of shape ``(n,)`` and return gradients ``(n,)`` and hessians ``(n,)``;
multi-output objectives (softmax over K classes) use ``(n, K)`` scores, ``(n, K)`` gradients and
``(n, K, K)`` hessian blocks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from samplescope.errors import DataError

__all__ = ["Objective"]


class Objective(ABC):
    """Base class of every training loss."""

    name: ClassVar[str]
    task: ClassVar[str]  # "binary" | "regression" | "multiclass" | "ranking"
    grouped: ClassVar[bool] = False  # True when the loss couples the documents of a query group
    n_outputs: int = 1

    @abstractmethod
    def check_labels(self, y: np.ndarray, *, source: str = "data", column: str = "label") -> None:
        """Raise :class:`DataError` when ``y`` does not fit this objective."""

    @abstractmethod
    def loss(self, y: np.ndarray, s: np.ndarray, bounds: np.ndarray | None = None) -> np.ndarray:
        """Per-sample (unweighted) loss ``ℓ_i``, shape ``(n,)``."""

    @abstractmethod
    def gradient(self, y: np.ndarray, s: np.ndarray, bounds: np.ndarray | None = None) -> np.ndarray:
        """Score-space gradient ``λ_i = ∂ℓ/∂s_i``."""

    @abstractmethod
    def hessian(self, y: np.ndarray, s: np.ndarray, bounds: np.ndarray | None = None) -> np.ndarray:
        """Score-space hessian ``∂²ℓ/∂s_i²`` (diagonal, or ``K×K`` blocks for multi-output)."""

    def predict(self, s: np.ndarray) -> np.ndarray:
        """The model's prediction in label space (probabilities for classification)."""
        return s

    def mean_loss(
        self, y: np.ndarray, s: np.ndarray, weight: np.ndarray | None = None, bounds: np.ndarray | None = None
    ) -> float:
        """Weighted mean loss ``Σ w_i ℓ_i / Σ w_i``: the target that importance values refer to."""
        losses = self.loss(y, s, bounds)
        if weight is None:
            return float(np.mean(losses))
        return float(np.dot(weight, losses) / np.sum(weight))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # shared label checks -------------------------------------------------------
    @staticmethod
    def _require_values(y: np.ndarray, allowed: set, what: str, source: str, column: str) -> None:
        found = set(np.unique(y).tolist())
        if not found <= allowed:
            shown = sorted(found)[:10]
            raise DataError(
                f"{source}: column '{column}' must be {what}; found values {{{', '.join(f'{v:g}' for v in shown)}"
                f"{', ...' if len(found) > 10 else ''}}}"
            )
