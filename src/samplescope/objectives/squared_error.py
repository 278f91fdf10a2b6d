"""Squared error for regression, in the half-scaled form every booster uses.

    ℓ(y, s) = ½ (s − y)²        ∂ℓ/∂s = s − y        ∂²ℓ/∂s² = 1

The validation target of importance values is therefore half the mean squared error.
scikit-learn's ``Ridge`` minimises ``Σ w_i (y_i − s_i)² + α‖w‖²`` = ``2 [Σ w_i ℓ_i + ½ α‖w‖²]``.
"""

from __future__ import annotations

import numpy as np

from samplescope.objectives.base import Objective

__all__ = ["SquaredError"]


class SquaredError(Objective):
    """Half squared error ``½(s − y)²``; any real labels."""

    name = "squared_error"
    task = "regression"

    def check_labels(self, y, *, source="data", column="label"):
        return None  # Dataset already rejects NaN/inf

    def loss(self, y, s, bounds=None):
        return 0.5 * (s - y) ** 2

    def gradient(self, y, s, bounds=None):
        return s - y

    def hessian(self, y, s, bounds=None):
        return np.ones_like(s)
