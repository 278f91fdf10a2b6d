"""The linear adapter: scikit-learn objectives read exactly, calculus checked by finite differences.

(a) ``optimum`` equals a tight scikit-learn refit; (b) ``objective_gradient`` and (c) the dense ``hessian``
against central differences; (d) weight 2 equals a duplicated row; (e) sparse equals dense;
(f) unsupported estimators are refused with a clear :class:`ModelError`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier

import samplescope as ss
from samplescope.data import from_arrays
from samplescope.errors import DataError, ModelError
from samplescope.models import LinearModel, fit_model, wrap_model
from samplescope.models.sklearn_linear import from_sklearn
from tolerances import ADAPTER, close

STEP = 1e-6


def tight(est):
    """A copy of a classifier's / regressor's configuration solved to tol 1e-12 (exact solvers)."""
    if isinstance(est, LogisticRegression):
        return LogisticRegression(C=est.C, fit_intercept=est.fit_intercept, class_weight=est.class_weight,
                                  solver="newton-cholesky", tol=1e-12, max_iter=1000)
    if isinstance(est, Ridge):
        return Ridge(alpha=est.alpha, fit_intercept=est.fit_intercept, solver="cholesky")
    return LinearRegression(fit_intercept=est.fit_intercept)


# (id, task, loosely-fitted estimator, weighted)
CASES = [
    ("logistic-C1", "binary", lambda: LogisticRegression(C=1.0, tol=1e-3), False),
    ("logistic-C0.1-noint", "binary", lambda: LogisticRegression(C=0.1, fit_intercept=False, tol=1e-3), False),
    ("logistic-C10-weights", "binary", lambda: LogisticRegression(C=10.0, tol=1e-3), True),
    ("logistic-Cinf", "binary", lambda: LogisticRegression(C=np.inf, tol=1e-3), False),
    ("logistic-cw-dict", "binary", lambda: LogisticRegression(C=2.0, class_weight={0: 1.0, 1: 3.0}, tol=1e-3), True),
    ("logistic-cw-balanced", "binary", lambda: LogisticRegression(C=1.0, class_weight="balanced", tol=1e-3), True),
    ("softmax-C1", "multiclass", lambda: LogisticRegression(C=1.0, tol=1e-3), False),
    ("softmax-C0.3-noint-weights", "multiclass",
     lambda: LogisticRegression(C=0.3, fit_intercept=False, tol=1e-3), True),
    ("softmax-C5-balanced", "multiclass", lambda: LogisticRegression(C=5.0, class_weight="balanced", tol=1e-3), True),
    ("ridge-a1", "regression", lambda: Ridge(alpha=1.0, solver="lsqr", tol=1e-2), False),
    ("ridge-a0.1-noint-weights", "regression",
     lambda: Ridge(alpha=0.1, fit_intercept=False, solver="lsqr", tol=1e-2), True),
    ("linear", "regression", lambda: LinearRegression(), True),
]


def fitted(problem, task, make, weighted, seed=0):
    train, valid = problem(task, n=40, weights=weighted, seed=seed)
    est = make()
    y = train.y.astype(np.int64) if task != "regression" else train.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(train.X, y, sample_weight=train.weight)
    return est, wrap_model(est, train), train, valid


def random_theta(model, seed=3):
    return np.random.default_rng(seed).normal(size=model.theta.shape)


# ------------------------------------------------------------------ (a) optimum == scikit-learn
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_optimum_matches_tight_sklearn_refit(problem, case):
    _, task, make, weighted = case
    est, model, train, _ = fitted(problem, task, make, weighted)
    assert isinstance(model, LinearModel)
    theta = model.optimum(train)
    ref = tight(est)
    y = train.y.astype(np.int64) if task != "regression" else train.y
    ref.fit(train.X, y, sample_weight=train.weight)
    coef = np.atleast_2d(ref.coef_)
    tol = ADAPTER["optimum_vs_sklearn"]
    if task == "multiclass":
        # the softmax loss ignores a common shift of the intercepts: compare centred intercepts,
        # coefficients (penalised, hence unique) and predicted probabilities
        np.testing.assert_allclose(theta[: train.n_features], coef.T, **tol)
        if est.fit_intercept:
            np.testing.assert_allclose(theta[-1], ref.intercept_ - ref.intercept_.mean(), **tol)
            assert abs(theta[-1].sum()) < 1e-12
        at = model.with_theta(theta)
        np.testing.assert_allclose(at.objective.predict(at.scores(train)), ref.predict_proba(train.X), **tol)
    else:
        expected = coef.T if not est.fit_intercept else np.vstack([coef.T, np.atleast_1d(ref.intercept_)[None]])
        np.testing.assert_allclose(theta, expected, **tol)
    # the optimum is a stationary point of J
    g = model.objective_gradient(train, theta, model.effective_weights(train))
    assert np.max(np.abs(g)) < 1e-8 * max(1.0, model.c * train.n)


def test_sgd_objective_is_logistic_objective_scaled(problem):
    """SGD(log_loss, alpha) minimises (1/n) Σ ℓ_i + ½α‖w‖² = α · [C Σ ℓ_i + ½‖w‖²] with C = 1/(α n)."""
    train, _ = problem("binary", n=40)
    alpha = 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sgd = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=5, tol=None, random_state=0)
        sgd.fit(train.X, train.y.astype(int))
    m_sgd = wrap_model(sgd, train)
    C = 1.0 / (alpha * train.n)
    lr = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12).fit(train.X, train.y.astype(int))
    m_lr = wrap_model(lr, train)
    assert (m_sgd.c, m_sgd.alpha, m_sgd.name) == (pytest.approx(1 / train.n), alpha, "sgd")
    w = train.weights
    for seed in range(3):
        th = random_theta(m_sgd, seed)
        assert m_sgd.objective_value(train, th, w) == pytest.approx(alpha * m_lr.objective_value(train, th, w), rel=1e-13)
    # SGD stops early; its exact optimum is the LogisticRegression(C = 1/(α n)) solution
    assert np.max(np.abs(m_sgd.theta - m_lr.theta)) > 1e-4
    close(m_sgd.optimum(train), np.vstack([lr.coef_.T, lr.intercept_[None]]), ADAPTER["optimum_vs_sklearn"])


def test_fit_model_kinds(problem):
    train, _ = problem("binary", n=40)
    m = fit_model("logistic", train, C=0.5)
    assert (m.name, m.c, m.alpha) == ("logistic", 0.5, 1.0)
    close(m.theta, m.optimum(train), ADAPTER["optimum_vs_sklearn"])
    sgd = fit_model("sgd", train, alpha=0.01, seed=1)
    assert sgd.name == "sgd" and sgd.c == pytest.approx(1 / 40)
    reg_train, _ = problem("regression", n=30)
    r = fit_model("ridge", reg_train, alpha=2.0)
    assert (r.name, r.alpha, r.objective.name) == ("ridge", 2.0, "squared_error")
    close(r.theta, r.optimum(reg_train), {"atol": 1e-10})
    lin = fit_model("linear", reg_train, fit_intercept=False)
    assert lin.alpha == 0.0 and not lin.fit_intercept
    expected = r"unsupported model 'tree'; expected one of \['logistic', 'ridge', 'linear', 'sgd', 'linear_ranker'"
    with pytest.raises(ModelError, match=expected):
        fit_model("tree", train)
    one = from_arrays(np.ones((3, 1)), [1, 1, 1], name="one.csv")
    with pytest.raises(DataError, match=r"one\.csv: label column 'label' must contain at least two classes.*\[1\.0\]"):
        fit_model("logistic", one)


# ------------------------------------------------------------------ (b), (c) calculus by finite differences
def fd_gradient(model, data, theta, w):
    G = np.empty_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = STEP
        G[idx] = (model.objective_value(data, theta + e, w) - model.objective_value(data, theta - e, w)) / (2 * STEP)
    return G


def fd_hessian(model, data, theta, w):
    p = theta.size
    H = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = STEP
        e = e.reshape(theta.shape)
        H[:, j] = (model.objective_gradient(data, theta + e, w) - model.objective_gradient(data, theta - e, w)).ravel()
    return H / (2 * STEP)


SGD_CASE = ("sgd-a0.01", "binary", lambda: SGDClassifier(loss="log_loss", alpha=0.01, max_iter=5, tol=None,
                                                          random_state=0), False)


@pytest.mark.parametrize("case", CASES + [SGD_CASE], ids=[c[0] for c in CASES + [SGD_CASE]])
def test_gradient_and_dense_hessian_by_finite_differences(problem, case):
    _, task, make, weighted = case
    _, model, train, _ = fitted(problem, task, make, weighted)
    w = model.effective_weights(train)
    # the gradient away from the optimum (at a fitted model it can be ~0, below difference noise)
    theta = random_theta(model)
    G = model.objective_gradient(train, theta, w)
    assert G.shape == theta.shape
    close(G, fd_gradient(model, train, theta, w), ADAPTER["gradient_fd"])
    for theta in (model.theta, random_theta(model)):
        H = model.hessian(train, theta, w)
        assert H.shape == (theta.size, theta.size)
        np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * np.abs(H).max())
        close(H, fd_hessian(model, train, theta, w), ADAPTER["hessian_fd"])
        assert np.linalg.eigvalsh(H).min() >= -1e-10 * np.abs(H).max()
    # the summed per-sample gradients, scaled and regularised, are the objective gradient
    theta = random_theta(model)
    close((model.loss_scale(train) @ model.param_gradients(train, theta)) + (model.reg[:, None] * theta).ravel(),
          model.objective_gradient(train, theta, w).ravel(), {"scale_rtol": 1e-12})
    P = model.param_gradients(train)
    # factored gradient products agree with the dense per-sample gradients
    v = np.random.default_rng(0).normal(size=model.theta.size)
    close(model.gradient_dot(train, v), P @ v, {"scale_rtol": 1e-12})
    close(model.gradient_sq_norms(train), np.sum(P**2, axis=1), {"scale_rtol": 1e-12})
    solver = model.hessian_solver(train)
    Hinv = np.linalg.pinv(model.hessian(train))
    close(model.gradient_quadratic(train, solver), np.einsum("ip,pq,iq->i", P, Hinv, P), {"scale_rtol": 1e-8})


# ------------------------------------------------------------------ (d) weight 2 == duplicated row
@pytest.mark.parametrize("case", CASES[:3] + CASES[5:7] + CASES[9:10] + [SGD_CASE],
                         ids=[c[0] for c in CASES[:3] + CASES[5:7] + CASES[9:10] + [SGD_CASE]])
def test_weight_two_equals_duplicated_row(problem, case):
    _, task, make, weighted = case
    _, model, train, _ = fitted(problem, task, make, weighted)
    j = 7
    w2 = train.weights.copy()
    w2[j] *= 2
    doubled = train.with_weight(w2)
    rows = np.r_[np.arange(train.n), j]
    dup = from_arrays(train.X[rows], train.y[rows], weight=train.weights[rows])
    close(model.optimum(doubled), model.optimum(dup), ADAPTER["optimum_exact"])
    close(model.hessian(doubled, model.theta), model.hessian(dup, model.theta), {"scale_rtol": 1e-13})


# ------------------------------------------------------------------ (e) sparse == dense
SPARSE_CASES = CASES[:1] + CASES[6:8] + CASES[9:10]


@pytest.mark.parametrize("case", SPARSE_CASES, ids=[c[0] for c in SPARSE_CASES])
def test_sparse_matches_dense(problem, case):
    _, task, make, weighted = case
    _, model, train, _ = fitted(problem, task, make, weighted)
    X = train.X.copy()
    X[np.abs(X) < 0.7] = 0.0  # about half the entries zero
    dense = from_arrays(X, train.y, weight=train.weight)
    sparse = from_arrays(sp.csr_matrix(X), train.y, weight=train.weight)
    assert sp.issparse(sparse.X)
    close(model.optimum(sparse), model.optimum(dense), ADAPTER["optimum_exact"])
    w = model.effective_weights(dense)
    th = random_theta(model)
    close(model.scores(sparse, th), model.scores(dense, th), {"scale_rtol": 1e-14})
    close(model.objective_gradient(sparse, th, w), model.objective_gradient(dense, th, w), {"scale_rtol": 1e-13})
    close(model.hessian(sparse, th, w), model.hessian(dense, th, w), {"scale_rtol": 1e-13})
    close(model.param_gradients(sparse), model.param_gradients(dense), {"scale_rtol": 1e-14})
    close(model.gradient_sq_norms(sparse), model.gradient_sq_norms(dense), {"scale_rtol": 1e-13})
    solver = model.hessian_solver(dense)
    close(model.gradient_quadratic(sparse, solver), model.gradient_quadratic(dense, solver), {"scale_rtol": 1e-12})


def test_refit_and_metadata(problem):
    train, _ = problem("binary", n=40)
    m = fit_model("logistic", train, C=1.0)
    sub = train.subset(np.arange(30))
    r = m.refit(sub)
    assert isinstance(r, LinearModel) and r.c == m.c and r.alpha == m.alpha
    ref = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12).fit(sub.X, sub.y.astype(int))
    close(r.theta, np.vstack([ref.coef_.T, ref.intercept_[None]]), ADAPTER["optimum_vs_sklearn"])
    assert m.params() == {"model": "logistic", "c": 1.0, "alpha": 1.0, "fit_intercept": True, "objective": "logloss"}
    assert m.fingerprint() != r.fingerprint() and len(m.fingerprint()) == 16
    assert m.fingerprint() == m.with_theta(m.theta).fingerprint()
    with pytest.raises(DataError, match="expects 3 feature columns; found 2"):
        m.check_data(from_arrays(np.ones((4, 2)), [0, 1, 0, 1]))
    with pytest.raises(DataError, match=r"column 'label' must be 0/1.*\{0, 2\}"):
        m.check_data(from_arrays(np.ones((2, 3)), [0, 2]))


# ------------------------------------------------------------------ (f) unsupported estimators
def _xy(problem, task="binary"):
    train, _ = problem(task, n=40)
    return train, train.X, train.y.astype(np.int64) if task != "regression" else train.y


def test_rejects_l1_and_elasticnet(problem):
    train, X, y = _xy(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # penalty= is deprecated in recent scikit-learn
        l1 = LogisticRegression(penalty="l1", solver="liblinear").fit(X, y)
        enet = LogisticRegression(penalty="elasticnet", l1_ratio=0.5, solver="saga", max_iter=50).fit(X, y)
        ratio = LogisticRegression(l1_ratio=1.0, solver="saga", max_iter=50).fit(X, y)
    for est in (l1, enet, ratio):
        with pytest.raises(ModelError, match=r"LogisticRegression: only the L2 penalty is supported; found penalty="):
            wrap_model(est, train)


def test_rejects_unsupported_sgd(problem):
    train, X, y = _xy(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        hinge = SGDClassifier(loss="hinge", max_iter=5).fit(X, y)
        l1 = SGDClassifier(loss="log_loss", penalty="l1", max_iter=5).fit(X, y)
        ok = SGDClassifier(loss="log_loss", max_iter=5).fit(X, y)
        mtrain, mX, my = _xy(problem, "multiclass")
        multi = SGDClassifier(loss="log_loss", max_iter=5).fit(mX, my)
    with pytest.raises(ModelError, match=r"SGDClassifier: only loss='log_loss' is supported; found loss='hinge'"):
        wrap_model(hinge, train)
    with pytest.raises(ModelError, match=r"only penalty='l2' is supported; found penalty='l1'"):
        wrap_model(l1, train)
    with pytest.raises(ModelError, match="one-vs-rest; only binary"):
        wrap_model(multi, mtrain)
    with pytest.raises(ModelError, match="pass the training data"):
        from_sklearn(ok)


def test_rejects_multi_target_ridge_and_string_classes(problem):
    train, X, y = _xy(problem, "regression")
    ridge2 = Ridge().fit(X, np.c_[y, 2 * y])
    with pytest.raises(ModelError, match="Ridge: only single-target regression is supported; found 2 targets"):
        wrap_model(ridge2, train)
    btrain, bX, by = _xy(problem)
    strings = LogisticRegression().fit(bX, np.where(by == 1, "click", "skip"))
    with pytest.raises(ModelError, match=r"classes must be 0\.\.K-1.*found \['click', 'skip'\]"):
        wrap_model(strings, btrain)
    shifted = LogisticRegression().fit(bX, by + 1)
    with pytest.raises(ModelError, match=r"found \[1, 2\]"):
        wrap_model(shifted, btrain)


def test_rejects_unfitted_and_foreign_models(problem):
    train, X, y = _xy(problem)
    with pytest.raises(ModelError, match="LogisticRegression is not fitted"):
        wrap_model(LogisticRegression(), train)
    from sklearn.tree import DecisionTreeClassifier

    with pytest.raises(ModelError, match="unsupported model DecisionTreeClassifier"):
        wrap_model(DecisionTreeClassifier().fit(X, y), train)
    with pytest.raises(ModelError, match=r"unsupported model object \(module builtins\)"):
        wrap_model(object(), train)
    balanced = LogisticRegression(class_weight="balanced").fit(X, y)
    with pytest.raises(ModelError, match="class_weight='balanced' needs the training data"):
        from_sklearn(balanced)
    # an adapter is returned unchanged
    m = wrap_model(balanced, train)
    assert wrap_model(m) is m and isinstance(m, ss.ModelAdapter)
