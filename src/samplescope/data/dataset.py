"""The :class:`Dataset`: features, labels and the optional columns every method may use.

A dataset is immutable once built. Its rows are the training samples whose importance is measured;
results are always aligned to :attr:`Dataset.ids` (row order), never re-sorted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from samplescope.errors import DataError

__all__ = ["Dataset"]


def _as_features(X, source: str) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        data = X.data
    else:
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{source}: features must be numeric; could not convert to float ({exc})"
            ) from None
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise DataError(f"{source}: features must be a 2-D array; found {X.ndim} dimensions")
        data = X
    if not np.all(np.isfinite(data)):
        bad = np.argwhere(~np.isfinite(X.toarray() if sp.issparse(X) else X))
        r, c = (int(bad[0][0]), int(bad[0][1])) if len(bad) else (-1, -1)
        raise DataError(
            f"{source}: features must be finite; found NaN or inf in {len(bad)} cell(s), "
            f"first at row {r}, feature {c}"
        )
    return X


def _as_vector(v, n: int, what: str, source: str, *, numeric: bool = True) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 1:
        v = v.reshape(-1) if v.ndim == 2 and 1 in v.shape else v
    if v.ndim != 1 or len(v) != n:
        raise DataError(f"{source}: {what} must have one value per row ({n}); found shape {v.shape}")
    if numeric:
        try:
            v = v.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{source}: {what} must be numeric; found dtype {v.dtype}") from None
        if not np.all(np.isfinite(v)):
            bad = np.flatnonzero(~np.isfinite(v))
            raise DataError(
                f"{source}: {what} must be finite; found NaN or inf in {len(bad)} row(s), first at row {bad[0]}"
            )
    return v


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training or validation samples.

    Args:
        X: features, dense ``(n, d)`` float array or scipy CSR matrix.
        y: labels ``(n,)``: 0/1 for binary, real for regression, integers ``0..K-1`` for multiclass,
            graded relevance for ranking.
        group: optional query-group ids ``(n,)``; rows of one group must be contiguous.
        weight: optional non-negative sample weights ``(n,)``.
        ids: optional stable ids ``(n,)``, unique; default ``0..n-1``.
        feature_names: optional names of the ``d`` feature columns.
        name: where the data came from (a file name); used in every error message.
        label_name, group_name, weight_name: column names, used in error messages.
        encoder: the fitted feature encoder that produced ``X`` from a table (readers set it), so that
            a validation table is encoded with exactly the same columns.
    """

    X: np.ndarray | sp.csr_matrix
    y: np.ndarray
    group: np.ndarray | None = None
    weight: np.ndarray | None = None
    ids: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None
    name: str = "data"
    label_name: str = "label"
    group_name: str = "group"
    weight_name: str = "weight"
    encoder: object | None = field(default=None, repr=False, compare=False)
    _fp: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        src = self.name
        X = _as_features(self.X, src)
        n = X.shape[0]
        if n == 0:
            raise DataError(f"{src}: expected at least one row; found an empty table")
        if X.shape[1] == 0:
            raise DataError(f"{src}: expected at least one feature column; found none")
        y = _as_vector(self.y, n, f"label column '{self.label_name}'", src)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        if self.weight is not None:
            w = _as_vector(self.weight, n, f"weight column '{self.weight_name}'", src)
            if np.any(w < 0):
                raise DataError(
                    f"{src}: weight column '{self.weight_name}' must be >= 0; "
                    f"found {int(np.sum(w < 0))} negative value(s), min {w.min():g}"
                )
            if w.sum() <= 0:
                raise DataError(f"{src}: weight column '{self.weight_name}' must not be all zero")
            object.__setattr__(self, "weight", w)
        if self.group is not None:
            g = _as_vector(self.group, n, f"group column '{self.group_name}'", src, numeric=False)
            change = np.flatnonzero(g[1:] != g[:-1]) + 1
            starts = np.concatenate([[0], change])
            if len(np.unique(g)) != len(starts):
                raise DataError(
                    f"{src}: rows of each query group in '{self.group_name}' must be contiguous "
                    f"(sort by '{self.group_name}' first); found {len(starts)} runs for "
                    f"{len(np.unique(g))} distinct groups"
                )
            object.__setattr__(self, "group", g)
        if self.ids is not None:
            ids = _as_vector(self.ids, n, "id column", src, numeric=False)
            if len(np.unique(ids)) != n:
                raise DataError(f"{src}: ids must be unique; found {n - len(np.unique(ids))} duplicate(s)")
            object.__setattr__(self, "ids", ids)
        if self.feature_names is not None:
            names = tuple(str(c) for c in self.feature_names)
            if len(names) != X.shape[1]:
                raise DataError(
                    f"{src}: expected {X.shape[1]} feature names; found {len(names)}"
                )
            object.__setattr__(self, "feature_names", names)

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of rows."""
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return self.X.shape[1]

    @property
    def row_ids(self) -> np.ndarray:
        """The ids, or ``0..n-1`` when none were given."""
        return self.ids if self.ids is not None else np.arange(self.n)

    @property
    def weights(self) -> np.ndarray:
        """Sample weights, ones when none were given."""
        return self.weight if self.weight is not None else np.ones(self.n)

    @property
    def columns(self) -> tuple[str, ...]:
        """Feature names, ``x0..x{d-1}`` when none were given."""
        return self.feature_names or tuple(f"x{j}" for j in range(self.n_features))

    @property
    def group_bounds(self) -> np.ndarray | None:
        """Start offsets of each query group plus ``n`` (``None`` without groups)."""
        if self.group is None:
            return None
        change = np.flatnonzero(self.group[1:] != self.group[:-1]) + 1
        return np.concatenate([[0], change, [self.n]])

    def dense(self) -> np.ndarray:
        """Features as a dense array (a copy for sparse input)."""
        return self.X.toarray() if sp.issparse(self.X) else self.X

    def subset(self, rows: Sequence[int] | np.ndarray) -> "Dataset":
        """A new dataset with the given rows (in that order), ids preserved."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return replace(
            self,
            X=self.X[rows],
            y=self.y[rows],
            group=None if self.group is None else self.group[rows],
            weight=None if self.weight is None else self.weight[rows],
            ids=self.row_ids[rows],
            _fp=[],
        )

    def with_weight(self, weight: np.ndarray) -> "Dataset":
        """A new dataset with other sample weights."""
        return replace(self, weight=np.asarray(weight, dtype=np.float64), _fp=[])

    def fingerprint(self) -> str:
        """A short sha256 of features, labels, groups and weights (cached)."""
        if not self._fp:
            h = hashlib.sha256()

            def feed(a):
                h.update(memoryview(np.ascontiguousarray(a)).cast("B"))

            for a in ((self.X.data, self.X.indices, self.X.indptr) if sp.issparse(self.X) else (self.X,)):
                feed(a)
            feed(self.y)
            if self.weight is not None:
                feed(self.weight)
            if self.group is not None:
                h.update(np.asarray(self.group).astype(str).astype(bytes).tobytes())
            self._fp.append(h.hexdigest()[:16])
        return self._fp[0]

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        kind = "sparse" if sp.issparse(self.X) else "dense"
        extra = "".join(
            f", {k}" for k, v in (("groups", self.group), ("weights", self.weight), ("ids", self.ids)) if v is not None
        )
        return f"Dataset({self.name!r}, n={self.n}, d={self.n_features}, {kind}{extra})"
