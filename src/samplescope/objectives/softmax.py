"""Multiclass softmax cross-entropy over K raw scores (logits).

    p_k = e^{s_k} / Σ_j e^{s_j}
    ℓ(y, s) = −log p_y = logsumexp(s) − s_y
    ∂ℓ/∂s_k = p_k − 1[k = y]          ∂²ℓ/∂s_k∂s_j = p_k 1[k = j] − p_k p_j

The hessian block ``diag(p) − p pᵀ`` is singular along ``(1, …, 1)``: adding a constant to every
logit leaves the loss unchanged. Model adapters account for that direction.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, softmax

from samplescope.errors import DataError
from samplescope.objectives.base import Objective

__all__ = ["SoftmaxCrossEntropy"]


class SoftmaxCrossEntropy(Objective):
    """Softmax cross-entropy; labels are class indices ``0..K-1``.

    Args:
        n_classes: the number of classes K (≥ 2).
    """

    name = "softmax"
    task = "multiclass"

    def __init__(self, n_classes: int = 3):
        if int(n_classes) < 2:
            raise DataError(f"objective 'softmax' needs at least 2 classes; found {n_classes}")
        self.n_classes = int(n_classes)
        self.n_outputs = self.n_classes

    def __repr__(self) -> str:
        return f"SoftmaxCrossEntropy(n_classes={self.n_classes})"

    def check_labels(self, y, *, source="data", column="label"):
        self._require_values(
            y, set(map(float, range(self.n_classes))),
            f"a class index 0..{self.n_classes - 1} for objective 'softmax'", source, column,
        )

    def _onehot(self, y, n):
        Y = np.zeros((n, self.n_classes))
        Y[np.arange(n), y.astype(np.int64)] = 1.0
        return Y

    def loss(self, y, s, bounds=None):
        return logsumexp(s, axis=1) - s[np.arange(len(y)), y.astype(np.int64)]

    def gradient(self, y, s, bounds=None):
        return softmax(s, axis=1) - self._onehot(y, len(y))

    def hessian(self, y, s, bounds=None):
        p = softmax(s, axis=1)
        H = -p[:, :, None] * p[:, None, :]
        idx = np.arange(self.n_classes)
        H[:, idx, idx] += p
        return H

    def predict(self, s):
        return softmax(s, axis=1)
