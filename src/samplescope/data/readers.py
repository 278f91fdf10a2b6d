"""Readers that turn files, data frames and arrays into a :class:`~samplescope.data.dataset.Dataset`.

* :func:`read_table` — CSV (``.csv``, ``.csv.gz``), TSV (``.tsv``, ``.tsv.gz``) and Parquet (``.parquet``, ``.pq``);
* :func:`from_frame` — a pandas or polars DataFrame;
* :func:`from_arrays` — numpy arrays or a scipy sparse matrix;
* :func:`read_libsvm` — LibSVM / SVMlight text, with ``qid:`` groups or a LightGBM ``PATH.query`` side file;
* :func:`read_any` — picks :func:`read_libsvm` or :func:`read_table` from the file extension.

Table columns become features through a :class:`~samplescope.data.encoding.FeatureEncoder` (numeric columns
as they are, the others one-hot). Pass ``encoder=train.encoder`` to read validation data with exactly the
training columns. Every bad input raises :class:`~samplescope.errors.DataError` naming the file and column.
"""

from __future__ import annotations

import bz2
import difflib
import gzip
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from samplescope.data.dataset import Dataset
from samplescope.data.encoding import FeatureEncoder, LibSVMLayout
from samplescope.errors import DataError

__all__ = ["from_arrays", "from_frame", "read_any", "read_libsvm", "read_table",
           "LIBSVM_SUFFIXES", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")
LIBSVM_SUFFIXES = (".svm", ".libsvm", ".txt", ".train", ".test")
_INDEX_COLUMN = "Unnamed: 0"


# ------------------------------------------------------------------ helpers
def _table_kind(path: Path) -> str | None:
    """The table suffix of a file name (``.csv.gz`` ...), or ``None``."""
    name = path.name.lower()
    return next((s for s in TABLE_SUFFIXES if name.endswith(s)), None)


def _is_libsvm(path: Path) -> bool:
    name = path.name.lower()
    for comp in (".gz", ".bz2"):
        name = name[: -len(comp)] if name.endswith(comp) else name
    return name.endswith(LIBSVM_SUFFIXES)


def _existing(path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: {what} not found; expected an existing file")
    if not p.is_file():
        raise DataError(f"{p}: expected a file; found a directory or special file")
    return p


def _missing_column(source: str, role: str, column, columns) -> DataError:
    names = [str(c) for c in columns]
    close = difflib.get_close_matches(str(column), names, n=3, cutoff=0.6)
    hint = f"; close matches: {close}" if close else ""
    shown = names if len(names) <= 12 else names[:12] + ["..."]
    return DataError(
        f"{source}: expected {role} column '{column}'; not found among the {len(names)} column(s) "
        f"{shown}{hint}"
    )


def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        return [v]
    return list(v)


def _to_pandas(df, source: str) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame):
        return df
    module = type(df).__module__ or ""
    if module.startswith("polars"):
        import polars as pl  # noqa: F401  (lazy: only for polars input)

        if hasattr(df, "collect") and not hasattr(df, "to_pandas"):
            df = df.collect()  # a LazyFrame
        return df.to_pandas()
    raise DataError(f"{source}: expected a pandas or polars DataFrame; found {type(df).__name__}")


def _label_values(s: pd.Series, column, source: str) -> np.ndarray:
    na = s.isna().to_numpy()
    if na.any():
        rows = np.flatnonzero(na)
        raise DataError(
            f"{source}: label column '{column}' must have a value in every row; found {len(rows)} "
            f"missing value(s), first at row {rows[0]} (0-based, header not counted)"
        )
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_complex_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64)
    conv = pd.to_numeric(s, errors="coerce")
    bad = conv.isna().to_numpy()
    if bad.any():
        examples = [str(v) for v in pd.unique(s[bad])[:3]]
        raise DataError(
            f"{source}: label column '{column}' must be numeric; found dtype {s.dtype} "
            f"with values like {examples}"
        )
    return conv.to_numpy(dtype=np.float64)


def _no_missing(s: pd.Series, role: str, column, source: str) -> np.ndarray:
    na = s.isna().to_numpy()
    if na.any():
        rows = np.flatnonzero(na)
        raise DataError(
            f"{source}: {role} column '{column}' must have a value in every row; found {len(rows)} "
            f"missing value(s), first at row {rows[0]}"
        )
    return s.to_numpy()


def _weight_values(s: pd.Series) -> np.ndarray:
    """Weights as float (NaN for missing); non-numeric columns go through as-is for Dataset to reject."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return s.to_numpy()


# ------------------------------------------------------------------ frames
def from_frame(df, *, label: str, features: Sequence[str] | None = None, group: str | None = None,
               weight: str | None = None, id: str | None = None, exclude: Sequence[str] | None = None,
               encoder: FeatureEncoder | None = None, name: str = "frame") -> Dataset:
    """Build a dataset from a pandas or polars DataFrame.

    Args:
        df: the table; a polars DataFrame (or LazyFrame) is converted with ``to_pandas()``.
        label: the label column (numeric or bool, no missing values).
        features: the feature columns; default every column except label, group, weight, id,
            ``exclude`` and a leading unnamed index column (``"Unnamed: 0"``). With ``encoder``,
            default the encoder's columns.
        group: optional query-group column (rows of a group contiguous).
        weight: optional non-negative sample-weight column.
        id: optional column of unique row ids.
        exclude: columns never used as features.
        encoder: a fitted :class:`FeatureEncoder` (e.g. ``train.encoder``) to encode this table exactly
            like the training table; default fit a new one on this table.
        name: the source name used in error messages and kept on the dataset.

    Returns:
        A :class:`Dataset` with ``encoder`` set, ``label_name`` etc. set to the column names.
    """
    src = str(name)
    df = _to_pandas(df, src)
    if df.columns.has_duplicates:
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(f"{src}: column names must be unique; found duplicates {dup}")
    roles = {"label": label, "group": group, "weight": weight, "id": id}
    for role, col in roles.items():
        if col is not None and col not in df.columns:
            raise _missing_column(src, role, col, df.columns)
    exclude = _as_list(exclude)
    for col in exclude:
        if col not in df.columns:
            raise _missing_column(src, "excluded", col, df.columns)
    if encoder is not None and not isinstance(encoder, FeatureEncoder):
        raise DataError(
            f"{src}: encoder must be the FeatureEncoder of a table dataset (train.encoder); "
            f"found {type(encoder).__name__}"
        )
    special = [c for c in roles.values() if c is not None]
    if features is None and encoder is not None:
        features = list(encoder.columns_)
    elif features is None:
        skip = set(special) | set(exclude)
        features = [c for c in df.columns if c not in skip]
        if len(df.columns) and df.columns[0] == _INDEX_COLUMN and _INDEX_COLUMN not in special:
            features = [c for c in features if c != _INDEX_COLUMN]
        if not features:
            raise DataError(
                f"{src}: expected at least one feature column besides {[str(c) for c in special]}; found none"
            )
    else:
        features = _as_list(features)
        if not features:
            raise DataError(f"{src}: expected at least one feature column; found an empty list")
        for col in features:
            if col not in df.columns:
                raise _missing_column(src, "feature", col, df.columns)
        clash = [c for c in features if c in special or c in exclude]
        if clash:
            raise DataError(
                f"{src}: feature column(s) {[str(c) for c in clash]} are also used as "
                f"label/group/weight/id or excluded; expected them in only one role"
            )
        if encoder is not None and list(features) != list(encoder.columns_):
            raise DataError(
                f"{src}: feature columns {[str(c) for c in features]} differ from the encoder's "
                f"{[str(c) for c in encoder.columns_]}; expected the training columns, in order"
            )
    if len(df) == 0:
        raise DataError(f"{src}: expected at least one row; found an empty table")
    y = _label_values(df[label], label, src)
    if encoder is None:
        encoder = FeatureEncoder().fit(df, features, source=src)
    X = encoder.transform(df, source=src)
    return Dataset(
        X=X,
        y=y,
        group=None if group is None else _no_missing(df[group], "group", group, src),
        weight=None if weight is None else _weight_values(df[weight]),
        ids=None if id is None else _no_missing(df[id], "id", id, src),
        feature_names=encoder.feature_names_,
        name=src,
        label_name=str(label),
        group_name=str(group) if group is not None else "group",
        weight_name=str(weight) if weight is not None else "weight",
        encoder=encoder,
    )


def read_table(path, *, label: str, features: Sequence[str] | None = None, group: str | None = None,
               weight: str | None = None, id: str | None = None, exclude: Sequence[str] | None = None,
               encoder: FeatureEncoder | None = None) -> Dataset:
    """Read a CSV, TSV or Parquet file into a dataset (see :func:`from_frame` for the options).

    ``.csv`` and ``.csv.gz`` are comma-separated, ``.tsv`` and ``.tsv.gz`` tab-separated, ``.parquet``
    and ``.pq`` Parquet. The dataset's ``name`` is the file name.

    Example:
        >>> train = read_table("train.parquet", label="click", id="impression_id")  # doctest: +SKIP
        >>> valid = read_table("valid.parquet", label="click", id="impression_id",
        ...                    encoder=train.encoder)                                 # doctest: +SKIP
    """
    p = _existing(path, "data file")
    kind = _table_kind(p)
    if kind is None:
        raise DataError(
            f"{p.name}: unknown table file extension; expected one of {list(TABLE_SUFFIXES)}"
            f" (or a LibSVM file {list(LIBSVM_SUFFIXES)} via read_libsvm)"
        )
    try:
        if kind in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, sep="\t" if kind.startswith(".tsv") else ",", low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{p.name}: expected a header row and at least one data row; found an empty file") from None
    except MemoryError:
        raise
    except Exception as exc:  # pyarrow, parser, decoding and gzip errors all mean "unreadable"
        fmt = "Parquet" if kind in (".parquet", ".pq") else "TSV" if kind.startswith(".tsv") else "CSV"
        raise DataError(
            f"{p.name}: could not read the file as {fmt}; found {type(exc).__name__}: {exc}"
        ) from None
    return from_frame(df, label=label, features=features, group=group, weight=weight, id=id,
                      exclude=exclude, encoder=encoder, name=p.name)


def from_arrays(X, y, *, group=None, weight=None, ids=None, feature_names: Sequence[str] | None = None,
                name: str = "arrays") -> Dataset:
    """Build a dataset from arrays: ``X`` dense ``(n, d)`` or scipy sparse, ``y`` ``(n,)``.

    Example:
        >>> from_arrays([[0.0, 1.0], [2.0, 3.0]], [0, 1]).n_features
        2
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    elif hasattr(X, "to_numpy"):
        X = X.to_numpy()
    y = y.to_numpy() if hasattr(y, "to_numpy") else y
    return Dataset(X=X, y=y, group=None if group is None else np.asarray(group),
                   weight=None if weight is None else np.asarray(weight),
                   ids=None if ids is None else np.asarray(ids), feature_names=feature_names, name=name)


# ------------------------------------------------------------------ libsvm
def _open_text(path: Path):
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rt", errors="replace")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", errors="replace")
    return open(path, "rt", errors="replace")


def _has_qid(path: Path) -> bool:
    """Whether the first data line of a LibSVM file carries ``qid:`` (files use it on every line or none)."""
    with _open_text(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                return "qid:" in line
    return False


def _query_groups(qpath: Path, n: int, data_name: str) -> np.ndarray:
    return groups_from_sizes(qpath.read_bytes(), n, qpath.name, data_name)


def groups_from_sizes(raw: bytes | str, n: int, name: str, data_name: str) -> np.ndarray:
    """Group ids ``0..G-1`` from a LightGBM-style ``.query`` text (one group size per line), checked against ``n`` rows.

    Args:
        raw: the file's contents.
        n: rows of the data file the groups belong to.
        name: the ``.query`` file's name (for messages).
        data_name: the data file's name (for messages).
    """
    try:
        sizes = np.array([int(t) for t in raw.split()], dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"{name}: expected one integer group size per line; found {exc}") from None
    if len(sizes) == 0:
        raise DataError(f"{name}: expected one group size per line; found an empty file")
    if np.any(sizes <= 0):
        raise DataError(f"{name}: group sizes must be positive; found {int(sizes.min())} "
                        f"at line {int(np.argmax(sizes <= 0)) + 1}")
    if sizes.sum() != n:
        raise DataError(f"{name}: group sizes must sum to the {n} rows of {data_name}; "
                        f"found a sum of {int(sizes.sum())} over {len(sizes)} groups")
    return np.repeat(np.arange(len(sizes)), sizes)


def read_libsvm(path, *, n_features: int | None = None, zero_based: bool | str = "auto",
                name: str | None = None) -> Dataset:
    """Read a LibSVM / SVMlight file (``label [qid:q] index:value ...``) into a sparse dataset.

    Groups come from ``qid:`` when the file has them; otherwise from a LightGBM-style side file
    ``PATH.query`` (one group size per line, in row order) when it exists. The side file is ignored
    when the file has ``qid:``.

    Args:
        path: the file (``.gz`` and ``.bz2`` are decompressed).
        n_features: width of the matrix; default the largest index in the file. Pass the training
            width (or ``encoder=train.encoder`` to :func:`read_any`) for validation files.
        zero_based: ``True`` if index 0 is the first column, ``False`` if 1 is; ``"auto"``: zero-based
            when the file uses index 0, else one-based. Column ``j`` of ``X`` is file index ``j`` (+1 when
            one-based).
        name: the source name; default the file name.

    Returns:
        A dataset with CSR features and ``encoder`` set to a :class:`LibSVMLayout` recording the width and
        index base, so validation files can be read identically.
    """
    from sklearn.datasets import load_svmlight_file

    p = _existing(path, "LibSVM file")
    src = name or p.name
    if zero_based not in ("auto", True, False):
        raise DataError(f"{src}: zero_based must be 'auto', True or False; found {zero_based!r}")
    try:
        X, y, qid = load_svmlight_file(str(p), zero_based=True, query_id=True)
    except Exception as exc:  # sklearn raises ValueError/RuntimeError for malformed lines
        raise DataError(f"{src}: could not read the file as LibSVM (label [qid:q] index:value ...); "
                        f"found {type(exc).__name__}: {exc}") from None
    X = sp.csr_matrix(X, dtype=np.float64)
    if X.shape[0] == 0:
        raise DataError(f"{src}: expected at least one row; found an empty file")
    uses_zero = X.nnz > 0 and int(X.indices.min()) == 0
    zb = uses_zero if zero_based == "auto" else bool(zero_based)
    if not zb:
        if uses_zero:
            raise DataError(f"{src}: one-based file (zero_based=False) must not use feature index 0; found index 0")
        X = X[:, 1:] if X.shape[1] > 0 else X
    width = X.shape[1]
    if n_features is not None:
        if width > n_features:
            raise DataError(
                f"{src}: expected at most {n_features} features (feature indices below "
                f"{n_features + (0 if zb else 1)}); found index {width - (1 if zb else 0)}"
            )
        X = sp.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], n_features))
    if X.shape[1] == 0:
        raise DataError(f"{src}: expected at least one feature; found none")
    group, group_name = None, "group"
    if _has_qid(p):
        group, group_name = qid, "qid"
    else:
        qpath = p.with_name(p.name + ".query")
        if qpath.exists():
            group, group_name = _query_groups(qpath, X.shape[0], src), qpath.name
    return Dataset(X=X, y=y, group=group, name=src, label_name="label", group_name=group_name,
                   encoder=LibSVMLayout(X.shape[1], zb))


def read_any(path, *, label: str | None = None, features: Sequence[str] | None = None, group: str | None = None,
             weight: str | None = None, id: str | None = None, exclude: Sequence[str] | None = None,
             encoder: FeatureEncoder | LibSVMLayout | None = None) -> Dataset:
    """Read a LibSVM file (``.svm``, ``.libsvm``, ``.txt``, ``.train``, ``.test``, optionally ``.gz``/``.bz2``)
    with :func:`read_libsvm`, anything else with :func:`read_table`.

    For a LibSVM file the label and groups come from the file and ``label`` is ignored; the table-only
    options ``features``, ``group``, ``weight``, ``id``, ``exclude`` must be left unset. ``encoder`` is
    ``train.encoder`` for a validation file in either format.
    """
    p = Path(path)
    if _is_libsvm(p):
        given = [k for k, v in {"features": features, "group": group, "weight": weight, "id": id,
                                "exclude": exclude}.items() if v is not None]
        if given:
            raise DataError(f"{p.name}: a LibSVM file takes its label, groups and features from the file; "
                            f"expected no table option, found {given}")
        if encoder is not None and not isinstance(encoder, LibSVMLayout):
            raise DataError(f"{p.name}: is a LibSVM file but the training data was a table "
                            f"(found a {type(encoder).__name__}); expected both in the same format")
        if encoder is None:
            return read_libsvm(p)
        return read_libsvm(p, n_features=encoder.n_features, zero_based=encoder.zero_based)
    if isinstance(encoder, LibSVMLayout):
        raise DataError(f"{p.name}: is a table but the training data was a LibSVM file; "
                        f"expected both in the same format")
    if label is None:
        raise DataError(f"{p.name}: a table needs the name of its label column; found none (pass label=...)")
    return read_table(p, label=label, features=features, group=group, weight=weight, id=id,
                      exclude=exclude, encoder=encoder)
