"""Turning table columns into a numeric feature matrix, the same way for training and validation data.

:class:`FeatureEncoder` is fitted on the training table and then encodes every other table (validation,
test) with exactly the training columns:

* numeric columns (ints, floats, nullable ints) pass through as ``float64``; a missing or infinite
  value is an error (samplescope does not impute);
* string, categorical, object and bool columns are one-hot encoded over the categories seen in
  training, sorted (numerically when every category looks like a number, else as text). A missing
  value is its own category ``"<NA>"``. A category never seen in training encodes as all zeros;
* feature names are ``col`` for a numeric column and ``col=value`` for a one-hot column, in the order
  of the columns, each column expanding in place.

Sparse or dense output (``sparse="auto"``): the output is a scipy CSR matrix when the encoded width
``d`` is above ``max_dense_width`` (1000) **and** the share of non-zero cells per row,
``(#numeric + #categorical columns) / d``, is below ``max_sparse_density`` (10 %); otherwise a dense
``float64`` array. The choice is made once, at ``fit``, so validation data comes out in the same format.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from samplescope.errors import DataError

__all__ = ["FeatureEncoder", "LibSVMLayout", "NA_CATEGORY"]

NA_CATEGORY = "<NA>"


def _kind(s: pd.Series, column, source: str) -> str:
    """``"numeric"`` or ``"categorical"``; unsupported dtypes are a :class:`DataError`."""
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt):
        return "numeric"
    if (
        pd.api.types.is_string_dtype(dt)
        or pd.api.types.is_object_dtype(dt)
        or isinstance(dt, pd.CategoricalDtype)
    ):
        return "categorical"
    raise DataError(
        f"{source}: feature column '{column}' has dtype {dt}; expected a numeric, string, categorical "
        f"or bool column (convert it, or leave it out with exclude=[{str(column)!r}])"
    )


def _sorted_categories(values: Sequence[str]) -> list[str]:
    """Categories sorted numerically when all look like numbers, else as text."""
    values = list(values)
    try:
        keys = [float(v) for v in values]
    except ValueError:
        return sorted(values)
    return [v for _, v in sorted(zip(keys, values))]


def _categorical_codes(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes per row (``-1`` for missing) and the text of each raw category."""
    cat = s.astype("category")
    cats = cat.cat.categories
    if pd.api.types.is_float_dtype(cats.dtype) and np.all(np.mod(cats.to_numpy(), 1) == 0):
        cats = cats.astype(np.int64)  # 2.0 -> "2": an int column read as float (it had NaN) still matches
    return cat.cat.codes.to_numpy(), pd.Index(cats.astype(str))


class FeatureEncoder:
    """One-hot encodes categorical columns, passes numeric columns through; fitted on training data.

    Args:
        sparse: ``"auto"`` (the rule in the module docstring), ``True`` (always CSR) or ``False``
            (always dense).
        max_dense_width: with ``"auto"``, widths up to this many columns are always dense.
        max_sparse_density: with ``"auto"``, wider outputs are CSR when the share of non-zero cells
            per row is below this.

    Attributes (after :meth:`fit`):
        columns_: the table columns used, in order.
        kinds_: ``"numeric"`` or ``"categorical"`` for each column.
        categories_: for each categorical column, its training categories (text, sorted).
        feature_names_: the name of each encoded feature.
        sparse_: whether :meth:`transform` returns CSR.

    Example:
        >>> import pandas as pd
        >>> enc = FeatureEncoder().fit(pd.DataFrame({"x": [1.5, 2.0], "c": ["b", "a"]}))
        >>> enc.feature_names_
        ('x', 'c=a', 'c=b')
        >>> enc.transform(pd.DataFrame({"x": [0.0], "c": ["z"]})).tolist()
        [[0.0, 0.0, 0.0]]
    """

    def __init__(self, *, sparse: bool | str = "auto", max_dense_width: int = 1000,
                 max_sparse_density: float = 0.1) -> None:
        self.sparse = sparse
        self.max_dense_width = max_dense_width
        self.max_sparse_density = max_sparse_density

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame, columns: Sequence | None = None, *, source: str = "data") -> "FeatureEncoder":
        """Learn the columns, their kinds and the categories from a training table.

        Args:
            df: the training table (pandas).
            columns: the feature columns; default every column of ``df``.
            source: the file name used in error messages.
        """
        if self.sparse not in ("auto", True, False):
            raise DataError(f"sparse must be 'auto', True or False; found {self.sparse!r}")
        columns = list(df.columns if columns is None else columns)
        self._check_columns(df, columns, source, fitted=False)
        if not columns:
            raise DataError(f"{source}: expected at least one feature column; found none")
        kinds, categories, names = {}, {}, []
        for c in columns:
            s = df[c]
            kinds[c] = _kind(s, c, source)
            if kinds[c] == "numeric":
                names.append(str(c))
                continue
            codes, text = _categorical_codes(s)
            present = pd.unique(text[np.unique(codes[codes >= 0])]) if len(text) else []
            cats = _sorted_categories(present)
            if np.any(codes < 0):
                cats.append(NA_CATEGORY)
            categories[c] = tuple(cats)
            names.extend(f"{c}={v}" for v in cats)
        self.columns_ = tuple(columns)
        self.kinds_ = kinds
        self.categories_ = categories
        self.feature_names_ = tuple(names)
        n_nonzero = len(columns)  # at most one non-zero cell per column and row
        if self.sparse == "auto":
            d = len(names)
            self.sparse_ = bool(d > self.max_dense_width and n_nonzero / max(d, 1) < self.max_sparse_density)
        else:
            self.sparse_ = bool(self.sparse)
        return self

    @property
    def n_features_(self) -> int:
        """Width of the encoded matrix."""
        return len(self.feature_names_)

    # ------------------------------------------------------------ transform
    def transform(self, df: pd.DataFrame, *, source: str = "data") -> np.ndarray | sp.csr_matrix:
        """Encode a table with the training columns; extra columns in ``df`` are ignored.

        Args:
            df: a table holding every column the encoder was fitted on.
            source: the file name used in error messages.

        Returns:
            ``(n, n_features_)`` dense ``float64`` array, or CSR when :attr:`sparse_`.

        Raises:
            DataError: a fitted column is missing, a numeric column holds text, NaN or inf.
        """
        if not hasattr(self, "columns_"):
            raise DataError("the feature encoder is not fitted; call fit(train_table) first")
        self._check_columns(df, self.columns_, source, fitted=True)
        n, d = len(df), self.n_features_
        rows_all = np.arange(n)
        parts = []  # (rows, cols, values) per column, in column order
        off = 0
        for c in self.columns_:
            s = df[c]
            if self.kinds_[c] == "numeric":
                v = self._numeric(s, c, source)
                parts.append((rows_all, np.full(n, off), v))
                off += 1
                continue
            cats = self.categories_[c]
            codes, text = _categorical_codes(s)
            lookup = pd.Index(cats).get_indexer(text)  # raw category -> training category, -1 unseen
            na_code = cats.index(NA_CATEGORY) if NA_CATEGORY in cats else -1
            if len(lookup):
                j = np.where(codes >= 0, lookup[np.maximum(codes, 0)], na_code)
            else:
                j = np.full(n, na_code)
            hit = j >= 0
            parts.append((rows_all[hit], off + j[hit], np.ones(int(hit.sum()))))
            off += len(cats)
        if not self.sparse_:
            X = np.zeros((n, d), dtype=np.float64)
            for r, cols, v in parts:
                X[r, cols] = v
            return X
        r = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        v = np.concatenate([p[2] for p in parts])
        keep = v != 0
        X = sp.csr_matrix((v[keep], (r[keep], cols[keep])), shape=(n, d), dtype=np.float64)
        X.sort_indices()
        return X

    def fit_transform(self, df: pd.DataFrame, columns: Sequence | None = None, *, source: str = "data"):
        """:meth:`fit` then :meth:`transform` on the same table."""
        return self.fit(df, columns, source=source).transform(df, source=source)

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _check_columns(df, columns, source: str, *, fitted: bool) -> None:
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"{source}: expected a pandas DataFrame; found {type(df).__name__}")
        if df.columns.has_duplicates:
            dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
            raise DataError(f"{source}: column names must be unique; found duplicates {dup}")
        missing = [c for c in columns if c not in df.columns]
        if missing:
            what = "that the training data has" if fitted else "among the table's columns"
            raise DataError(f"{source}: missing feature column(s) {[str(c) for c in missing]} {what}")

    @staticmethod
    def _numeric(s: pd.Series, column, source: str) -> np.ndarray:
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            conv = pd.to_numeric(s, errors="coerce")
            bad = conv.isna().to_numpy() & s.notna().to_numpy()
            if bad.any():
                raise DataError(
                    f"{source}: feature column '{column}' must be numeric, as in the training data; "
                    f"found dtype {s.dtype} with non-numeric values like {list(map(str, s[bad].unique()[:3]))}"
                )
            v = conv.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(v)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise DataError(
                f"{source}: feature column '{column}' must be finite (samplescope does not impute); "
                f"found NaN or inf in {len(bad)} row(s), first at row {bad[0]}"
            )
        return v

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        if not hasattr(self, "columns_"):
            return "FeatureEncoder(unfitted)"
        n_cat = sum(k == "categorical" for k in self.kinds_.values())
        return (f"FeatureEncoder({len(self.columns_)} columns, {n_cat} one-hot, "
                f"d={self.n_features_}, {'sparse' if self.sparse_ else 'dense'})")


class LibSVMLayout:
    """What a LibSVM reader learned from the training file, reused for validation files.

    A LibSVM file names its features by index, so two files agree when they are read with the same
    width and the same index base. :func:`samplescope.data.readers.read_libsvm` stores this on
    ``Dataset.encoder``, and ``read_any(valid, encoder=train.encoder)`` reads the validation file with it.

    Args:
        n_features: width of the feature matrix.
        zero_based: whether file index ``j`` is column ``j`` (else column ``j - 1``).
    """

    def __init__(self, n_features: int, zero_based: bool) -> None:
        self.n_features = int(n_features)
        self.zero_based = bool(zero_based)

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"LibSVMLayout(n_features={self.n_features}, zero_based={self.zero_based})"
