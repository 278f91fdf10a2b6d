"""The model adapter: what a method may ask of a model, declared as capabilities.

A method declares the capabilities it needs (see :data:`CAPABILITIES`); an adapter declares the ones it
provides. A new model family implements its capabilities once and inherits every method that needs
only those. Each capability is a small protocol (``LinearModel`` is the reference implementation):

* ``scores``: ``objective``, ``scores(data) -> (n,) | (n, K)``, ``losses(data)``.
* ``param_gradients`` (per-sample ``g_i = ∇_θ ℓ_i``, never materialised as n×p):
  ``loss_scale(data) -> (n,)`` (factor of ``ℓ_i`` in the training objective, e.g. ``c·w_i``),
  ``mean_gradient(data) -> (p,)`` (gradient of the weighted mean loss over ``data``),
  ``gradient_dot(data, v) -> (n,)`` (``g_i · v``), ``gradient_sq_norms(data) -> (n,)``.
* ``hessian``: ``at_optimum(train) -> adapter``, ``hessian_solver(train)`` returning an object with
  ``solve(B)`` (``H⁻¹B``) and ``p``, ``hessian(train) -> (p, p)`` where affordable,
  ``gradient_quadratic(data, solver) -> (n,)`` (``g_iᵀ H⁻¹ g_i``).
* ``refit``: ``refit(data) -> adapter`` honouring ``data``'s rows and weights, same hyper-parameters.
* ``input_gradient``: ``input_gradient() -> (d, K)`` for linear scorers.
* ``features``: the numeric feature space of ``data.X`` is meaningful for distances.
* ``tree_structure`` (boosted trees, ``TreeEnsemble`` in ``models/trees.py``): ``leaves(data) -> (n, T)``,
  ``rounds(data)`` (per-round raw scores, gradients, hessians), ``outputs(t)`` (leaf values),
  ``learning_rate``, ``reg_lambda``, ``leaf_output(G, H)`` (the Newton formula), ``leaf_slope(t)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.objectives.base import Objective

__all__ = ["ModelAdapter", "CAPABILITIES"]

CAPABILITIES: dict[str, str] = {
    "scores": "raw model scores s(x) for any data",
    "param_gradients": "per-sample parameter gradients g_i = λ_i ∂s_i/∂θ",
    "hessian": "the exact Hessian of the regularised training objective",
    "refit": "retraining on a subset or with new sample weights",
    "input_gradient": "the score's gradient with respect to the input, ∂s/∂x",
    "features": "a numeric feature space for distances (KNN)",
    "tree_structure": "boosted trees: leaf indices per tree, per-round gradients and hessians, Newton leaf values",
}


class ModelAdapter(ABC):
    """A trained model seen through the quantities importance methods need.

    Attributes:
        objective: the training loss.
        capabilities: names from :data:`CAPABILITIES` this adapter provides.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()
    kind: ClassVar[str] = "model"
    objective: Objective

    @abstractmethod
    def scores(self, data: Dataset) -> np.ndarray:
        """Raw scores ``(n,)`` or ``(n, K)``."""

    @abstractmethod
    def refit(self, data: Dataset) -> "ModelAdapter":
        """A new adapter retrained with this one's hyper-parameters on ``data`` (its rows and weights)."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A short hash of the model's parameters and hyper-parameters."""

    def params(self) -> dict:
        """Hyper-parameters that define the training objective (for results' metadata)."""
        return {}

    def at_optimum(self, train: Dataset) -> "ModelAdapter":
        """The model at the exact optimum of its objective on ``train`` (itself when there is no such notion)."""
        return self

    def losses(self, data: Dataset) -> np.ndarray:
        """Per-sample loss at the model's parameters."""
        return self.objective.loss(data.y, self.scores(data), data.group_bounds)

    def check_data(self, data: Dataset) -> None:
        """Raise a clear error when ``data`` does not fit this model (labels, width)."""
        self.objective.check_labels(data.y, source=data.name, column=data.label_name)
