"""Every method against an exact or brute-force reference on tiny data (tolerances: ``tests/tolerances.py``).

The references are written here from the formulas, independently of the library's calculus:
refit loops in scikit-learn, Hessians by finite differences, per-sample dense solves, enumerated
Shapley coalitions, explicit bootstrap loops.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg as sla
from scipy.special import expit, logsumexp, softmax
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression, Ridge

import samplescope as ss
from samplescope.errors import MethodError
from samplescope.methods import REGISTRY
from samplescope.methods.data_oob import bootstrap_counts
from samplescope.methods.knn_shapley import knn_shapley_values
from samplescope.models import ModelAdapter, wrap_model
from tolerances import REFERENCE, close

KNN_REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "peers" / "knn_reference.npz"


# ====================================================================== an independent statement of J
class Ref:
    """``J(Θ) = c Σ w_i ℓ(y_i, x̃_iᵀΘ) + ½ Σ_j α_j ‖Θ_j‖²`` in plain numpy, for one of three losses."""

    def __init__(self, loss: str, X, y, *, c: float, alpha: float, fit_intercept: bool, K: int = 1):
        self.loss_name, self.c, self.K = loss, c, K
        self.fit_intercept = fit_intercept
        self.X, self.y = np.asarray(X, float), np.asarray(y, float)
        self.reg = np.full(self.X.shape[1] + fit_intercept, alpha)
        if fit_intercept:
            self.reg[-1] = 0.0

    @classmethod
    def of(cls, est, train):
        """The objective a scikit-learn estimator minimises (C Σ ℓ + ½‖w‖², or Ridge's ½-scaled one)."""
        if isinstance(est, LogisticRegression):
            K = len(est.classes_)
            return cls("logloss" if K == 2 else "softmax", train.X, train.y, c=est.C, alpha=1.0,
                       fit_intercept=est.fit_intercept, K=1 if K == 2 else K)
        return cls("squared", train.X, train.y, c=1.0, alpha=float(est.alpha), fit_intercept=est.fit_intercept)

    def design(self, X):
        return np.c_[X, np.ones(len(X))] if self.fit_intercept else np.asarray(X, float)

    def scores(self, theta, X=None):
        return self.design(self.X if X is None else X) @ theta.reshape(-1, self.K)

    def losses(self, theta, X=None, y=None):
        S, y = self.scores(theta, X), self.y if y is None else y
        if self.loss_name == "logloss":
            return np.logaddexp(0.0, S[:, 0]) - y * S[:, 0]
        if self.loss_name == "softmax":
            return logsumexp(S, axis=1) - S[np.arange(len(y)), y.astype(int)]
        return 0.5 * (S[:, 0] - y) ** 2

    def lam(self, theta, X=None, y=None):
        """``∂ℓ_i/∂s_i`` ``(n, K)``."""
        S, y = self.scores(theta, X), self.y if y is None else y
        if self.loss_name == "logloss":
            return expit(S) - y[:, None]
        if self.loss_name == "softmax":
            return softmax(S, axis=1) - np.eye(self.K)[y.astype(int)]
        return S - y[:, None]

    def A(self, theta):
        """``∂²ℓ_i/∂s_i²`` ``(n, K, K)``."""
        S = self.scores(theta)
        if self.loss_name == "logloss":
            p = expit(S[:, 0])
            return (p * (1 - p))[:, None, None]
        if self.loss_name == "softmax":
            P = softmax(S, axis=1)
            return np.einsum("ik,kl->ikl", P, np.eye(self.K)) - P[:, :, None] * P[:, None, :]
        return np.ones((len(S), 1, 1))

    def per_sample_grads(self, theta, X=None, y=None):
        """``g_i = x̃_i ⊗ λ_i`` flattened row-major (index j·K + k), ``(n, p)``."""
        Xt = self.design(self.X if X is None else X)
        return (Xt[:, :, None] * self.lam(theta, X, y)[:, None, :]).reshape(len(Xt), -1)

    def grad(self, theta, w):
        return self.c * (w @ self.per_sample_grads(theta)) + (self.reg[:, None] * theta.reshape(-1, self.K)).ravel()

    def hess(self, theta, w):
        """Analytic ``Σ c w_i (x̃ x̃ᵀ) ⊗ A_i + diag(α)``."""
        Xt = self.design(self.X)
        H = np.einsum("i,ij,il,ikm->jklm", self.c * w, Xt, Xt, self.A(theta))
        p = Xt.shape[1] * self.K
        return H.reshape(p, p) + np.diag(np.repeat(self.reg, self.K))

    def fd_hess(self, theta, w, step=1e-5):
        """Central differences of the explicit gradient."""
        theta = theta.ravel()
        p = len(theta)
        H = np.empty((p, p))
        for j in range(p):
            e = np.zeros(p)
            e[j] = step
            H[:, j] = (self.grad(theta + e, w) - self.grad(theta - e, w)) / (2 * step)
        return 0.5 * (H + H.T)

    def basis(self):
        """Orthonormal basis of the parameter directions the loss is not flat along (softmax shifts)."""
        p = len(self.reg) * self.K
        if self.K == 1:
            return np.eye(p)
        N = np.zeros((p, 0))
        for j in np.flatnonzero(self.reg == 0):
            u = np.zeros((p, 1))
            u[j * self.K:(j + 1) * self.K] = 1.0
            N = np.hstack([N, u])
        return sla.null_space(N.T) if N.shape[1] else np.eye(p)

    def solve(self, H, b):
        """``H⁻¹ b`` on the non-flat subspace (plain ``np.linalg.solve`` for one-output models)."""
        Q = self.basis()
        return Q @ np.linalg.solve(Q.T @ H @ Q, Q.T @ b)

    def newton(self, w, theta0, iters=30):
        theta = theta0.ravel().copy()
        for _ in range(iters):
            step = self.solve(self.hess(theta, w), self.grad(theta, w))
            theta -= step
            if np.max(np.abs(step)) < 1e-15 * (1 + np.max(np.abs(theta))):
                break
        return theta

    def mean_loss(self, theta, X, y, wv=None):
        return np.average(self.losses(theta, X, y), weights=wv)

    def mean_grad(self, theta, X, y, wv=None):
        return np.average(self.per_sample_grads(theta, X, y), axis=0, weights=wv)


def tight_fit(est_kind, X, y, w, **kw):
    """A scikit-learn fit to tol 1e-12 (exact solvers)."""
    if est_kind == "logistic":
        est = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000, **kw)
        return est.fit(X, y.astype(np.int64), sample_weight=w)
    return Ridge(solver="cholesky", **kw).fit(X, y, sample_weight=w)


def theta_of(est):
    coef = np.atleast_2d(est.coef_).T
    return np.vstack([coef, np.atleast_1d(est.intercept_)[None]]) if est.fit_intercept else coef


# (id, task, kind, sklearn kwargs, weighted)
CONFIGS = {
    "binary": ("binary", "logistic", {"C": 1.0}, False),
    "binary-weights-cw": ("binary", "logistic", {"C": 3.0, "class_weight": {0: 1.0, 1: 2.5}}, True),
    "binary-noint": ("binary", "logistic", {"C": 0.5, "fit_intercept": False}, False),
    "multiclass": ("multiclass", "logistic", {"C": 1.0}, False),
    "multiclass-weights": ("multiclass", "logistic", {"C": 2.0}, True),
    "ridge-weights": ("regression", "ridge", {"alpha": 0.5}, True),
}


def setup(problem, config, n=30):
    task, kind, kw, weighted = CONFIGS[config]
    train, valid = problem(task, n=n, n_valid=12, weights=weighted, seed=1)
    est = tight_fit(kind, train.X, train.y, train.weight, **kw)
    return est, wrap_model(est, train), train, valid


def eff_weights(est, train):
    w = train.weights.copy()
    cw = getattr(est, "class_weight", None)
    if isinstance(cw, dict):
        for label, f in cw.items():
            w[train.y == label] *= f
    return w


# ====================================================================== exact leave-one-out
def brute_loo(est, train, valid, target):
    """Drop each row, refit scikit-learn at tol 1e-12, measure the target loss."""
    kind = "logistic" if isinstance(est, LogisticRegression) else "ridge"
    kw = {k: getattr(est, k) for k in (("C", "fit_intercept", "class_weight") if kind == "logistic"
                                       else ("alpha", "fit_intercept"))}
    ref = Ref.of(est, train)
    base = theta_of(est)
    out = np.empty(train.n)
    for i in range(train.n):
        keep = np.arange(train.n) != i
        w = None if train.weight is None else train.weight[keep]
        th = theta_of(tight_fit(kind, train.X[keep], train.y[keep], w, **kw))
        if target == "validation":
            out[i] = ref.mean_loss(th, valid.X, valid.y) - ref.mean_loss(base, valid.X, valid.y)
        else:
            out[i] = -(ref.losses(th)[i] - ref.losses(base)[i])
    return out


@pytest.mark.parametrize("target", ["validation", "self"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_loo_equals_refit_loop(problem, config, target):
    est, model, train, valid = setup(problem, config)
    result = ss.score("loo", model, train, valid=valid if target == "validation" else None)
    assert result.target == target
    expected = brute_loo(est, train, valid, target)
    assert 1e-6 < np.max(np.abs(expected)) < 10.0  # values of a size where the tolerance means something
    close(result.values, expected, REFERENCE["loo_ridge" if config.startswith("ridge") else "loo"])


def test_loo_of_sgd_keeps_the_objective_scale_fixed(problem):
    """SGD's objective is (1/n) Σ ℓ_i + ½α‖w‖²; leave-one-out keeps c = 1/n of the full data (as it keeps
    class weights), i.e. it equals refits of LogisticRegression(C = 1/(α n)) without the row."""
    train, valid = problem("binary", n=30, n_valid=12, seed=1)
    alpha = 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn.linear_model import SGDClassifier

        sgd = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=20, random_state=0)
        sgd.fit(train.X, train.y.astype(int))
    lr = tight_fit("logistic", train.X, train.y, None, C=1.0 / (alpha * train.n))
    close(ss.score("loo", wrap_model(sgd, train), train, valid=valid).values, brute_loo(lr, train, valid, "validation"),
          REFERENCE["loo"])


def test_loo_is_positive_for_helpful_rows(problem):
    """Sign convention: a row the validation set agrees with is helpful; a flipped label is harmful."""
    train, valid = problem("binary", n=40, n_valid=200, seed=2)
    model = ss.fit_model("logistic", train, C=10.0)
    s = model.scores(train) * (2 * train.y - 1)
    flip = int(np.argmax(s))  # the most confidently right row...
    y = train.y.copy()
    y[flip] = 1 - y[flip]  # ...mislabeled
    bad = ss.from_arrays(train.X, y)
    v = ss.score("loo", ss.fit_model("logistic", bad, C=10.0), bad, valid=valid).values
    assert v[flip] < 0 and v[flip] == v.min()
    assert np.median(v) > 0


# ====================================================================== influence
@pytest.mark.parametrize("target", ["validation", "self"])
@pytest.mark.parametrize("config", ["binary", "binary-weights-cw", "multiclass-weights", "ridge-weights"])
def test_influence_equals_finite_difference_hessian_formula(problem, config, target):
    est, model, train, valid = setup(problem, config)
    ref = Ref.of(est, train)
    w = eff_weights(est, train)
    theta = ref.newton(w, theta_of(est))
    H = ref.fd_hess(theta, w)
    G = ref.per_sample_grads(theta)
    if target == "validation":
        expected = ref.c * w * (G @ ref.solve(H, ref.mean_grad(theta, valid.X, valid.y)))
    else:
        expected = -ref.c * w * np.einsum("ip,pi->i", G, ref.solve(H, G.T))
    result = ss.score("influence", model, train, valid=valid if target == "validation" else None)
    assert result.target == target
    close(result.values, expected, REFERENCE["influence"])


@pytest.mark.parametrize("config", ["binary", "multiclass"])
def test_influence_and_newton_loo_rank_like_exact_loo(problem, config):
    est, model, train, valid = setup(problem, config, n=40)
    exact = ss.score("loo", model, train, valid=valid).values
    infl = ss.score("influence", model, train, valid=valid).values
    newton = ss.score("newton_loo", model, train, valid=valid).values
    assert spearmanr(infl, exact)[0] >= REFERENCE["influence_spearman"]["spearman"]
    assert spearmanr(newton, exact)[0] >= REFERENCE["newton_loo_spearman"]["spearman"]
    # and Newton-step LOO is the closer of the two
    assert np.max(np.abs(newton - exact)) < np.max(np.abs(infl - exact))


def test_influence_damping(problem):
    est, model, train, valid = setup(problem, "binary")
    ref = Ref.of(est, train)
    w = train.weights
    theta = ref.newton(w, theta_of(est))
    H = ref.hess(theta, w) + 0.7 * np.eye(len(theta))
    expected = ref.c * w * (ref.per_sample_grads(theta) @ np.linalg.solve(H, ref.mean_grad(theta, valid.X, valid.y)))
    close(ss.score("influence", model, train, valid=valid, damping=0.7).values, expected, REFERENCE["influence"])


# ====================================================================== Newton-step LOO
@pytest.mark.parametrize("target", ["validation", "self"])
@pytest.mark.parametrize("config", ["binary", "binary-weights-cw", "binary-noint", "multiclass-weights"])
def test_newton_loo_equals_per_sample_dense_solves(problem, config, target):
    """θ̃_{-i} = θ̂ + c w_i H_{-i}⁻¹ g_i with H_{-i} the explicit Hessian of J_{-i} at θ̂, solved per sample."""
    est, model, train, valid = setup(problem, config)
    ref = Ref.of(est, train)
    w = eff_weights(est, train)
    theta = ref.newton(w, theta_of(est))
    G = ref.per_sample_grads(theta)
    expected = np.empty(train.n)
    for i in range(train.n):
        w_i = w.copy()
        w_i[i] = 0.0
        t_i = theta + ref.c * w[i] * ref.solve(ref.hess(theta, w_i), G[i])
        if target == "validation":
            expected[i] = ref.mean_loss(t_i, valid.X, valid.y) - ref.mean_loss(theta, valid.X, valid.y)
        else:
            expected[i] = -(ref.losses(t_i)[i] - ref.losses(theta)[i])
    result = ss.score("newton_loo", model, train, valid=valid if target == "validation" else None)
    assert result.target == target
    close(result.values, expected, REFERENCE["newton_loo"])


@pytest.mark.parametrize("target", ["validation", "self"])
def test_newton_loo_is_exact_for_ridge(problem, target):
    _, model, train, valid = setup(problem, "ridge-weights")
    v = valid if target == "validation" else None
    close(ss.score("newton_loo", model, train, valid=v).values, ss.score("loo", model, train, valid=v).values,
          REFERENCE["newton_loo_ridge"])


# ====================================================================== KNN-Shapley
def enumerated_knn_shapley(Xt, yt, Xv, yv, k):
    """Shapley values of U(S) = (1/K) Σ_{j ≤ min(K,|S|)} 1[y_{α_j(S)} = y_val], enumerating every coalition."""
    n = len(yt)
    phi = np.zeros(n)
    for x, y in zip(Xv, yv):
        order = np.argsort(np.sum((Xt - x) ** 2, axis=1), kind="stable")
        match = (yt == y).astype(float)

        def utility(S):
            ranked = [j for j in order if j in S][:k]
            return sum(match[j] for j in ranked) / k

        for i in range(n):
            others = [j for j in range(n) if j != i]
            for size in range(n):
                wgt = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                for S in itertools.combinations(others, size):
                    S = set(S)
                    phi[i] += wgt * (utility(S | {i}) - utility(S))
    return phi / len(yv)


@pytest.mark.parametrize("k", [1, 3, 10])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_knn_shapley_equals_enumerated_shapley(k, n_classes):
    rng = np.random.default_rng(k + 10 * n_classes)
    n, m = 7, 4
    Xt, Xv = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    yt, yv = rng.integers(0, n_classes, n).astype(float), rng.integers(0, n_classes, m).astype(float)
    expected = enumerated_knn_shapley(Xt, yt, Xv, yv, k)
    close(knn_shapley_values(Xt, yt, Xv, yv, k), expected, REFERENCE["knn_shapley"])
    # efficiency: the values sum to the utility of the whole training set
    full = np.mean([np.sum((yt == y)[np.argsort(np.sum((Xt - x) ** 2, axis=1), kind="stable")][:k]) / k
                    for x, y in zip(Xv, yv)])
    assert np.sum(expected) == pytest.approx(full, abs=1e-12)


def test_knn_shapley_through_score(problem):
    train, valid = problem("binary", n=8, n_valid=5, seed=4)
    model = ss.fit_model("logistic", train)
    expected = enumerated_knn_shapley(train.X, train.y, valid.X, valid.y, 3)
    result = ss.score("knn_shapley", model, train, valid=valid, k=3)
    close(result.values, expected, REFERENCE["knn_shapley"])
    assert result.target in REGISTRY["knn_shapley"].targets
    with pytest.raises(MethodError, match="k must be >= 1; found 0"):
        ss.score("knn_shapley", model, train, valid=valid, k=0)


@pytest.mark.skipif(not KNN_REFERENCE.exists(), reason=f"{KNN_REFERENCE} not present (pyDVL reference values)")
def test_knn_shapley_matches_pydvl():
    with np.load(KNN_REFERENCE) as f:
        ref = {k: f[k] for k in f.files}
    k = int(ref["k"])
    values = knn_shapley_values(ref["X_train"], ref["y_train"].astype(float), ref["X_valid"],
                                ref["y_valid"].astype(float), k)
    close(values, ref["values"], REFERENCE["knn_shapley_pydvl"])
    train = ss.from_arrays(ref["X_train"], ref["y_train"])
    valid = ss.from_arrays(ref["X_valid"], ref["y_valid"])
    result = ss.score("knn_shapley", ss.fit_model("logistic", train), train, valid=valid, k=k)
    close(result.values, ref["values"], REFERENCE["knn_shapley_pydvl"])


# ====================================================================== gradient family
@pytest.mark.parametrize("learning_rate", ["auto", 0.1])
@pytest.mark.parametrize("config", ["binary-weights-cw", "multiclass", "ridge-weights"])
def test_tracin_equals_explicit_gradient_products(problem, config, learning_rate):
    est, model, train, valid = setup(problem, config)
    w = eff_weights(est, train)
    P = model.param_gradients(train)
    g_val = np.average(model.param_gradients(valid), axis=0, weights=valid.weights)
    ref = Ref.of(est, train)
    H = ref.hess(model.theta.ravel(), w)
    eta = H.shape[0] / np.trace(H) if learning_rate == "auto" else learning_rate
    result = ss.score("tracin", model, train, valid=valid, learning_rate=learning_rate)
    close(result.values, eta * ref.c * w * (P @ g_val), REFERENCE["tracin"])
    own = ss.score("tracin", model, train, learning_rate=learning_rate)
    assert own.target == "self"
    close(own.values, -eta * ref.c * w * np.sum(P**2, axis=1), REFERENCE["tracin"])
    # and the per-sample gradients themselves are x̃_i ⊗ λ_i
    close(P, ref.per_sample_grads(model.theta.ravel()), {"scale_rtol": 1e-13})


@pytest.mark.parametrize("bad", ["fast", 0, -1.0])
def test_tracin_rejects_bad_learning_rate(problem, bad):
    _, model, train, valid = setup(problem, "binary")
    with pytest.raises(MethodError, match="tracin: learning_rate must be"):
        ss.score("tracin", model, train, valid=valid, learning_rate=bad)


@pytest.mark.parametrize("config", ["binary-weights-cw", "multiclass-weights", "ridge-weights"])
def test_grad_norm_el2n_self_loss_explicit(problem, config):
    est, model, train, valid = setup(problem, config)
    ref = Ref.of(est, train)
    theta = model.theta.ravel()
    Xt = ref.design(train.X)
    lam = ref.lam(theta)
    gn = ss.score("grad_norm", model, train)
    expected_gn = train.weights * np.linalg.norm(Xt, axis=1) * np.linalg.norm(lam, axis=1)
    close(gn.values, -expected_gn, REFERENCE["grad_norm"])
    close(gn.extras["grad_norm"], np.linalg.norm(ref.per_sample_grads(theta), axis=1) * train.weights,
          REFERENCE["grad_norm"])
    sl = ss.score("self_loss", model, train)
    close(sl.values, -ref.losses(theta), REFERENCE["self_loss"])
    if train.weight is None or np.allclose(train.weight, train.weight[0]):
        el = ss.score("el2n", model, train)
    else:  # el2n ignores weights and says so
        with pytest.raises(MethodError, match="does not use sample weights"):
            ss.score("el2n", model, train)
        unweighted = ss.from_arrays(train.X, train.y)
        el = ss.score("el2n", model, unweighted)
    if ref.loss_name == "squared":
        expected_el = np.abs(ref.scores(theta)[:, 0] - train.y)
    else:
        probs = expit(ref.scores(theta)[:, 0]) if ref.K == 1 else softmax(ref.scores(theta), axis=1)
        onehot = train.y if ref.K == 1 else np.eye(ref.K)[train.y.astype(int)]
        expected_el = np.abs(probs - onehot) if ref.K == 1 else np.linalg.norm(probs - onehot, axis=1)
    close(el.values, -expected_el, REFERENCE["el2n"])
    close(el.extras["el2n"], expected_el, REFERENCE["el2n"])


# ====================================================================== margin
def test_margin_binary_is_signed_distance(problem):
    est, model, train, _ = setup(problem, "binary")
    w, b = est.coef_.ravel(), est.intercept_[0]
    X, y = train.X, train.y
    v = ss.score("margin", model, train).values
    expected = (2 * y - 1) * (X @ w + b) / np.linalg.norm(w)
    close(v, expected, REFERENCE["margin"])
    # geometry: the projection onto the hyperplane lies on it, at distance |v| from x
    proj = X - ((X @ w + b) / (w @ w))[:, None] * w
    np.testing.assert_allclose(proj @ w + b, 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(X - proj, axis=1), np.abs(v), rtol=1e-12)
    # sign: positive exactly for correctly classified rows
    np.testing.assert_array_equal(v > 0, est.predict(X) == y)


def test_margin_multiclass_is_distance_to_rival_boundary(problem):
    est, model, train, _ = setup(problem, "multiclass")
    W, b = est.coef_, est.intercept_  # (K, d), (K,)
    X, y = train.X, train.y.astype(int)
    v = ss.score("margin", model, train).values
    S = X @ W.T + b
    for i in range(train.n):
        rivals = [j for j in range(3) if j != y[i]]
        j = rivals[int(np.argmax(S[i, rivals]))]
        dw, db = W[y[i]] - W[j], b[y[i]] - b[j]
        expected = (X[i] @ dw + db) / np.linalg.norm(dw)
        assert v[i] == pytest.approx(expected, rel=REFERENCE["margin"]["scale_rtol"], abs=1e-13)
        # geometry: the foot of the perpendicular scores y and j equally, |v| away from x
        foot = X[i] - (X[i] @ dw + db) / (dw @ dw) * dw
        s_foot = foot @ W.T + b
        assert s_foot[y[i]] == pytest.approx(s_foot[j], abs=1e-12)
        assert np.linalg.norm(X[i] - foot) == pytest.approx(abs(v[i]), rel=1e-12)
    np.testing.assert_array_equal(v > 0, est.predict(X) == y)


# ====================================================================== Data-OOB
@pytest.mark.parametrize(("config", "metric"), [("binary-weights-cw", "loss"), ("binary-weights-cw", "accuracy"),
                                                ("ridge-weights", "loss")])
def test_data_oob_equals_explicit_bootstrap_loop(problem, config, metric):
    est, model, train, _ = setup(problem, config, n=40)
    kind = "logistic" if isinstance(est, LogisticRegression) else "ridge"
    kw = {k: getattr(est, k) for k in (("C", "fit_intercept", "class_weight") if kind == "logistic"
                                       else ("alpha", "fit_intercept"))}
    B, seed = 12, 5
    counts = bootstrap_counts(train.n, B, seed)
    ref = Ref.of(est, train)
    total, seen = np.zeros(train.n), np.zeros(train.n)
    for b in range(B):
        th = theta_of(tight_fit(kind, train.X, train.y, train.weights * counts[b], **kw))
        oob = counts[b] == 0
        if metric == "loss":
            score = -ref.losses(th)
        else:
            score = ((ref.scores(th)[:, 0] > 0) == train.y).astype(float)
        total[oob] += score[oob]
        seen[oob] += 1
    expected = np.divide(total, seen, out=np.zeros(train.n), where=seen > 0)
    expected[seen == 0] = expected[seen > 0].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows in every bag
        result = ss.score("data_oob", model, train, seed=seed, n_estimators=B, metric=metric)
    assert result.target == "out-of-bag"
    close(result.values, expected, REFERENCE["data_oob"])
    np.testing.assert_array_equal(result.extras["oob_count"], seen)


def test_bootstrap_counts_are_bags():
    c = bootstrap_counts(50, 7, seed=3)
    assert c.shape == (7, 50) and np.all(c.sum(axis=1) == 50)
    np.testing.assert_array_equal(c, bootstrap_counts(50, 7, seed=3))
    assert not np.array_equal(c, bootstrap_counts(50, 7, seed=4))
    assert np.all(bootstrap_counts(10, 3, seed=0, max_samples=0.5).sum(axis=1) == 5)


def test_data_oob_rejects_bad_parameters(problem):
    est, model, train, _ = setup(problem, "binary")
    with pytest.raises(MethodError, match="metric must be 'loss', 'accuracy' or \\(ranking\\) 'ndcg'/'ndcg@K'; found 'auc'"):
        ss.score("data_oob", model, train, metric="auc")
    with pytest.raises(MethodError, match="n_estimators must be >= 1; found 0"):
        ss.score("data_oob", model, train, n_estimators=0)
    _, rmodel, rtrain, _ = setup(problem, "ridge-weights")
    with pytest.raises(MethodError, match="metric 'accuracy' needs a classifier"):
        ss.score("data_oob", rmodel, rtrain, metric="accuracy")


# ====================================================================== the generic refit path
class RefitOnly(ModelAdapter):
    """A test double: a model that can only score and refit (no Hessian, not a LinearModel)."""

    capabilities = frozenset({"scores", "refit"})

    def __init__(self, inner):
        self.inner = inner
        self.objective = inner.objective

    def scores(self, data):
        return self.inner.scores(data)

    def refit(self, data):
        return RefitOnly(self.inner.refit(data))

    def fingerprint(self):
        return "refit-only-" + self.inner.fingerprint()


@pytest.mark.parametrize("target", ["validation", "self"])
def test_generic_refit_loo_and_oob_match_the_batched_linear_path(problem, target):
    _, model, train, valid = setup(problem, "binary-weights-cw")
    model = model.at_optimum(train)
    v = valid if target == "validation" else None
    double = RefitOnly(model)
    close(ss.score("loo", double, train, valid=v).values, ss.score("loo", model, train, valid=v).values,
          REFERENCE["loo"])
    if target == "validation":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            close(ss.score("data_oob", double, train, n_estimators=6).values,
                  ss.score("data_oob", model, train, n_estimators=6).values, REFERENCE["data_oob"])
    with pytest.raises(MethodError, match=r"method 'influence' needs \['hessian', 'param_gradients'\]"):
        ss.score("influence", double, train, valid=v)
