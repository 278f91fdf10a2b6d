"""Solving with a symmetric positive (semi-)definite Hessian, factorised once.

Cholesky when the matrix is positive definite; otherwise an eigendecomposition with a
pseudo-inverse (directions with eigenvalue below ``rtol · λ_max`` are dropped), which is the
minimum-norm answer for an unregularised model with collinear features.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla

__all__ = ["SymmetricSolver"]


class SymmetricSolver:
    """Factorise a symmetric PSD matrix once, then solve many right-hand sides.

    Args:
        H: symmetric ``(p, p)`` matrix.
        rtol: relative eigenvalue cut-off for the pseudo-inverse fallback.
    """

    def __init__(self, H: np.ndarray, *, rtol: float = 1e-12):
        self.p = H.shape[0]
        self.H = H
        self._inv: np.ndarray | None = None
        try:
            self._chol = sla.cho_factor(H, lower=True, check_finite=False)
            self.exact = True
        except (np.linalg.LinAlgError, sla.LinAlgError):
            self._chol = None
            vals, vecs = np.linalg.eigh(H)
            keep = vals > rtol * max(vals.max(), 1e-300)
            self._vecs = vecs[:, keep]
            self._inv_vals = 1.0 / vals[keep]
            self.exact = False
            warnings.warn(
                f"the Hessian is singular (rank {int(keep.sum())} of {self.p}; collinear features "
                "without regularisation?); using its pseudo-inverse",
                RuntimeWarning,
                stacklevel=3,
            )

    def solve(self, B: np.ndarray) -> np.ndarray:
        """``H⁻¹ B`` (``B`` of shape ``(p,)`` or ``(p, m)``); many right-hand sides use one GEMM."""
        if B.ndim == 2 and B.shape[1] > 8 and self.p <= 4096:
            return self.inverse() @ B
        if self._chol is not None:
            return sla.cho_solve(self._chol, B, check_finite=False)
        return self._vecs @ (self._inv_vals[:, None] * (self._vecs.T @ B)) if B.ndim == 2 else \
            self._vecs @ (self._inv_vals * (self._vecs.T @ B))

    def inverse(self) -> np.ndarray:
        """The explicit (pseudo-)inverse (computed once)."""
        if self._inv is None:
            if self._chol is not None:
                inv = sla.cho_solve(self._chol, np.eye(self.p), check_finite=False)
            else:
                inv = self._vecs @ (self._inv_vals[:, None] * self._vecs.T)
            self._inv = 0.5 * (inv + inv.T)
        return self._inv
