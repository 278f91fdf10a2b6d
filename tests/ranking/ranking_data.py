"""Tiny ranking problems shared by the ranking tests (query groups of 1..7 documents, graded labels 0..3).

A plain module (not ``conftest``) so that its name cannot collide with ``tests/conftest.py``.
"""

from __future__ import annotations

import numpy as np

import samplescope as ss


def make_ranking(*, n_groups: int = 8, d: int = 3, seed: int = 0, max_size: int = 7, weights: str | None = None,
                 degenerate: bool = True, name: str = "train", ids: bool = False):
    """A ranking ``Dataset``: labels from a noisy linear model, group ids 100, 101, …

    ``weights``: ``None``, ``"group"`` (constant within each group, XGBoost style) or ``"document"``.
    ``degenerate`` makes group 1 a single document and group 2 all-equal labels.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, max_size + 1, size=n_groups)
    if degenerate and n_groups >= 3:
        sizes[1] = 1
    n = int(sizes.sum())
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = np.clip(np.round(X @ w + 0.8 * rng.normal(size=n) + 1.2), 0, 3)
    bounds = np.r_[0, np.cumsum(sizes)]
    if degenerate and n_groups >= 3:
        y[bounds[2]:bounds[3]] = 2.0
    group = np.repeat(np.arange(100, 100 + n_groups), sizes)
    wt = None
    if weights == "group":
        wt = np.repeat(rng.uniform(0.5, 2.0, n_groups), sizes)
    elif weights == "document":
        wt = rng.uniform(0.5, 2.0, n)
    rid = np.array([f"d{i:03d}" for i in range(n)]) if ids else None
    return ss.from_arrays(X, y, group=group, weight=wt, ids=rid, name=name)
