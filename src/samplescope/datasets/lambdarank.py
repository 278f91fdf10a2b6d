"""LightGBM's lambdarank example, bundled: a small learning-to-rank set with query groups and graded labels.

From ``examples/lambdarank/`` of the LightGBM repository (MIT License, Copyright (c) Microsoft Corporation;
see ``files/lightgbm_lambdarank/README.md`` and ``LICENSE``). Anonymized data of undocumented origin (not
e-commerce): a fast, permissively licensed fixture for ranking objectives.

* ``train``: 3,005 rows in 201 queries (1..27 documents each), labels 0..4;
* ``test``: 768 rows in 50 queries (6..24 documents each).

300 sparse features (file indices 1..300, values in [0, 1]). Query groups come from the LightGBM side file
``rank.{train,test}.query`` (one group size per line, in row order). Every read checks the sha256 of the
decompressed bytes against :data:`LAMBDARANK_SHA256`.
"""

from __future__ import annotations

import gzip
import io
from importlib.resources import files

import numpy as np
import scipy.sparse as sp

from samplescope.data.dataset import Dataset
from samplescope.data.encoding import LibSVMLayout
from samplescope.data.readers import groups_from_sizes
from samplescope.datasets.cache import sha256_hex
from samplescope.errors import DataError

__all__ = ["LAMBDARANK_N_FEATURES", "LAMBDARANK_SHA256", "load_lambdarank_example"]

#: Width of the feature matrix (file indices 1..300 → columns 0..299).
LAMBDARANK_N_FEATURES = 300

#: sha256 of each uncompressed file, as recorded with the data (files/lightgbm_lambdarank/README.md).
LAMBDARANK_SHA256 = {
    "rank.train": "a0c7201c89120879c14a5059e091f441cbf2a29b8aaef363885ccb1a530448df",
    "rank.train.query": "40cb5fef637229311cd30fab13cb7fb633b023e86a87ff04ec55db420143d6af",
    "rank.test": "3b1219ce117a0a36d2f76c02de7e7831c1d79af0d40f5195c03178bbe26c824b",
    "rank.test.query": "36dca82ba3bf99201bac3987b00a8fbf6fe5f563e9fa6d0da90e783710a32df4",
}

_ROOT = files("samplescope.datasets") / "files" / "lightgbm_lambdarank"
_SPLITS = ("train", "test")


def _check_split(split: str, what: str) -> None:
    if split not in _SPLITS:
        raise DataError(f"unknown {what} split {split!r}; expected one of {list(_SPLITS)}")


def _read_bundled(root, rel: str) -> bytes:
    path = root / (rel + ".gz")
    try:
        raw = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{rel}.gz: bundled lambdarank file not found under {root}; expected it in the "
                        f"installed package (reinstall samplescope)") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{rel}.gz: could not decompress the bundled lambdarank file; found {exc}") from None
    sha = LAMBDARANK_SHA256.get(rel)
    found = sha256_hex(raw)
    if found != sha:
        raise DataError(f"{rel}: sha256 of the bundled lambdarank file does not match; expected {sha}, "
                        f"found {found} (the file is corrupt or was modified)")
    return raw


def parse_svmlight(raw: bytes, *, name: str, n_features: int,
                   query_id: bool = False) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray | None]:
    """Parse one-based SVMlight bytes into ``(X, y, qid)`` the way :func:`~samplescope.data.readers.read_libsvm`
    reads a one-based file: file index ``j`` is column ``j - 1``, CSR float64 of width ``n_features``.

    ``qid`` is ``None`` unless ``query_id``; then every line must carry ``qid:``.
    """
    from sklearn.datasets import load_svmlight_file

    try:
        out = load_svmlight_file(io.BytesIO(raw), n_features=n_features, zero_based=False, query_id=query_id)
    except Exception as exc:  # sklearn raises ValueError/RuntimeError for malformed lines or indices
        raise DataError(f"{name}: could not read the file as one-based SVMlight with {n_features} features "
                        f"(label [qid:q] index:value ...); found {type(exc).__name__}: {exc}") from None
    X = sp.csr_matrix(out[0], dtype=np.float64)
    if X.shape[0] == 0:
        raise DataError(f"{name}: expected at least one row; found an empty file")
    return X, np.asarray(out[1], dtype=np.float64), (np.asarray(out[2]) if query_id else None)


def load_lambdarank_example(split: str = "train") -> Dataset:
    """LightGBM's lambdarank example as a ranking dataset.

    Args:
        split: ``"train"`` (``rank.train``) or ``"test"`` (``rank.test``).

    Returns:
        A sparse (CSR) dataset with 300 features, graded labels 0..4, ``group`` = the query number
        ``0..G-1`` from the ``.query`` side file (contiguous rows), ``ids`` = the row index and
        ``encoder`` = ``LibSVMLayout(300, zero_based=False)``, so ``read_any(path, encoder=ds.encoder)``
        reads other LightGBM-format files with the same columns. The same as
        ``read_libsvm("rank.train", n_features=300, zero_based=False)`` on the original files.

    Raises:
        DataError: an unknown split, or a bundled file whose sha256 does not match.

    Example:
        >>> ds = load_lambdarank_example("train")
        >>> ds.n, ds.n_features, len(ds.group_bounds) - 1
        (3005, 300, 201)
    """
    _check_split(split, "lambdarank")
    rel = f"rank.{split}"
    name = f"lambdarank/{rel}"
    X, y, _ = parse_svmlight(_read_bundled(_ROOT, rel), name=name, n_features=LAMBDARANK_N_FEATURES)
    group = groups_from_sizes(_read_bundled(_ROOT, rel + ".query"), X.shape[0], f"lambdarank/{rel}.query", name)
    return Dataset(X=X, y=y, group=group, ids=np.arange(X.shape[0]), name=name, label_name="label",
                   group_name=f"{rel}.query", encoder=LibSVMLayout(LAMBDARANK_N_FEATURES, False))
