"""Seeded Johnson–Lindenstrauss projections: same seed → same matrix in any order of rows; norms and inner
products kept within the JL bound over seeds; identity = no projection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplescope.errors import MethodError
from samplescope.projectors import Projector, jl_epsilon


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_same_seed_same_matrix_in_any_row_order_and_block_size(kind):
    P = Projector(300, 64, seed=5, kind=kind)
    M = P.matrix()
    idx = np.random.default_rng(0).permutation(300)[:50]
    np.testing.assert_array_equal(Projector(300, 64, seed=5, kind=kind, cache=0).rows(idx), M[idx])
    G = np.random.default_rng(1).normal(size=(7, 300))
    np.testing.assert_allclose(Projector(300, 64, seed=5, kind=kind, cache=0).project(G, block=37), G @ M,
                               rtol=1e-12, atol=1e-12)
    assert not np.array_equal(Projector(300, 64, seed=6, kind=kind).matrix(), M)
    assert abs(M.mean()) < 0.02 and abs(M.var() * 64 - 1.0) < 0.05  # mean 0, variance 1/k


def test_identity_is_no_projection():
    G = np.random.default_rng(0).normal(size=(4, 9))
    P = Projector(9, 3, kind="identity")
    assert P.k == 9
    np.testing.assert_array_equal(P.project(G), G)
    np.testing.assert_array_equal(P.matrix(), np.eye(9))


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_norms_and_inner_products_within_the_jl_bound_over_seeds(kind):
    rng = np.random.default_rng(2)
    m, p, k, delta = 20, 2000, 256, 0.05
    X = rng.normal(size=(m, p)) * rng.uniform(0.1, 10, size=(m, 1))
    eps = jl_epsilon(k, m, delta)
    failures = 0
    for seed in range(20):
        Y = Projector(p, k, seed=seed, kind=kind).project(X)
        ratio = np.sum(Y**2, axis=1) / np.sum(X**2, axis=1)
        failures += not np.all(np.abs(ratio - 1) <= eps)
        # inner products of unit vectors: |<Pu, Pv> − <u, v>| ≤ ε
        U, V = X / np.linalg.norm(X, axis=1, keepdims=True), Y / np.linalg.norm(X, axis=1, keepdims=True)
        assert np.abs(V @ V.T - U @ U.T).max() <= 2 * eps
    assert failures <= 2  # the bound holds with probability ≥ 1 − δ per seed (δ = 5 %)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 16), st.integers(-2**40, 2**40))
def test_rows_are_a_pure_function_of_seed_row_and_column(p, k, seed):
    P = Projector(p, k, seed=seed)
    full = P.rows(np.arange(p))
    assert full.shape == (p, k) and np.all(np.abs(np.abs(full) * np.sqrt(k) - 1) < 1e-12)
    np.testing.assert_array_equal(P.rows(np.arange(p)[::-1]), full[::-1])


def test_bad_arguments():
    with pytest.raises(MethodError, match=r"unknown projector 'sparse'; expected one of \['rademacher'"):
        Projector(10, 2, kind="sparse")
    with pytest.raises(MethodError, match="expected vectors of length 10; found 3"):
        Projector(10, 2).project(np.ones((1, 3)))
    assert 0 < jl_epsilon(1024, 10) < jl_epsilon(128, 10) <= 1
