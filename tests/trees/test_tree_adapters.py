"""The LightGBM and XGBoost adapters: scores, leaves, per-round recursion, Newton leaf values, refits, wrapping,
native model files and their errors (tolerances: ``TREES``)."""

from __future__ import annotations

import pickle
import warnings

import lightgbm as lgb
import numpy as np
import pytest
import scipy.sparse as sp
import xgboost as xgb

import samplescope as ss
from samplescope.errors import DataError, ModelError
from samplescope.models import MODEL_FAMILIES, TreeEnsemble, load_model, wrap_model
from samplescope.models.trees import third_derivative
from samplescope.objectives import get_objective
from tolerances import TREES, close
from tree_reference import fit

KINDS = ["lightgbm", "xgboost"]


def raw(m, data):
    if m.name == "lightgbm":
        return m.booster.predict(data.X, raw_score=True, num_threads=1)
    return m.booster.predict(xgb.DMatrix(data.dense(), nthread=1), output_margin=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_scores_leaves_and_rounds_follow_the_library(problem, kind, task):
    train, valid = problem(task, n=50, n_valid=20, weights=True, seed=1)
    m = fit(kind, train, rounds=4)
    assert isinstance(m, TreeEnsemble) and m.capabilities == MODEL_FAMILIES[kind]
    close(m.scores(valid), raw(m, valid), TREES[f"scores_{kind}"])
    L = m.leaves(train)
    assert L.shape == (train.n, 4) and L.dtype == np.int32
    assert np.all((L >= 0) & (L < m.n_leaves[None, :]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Newton check passes on the training rows
        rounds = list(m.rounds(train, check=True))
    assert [r.t for r in rounds] == [0, 1, 2, 3]
    np.testing.assert_allclose(rounds[0].scores, m.init_score)
    last = rounds[-1]
    np.testing.assert_allclose(last.scores + m.outputs(3)[last.leaf], m.scores(train), atol=1e-12)
    np.testing.assert_allclose(rounds[2].grad, m.objective.gradient(train.y, rounds[2].scores))
    for r in rounds:  # the stored leaf values are the regularised Newton step on these gradients
        G = np.bincount(r.leaf, train.weights * r.grad, minlength=len(m.outputs(r.t)))
        H = np.bincount(r.leaf, train.weights * r.hess, minlength=len(m.outputs(r.t)))
        np.testing.assert_allclose(m.leaf_output(G, H), m.outputs(r.t), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_refit_reproduces_the_booster_and_weight_zero_is_removal(binary, kind):
    train, valid = binary
    m = fit(kind, train, rounds=3)
    again = m.refit(train)
    assert again.fingerprint() == m.fingerprint()
    np.testing.assert_array_equal(again.scores(valid), m.scores(valid))
    w = np.ones(train.n)
    w[[3, 7]] = 0.0
    dropped = m.refit(train.with_weight(w))
    fresh = fit(kind, train.subset(np.flatnonzero(w > 0)), rounds=3)
    np.testing.assert_array_equal(dropped.scores(valid), fresh.scores(valid))
    assert dropped.n_trees == 3


def test_lightgbm_refit_keeps_every_parameter(binary):
    train, valid = binary
    m = ss.fit_model("lightgbm", train, n_estimators=3, num_leaves=3, min_data_in_leaf=4, min_data_in_bin=1,
                     learning_rate=0.2, lambda_l2=2.0, bagging_fraction=0.7, bagging_freq=1, feature_fraction=0.8)
    again = m.refit(train)
    assert again.booster.model_to_string() == m.booster.model_to_string()


@pytest.mark.parametrize("kind", KINDS)
def test_wrap_boosters_and_scikit_learn_wrappers(binary, kind):
    train, valid = binary
    if kind == "lightgbm":
        est = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, min_child_samples=3, verbose=-1, n_jobs=1).fit(train.X, train.y)
        booster = est.booster_
        expected = est.predict(valid.X, raw_score=True, num_threads=1)
    else:
        est = xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(train.X, train.y)
        booster = est.get_booster()
        expected = est.predict(valid.X, output_margin=True)
    for obj in (est, booster):
        m = wrap_model(obj, train)
        assert m.name == kind and m.objective.name == "logloss"
        close(m.scores(valid), expected, TREES[f"scores_{kind}"])
    r = ss.score("boostin", est, train, valid=valid)
    assert r.params["model.model"] == kind and np.all(np.isfinite(r.values))


def test_regression_wrappers(regression):
    train, valid = regression
    for est in (lgb.LGBMRegressor(n_estimators=3, min_child_samples=3, verbose=-1, n_jobs=1), xgb.XGBRegressor(n_estimators=3, n_jobs=1)):
        m = wrap_model(est.fit(train.X, train.y), train)
        assert m.objective.name == "squared_error"


def test_unfitted_multiclass_and_unsupported_boosters_are_refused(multiclass, binary):
    train, _ = binary
    with pytest.raises(ModelError, match="LGBMClassifier is not fitted"):
        wrap_model(lgb.LGBMClassifier(n_jobs=1))
    with pytest.raises(ModelError, match="XGBClassifier is not fitted"):
        wrap_model(xgb.XGBClassifier())
    mtrain, _ = multiclass
    est = lgb.LGBMClassifier(n_estimators=2, min_child_samples=3, verbose=-1, n_jobs=1).fit(mtrain.X, mtrain.y)
    with pytest.raises(ModelError, match="lightgbm: multiclass boosters are not supported; found num_class=3"):
        wrap_model(est)
    with pytest.raises(ModelError, match="xgboost: multi-output boosters are not supported"):
        wrap_model(xgb.XGBClassifier(n_estimators=2, n_jobs=1).fit(mtrain.X, mtrain.y))
    with pytest.raises(ModelError, match="lightgbm: boosting 'dart' is not supported"):
        ss.fit_model("lightgbm", train, n_estimators=2, boosting="dart", min_data_in_leaf=3)
    with pytest.raises(ModelError, match="xgboost: booster 'dart' is not supported"):
        ss.fit_model("xgboost", train, n_estimators=2, booster="dart")
    with pytest.raises(ModelError, match="xgboost: objective 'binary:hinge' is not supported; expected one of"):
        ss.fit_model("xgboost", train, objective="binary:hinge")
    with pytest.raises(ModelError, match=r"lightgbm: objective 'binary' is supported with sigmoid=1.*found sigmoid=2"):
        ss.fit_model("lightgbm", train, n_estimators=2, sigmoid=2.0, min_data_in_leaf=3)
    with pytest.raises(ModelError, match=r"unsupported model 'catboost'; expected one of \[.*'lightgbm', 'xgboost'\]"):
        ss.fit_model("catboost", train)
    with pytest.raises(DataError, match="objective 'lambdarank' needs query groups"):
        ss.fit_model("lightgbm", train, objective="lambdarank")


@pytest.mark.parametrize("kind,suffix", [("lightgbm", "txt"), ("xgboost", "json"), ("xgboost", "ubj")])
def test_native_model_files_load_by_content(binary, tmp_path, kind, suffix):
    train, valid = binary
    m = fit(kind, train, rounds=3)
    path = tmp_path / f"model.{suffix}"
    m.booster.save_model(str(path))
    renamed = tmp_path / "model.bin"  # recognised by content, not by name
    renamed.write_bytes(path.read_bytes())
    for p in (path, renamed):
        loaded = load_model(p)
        assert loaded.name == kind and loaded.n_trees == 3
        close(loaded.scores(valid), m.scores(valid), {"atol": 1e-12})
    # LightGBM: the init score comes from `train`; XGBoost: η and λ are recovered from the leaves on `train`
    b = ss.score("boostin", m, train, valid=valid).values
    close(ss.score("boostin", load_model(path), train, valid=valid).values, b, {"scale_rtol": 1e-6})
    if kind == "xgboost":
        loaded = load_model(path, train)
        assert loaded.learning_rate == pytest.approx(0.3, rel=1e-6) and loaded.reg_lambda == pytest.approx(0.7, rel=1e-5)
        with pytest.raises(ModelError, match=r"a model file holds no training parameters .* load_model\(path, params"):
            ss.score("loo", loaded, train, valid=valid)
        stated = load_model(path, params=m.booster.save_config())
        np.testing.assert_array_equal(ss.score("boostin", stated, train, valid=valid).values, b)
        assert stated.refit(train).fingerprint() == m.fingerprint()


def test_bad_model_files_are_refused_without_unpickling(binary, tmp_path):
    train, _ = binary
    pkl = tmp_path / "model.txt"
    pkl.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(ModelError, match=r"model.txt: pickled models are never loaded; expected a native model file"):
        load_model(pkl)
    junk = tmp_path / "model.json"
    junk.write_text("hello")
    with pytest.raises(ModelError, match=r"model.json: unrecognised model file; expected a LightGBM text model.*found b'hello'"):
        load_model(junk)
    broken = tmp_path / "broken.json"
    broken.write_text('{"learner": 1}')
    with pytest.raises(ModelError, match="broken.json: not a readable XGBoost JSON/UBJSON model"):
        load_model(broken)
    with pytest.raises(ModelError, match="missing.txt: could not read the model file"):
        load_model(tmp_path / "missing.txt")
    text = tmp_path / "lgb.txt"
    text.write_text("tree\nversion=v4\nnonsense")
    with pytest.raises(ModelError, match="lgb.txt: not a readable LightGBM text model"):
        load_model(text)


def test_lightgbm_needs_its_training_data_for_the_init_score(binary, tmp_path):
    train, valid = binary
    m = fit("lightgbm", train, rounds=2)
    path = tmp_path / "m.txt"
    m.booster.save_model(str(path))
    loaded = load_model(path)
    close(loaded.scores(valid), m.scores(valid), {"atol": 1e-12})  # scores need no init score
    with pytest.raises(ModelError, match=r"pass the training data when wrapping: wrap_model\(booster, train\)"):
        next(loaded.rounds(train))
    assert wrap_model(loaded, train).init_score == m.init_score


def test_wrong_training_data_and_wrong_width_are_reported(binary, problem):
    train, valid = binary
    m = fit("xgboost", train, rounds=2)
    other = train.with_weight(np.linspace(0.2, 3.0, train.n))
    with pytest.warns(RuntimeWarning, match=r"xgboost: the stored leaf values differ from the Newton formula on train's rows"):
        ss.score("boostin", m, other)
    wide, _ = problem("binary", n=20, d=5)
    with pytest.raises(DataError, match=r"train: the xgboost model expects 3 feature columns; found 5"):
        ss.score("boostin", m, wide)


@pytest.mark.parametrize("kind", KINDS)
def test_regularised_newton_leaf_values(binary, kind):
    """L1 soft-thresholding and max_delta_step clipping are part of the leaf formula (and of its slope)."""
    train, _ = binary
    kw = (dict(lambda_l1=0.8, max_delta_step=0.25, learning_rate=0.5) if kind == "lightgbm"
          else dict(reg_alpha=0.8, max_delta_step=0.25, eta=0.5))
    m = fit(kind, train, rounds=4, **kw)
    clipped = thresholded = 0
    for r in m.rounds(train, check=True):
        o = m.outputs(r.t)
        G = np.bincount(r.leaf, r.grad, minlength=len(o))
        H = np.bincount(r.leaf, r.hess, minlength=len(o))
        np.testing.assert_allclose(m.leaf_output(G, H), o, atol=1e-6)
        slope = m.leaf_slope(r.t)
        clipped += int(np.sum(np.isclose(np.abs(o), 0.5 * 0.25)))
        thresholded += int(np.sum(o == 0))
        assert np.all(slope[np.isclose(np.abs(o), 0.125) | (o == 0)] == 0)
    assert clipped > 0


def test_lightgbm_lambdarank_uses_the_ranking_objective(problem):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.clip(np.round(X[:, 0] + 0.5 * rng.normal(size=80) + 1), 0, 3)
    train = ss.from_arrays(X, y, group=np.repeat(np.arange(10), 8))
    m = ss.fit_model("lightgbm", train, n_estimators=3, num_leaves=4, min_data_in_leaf=3, min_data_in_bin=1)
    assert m.objective.name == "lambdarank" and m.init_score == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LightGBM's own lambdas and hessians are recomputed exactly
        r = ss.score("boostin", m, train)
    assert np.all(np.isfinite(r.values))
    # rank_xendcg and XGBoost's exact lambdas: tests/ranking/test_xendcg.py, tests/trees/test_xgboost_ranking.py
    assert ss.fit_model("lightgbm", train, objective="rank_xendcg", n_estimators=2,
                        min_data_in_leaf=3).objective.name == "xendcg"
    assert ss.fit_model("xgboost", train, n_estimators=2).objective.name == "xgb_ndcg"


def test_param_gradients_are_leaf_indicators(binary):
    """θ = every leaf value: g_i = λ_i on the one leaf per tree the row falls in."""
    train, valid = binary
    m = fit("lightgbm", train, rounds=3)
    P = int(m.offsets[-1])
    J = np.zeros((train.n, P))
    J[np.arange(train.n)[:, None], m.leaves(train) + m.offsets[:-1][None, :]] = 1.0
    lam = m.objective.gradient(train.y, m.scores(train))
    Gi = lam[:, None] * J
    v = np.random.default_rng(0).normal(size=P)
    np.testing.assert_allclose(m.gradient_dot(train, v), Gi @ v, atol=1e-12)
    np.testing.assert_allclose(m.gradient_sq_norms(train), np.sum(Gi**2, axis=1), atol=1e-12)
    np.testing.assert_allclose(m.mean_gradient(train), Gi.mean(axis=0), atol=1e-12)
    np.testing.assert_array_equal(m.loss_scale(train), train.weights)


def test_third_derivative_closed_forms_match_differences():
    s = np.linspace(-3, 3, 13)
    y = (s > 0).astype(float)
    for name in ("logloss", "squared_error"):
        obj = get_objective(name)
        h = 1e-5
        fd = (obj.hessian(y, s + h) - obj.hessian(y, s - h)) / (2 * h)
        np.testing.assert_allclose(third_derivative(obj, y, s), fd, atol=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_sparse_features_are_zeros_not_missing(binary, kind):
    train, valid = binary
    X = train.X.copy()
    X[np.abs(X) < 0.5] = 0.0  # real zeros the trees split on
    dense = ss.from_arrays(X, train.y)
    m = fit(kind, dense, rounds=3)
    sparse = ss.from_arrays(sp.csr_matrix(X), train.y)
    np.testing.assert_array_equal(m.leaves(sparse), m.leaves(dense))
    np.testing.assert_array_equal(m.refit(sparse).scores(dense), m.scores(dense))
