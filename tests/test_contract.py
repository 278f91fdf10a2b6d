"""The common contract every registered method keeps (scikit-learn's ``parametrize_with_checks`` idea).

Parametrised over :data:`samplescope.methods.REGISTRY`, so a method is tested here the moment it
registers. A check is skipped only where the method's own metadata says it does not apply
(``stochastic``, ``weights``, ``needs_valid``, ``tasks``, ``targets``). Methods that need what the linear
adapter cannot give (``tree_structure``) run every check on a small LightGBM booster instead, and every
method also meets a booster once (:func:`test_every_method_on_a_booster_runs_or_refuses_cleanly`).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, Ridge

import samplescope as ss
from samplescope.errors import MethodError
from samplescope.methods import REGISTRY, get_method, list_methods
from samplescope.models import LinearModel
from samplescope.result import ImportanceResult
from tolerances import CONTRACT, close

METHODS = sorted(REGISTRY)
# only to keep the suite fast; a method missing here runs with its defaults
FAST = {"data_oob": {"n_estimators": 16}}


def run(name, model, train, valid=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. data_oob: a row in every bag
        return ss.score(name, model, train, valid=valid, **{**FAST.get(name, {}), **kw})


@pytest.fixture(scope="module")
def linear_data():
    from conftest import make_problem

    train, valid = make_problem("binary", n=30, n_valid=12, ids=True, seed=7)
    model = ss.fit_model("logistic", train, C=1.0)
    return train, valid, model.at_optimum(train)


TREE = dict(n_estimators=3, num_leaves=4, min_data_in_leaf=3, min_data_in_bin=1, learning_rate=0.3, lambda_l2=0.5)


@pytest.fixture(scope="module")
def tree_data():
    from conftest import make_problem

    train, valid = make_problem("binary", n=30, n_valid=12, ids=True, seed=7)
    return train, valid, ss.fit_model("lightgbm", train, **TREE)


def linear_can_run(name: str) -> bool:
    return REGISTRY[name].requires <= LinearModel.capabilities


@pytest.fixture
def data(request, linear_data, tree_data):
    """The linear problem, or the booster for methods the linear adapter cannot run."""
    name = request.node.callspec.params.get("name")
    return linear_data if name is None or linear_can_run(name) else tree_data


def test_registry_is_complete_and_described():
    assert METHODS == sorted(i.name for i in list_methods())
    assert {"loo", "influence", "newton_loo", "data_oob", "knn_shapley", "self_loss", "grad_norm", "el2n",
            "tracin", "margin"} <= set(METHODS)
    for name, info in REGISTRY.items():
        assert info.name == name and info.family in ("loss", "gradient", "boundary")
        assert info.summary and info.cost and info.targets
        assert info.requires <= set(ss.models.CAPABILITIES)
        assert info.fn.__module__.startswith("samplescope.methods.")


def test_unknown_method_lists_valid_names():
    with pytest.raises(MethodError, match=r"unknown method 'inflence' \(did you mean 'influence'\?\); expected one of \["):
        get_method("inflence")


# ------------------------------------------------------------------ shape, finiteness, metadata, ids
@pytest.mark.parametrize("name", METHODS)
def test_values_shape_metadata_and_ids(data, name):
    train, valid, model = data
    info = REGISTRY[name]
    r = run(name, model, train, valid)
    assert isinstance(r, ImportanceResult)
    assert r.values.shape == (train.n,) and np.all(np.isfinite(r.values))
    assert (r.method, r.family) == (name, info.family)
    assert r.target in info.targets
    meta = r.metadata()
    assert {"method", "family", "target", "params", "model_fingerprint", "data_fingerprint"} <= set(meta)
    assert meta["method"] == name and meta["target"] == r.target and meta["positive_means"] == "helpful"
    assert meta["params"]["seed"] == 0 and meta["params"]["model.model"] == model.params()["model"]
    assert r.model_fingerprint == model.fingerprint() and r.data_fingerprint == train.fingerprint()
    # aligned to the dataset's ids, in row order
    assert r.has_ids
    np.testing.assert_array_equal(r.ids, train.ids)
    df = r.to_pandas()
    np.testing.assert_array_equal(df["id"].to_numpy(), train.ids)
    np.testing.assert_array_equal(df["row"].to_numpy(), np.arange(train.n))
    np.testing.assert_array_equal(df["importance"].to_numpy(), r.values)


@pytest.mark.parametrize("name", METHODS)
def test_self_target_without_validation(data, name):
    train, valid, model = data
    info = REGISTRY[name]
    if info.needs_valid:
        with pytest.raises(MethodError, match=f"method '{name}' needs a validation set"):
            ss.score(name, model, train)
        return
    r = run(name, model, train)
    assert r.values.shape == (train.n,) and np.all(np.isfinite(r.values))
    assert r.target in info.targets and r.target != "validation"


@pytest.mark.parametrize("name", METHODS)
def test_unknown_parameter_is_refused(data, name):
    train, valid, model = data
    with pytest.raises(MethodError, match=rf"method '{name}' has no parameter\(s\) \['bogus'\]"):
        ss.score(name, model, train, valid=valid, bogus=1)


# ------------------------------------------------------------------ permutation, weights, seeds
@pytest.mark.parametrize("name", METHODS)
def test_permuting_rows_permutes_values(data, name):
    if REGISTRY[name].stochastic:
        pytest.skip("stochastic: the bags depend on row order")
    train, valid, model = data
    perm = np.random.default_rng(0).permutation(train.n)
    a = run(name, model, train, valid)
    b = run(name, model, train.subset(perm), valid)
    np.testing.assert_array_equal(b.ids, train.ids[perm])
    close(b.values, a.values[perm], CONTRACT["permutation"])


@pytest.mark.parametrize("name", METHODS)
def test_weight_two_equals_duplicated_row(data, name):
    info = REGISTRY[name]
    if info.stochastic or not info.weights:
        pytest.skip("stochastic or ignores sample weights (declared in its metadata)")
    train, valid, model = data
    j = 4
    w = np.ones(train.n)
    w[j] = 2.0
    weighted = ss.from_arrays(train.X, train.y, weight=w)
    rows = np.r_[np.arange(train.n), j]
    dup = ss.from_arrays(train.X[rows], train.y[rows])
    # the model trained with the weight = with the duplicate (a booster keeps its trees: only the data changes)
    m = model.with_theta(model.optimum(weighted)) if isinstance(model, LinearModel) else model
    a = run(name, m, weighted, valid).values
    b = run(name, m, dup, valid).values
    others = np.arange(train.n) != j
    close(b[:train.n][others], a[others], CONTRACT["duplicate"])


@pytest.mark.parametrize("name", [n for n in METHODS if not REGISTRY[n].weights])
def test_methods_without_weights_refuse_them(data, name):
    """A method that declares ``weights=False`` refuses non-uniform weights and ignores uniform ones."""
    train, valid, model = data
    weighted = ss.from_arrays(train.X, train.y, weight=np.linspace(0.5, 2.0, train.n))
    with pytest.raises(MethodError, match=f"method '{name}' does not use sample weights"):
        ss.score(name, model, weighted, valid=valid)
    uniform = ss.from_arrays(train.X, train.y, weight=np.full(train.n, 3.0))
    close(run(name, model, uniform, valid).values, run(name, model, train, valid).values, {"scale_rtol": 1e-12})


@pytest.mark.parametrize("name", METHODS)
def test_seeds(data, name):
    train, valid, model = data
    a = run(name, model, train, valid, seed=3)
    b = run(name, model, train, valid, seed=3)
    np.testing.assert_array_equal(a.values, b.values)  # same seed → identical
    c = run(name, model, train, valid, seed=4)  # a different seed may differ, and is recorded
    assert c.params["seed"] == 4 and np.all(np.isfinite(c.values))
    if not REGISTRY[name].stochastic:
        np.testing.assert_array_equal(c.values, a.values)


# ------------------------------------------------------------------ inputs untouched; sparse == dense
@pytest.mark.parametrize("name", METHODS)
def test_inputs_are_not_mutated(data, name):
    train, valid, _ = data
    info = REGISTRY[name]
    weight = np.linspace(0.5, 2.0, train.n) if info.weights else None
    t = ss.from_arrays(train.X.copy(), train.y.copy(), weight=weight, ids=train.ids.copy())
    if not linear_can_run(name):
        booster = ss.fit_model("lightgbm", t, **TREE).booster
        text = booster.model_to_string()
        before = [a.copy() for a in (t.X, t.y, t.weights, t.ids, valid.X, valid.y)]
        run(name, booster, t, valid)
        for x, y in zip(before, (t.X, t.y, t.weights, t.ids, valid.X, valid.y)):
            np.testing.assert_array_equal(x, y)
        assert booster.model_to_string() == text
        return
    est = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(t.X, t.y.astype(int), sample_weight=weight)
    before = [a.copy() for a in (t.X, t.y, t.weights, t.ids, valid.X, valid.y, est.coef_, est.intercept_)]
    params = copy.deepcopy(est.get_params())
    run(name, est, t, valid)
    after = (t.X, t.y, t.weights, t.ids, valid.X, valid.y, est.coef_, est.intercept_)
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)
    assert est.get_params() == params


@pytest.mark.parametrize("name", METHODS)
def test_sparse_features_give_dense_results(data, name):
    train, valid, model = data
    sparse = ss.from_arrays(sp.csr_matrix(train.X), train.y, ids=train.ids)
    vsparse = ss.from_arrays(sp.csr_matrix(valid.X), valid.y)
    close(run(name, model, sparse, vsparse).values, run(name, model, train, valid).values, {"scale_rtol": 1e-9})


# ------------------------------------------------------------------ other tasks
@pytest.fixture(scope="module")
def others():
    from conftest import make_problem

    mtrain, mvalid = make_problem("multiclass", n=36, n_valid=12, seed=8)
    rtrain, rvalid = make_problem("regression", n=30, n_valid=12, seed=9)
    mest = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(mtrain.X, mtrain.y.astype(int))
    rest = Ridge(alpha=0.5).fit(rtrain.X, rtrain.y)
    return {"multiclass": (mest, mtrain, mvalid), "regression": (rest, rtrain, rvalid)}


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("name", METHODS)
def test_multiclass_and_ridge_models(others, name, task):
    est, train, valid = others[task]
    info = REGISTRY[name]
    if not linear_can_run(name):
        with pytest.raises(MethodError, match=f"method '{name}' needs .* from the model, which LinearModel does not"):
            ss.score(name, est, train, valid=valid)
        return
    if task not in info.tasks:
        with pytest.raises(MethodError, match=f"method '{name}' supports tasks"):
            ss.score(name, est, train, valid=valid)
        return
    for v in (valid, None):
        if v is None and info.needs_valid:
            continue
        r = run(name, est, train, v)
        assert r.values.shape == (train.n,) and np.all(np.isfinite(r.values))
        assert r.target in info.targets


@pytest.mark.parametrize("name", METHODS)
def test_every_method_on_a_booster_runs_or_refuses_cleanly(tree_data, name):
    """Every method on a LightGBM booster: values in the declared targets, or a MethodError naming the gap."""
    train, valid, model = tree_data
    info = REGISTRY[name]
    missing = info.requires - model.capabilities
    if missing:
        with pytest.raises(MethodError, match=f"method '{name}' needs .* from the model, which LightGBMModel does not"):
            ss.score(name, model, train, valid=valid)
        return
    for v in (valid, None):
        if v is None and info.needs_valid:
            continue
        try:
            r = run(name, model, train, v)
        except MethodError as exc:  # refused by the method itself (e.g. a default that needs a Hessian)
            assert "needs" in str(exc) and "\n" not in str(exc)
            return
        assert r.values.shape == (train.n,) and np.all(np.isfinite(r.values))
        assert r.target in info.targets and r.params["model.model"] == "lightgbm"


# ------------------------------------------------------------------ execution: chunks, threads, checkpoints
@pytest.mark.parametrize("name", [n for n in METHODS if "chunk_size" in REGISTRY[n].fn.__code__.co_varnames])
def test_chunked_threaded_and_checkpointed_runs_agree(data, name, tmp_path):
    train, valid, model = data
    ref = run(name, model, train, valid)
    ticks = []
    chunked = run(name, model, train, valid, chunk_size=7, n_jobs=2, progress=ticks.append,
                  checkpoint_dir=str(tmp_path))
    close(chunked.values, ref.values, {"scale_rtol": 1e-9})
    assert sum(ticks) == train.n
    again = run(name, model, train, valid, chunk_size=7, checkpoint_dir=str(tmp_path))  # resumes
    np.testing.assert_array_equal(again.values, chunked.values)
