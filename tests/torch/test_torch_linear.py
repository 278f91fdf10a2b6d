"""The torch logistic / softmax / ridge / linear-ranker models reproduce the linear adapter: same scores,
gradients, Hessian and the same values from every method that runs on both (to round-off in float64, to
the issue's 1e-5 in float32)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread, no spin-waiting

import samplescope as ss  # noqa: E402
from conftest import make_problem  # noqa: E402
from samplescope.examples.torch_models import torch_logistic  # noqa: E402
from samplescope.models.linear import LinearModel  # noqa: E402
from samplescope.objectives import get_objective  # noqa: E402
from tolerances import TORCH, close  # noqa: E402

# every method on the torch adapter and the linear one, with the parameters that make them comparable
METHODS = {"influence": {}, "tracin": {}, "grad_norm": {}, "el2n": {}, "self_loss": {}, "margin": {},
           "trak": {}, "influence_cg": {"solver": "cg"}, "influence_arnoldi": {"solver": "arnoldi"}}


@pytest.fixture(scope="module")
def models():
    out = {}
    train, valid = make_problem("binary", n=40, n_valid=15, weights=True, seed=3)
    out["binary"] = (ss.fit_model("logistic", train, C=2.0).at_optimum(train), train, valid)
    train, valid = make_problem("multiclass", n=45, n_valid=15, seed=4)
    out["multiclass"] = (ss.fit_model("logistic", train, C=1.0).at_optimum(train), train, valid)
    train, valid = make_problem("regression", n=30, n_valid=12, weights=True, seed=5)
    out["regression"] = (ss.fit_model("ridge", train, alpha=0.5).at_optimum(train), train, valid)
    return out


def _run(method, model, train, valid):
    name, params = method.split("_")[0] if method.startswith("influence") else method, METHODS[method]
    info = ss.get_method(name)
    if model.objective.task not in info.tasks:
        return None
    if not info.weights:
        train = ss.from_arrays(train.X, train.y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [ss.score(name, model, train, valid=v, **params).values for v in (valid, None)
                if v is not None or not info.needs_valid]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_calculus_matches_the_linear_adapter(models, task):
    lin, train, valid = models[task]
    tm = torch_logistic(lin)
    close(tm.scores(valid), lin.scores(valid), TORCH["linear_fp64"])
    perm = _layout(lin)
    close(tm.param_gradients(train), lin.param_gradients(train)[:, perm], TORCH["linear_fp64"])
    close(tm.hessian(train), lin.hessian(train)[np.ix_(perm, perm)], TORCH["linear_fp64"])
    close(tm.mean_gradient(valid), lin.mean_gradient(valid)[perm], TORCH["linear_fp64"])
    close(tm.gradient_sq_norms(train), lin.gradient_sq_norms(train), TORCH["linear_fp64"])


def _layout(lin: LinearModel) -> np.ndarray:
    """Torch's flat order (``W`` as ``(K, d)``, then ``b``) as indices into the linear one (row-major ``(d+1, K)``)."""
    K, d = lin.n_outputs, lin.n_features
    w = [j * K + k for k in range(K) for j in range(d)]
    return np.array(w + ([d * K + k for k in range(K)] if lin.fit_intercept else []))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_method_matches_the_linear_adapter(models, task, method):
    lin, train, valid = models[task]
    a, b = _run(method, torch_logistic(lin), train, valid), _run(method, lin, train, valid)
    if a is None:
        pytest.skip(f"{method} does not support {task}")
    for x, y in zip(a, b):
        close(x, y, TORCH["linear_fp64"])


def test_float32_matches_to_1e_5(models):
    lin, train, valid = models["binary"]
    tm = torch_logistic(lin, dtype=torch.float32)
    for name in ("influence", "tracin", "grad_norm", "trak"):
        for v in (valid, None):
            close(ss.score(name, tm, train, valid=v).values, ss.score(name, lin, train, valid=v).values,
                  TORCH["linear_fp32"])


def test_refit_reaches_the_newton_optimum(models):
    lin, train, _ = models["binary"]
    cold = torch_logistic(lin.with_theta(np.zeros_like(lin.theta)))
    close(cold.refit(train).flat(), lin.theta.ravel(), TORCH["refit"])
    sub = train.subset(np.arange(1, train.n))
    close(torch_logistic(lin).refit(sub).flat(), lin.refit(sub).theta.ravel(), TORCH["refit"])
    polished = torch_logistic(lin.with_theta(lin.theta + 0.3))
    polished.polish = True
    close(polished.at_optimum(train).flat(), lin.theta.ravel(), TORCH["refit"])


@pytest.mark.parametrize("name", ["ranknet", "listnet"])
def test_linear_rankers_match(name):
    rng = np.random.default_rng(1)
    sizes = rng.integers(2, 7, 10)
    n = int(sizes.sum())
    X = rng.normal(size=(n, 3))
    y = np.clip(np.round(X @ [0.8, -0.5, 0.3] + 1.5 + 0.5 * rng.normal(size=n)), 0, 3)
    train = ss.from_arrays(X, y, group=np.repeat(np.arange(10), sizes), weight=rng.uniform(0.5, 2, n))
    valid = train.subset(np.arange(n - int(sizes[-1]) - int(sizes[-2]), n))
    lin = LinearModel(get_objective(name), np.zeros((3, 1)), np.zeros(1), alpha=0.5, fit_intercept=False,
                      name="ranker").at_optimum(train)
    tm = torch_logistic(lin)
    close(tm.hessian(train), lin.hessian(train), TORCH["linear_fp64"])
    for method in ("influence", "tracin", "grad_norm", "trak"):
        for v in (valid, None):
            close(ss.score(method, tm, train, valid=v).values, ss.score(method, lin, train, valid=v).values,
                  TORCH["linear_fp64"])
    q = ss.score("influence", tm, train, valid=valid, unit="query").values
    close(q, ss.score("influence", lin, train, valid=valid, unit="query").values, TORCH["linear_fp64"])


def test_model_families_lists_torch_capabilities_exactly():
    pytest.importorskip("torch")
    from samplescope.models import MODEL_FAMILIES
    from samplescope.models.torch_adapter import TorchModel

    assert MODEL_FAMILIES["torch"] == TorchModel.capabilities
