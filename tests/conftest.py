"""Tiny problems shared by the objective, adapter, reference and contract tests.

Every problem is small enough that brute-force references (refit loops, enumerated coalitions, dense
finite-difference Hessians) run in milliseconds, and noisy enough that leave-one-out values are not all
of one sign.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import samplescope as ss

# the tolerance table lives next to the tests: make it importable under any import mode
sys.path.insert(0, str(Path(__file__).parent))


def make_problem(task: str = "binary", *, n: int = 40, n_valid: int = 15, d: int = 3, seed: int = 0,
                 weights: bool = False, ids: bool = False, n_classes: int = 3):
    """``(train, valid)`` datasets for ``binary``, ``multiclass`` or ``regression``.

    Features are standard normal; labels come from a random linear model plus noise (so a few rows
    are "mislabeled" and get negative values). ``weights`` draws sample weights in [0.5, 2];
    ``ids`` gives the training rows string ids in reverse order.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + n_valid, d))
    if task == "binary":
        w = rng.normal(size=d)
        y = (X @ w + 0.8 * rng.normal(size=n + n_valid) > 0).astype(float)
        y[:2] = [0.0, 1.0]  # both classes present in train
    elif task == "multiclass":
        W = rng.normal(size=(d, n_classes))
        y = np.argmax(X @ W + 0.8 * rng.gumbel(size=(n + n_valid, n_classes)), axis=1).astype(float)
        y[:n_classes] = np.arange(n_classes)
    elif task == "regression":
        w = rng.normal(size=d)
        y = X @ w + 0.5 + 0.5 * rng.normal(size=n + n_valid)
    else:  # pragma: no cover
        raise ValueError(task)
    wt = rng.uniform(0.5, 2.0, size=n) if weights else None
    rid = np.array([f"r{n - i:03d}" for i in range(n)]) if ids else None
    train = ss.from_arrays(X[:n], y[:n], weight=wt, ids=rid, name="train")
    valid = ss.from_arrays(X[n:], y[n:], name="valid")
    return train, valid


@pytest.fixture
def problem():
    """The factory :func:`make_problem`."""
    return make_problem


@pytest.fixture
def binary():
    """A small binary problem ``(train, valid)``: n=40, d=3."""
    return make_problem("binary")


@pytest.fixture
def multiclass():
    """A small 3-class problem ``(train, valid)``: n=45, d=3."""
    return make_problem("multiclass", n=45)


@pytest.fixture
def regression():
    """A small regression problem ``(train, valid)``: n=30, d=3."""
    return make_problem("regression", n=30)
