"""MSLR-WEB (Microsoft Learning to Rank), the first 5,000 rows of Fold1 train and test — fetched, not bundled.

Web-search learning-to-rank data from Microsoft Bing: one row per query-URL pair, a graded relevance label
0 (irrelevant) .. 4 (perfectly relevant), a query id and 136 numeric features (LETOR format). The two files
``msn1.fold1.{train,test}.5k.txt`` are test fixtures inside the ``rankeval`` 0.8.2 sdist on PyPI (rankeval is
MPL-2.0; the MSLR data is released "for research on learning to rank"), so samplescope does **not** ship them:
:func:`load_mslr_5k` downloads the sdist once, checks its sha256 (:data:`MSLR_SDIST`), reads just these two
members, checks their sha256 (:data:`MSLR_SHA256`) and caches them (see :mod:`samplescope.datasets.cache`).
Later calls read the cache and need no network. ``source=`` reads a local copy of the two files instead.

The files are cut at 5,000 lines, so the last query of each may be incomplete.

Reference: T. Qin, T.-Y. Liu, "Introducing LETOR 4.0 Datasets", arXiv:1306.2597 (2013);
https://www.microsoft.com/en-us/research/project/mslr/. Cite it when you use the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.data.encoding import LibSVMLayout
from samplescope.datasets import cache
from samplescope.datasets.lambdarank import parse_svmlight
from samplescope.errors import DataError

__all__ = ["MSLR_FILES", "MSLR_MEMBER_DIR", "MSLR_N_FEATURES", "MSLR_SDIST", "MSLR_SHA256", "load_mslr_5k"]

#: The sdist that carries the files (sha256 as published on PyPI and checked on download).
MSLR_SDIST = cache.PyPISdist(
    project="rankeval",
    version="0.8.2",
    url="https://files.pythonhosted.org/packages/79/a7/436c3492eb252df3a3747fa675e5781bc7c89c56e508ecbaf3b2c79f1e54/"
        "rankeval-0.8.2.tar.gz",
    sha256="c7d71602ab7fe0a0281976c1f0e883cb16431f72e4e946e5fd83790449bb21a9",
)
#: Folder of the two files inside the sdist.
MSLR_MEMBER_DIR = "rankeval-0.8.2/rankeval/test/data"
#: File of each split.
MSLR_FILES = {"train": "msn1.fold1.train.5k.txt", "test": "msn1.fold1.test.5k.txt"}
#: sha256 of each file (the shared data README; the same bytes as in the sdist).
MSLR_SHA256 = {
    "msn1.fold1.train.5k.txt": "6d1721de961a35fbaef7085dc5b41e2940f0ddb04bab5f7a8566cf7db4158fa6",
    "msn1.fold1.test.5k.txt": "13d3c638edd23e482c38f4316c2680c938c2eaedbe096970ab30a48e364463d3",
}
#: Width of the feature matrix (file indices 1..136 → columns 0..135).
MSLR_N_FEATURES = 136
#: Folder under the cache root.
CACHE_SUBDIR = "mslr_web_5k"


def _check_contiguous(qid: np.ndarray, name: str) -> None:
    starts = np.concatenate([[0], np.flatnonzero(qid[1:] != qid[:-1]) + 1])
    runs = qid[starts]
    uniq, first = np.unique(runs, return_index=True)
    if len(uniq) != len(runs):
        again = np.setdiff1d(np.arange(len(runs)), first)[0]
        raise DataError(f"{name}: rows of each qid must be contiguous; found qid {runs[again]} again at "
                        f"row {int(starts[again])} after other queries ({len(runs)} runs for {len(uniq)} qids)")


def _from_source(source, fname: str) -> bytes:
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: source= must be a folder holding {sorted(MSLR_FILES.values())}; "
                        f"found {'a file' if folder.exists() else 'nothing'} there")
    return cache.read_verified(folder / fname, MSLR_SHA256[fname], f"the MSLR file {fname}")


def load_mslr_5k(split: str = "train", *, cache_dir: str | os.PathLike | None = None,
                 source: str | os.PathLike | None = None) -> Dataset:
    """The first 5,000 rows of MSLR-WEB Fold1 ``train`` or ``test`` as a ranking dataset.

    The first call downloads ``rankeval-0.8.2.tar.gz`` (2.3 MB) from PyPI and keeps the two files
    (11 MB) in the cache; later calls need no network. Every read checks the file's sha256.

    Args:
        split: ``"train"`` (``msn1.fold1.train.5k.txt``) or ``"test"`` (``msn1.fold1.test.5k.txt``).
        cache_dir: the cache root (files go to ``cache_dir/mslr_web_5k/``); default ``$SAMPLESCOPE_CACHE``,
            else ``~/.cache/samplescope``.
        source: a folder holding your own copy of the two files; read from there (sha256-checked),
            with no download and no cache.

    Returns:
        A sparse (CSR) dataset: 5,000 rows, 136 features, graded labels 0..4, ``group`` = the file's
        ``qid`` (contiguous rows, 43 queries per split), ``ids`` = the row index and ``encoder`` =
        ``LibSVMLayout(136, zero_based=False)``. The same as
        ``read_libsvm(path, n_features=136, zero_based=False)`` on the file.

    Raises:
        DataError: an unknown split; the download failed and nothing is cached (the message says where
            to put the files by hand); a sha256 does not match; rows of a qid are not contiguous.
    """
    if split not in MSLR_FILES:
        raise DataError(f"unknown MSLR split {split!r}; expected one of {list(MSLR_FILES)}")
    fname = MSLR_FILES[split]
    if source is not None:
        raw = _from_source(source, fname)
    else:
        members = {f"{MSLR_MEMBER_DIR}/{f}": MSLR_SHA256[f] for f in MSLR_FILES.values()}
        raw = cache.cached_member(MSLR_SDIST, members, f"{MSLR_MEMBER_DIR}/{fname}", subdir=CACHE_SUBDIR,
                                  cache_dir=cache_dir, hint="or pass source=<a folder with the two files>")
    name = f"{CACHE_SUBDIR}/{fname}"
    X, y, qid = parse_svmlight(raw, name=name, n_features=MSLR_N_FEATURES, query_id=True)
    _check_contiguous(qid, name)
    return Dataset(X=X, y=y, group=qid, ids=np.arange(X.shape[0]), name=name, label_name="label",
                   group_name="qid", encoder=LibSVMLayout(MSLR_N_FEATURES, False))
