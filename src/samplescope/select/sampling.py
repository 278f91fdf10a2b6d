"""Subsamples for the selection harness: stratified nested prefixes, holdouts and planted label noise.

One random order of the training rows serves every measurement: each prefix of it is (close to)
stratified — by label for classification and graded relevance, by label decile for regression, by whole
query group for ranking — so the subsample at 1,000 rows contains the one at 500.
Rows of a prefix are returned sorted, which keeps query groups contiguous and the file order intact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from samplescope.data.dataset import Dataset

__all__ = ["Order", "corrupt", "stratified_order", "strata"]


def strata(data: Dataset, task: str) -> np.ndarray:
    """Stratum of every row: the class (classification, ranking grades), or the label decile (regression)."""
    y = data.y
    if task == "regression" or len(np.unique(y)) > 20:
        edges = np.quantile(y, np.linspace(0, 1, 11)[1:-1])
        return np.searchsorted(edges, y, side="right")
    return np.unique(y, return_inverse=True)[1]


@dataclass(frozen=True)
class Order:
    """A random order of rows in units (single rows, or whole query groups) whose prefixes are stratified.

    Attributes:
        rows: the rows, in order.
        ends: cumulative row count at the end of each unit (a prefix is cut at a unit boundary).
        front: leading units that hold the first rows of every class (kept by :meth:`resample`).
    """

    rows: np.ndarray
    ends: np.ndarray
    front: int = 0

    @property
    def n(self) -> int:
        return len(self.rows)

    def cut(self, size: int) -> int:
        """The smallest unit boundary holding at least ``size`` rows (all rows when there are fewer)."""
        i = int(np.searchsorted(self.ends, min(size, self.n), side="left"))
        return int(self.ends[min(i, len(self.ends) - 1)])

    def prefix(self, size: int) -> np.ndarray:
        """The first ``size`` rows (rounded up to whole groups), sorted."""
        return np.sort(self.rows[: self.cut(size)])

    def units(self, size: int) -> int:
        """How many units the prefix of ``size`` rows spans."""
        return int(np.searchsorted(self.ends, self.cut(size), side="left")) + 1

    def unit_rows(self, i: int) -> np.ndarray:
        """Rows of unit ``i``."""
        return self.rows[(self.ends[i - 1] if i else 0): self.ends[i]]

    def resample(self, size: int, keep: float, seed: int) -> np.ndarray:
        """Another subsample about as large as ``prefix(size)`` overlapping it by ``keep`` (sorted rows).

        A random ``keep`` share of the prefix's units stays (the ``front`` units always), the rest is
        replaced by the units that follow the prefix in the order (when the data has more).
        """
        rng = np.random.default_rng(seed)
        k = self.units(size)
        protect = min(self.front, k)
        n_keep = max(protect, int(round(keep * k)))
        kept = np.concatenate([np.arange(protect), protect + rng.choice(k - protect, n_keep - protect, replace=False)])
        extra = np.arange(k, min(len(self.ends), k + (k - n_keep)))
        return np.sort(np.concatenate([self.unit_rows(int(i)) for i in np.concatenate([kept, extra])]))

    def split(self, fraction: float) -> tuple["Order", np.ndarray]:
        """``(rest, held)``: the last ``fraction`` of the units held out (sorted rows) and the order of the rest."""
        k = self.cut(int(round(self.n * (1 - fraction))))
        units = int(np.searchsorted(self.ends, k, side="left")) + 1
        return Order(self.rows[:k], self.ends[:units], self.front), np.sort(self.rows[k:])


def stratified_order(data: Dataset, task: str, seed: int, rows: np.ndarray | None = None) -> Order:
    """A random order of ``rows`` (default all) whose every prefix is stratified.

    Classification: rows of each class are spread evenly over the order, and the first two rows of every
    class come first, so even a small prefix has each class. Ranking (grouped data): whole query groups in
    random order.
    """
    rng = np.random.default_rng(seed)
    rows = np.arange(data.n) if rows is None else np.asarray(rows)
    if data.group is not None:
        g = data.group[rows]
        change = np.flatnonzero(g[1:] != g[:-1]) + 1
        units = np.split(rows, change)
        perm = rng.permutation(len(units))
        ordered = [units[i] for i in perm]
        return Order(np.concatenate(ordered), np.cumsum([len(u) for u in ordered]))
    key = strata(data, task)[rows]
    pos = np.empty(len(rows))
    first = np.zeros(len(rows), dtype=bool)
    for c in np.unique(key):
        idx = np.flatnonzero(key == c)
        idx = idx[rng.permutation(len(idx))]
        pos[idx] = (np.arange(len(idx)) + rng.random(len(idx))) / len(idx)
        first[idx[:2]] = task != "regression"
    order = np.lexsort((pos, ~first))
    return Order(rows[order], np.arange(1, len(rows) + 1), int(first.sum()))


def corrupt(data: Dataset, task: str, fraction: float, seed: int, *, n_classes: int | None = None,
            protect: np.ndarray | None = None) -> tuple[Dataset, np.ndarray]:
    """``(noisy, flipped)``: ``data`` with the labels of a random ``fraction`` of rows made wrong.

    binary: ``1 − y``; multiclass: another class at random; ranking grades: another observed grade;
    regression: ``y ± 3·std(y)``. Rows where ``protect`` is true keep their labels (so every class stays).
    """
    rng = np.random.default_rng(seed)
    n = data.n
    pool = np.arange(n) if protect is None else np.flatnonzero(~np.asarray(protect, dtype=bool))
    k = max(1, int(round(fraction * n)))
    rows = rng.choice(pool, size=min(k, len(pool)), replace=False)
    y = data.y.copy()
    if task == "binary":
        y[rows] = 1.0 - y[rows]
    elif task == "multiclass":
        K = int(n_classes or int(y.max()) + 1)
        y[rows] = (y[rows] + rng.integers(1, K, size=len(rows))) % K
    elif task == "regression":
        y[rows] += rng.choice([-3.0, 3.0], size=len(rows)) * (np.std(y) or 1.0)
    else:
        grades = np.unique(y)
        if len(grades) < 2:
            grades = np.array([0.0, 1.0])
        for r in rows:
            others = grades[grades != y[r]]
            y[r] = others[rng.integers(len(others))]
    flipped = np.zeros(n, dtype=bool)
    flipped[rows] = True
    return replace(data, y=y, _fp=[]), flipped
