"""data_oob on mostly-zero dense features (one-hot encodings) works on a CSR copy: the same values."""

from __future__ import annotations

import numpy as np
import pytest

import samplescope as ss
from samplescope.methods import data_oob as oob


@pytest.mark.filterwarnings("ignore:data_oob:RuntimeWarning")
def test_sparse_copy_gives_the_dense_values(monkeypatch):
    rng = np.random.default_rng(0)
    n, fields, levels = 3000, 6, 8
    codes = rng.integers(0, levels, size=(n, fields))
    X = np.zeros((n, fields * levels))
    X[np.arange(n)[:, None], codes + levels * np.arange(fields)] = 1.0  # one-hot: 12.5 % non-zero
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ rng.normal(size=X.shape[1]) - 1)))).astype(float)
    train = ss.from_arrays(X, y)
    assert oob._sparse_copy(train).X.format == "csr"
    model = ss.fit_model("logistic", train, C=0.5)
    fast = ss.score("data_oob", model, train, n_estimators=8, seed=3)
    monkeypatch.setattr(oob, "_sparse_copy", lambda data: data)
    dense = ss.score("data_oob", model, train, n_estimators=8, seed=3)
    np.testing.assert_allclose(fast.values, dense.values, rtol=1e-9, atol=1e-12)
