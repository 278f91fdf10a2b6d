"""``reweight``: class totals preserved unless asked otherwise, importance moves weight within a class."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import samplescope as ss
from samplescope.actions import recalibration_offset, reweight, weights_frame, write_weights
from samplescope.errors import DataError


@st.composite
def problems(draw):
    n = draw(st.integers(2, 60))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    values = rng.standard_t(2, size=n) * 10.0 ** draw(st.integers(-6, 2))
    values[rng.random(n) < 0.2] = 0.0
    labels = rng.integers(0, k, size=n)
    base = rng.uniform(0.1, 3.0, size=n) if draw(st.booleans()) else None
    return values, labels, base


def class_totals(w, labels):
    return {c: w[labels == c].sum() for c in np.unique(labels)}


@settings(max_examples=60, deadline=None)
@given(problems(), st.sampled_from(["importance", "downweight"]), st.floats(0.0, 5.0))
def test_class_totals_are_preserved_by_default(p, strategy, beta):
    values, labels, base = p
    w = reweight(values, labels=labels, sample_weight=base, strategy=strategy, beta=beta)
    b = np.ones(len(values)) if base is None else base
    assert np.all(w >= 0) and np.all(np.isfinite(w))
    for c, total in class_totals(b, labels).items():
        assert w[labels == c].sum() == pytest.approx(total, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(problems(), st.sampled_from(["balance", "class"]), st.floats(0.0, 1.0))
def test_balance_sets_class_totals_and_keeps_the_grand_total(p, strategy, balance):
    values, labels, base = p
    b = np.ones(len(values)) if base is None else base
    w = reweight(values, labels=labels, sample_weight=base, strategy=strategy, balance=balance)
    W = class_totals(b, labels)
    T = {c: W[c] ** (1 - balance) for c in W}
    scale = sum(W.values()) / sum(T.values())
    for c in W:
        assert w[labels == c].sum() == pytest.approx(T[c] * scale, rel=1e-9)
    assert w.sum() == pytest.approx(b.sum(), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(problems(), st.floats(0.1, 4.0), st.floats(0.05, 1.0), st.floats(1.0, 20.0))
def test_monotone_and_clipped_within_each_class(p, beta, lo, hi):
    values, labels, _ = p
    w = reweight(values, labels=labels, strategy="importance", beta=beta, clip=(lo, hi))
    for c in np.unique(labels):
        m = labels == c
        order = np.argsort(values[m], kind="stable")
        assert np.all(np.diff(w[m][order]) >= -1e-12 * w[m].max())
        assert w[m].max() / w[m].min() <= hi / lo * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(problems())
def test_preserve_total_and_none(p):
    values, labels, base = p
    b = np.ones(len(values)) if base is None else base
    w = reweight(values, labels=labels, sample_weight=base, strategy="importance", preserve="total")
    assert w.sum() == pytest.approx(b.sum(), rel=1e-9)
    raw = reweight(values, labels=labels, sample_weight=base, strategy="importance", preserve="none", beta=0.0)
    np.testing.assert_allclose(raw, b)


def test_helpful_up_harmful_down_and_zero_importance_in_between():
    v = np.array([2.0, 0.0, -2.0, 1.0, 0.0, 0.0])
    y = np.zeros(6)
    w = reweight(v, labels=y, strategy="importance")
    assert w[0] > w[3] > w[1] == w[4] == w[5] > w[2]
    d = reweight(v, labels=y, strategy="downweight")
    assert d[0] == d[1] == d[3] and d[2] < d[0]  # downweight never raises one helpful row above another


def test_balance_raises_the_minority_and_ranks_within_class():
    v = np.array([0.1, -0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, -0.3])
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    w = reweight(v, labels=y)
    assert w[y == 1].sum() == pytest.approx(5.0) and w[y == 0].sum() == pytest.approx(5.0)
    assert w[8] > w[9] and w[0] > w[2] > w[1]


def test_accepts_a_result_and_a_dataset_for_labels(binary):
    train, valid = binary
    model = ss.fit_model("logistic", train)
    res = ss.score("influence", model, train, valid=valid)
    w1 = reweight(res, labels=train)
    w2 = reweight(res.values, labels=train.y)
    np.testing.assert_array_equal(w1, w2)
    assert len(w1) == train.n


def test_no_labels_is_one_class():
    v = np.array([1.0, -1.0, 0.0])
    w = reweight(v, strategy="importance")
    assert w.sum() == pytest.approx(3.0) and w[0] > w[2] > w[1]


@pytest.mark.parametrize("kwargs, words", [
    ({"strategy": "magic"}, ["strategy", "balance", "magic"]),
    ({"preserve": "all"}, ["preserve", "class", "all"]),
    ({"beta": -1.0}, ["beta", ">= 0"]),
    ({"clip": (2.0, 10.0)}, ["clip", "lo <= 1"]),
    ({"clip": 3}, ["clip", "pair"]),
    ({"balance": 1.5}, ["balance", "[0, 1]"]),
    ({"labels": np.zeros(2)}, ["labels", "(3)", "found 2"]),
    ({"sample_weight": np.array([1.0, -1.0, 1.0])}, ["sample_weight", ">= 0"]),
])
def test_bad_arguments_name_themselves(kwargs, words):
    with pytest.raises(DataError) as exc:
        reweight(np.array([1.0, 0.0, -1.0]), **kwargs)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


def test_non_finite_importance_is_an_error():
    with pytest.raises(DataError, match="finite"):
        reweight(np.array([1.0, np.nan]), labels=np.array([0, 1]))


def test_recalibration_offset_matches_downsampling_and_undoes_balanced_weights():
    y = np.array([0] * 8 + [1] * 2)
    w = np.where(y == 0, 0.25, 1.0)  # negatives at rate 1/4
    assert recalibration_offset(w, labels=y) == pytest.approx(np.log(4.0))
    # a weighted logistic fit is shifted by the offset: correcting it recovers the unweighted intercept
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 2))
    yy = (rng.random(20000) < 1 / (1 + np.exp(-(X @ [1.0, -0.5] - 3.0)))).astype(float)
    wb = reweight(np.zeros(len(yy)), labels=yy, strategy="class")
    plain = ss.fit_model("logistic", ss.from_arrays(X, yy), C=1e6)
    weighted = ss.fit_model("logistic", ss.from_arrays(X, yy, weight=wb), C=1e6)
    off = recalibration_offset(wb, labels=yy)
    assert weighted.intercept[0] - off == pytest.approx(plain.intercept[0], abs=0.1)
    with pytest.raises(DataError, match="0/1"):
        recalibration_offset(w, labels=y + 1)


def test_weights_file_is_written_atomically_with_ids_and_metadata(tmp_path):
    import pyarrow.parquet as pq

    w = np.array([0.5, 1.5])
    path = write_weights(tmp_path / "w.parquet", w, ids=np.array(["a", "b"]), metadata={"strategy": "balance"})
    df = pd.read_parquet(path)
    assert df.columns.tolist() == ["row", "id", "weight"] and df["weight"].tolist() == [0.5, 1.5]
    assert b"strategy" in pq.read_schema(path).metadata[b"samplescope"]
    assert [p.name for p in tmp_path.iterdir()] == ["w.parquet"]  # no temporary file left
    assert weights_frame(w).columns.tolist() == ["row", "weight"]
    with pytest.raises(DataError, match="directory"):
        write_weights(tmp_path / "missing" / "w.parquet", w)


def test_doctests():
    assert doctest.testmod(importlib.import_module("samplescope.actions.reweight"), optionflags=doctest.ELLIPSIS).failed == 0
