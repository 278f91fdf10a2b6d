"""MovieLens 100K (GroupLens) as implicit feedback — fetched from PyPI, never bundled.

100,000 ratings (1–5) by 943 users of 1,682 movies, September 1997 – April 1998 (F. M. Harper and
J. A. Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015). The GroupLens terms
allow research use and forbid redistribution, so samplescope does not ship the data: the three RecBole
"atomic files" (``ml-100k.inter``, ``.user``, ``.item``) are read from the MIT-licensed ``recbole`` 1.2.1
wheel on PyPI (folder ``recbole/dataset_example/ml-100k``). :func:`movielens_files` downloads the wheel
once, checks its sha256 (:data:`MOVIELENS_WHEEL`), reads only those three members, checks each sha256
(:data:`MOVIELENS_SHA256`) and keeps them in the samplescope cache (``$SAMPLESCOPE_CACHE`` or
``~/.cache/samplescope``, see :mod:`samplescope.datasets.cache`); later calls need no network.
``source=`` reads a local folder holding the three files instead (checked the same way).

:func:`load_movielens_implicit` turns the ratings into the usual implicit-feedback task: a rating ≥
``threshold`` (default 4) is a positive; each positive gets ``negatives`` items the user never rated
(sampled with a seed) as label-0 rows; the last ``valid_fraction`` of the positives in time (with their
negatives) is the validation set. Features are the two id columns ``user`` (0..942) and ``item`` (0..1681),
for :class:`samplescope.examples.torch_models.MatrixFactorization`. Cite Harper & Konstan when you use it.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from samplescope.data.dataset import Dataset
from samplescope.datasets import cache
from samplescope.errors import DataError

__all__ = ["MOVIELENS_N_ITEMS", "MOVIELENS_N_USERS", "MOVIELENS_SHA256", "MOVIELENS_WHEEL",
           "load_movielens_implicit", "movielens_files", "movielens_frame"]

#: The wheel that carries the files (URL and sha256 as published on PyPI).
MOVIELENS_WHEEL = {
    "project": "recbole",
    "filename": "recbole-1.2.1-py3-none-any.whl",
    "url": "https://files.pythonhosted.org/packages/ab/fe/7d606cb7cd2b166a36b100cb9435d21014ceee16c192d972deb0976967a8/"
           "recbole-1.2.1-py3-none-any.whl",
    "sha256": "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
    "folder": "recbole/dataset_example/ml-100k",
}
#: sha256 of each file (identical bytes in the wheel and in GroupLens' conversion by RecBole).
MOVIELENS_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
MOVIELENS_N_USERS = 943
MOVIELENS_N_ITEMS = 1682
_SUBDIR = "movielens-100k"


def _download() -> bytes:
    w = MOVIELENS_WHEEL
    errors = []
    urls = [w["url"]]
    try:  # the PyPI simple index (PEP 691) in case the recorded URL moved
        index = json.loads(cache.fetch(f"https://pypi.org/simple/{w['project']}/",
                                       accept="application/vnd.pypi.simple.v1+json"))
        urls += [f["url"] for f in index.get("files", []) if f.get("filename") == w["filename"]]
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        errors.append(f"PyPI index: {type(exc).__name__}: {exc}")
    for url in dict.fromkeys(urls):
        try:
            raw = cache.fetch(url)
        except (OSError, ValueError) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        found = cache.sha256_hex(raw)
        if found != w["sha256"]:
            raise DataError(f"{url}: sha256 of the downloaded {w['filename']} does not match; expected {w['sha256']}, "
                            f"found {found}")
        return raw
    raise DataError(f"could not fetch {w['filename']} from PyPI ({'; '.join(errors)}); pass source= a folder "
                    f"with {', '.join(MOVIELENS_SHA256)} (e.g. unpacked from `pip download --no-deps recbole==1.2.1`, "
                    f"folder {w['folder']}) or set {cache.CACHE_ENV}")


def movielens_files(*, cache_dir: str | os.PathLike | None = None,
                    source: str | os.PathLike | None = None) -> dict[str, Path]:
    """Paths of the three verified files, ``{"ml-100k.inter": Path, ...}`` (see the module docstring).

    Args:
        cache_dir: the cache root (default ``$SAMPLESCOPE_CACHE`` or ``~/.cache/samplescope``).
        source: a local folder with the three files; used instead of the cache and the network.
    """
    if source is not None:
        paths = {n: Path(source) / n for n in MOVIELENS_SHA256}
        for n, p in paths.items():
            cache.read_verified(p, MOVIELENS_SHA256[n], f"MovieLens file {n}")
        return paths
    root = cache.cache_root(cache_dir) / _SUBDIR
    paths = {n: root / n for n in MOVIELENS_SHA256}
    if all(p.is_file() and cache.sha256_hex(p.read_bytes()) == MOVIELENS_SHA256[n] for n, p in paths.items()):
        return paths
    raw = _download()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            members = {n: z.read(f"{MOVIELENS_WHEEL['folder']}/{n}") for n in MOVIELENS_SHA256}
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{MOVIELENS_WHEEL['filename']}: could not read the MovieLens files from the wheel; found "
                        f"{type(exc).__name__}: {exc}") from None
    from samplescope.result import atomic_write

    for n, data in members.items():
        found = cache.sha256_hex(data)
        if found != MOVIELENS_SHA256[n]:
            raise DataError(f"{MOVIELENS_WHEEL['filename']}: sha256 of {n} does not match; expected "
                            f"{MOVIELENS_SHA256[n]}, found {found}")
        try:
            root.mkdir(parents=True, exist_ok=True)
            atomic_write(paths[n], lambda tmp, d=data: Path(tmp).write_bytes(d))
        except OSError as exc:
            raise DataError(f"{paths[n]}: could not write to the samplescope cache; expected a writable folder "
                            f"(set {cache.CACHE_ENV} or pass cache_dir=); found {exc.strerror or exc}") from None
    return paths


def movielens_frame(which: str = "inter", **kwargs) -> pd.DataFrame:
    """One of the files as a table: ``inter`` (user_id, item_id, rating, timestamp), ``user`` or ``item``.

    Args:
        which: ``inter``, ``user`` or ``item``.
        **kwargs: ``cache_dir`` / ``source`` of :func:`movielens_files`.
    """
    if which not in ("inter", "user", "item"):
        raise DataError(f"movielens_frame: which must be 'inter', 'user' or 'item'; found {which!r}")
    path = movielens_files(**kwargs)[f"ml-100k.{which}"]
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.split(":")[0] for c in df.columns]
    for col in ("user_id", "item_id"):
        if col in df:
            df[col] = df[col].astype(np.int64)
    for col in ("rating", "timestamp"):
        if col in df:
            df[col] = df[col].astype(np.float64)
    return df


def load_movielens_implicit(*, threshold: float = 4.0, negatives: int = 1, valid_fraction: float = 0.1,
                            seed: int = 0, **kwargs) -> tuple[Dataset, Dataset]:
    """``(train, valid)`` implicit-feedback datasets (see the module docstring).

    Args:
        threshold: a rating at or above it is a positive.
        negatives: label-0 items per positive, drawn from the items the user never rated.
        valid_fraction: the latest share of the positives (by time), with their negatives, held out.
        seed: seed of the negative sampling.
        **kwargs: ``cache_dir`` / ``source`` of :func:`movielens_files`.
    """
    if not 0 < valid_fraction < 1 or int(negatives) < 0:
        raise DataError(f"load_movielens_implicit: expected 0 < valid_fraction < 1 and negatives >= 0; found "
                        f"{valid_fraction}, {negatives}")
    inter = movielens_frame("inter", **kwargs)
    rated = set(zip(inter.user_id, inter.item_id))
    pos = inter[inter.rating >= threshold].sort_values(["timestamp", "user_id", "item_id"], kind="stable")
    rng = np.random.default_rng(seed)
    users, items, labels, when = [], [], [], []
    taken: set = set()
    for u, i, t in zip(pos.user_id.to_numpy(), pos.item_id.to_numpy(), pos.timestamp.to_numpy()):
        users.append(u), items.append(i), labels.append(1.0), when.append(t)
        for _ in range(int(negatives)):
            for _ in range(100):
                j = int(rng.integers(1, MOVIELENS_N_ITEMS + 1))
                if (u, j) not in rated and (u, j) not in taken:
                    taken.add((u, j))
                    users.append(u), items.append(j), labels.append(0.0), when.append(t)
                    break
    u, i, y = np.array(users), np.array(items), np.array(labels)
    X = np.c_[u - 1, i - 1].astype(np.float64)
    ids = np.char.add(np.char.add(u.astype(str), ":"), i.astype(str))
    cut = int(np.searchsorted(np.cumsum(y), (1 - valid_fraction) * y.sum()))
    cut += int(np.argmax(y[cut:] == 1)) if cut < len(y) else 0  # start the validation part at a positive
    make = lambda s, name: Dataset(X=X[s], y=y[s], ids=ids[s], feature_names=("user", "item"),  # noqa: E731
                                   name=f"movielens-100k {name}", label_name="positive")
    return make(slice(0, cut), "train"), make(slice(cut, None), "valid")
