"""Binary log-loss (logistic loss, binary cross-entropy) on a raw score ``s`` (the logit).

    p = σ(s) = 1 / (1 + e^{-s})
    ℓ(y, s) = −y log p − (1 − y) log(1 − p) = log(1 + e^{s}) − y s
    ∂ℓ/∂s = p − y            ∂²ℓ/∂s² = p (1 − p)

Computed with ``logaddexp`` so it is exact for large |s|.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from samplescope.objectives.base import Objective

__all__ = ["LogLoss"]


class LogLoss(Objective):
    """Binary log-loss; labels 0/1 (also accepts soft labels in [0, 1] via ``soft=True``)."""

    name = "logloss"
    task = "binary"

    def check_labels(self, y, *, source="data", column="label"):
        self._require_values(y, {0.0, 1.0}, "0/1 for objective 'logloss'", source, column)

    def loss(self, y, s, bounds=None):
        return np.logaddexp(0.0, s) - y * s

    def gradient(self, y, s, bounds=None):
        return expit(s) - y

    def hessian(self, y, s, bounds=None):
        p = expit(s)
        return p * (1.0 - p)

    def predict(self, s):
        return expit(s)
