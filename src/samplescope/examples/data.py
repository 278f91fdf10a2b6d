"""Datasets for the reference torch models (:mod:`samplescope.examples.torch_models`).

* :func:`obd_ctr_codes` — Open Bandit Dataset impressions (bundled) with integer codes for the categorical
  fields and two numeric columns, chronologically split: the input of :class:`DeepFM`.
* :func:`load_movielens_implicit` (re-exported from :mod:`samplescope.datasets.movielens`) — MovieLens-100k
  implicit feedback for :class:`MatrixFactorization`.
* :func:`text_pairs` — query–item texts tokenised into ``[CLS] query [SEP] item`` id columns with query groups;
  :func:`synthetic_search` (offline, e-commerce product titles) and :func:`movielens_genre_search` (genre
  queries over MovieLens titles) build graded relevance data for :class:`CrossEncoder`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.datasets.movielens import load_movielens_implicit, movielens_frame
from samplescope.datasets.obd import obd_frame
from samplescope.errors import DataError

__all__ = ["OBD_FIELDS", "obd_ctr_codes", "load_movielens_implicit", "text_pairs", "synthetic_search",
           "movielens_genre_search"]

#: OBD categorical fields (codes), then the numeric columns.
OBD_FIELDS = ("item_id", "position", "user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3",
              "item_feature_1", "item_feature_2", "item_feature_3")
_OBD_NUMERIC = ("item_feature_0", "affinity")


def obd_ctr_codes(policy: str = "random", campaign: str = "all", *, valid_fraction: float = 0.2
                  ) -> tuple[Dataset, Dataset, list[int]]:
    """``(train, valid, cardinalities)``: clicks with ``len(OBD_FIELDS)`` code columns and 2 numeric ones.

    Codes are assigned over the whole log (so both parts share them); the split is by impression time.
    """
    df = obd_frame(policy, campaign)
    codes, cards = [], []
    for f in OBD_FIELDS:
        c = np.unique(df[f].astype(str).to_numpy(), return_inverse=True)[1]
        codes.append(c)
        cards.append(int(c.max()) + 1)
    X = np.c_[np.array(codes).T, df[list(_OBD_NUMERIC)].to_numpy(dtype=np.float64)].astype(np.float64)
    y = df["click"].to_numpy(dtype=np.float64)
    cut = int(len(df) * (1 - valid_fraction))
    names = OBD_FIELDS + _OBD_NUMERIC
    ids = df["impression_id"].to_numpy()

    def part(s, name):
        return Dataset(X=X[s], y=y[s], ids=ids[s], feature_names=names, name=f"obd {policy}/{campaign} {name}",
                       label_name="click")

    return part(slice(0, cut), "train"), part(slice(cut, None), "valid"), cards


def text_pairs(queries: Sequence[str], items: Sequence[str], labels, groups, *, max_len: int = 24,
               vocabulary: dict | None = None, name: str = "text pairs") -> tuple[Dataset, dict]:
    """Tokenise query–item pairs into id columns ``[CLS] query [SEP] item`` (0 = padding, 1 = CLS, 2 = SEP).

    Words are lower-cased and split on spaces; unknown words share id 3. Returns the dataset (one row per
    pair, query groups, graded labels) and the vocabulary ``word → id`` (pass it back for validation data).
    """
    if not (len(queries) == len(items) == len(labels) == len(groups)):
        raise DataError(f"{name}: queries, items, labels and groups must have one entry per pair; found lengths "
                        f"{len(queries)}, {len(items)}, {len(labels)}, {len(groups)}")
    if vocabulary is None:
        words = sorted({w for t in list(queries) + list(items) for w in t.lower().split()})
        vocabulary = {w: k + 4 for k, w in enumerate(words)}
    X = np.zeros((len(queries), max_len))
    for r, (q, it) in enumerate(zip(queries, items)):
        toks = [1] + [vocabulary.get(w, 3) for w in q.lower().split()] + [2] + \
            [vocabulary.get(w, 3) for w in it.lower().split()]
        toks = toks[:max_len]
        X[r, :len(toks)] = toks
    return Dataset(X=X, y=np.asarray(labels, dtype=np.float64), group=np.asarray(groups), name=name,
                   label_name="relevance", group_name="query"), vocabulary


_COLORS = ("red", "blue", "black", "white", "green", "grey")
_KINDS = ("running shoes", "sneakers", "boots", "jacket", "t-shirt", "jeans", "backpack", "cap")
_BRANDS = ("acme", "northpeak", "urbanline", "swiftco", "terra")


def synthetic_search(n_queries: int = 30, items_per_query: int = 8, *, seed: int = 0, noise: float = 0.1,
                     max_len: int = 16) -> tuple[Dataset, dict]:
    """An offline product-search set: queries ``color kind`` over titles ``brand color kind``; relevance 2 when
    both match, 1 when the kind matches, else 0; a share ``noise`` of labels is redrawn at random."""
    rng = np.random.default_rng(seed)
    qs, its, ys, gs = [], [], [], []
    for q in range(n_queries):
        color, kind = _COLORS[rng.integers(len(_COLORS))], _KINDS[rng.integers(len(_KINDS))]
        for _ in range(items_per_query):
            c = color if rng.random() < 0.4 else _COLORS[rng.integers(len(_COLORS))]
            k = kind if rng.random() < 0.5 else _KINDS[rng.integers(len(_KINDS))]
            rel = 2.0 if (c, k) == (color, kind) else 1.0 if k == kind else 0.0
            rel = float(rng.integers(0, 3)) if rng.random() < noise else rel
            qs.append(f"{color} {kind}"), its.append(f"{_BRANDS[rng.integers(len(_BRANDS))]} {c} {k}")
            ys.append(rel), gs.append(q)
    return text_pairs(qs, its, ys, gs, max_len=max_len, name="synthetic search")


def movielens_genre_search(n_queries: int = 40, items_per_query: int = 20, *, seed: int = 0, max_len: int = 24,
                           **kwargs) -> tuple[Dataset, dict]:
    """Genre queries over MovieLens-100k titles: query = one genre, item = ``title year`` plus one of its genres
    (so words of the query can appear); relevance 1 when the movie has the queried genre. ``kwargs``: the
    ``cache_dir`` / ``source`` of :func:`samplescope.datasets.movielens.movielens_files`."""
    items = movielens_frame("item", **kwargs)
    genres = items["class"].str.split()
    vocab = sorted({g for gs in genres for g in gs})
    rng = np.random.default_rng(seed)
    qs, its, ys, gs = [], [], [], []
    for q in range(n_queries):
        genre = vocab[rng.integers(len(vocab))]
        for r in rng.choice(len(items), size=items_per_query, replace=False):
            shown = genres[r][rng.integers(len(genres[r]))]
            qs.append(genre), its.append(f"{items.movie_title[r]} {items.release_year[r]} {shown}")
            ys.append(float(genre in genres[r])), gs.append(q)
    return text_pairs(qs, its, ys, gs, max_len=max_len, name="movielens genre search")
