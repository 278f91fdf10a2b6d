"""Objectives: losses, score-space gradients and hessians against finite differences; properties; label checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from samplescope.errors import DataError, MethodError
from samplescope.objectives import OBJECTIVES, LogLoss, SoftmaxCrossEntropy, SquaredError, get_objective
from tolerances import OBJECTIVE

FD = OBJECTIVE["fd"]
STEP = 1e-6


def labels_scores(name: str, n: int, rng, scale: float = 3.0):
    if name == "logloss":
        return LogLoss(), rng.integers(0, 2, n).astype(float), scale * rng.normal(size=n)
    if name == "squared_error":
        return SquaredError(), rng.normal(size=n), scale * rng.normal(size=n)
    return SoftmaxCrossEntropy(n_classes=4), rng.integers(0, 4, n).astype(float), scale * rng.normal(size=(n, 4))


def fd_gradient(obj, y, s):
    """Central differences of the per-sample loss, one score coordinate at a time."""
    if s.ndim == 1:
        return (obj.loss(y, s + STEP) - obj.loss(y, s - STEP)) / (2 * STEP)
    G = np.empty_like(s)
    for k in range(s.shape[1]):
        e = np.zeros_like(s)
        e[:, k] = STEP
        G[:, k] = (obj.loss(y, s + e) - obj.loss(y, s - e)) / (2 * STEP)
    return G


def fd_hessian(obj, y, s):
    """Central differences of the score-space gradient."""
    if s.ndim == 1:
        return (obj.gradient(y, s + STEP) - obj.gradient(y, s - STEP)) / (2 * STEP)
    n, K = s.shape
    H = np.empty((n, K, K))
    for k in range(K):
        e = np.zeros_like(s)
        e[:, k] = STEP
        H[:, :, k] = (obj.gradient(y, s + e) - obj.gradient(y, s - e)) / (2 * STEP)
    return H


def test_registry_names():
    assert sorted(OBJECTIVES) == ["lambdarank", "listnet", "logloss", "ranknet", "softmax", "squared_error", "xendcg"]
    assert get_objective("softmax", n_classes=5).n_outputs == 5
    with pytest.raises(MethodError, match=r"unknown objective 'hinge'.*\['lambdarank', 'listnet', 'logloss', "
                                          r"'ranknet', 'softmax', 'squared_error', 'xendcg'\]"):
        get_objective("hinge")


@pytest.mark.parametrize("name", ["logloss", "squared_error", "softmax"])
@pytest.mark.parametrize("scale", [0.5, 3.0, 12.0])
def test_gradient_and_hessian_match_finite_differences(name, scale):
    obj, y, s = labels_scores(name, 50, np.random.default_rng(1), scale)
    g, h = obj.gradient(y, s), obj.hessian(y, s)
    assert g.shape == s.shape and h.shape == ((len(y),) if s.ndim == 1 else (len(y), 4, 4))
    np.testing.assert_allclose(g, fd_gradient(obj, y, s), **FD)
    np.testing.assert_allclose(h, fd_hessian(obj, y, s), **FD)


@pytest.mark.parametrize("name", ["logloss", "squared_error", "softmax"])
def test_hessian_matches_second_differences_of_the_loss(name):
    """The hessian straight from the loss: (mixed) central second differences, step 1e-4."""
    obj, y, s = labels_scores(name, 30, np.random.default_rng(2))
    h = 1e-4
    if s.ndim == 1:
        expected = (obj.loss(y, s + h) - 2 * obj.loss(y, s) + obj.loss(y, s - h)) / h**2
    else:
        K = s.shape[1]
        expected = np.empty((len(y), K, K))
        for k in range(K):
            for m in range(K):
                ek, em = np.eye(K)[k] * h, np.eye(K)[m] * h
                expected[:, k, m] = (obj.loss(y, s + ek + em) - obj.loss(y, s + ek - em)
                                     - obj.loss(y, s - ek + em) + obj.loss(y, s - ek - em)) / (4 * h**2)
    np.testing.assert_allclose(obj.hessian(y, s), expected, **OBJECTIVE["fd2"])


def test_logloss_known_values():
    obj = LogLoss()
    y, s = np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, np.log(3.0)])
    np.testing.assert_allclose(obj.loss(y, s), [np.log(2), np.log(2), -np.log(0.75)], rtol=1e-15)
    np.testing.assert_allclose(obj.gradient(y, s), [0.5, -0.5, -0.25], rtol=1e-15)
    np.testing.assert_allclose(obj.hessian(y, s), [0.25, 0.25, 0.1875], rtol=1e-15)
    np.testing.assert_allclose(obj.predict(s), [0.5, 0.5, 0.75], rtol=1e-15)


def test_softmax_known_values():
    obj = SoftmaxCrossEntropy(n_classes=3)
    s = np.array([[0.0, 0.0, 0.0], [np.log(2.0), 0.0, 0.0]])
    y = np.array([2.0, 0.0])
    np.testing.assert_allclose(obj.loss(y, s), [np.log(3), np.log(2)], rtol=1e-15)
    np.testing.assert_allclose(obj.gradient(y, s), [[1 / 3, 1 / 3, -2 / 3], [-0.5, 0.25, 0.25]], rtol=1e-14)
    np.testing.assert_allclose(obj.predict(s).sum(axis=1), 1.0, rtol=1e-15)


def test_squared_error_is_half_scaled():
    obj = SquaredError()
    y, s = np.array([1.0, -2.0]), np.array([3.0, -2.0])
    np.testing.assert_array_equal(obj.loss(y, s), [2.0, 0.0])
    np.testing.assert_array_equal(obj.gradient(y, s), [2.0, 0.0])
    np.testing.assert_array_equal(obj.hessian(y, s), [1.0, 1.0])


@pytest.mark.parametrize("big", [40.0, 800.0, 1e6])
def test_large_scores_are_stable(big):
    """No overflow/underflow warnings, finite values, and the right asymptotes for huge |s|."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lg = LogLoss()
        y, s = np.array([0.0, 1.0, 0.0, 1.0]), np.array([big, -big, -big, big])
        loss = lg.loss(y, s)
        np.testing.assert_allclose(loss[:2], big, rtol=1e-12)  # wrong side: loss ≈ |s|
        assert np.all(loss[2:] >= 0) and np.all(loss[2:] < 1e-15)
        np.testing.assert_allclose(lg.gradient(y, s), [1.0, -1.0, 0.0, 0.0], atol=1e-15)
        assert np.all(np.isfinite(lg.hessian(y, s))) and np.all(lg.hessian(y, s) >= 0)

        sm = SoftmaxCrossEntropy(n_classes=3)
        S = np.array([[big, -big, 0.0], [big, -big, 0.0]])
        ys = np.array([0.0, 1.0])
        ls = sm.loss(ys, S)
        assert np.all(np.isfinite(ls)) and ls[0] < 1e-15
        np.testing.assert_allclose(ls[1], 2 * big, rtol=1e-12)
        G = sm.gradient(ys, S)
        np.testing.assert_allclose(G, [[0.0, 0.0, 0.0], [1.0, -1.0, 0.0]], atol=1e-15)
        assert np.all(np.isfinite(sm.hessian(ys, S)))

        se = SquaredError()
        assert np.all(np.isfinite(se.loss(np.zeros(2), np.array([big, -big]))))


# ------------------------------------------------------------------ properties (hypothesis)
finite = st.floats(min_value=-60, max_value=60, allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=-30, max_value=30, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(s=hnp.arrays(np.float64, st.integers(1, 20), elements=finite), seed=st.integers(0, 2**16))
def test_logloss_properties(s, seed):
    y = np.random.default_rng(seed).integers(0, 2, len(s)).astype(float)
    obj = LogLoss()
    loss, g, h = obj.loss(y, s), obj.gradient(y, s), obj.hessian(y, s)
    assert np.all(loss >= 0)
    assert np.all(np.abs(g) <= 1.0)
    assert np.all((h >= 0) & (h <= 0.25))
    np.testing.assert_allclose(g, obj.predict(s) - y, rtol=0, atol=0)  # λ = p − y, exactly
    # the loss is −log p for y=1 and −log(1−p) for y=0, and decreases towards the label
    assert np.all(np.where(y == 1, g <= 0, g >= 0))


@settings(max_examples=60, deadline=None)
@given(s=hnp.arrays(np.float64, st.integers(1, 20), elements=moderate), seed=st.integers(0, 2**16))
def test_logloss_gradient_open_interval(s, seed):
    y = np.random.default_rng(seed).integers(0, 2, len(s)).astype(float)
    g = LogLoss().gradient(y, s)
    assert np.all((g > -1.0) & (g < 1.0))


@settings(max_examples=60, deadline=None)
@given(S=hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(2, 6)), elements=finite),
       seed=st.integers(0, 2**16))
def test_softmax_properties(S, seed):
    n, K = S.shape
    y = np.random.default_rng(seed).integers(0, K, n).astype(float)
    obj = SoftmaxCrossEntropy(n_classes=K)
    loss, G, H = obj.loss(y, S), obj.gradient(y, S), obj.hessian(y, S)
    assert np.all(loss >= -1e-12)
    np.testing.assert_allclose(G.sum(axis=1), 0.0, atol=1e-12)
    assert np.all(np.abs(G) <= 1.0)
    np.testing.assert_allclose(H, np.swapaxes(H, 1, 2), atol=0)
    assert np.all(np.linalg.eigvalsh(H) >= -1e-12)  # PSD blocks
    np.testing.assert_allclose(H @ np.ones(K), 0.0, atol=1e-12)  # flat along (1, ..., 1)
    # shift invariance of the loss
    np.testing.assert_allclose(obj.loss(y, S + 7.0), loss, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(s=hnp.arrays(np.float64, 8, elements=finite), y=hnp.arrays(np.float64, 8, elements=finite))
def test_squared_error_properties(s, y):
    obj = SquaredError()
    assert np.all(obj.loss(y, s) >= 0)
    np.testing.assert_allclose(obj.loss(y, s), 0.5 * obj.gradient(y, s) ** 2, rtol=1e-15)


@settings(max_examples=30, deadline=None)
@given(w=hnp.arrays(np.float64, 6, elements=st.floats(0.1, 10)), seed=st.integers(0, 2**16))
def test_mean_loss_is_weighted_mean(w, seed):
    rng = np.random.default_rng(seed)
    obj, y, s = labels_scores("logloss", 6, rng)
    np.testing.assert_allclose(obj.mean_loss(y, s, w), np.sum(w * obj.loss(y, s)) / np.sum(w), rtol=1e-13)
    np.testing.assert_allclose(obj.mean_loss(y, s), np.mean(obj.loss(y, s)), rtol=1e-13)


# ------------------------------------------------------------------ label checks
def test_logloss_labels_name_column_and_values():
    LogLoss().check_labels(np.array([0.0, 1.0, 1.0]))
    with pytest.raises(DataError) as e:
        LogLoss().check_labels(np.array([0.0, 1.0, 2.0]), source="clicks.csv", column="click")
    msg = str(e.value)
    assert "clicks.csv" in msg and "'click'" in msg and "0/1" in msg and "{0, 1, 2}" in msg


def test_logloss_rejects_soft_and_negative_labels():
    with pytest.raises(DataError, match=r"column 'y'.*found values \{-1, 0\.5\}"):
        LogLoss().check_labels(np.array([-1.0, 0.5]), column="y")


def test_softmax_labels_name_column_and_values():
    obj = SoftmaxCrossEntropy(n_classes=3)
    obj.check_labels(np.array([0.0, 2.0, 1.0]))
    expected = r"valid\.csv: column 'grade' must be a class index 0\.\.2.*found values \{0, 1, 3\}"
    with pytest.raises(DataError, match=expected):
        obj.check_labels(np.array([0.0, 1.0, 3.0]), source="valid.csv", column="grade")
    with pytest.raises(DataError, match="found values"):
        obj.check_labels(np.array([0.5, 1.0]))


def test_label_error_truncates_long_value_lists():
    with pytest.raises(DataError, match=r"found values \{.*, \.\.\.\}"):
        LogLoss().check_labels(np.arange(20.0))


def test_softmax_needs_two_classes():
    with pytest.raises(DataError, match="at least 2 classes; found 1"):
        SoftmaxCrossEntropy(n_classes=1)


def test_squared_error_accepts_any_labels():
    assert SquaredError().check_labels(np.array([-3.5, 0.0, 1e6])) is None
