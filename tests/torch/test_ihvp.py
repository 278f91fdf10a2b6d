"""Inverse-Hessian-vector products (CG, LiSSA, Arnoldi) against the exact inverse, on a dense matrix and on
a small torch model through Hessian-vector products; and ``influence(solver=...)`` end to end."""

from __future__ import annotations

import numpy as np
import pytest

import samplescope as ss
from conftest import make_problem
from samplescope.errors import MethodError
from samplescope.models.ihvp import ArnoldiSolver, DenseOperator, make_solver
from tolerances import TORCH, close


def spd(p=12, cond=50.0, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    return (Q * np.geomspace(1.0, cond, p)) @ Q.T


@pytest.mark.parametrize("method,opts", [("cg", {}), ("lissa", {"iterations": 20000}), ("arnoldi", {})])
def test_solvers_equal_the_exact_inverse_on_a_dense_matrix(method, opts):
    H = spd()
    B = np.random.default_rng(1).normal(size=(12, 3))
    for damping in (0.0, 0.5):
        ref = np.linalg.solve(H + damping * np.eye(12), B)
        S = make_solver(method, DenseOperator(H), damping=damping, **opts)
        close(S.solve(B), ref, TORCH["ihvp"])
        close(S.solve(B[:, 0]), ref[:, 0], TORCH["ihvp"])
        close(S.inverse(), np.linalg.inv(H + damping * np.eye(12)), TORCH["ihvp"])


def test_arnoldi_keeps_the_top_eigenpairs():
    H = spd(p=20, cond=1e3)
    S = ArnoldiSolver(DenseOperator(H), rank=5, n_iter=20)
    vals = np.linalg.eigvalsh(H)[::-1][:5]
    close(np.sort(S.eigenvalues)[::-1], vals, TORCH["ihvp"])
    U, lam = S.low_rank
    close(U.T @ U, np.eye(5), TORCH["ihvp"])


def test_bad_solver_arguments_are_refused():
    op = DenseOperator(spd())
    with pytest.raises(MethodError, match=r"unknown Hessian solver 'newton'; expected one of \['exact', 'cg'"):
        make_solver("newton", op)
    with pytest.raises(MethodError, match="damping must be a finite number >= 0; found -1"):
        make_solver("cg", op, damping=-1)
    with pytest.raises(MethodError, match="iterations must be >= 1; found 0"):
        make_solver("cg", op, iterations=0)
    with pytest.raises(MethodError, match="cg: the Hessian is not positive definite"):
        make_solver("cg", DenseOperator(-spd())).solve(np.ones(12))


def test_influence_solvers_on_a_linear_model_equal_exact():
    train, valid = make_problem("binary", n=40, seed=2)
    m = ss.fit_model("logistic", train, C=1.0)
    ref = ss.score("influence", m, train, valid=valid).values
    for solver, kw in (("cg", {}), ("lissa", {"iterations": 5000}), ("arnoldi", {})):
        close(ss.score("influence", m, train, valid=valid, solver=solver, **kw).values, ref, TORCH["ihvp"])


def test_torch_solvers_equal_the_exact_inverse():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from samplescope.examples.torch_models import MLP
    from samplescope.models.torch_adapter import TorchModel

    train, valid = make_problem("binary", n=30, seed=3)
    tm = TorchModel(MLP(3, hidden=(4,)).double(), "logloss", weight_decay=0.1, curvature="ggn", batch_size=64)
    B = np.random.default_rng(0).normal(size=(tm.p, 2))
    H = tm.hessian(train)
    ref = np.linalg.solve(H + 1.0 * np.eye(tm.p), B)
    for method, kw in (("exact", {}), ("cg", {}), ("lissa", {"iterations": 400}), ("arnoldi", {})):
        S = tm.hessian_solver(train, method=method, damping=1.0, **kw)
        close(S.solve(B), ref, TORCH["ihvp"])
    exact = ss.score("influence", tm, train, valid=valid, damping=0.2).values
    for method in ("cg", "arnoldi"):
        for v in (valid, None):
            close(ss.score("influence", tm, train, valid=v, damping=0.2, solver=method).values,
                  ss.score("influence", tm, train, valid=v, damping=0.2).values, TORCH["ihvp"])
    assert np.all(np.isfinite(exact)) and torch.is_tensor(tm._theta[tm.names[0]])
    stoch = tm.hvp_operator(train, stochastic=True)
    est = np.mean([stoch.sample_matvec(B, np.random.default_rng(s)) for s in range(200)], axis=0)
    assert np.abs(est - H @ B).max() < 0.2 * np.abs(H @ B).max()  # unbiased minibatch products


@pytest.mark.parametrize("curvature,task,objective,K", [("ggn", "binary", "logloss", 1),
                                                         ("ggn", "multiclass", "softmax", 3),
                                                         ("ggn", "regression", "squared_error", 1),
                                                         ("hessian", "binary", "logloss", 1)])
def test_small_models_solve_on_the_explicit_curvature(curvature, task, objective, K):
    """Small ``p``: the iterative solvers run on the explicit curvature (Gauss–Newton from per-sample Jacobians,
    or the Hessian from one batch of products); it equals the products', and so do the solutions."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from samplescope.examples.torch_models import MLP
    from samplescope.models.ihvp import dense_hessian
    from samplescope.models.torch_adapter import TorchModel
    from samplescope.objectives import get_objective

    train, _ = make_problem(task, n=30, seed=5, weights=True)
    obj = get_objective(objective, n_classes=3) if K > 1 else objective
    tm = TorchModel(MLP(3, hidden=(4,), n_outputs=K).double(), obj, c=0.7, weight_decay=0.1, curvature=curvature,
                    batch_size=8)
    op = tm.hvp_operator(train)
    H = tm.hessian(train)
    close(H, dense_hessian(op), TORCH["autograd"])
    damping = 0.5 - min(0.0, np.linalg.eigvalsh(H)[0])  # positive definite (an untrained MLP's Hessian is not)
    B = np.random.default_rng(0).normal(size=(tm.p, 2))
    for method, kw in (("cg", {}), ("arnoldi", {"rank": 6}), ("lissa", {"iterations": 300})):
        assert isinstance(tm._dense_operator(train, method, kw.get("iterations"), kw.get("rank")), DenseOperator)
        close(tm.hessian_solver(train, method=method, damping=damping, **kw).solve(B),
              make_solver(method, op, damping=damping, **kw).solve(B), TORCH["ihvp"])
    if curvature == "hessian":  # p = 21 Hessian columns cost more than two products: products
        assert tm._dense_operator(train, "arnoldi", 2, None) is None
