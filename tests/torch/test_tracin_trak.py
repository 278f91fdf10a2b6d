"""TracIn over checkpoints against the explicit sum; TRAK against its unprojected kernel, square projections,
ensembles and the sparse embedding path; first-order margins of a deep model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread, no spin-waiting

import samplescope as ss  # noqa: E402
from conftest import make_problem  # noqa: E402
from samplescope.examples.torch_models import MLP, DeepFM  # noqa: E402
from samplescope.methods.trak import _one  # noqa: E402
from samplescope.models.torch_adapter import TorchModel  # noqa: E402
from samplescope.projectors import Projector  # noqa: E402
from tolerances import TORCH, close  # noqa: E402


@pytest.fixture(scope="module")
def mlp_problem():
    train, valid = make_problem("binary", n=30, n_valid=12, weights=True, seed=11)
    net = MLP(3, hidden=(5,)).double()
    rng = np.random.default_rng(0)
    states = [({k: v + 0.1 * t * torch.as_tensor(rng.normal(size=v.shape)) for k, v in net.state_dict().items()},
               lr) for t, lr in enumerate([0.5, 0.2, 0.1])]
    tm = TorchModel(net, "logloss", c=0.8, weight_decay=0.05, checkpoints=states, batch_size=8)
    return tm, states, train, valid


def _at(state) -> TorchModel:
    net = MLP(3, hidden=(5,)).double()
    net.load_state_dict(state)
    return TorchModel(net, "logloss", c=0.8, weight_decay=0.05)


def test_tracin_is_the_explicit_sum_over_checkpoints(mlp_problem):
    tm, states, train, valid = mlp_problem
    val = np.zeros(train.n)
    own = np.zeros(train.n)
    for state, lr in states:
        m = _at(state)
        G = m.param_gradients(train)
        gv = m.param_gradients(valid)
        mean = (valid.weights / valid.weights.sum()) @ gv
        val += lr * 0.8 * train.weights * (G @ mean)
        own -= lr * 0.8 * train.weights * np.einsum("ij,ij->i", G, G)
    close(ss.score("tracin", tm, train, valid=valid).values, val, TORCH["explicit"])
    close(ss.score("tracin", tm, train).values, own, TORCH["explicit"])
    # a number replaces every checkpoint's learning rate
    one = sum(ss.score("tracin", _at(s), train, valid=valid, learning_rate=0.3).values for s, _ in states)
    close(ss.score("tracin", tm, train, valid=valid, learning_rate=0.3).values, one, TORCH["explicit"])


def _unprojected(m: TorchModel, train, valid, damping: float) -> np.ndarray:
    """``c w_i g_iᵀ (Σ c w_j J_jᵀA_jJ_j + diag(α) + δI)⁻¹ ∇L_valid`` with dense Jacobians from autograd."""
    th = {n: t.clone().requires_grad_(True) for n, t in m._theta.items()}
    X = torch.as_tensor(train.X)
    J = []
    for i in range(train.n):
        s = torch.func.functional_call(m.module, {**m._const, **th}, (X[i:i + 1],)).reshape(())
        J.append(np.concatenate([g.reshape(-1).numpy() for g in torch.autograd.grad(s, [th[n] for n in m.names])]))
    J = np.array(J)
    S = m.scores(train)
    p = 1 / (1 + np.exp(-S))
    cw = m.loss_scale(train)
    M = J.T @ (J * (cw * p * (1 - p))[:, None]) + np.diag(m.decay_vector()) + damping * np.eye(m.p)
    G = J * (p - train.y)[:, None]
    return cw * (G @ np.linalg.solve(M, m.mean_gradient(valid)))


def test_trak_with_identity_projection_is_the_unprojected_kernel(mlp_problem):
    tm, _, train, valid = mlp_problem
    m = tm.with_params(tm._theta)
    m.checkpoints = []
    ref = _unprojected(m, train, valid, damping=0.1)
    close(ss.score("trak", m, train, valid=valid, damping=0.1, proj_dim=10_000).values, ref, TORCH["explicit"])
    # any full-rank square projection gives the same values (the kernel is invariant under P)
    for kind in ("rademacher", "gaussian"):
        close(_one(m, train, valid, Projector(m.p, m.p, seed=4, kind=kind), 0.1), ref, {"scale_rtol": 1e-7})


def test_trak_ensembles_over_checkpoints(mlp_problem):
    tm, states, train, valid = mlp_problem
    per = [_one(_at(s), train, valid, Projector(tm.p, 8, seed=3 * 1_000_003 + t), 0.05) for t, (s, _) in
           enumerate(states)]
    close(ss.score("trak", tm, train, valid=valid, proj_dim=8, damping=0.05, seed=3).values, np.mean(per, axis=0),
          TORCH["explicit"])
    a = ss.score("trak", tm, train, proj_dim=8, seed=1).values
    assert np.all(a <= 0) and not np.array_equal(a, ss.score("trak", tm, train, proj_dim=8, seed=2).values)


def test_sparse_embedding_projections_equal_the_dense_ones():
    rng = np.random.default_rng(5)
    n = 40
    X = np.c_[rng.integers(0, 6, n), rng.integers(0, 4, n), rng.normal(size=n)]
    train = ss.from_arrays(X, rng.integers(0, 2, n).astype(float))
    valid = ss.from_arrays(X[:10], 1 - train.y[:10])
    net = DeepFM([6, 4], n_numeric=1, dim=3, hidden=(4,)).double()
    sparse = TorchModel(net, "logloss", weight_decay=0.01)
    dense = TorchModel(net, "logloss", weight_decay=0.01, sparse_embeddings=False)
    assert set(sparse._tables) == {"first.weight", "embed.weight"} and not dense._tables
    P = Projector(sparse.p, 16, seed=0)
    for (s0, e0, a), (_, _, b) in zip(sparse.projected_jacobians(train, P), dense.projected_jacobians(train, P)):
        close(a, b, TORCH["autograd"])
    for name, kw in (("trak", {"proj_dim": 16}), ("grad_norm", {}), ("tracin", {"learning_rate": 1.0})):
        close(ss.score(name, sparse, train, valid=valid, **kw).values,
              ss.score(name, dense, train, valid=valid, **kw).values, TORCH["autograd"])


def test_first_order_margin_of_a_deep_model():
    train, _ = make_problem("binary", n=25, seed=12)
    m = TorchModel(MLP(3, hidden=(6,)).double(), "logloss")
    X = torch.as_tensor(train.X).requires_grad_(True)
    s = m.module(X).reshape(-1)
    G = torch.autograd.grad(s.sum(), X)[0].numpy()  # rows are independent: ∂s_i/∂x_i
    ref = (2 * train.y - 1) * s.detach().numpy() / np.linalg.norm(G, axis=1)
    close(ss.score("margin", m, train).values, ref, TORCH["autograd"])
    ids = ss.from_arrays(np.c_[np.arange(10) % 6, np.arange(10) % 4], np.arange(10) % 2)
    with pytest.raises(ss.ModelError, match="do not depend differentiably on its inputs"):
        ss.score("margin", TorchModel(DeepFM([6, 4], hidden=(4,)).double(), "logloss"), ids)


def test_trak_regulariser_is_the_projected_decay():
    """``Pᵀ diag(α) P`` by symmetric rank updates equals the explicit product (cached and generated rows)."""
    from samplescope.methods.trak import _regulariser

    alpha = np.r_[np.linspace(0.0, 2.0, 40), np.zeros(5)]
    for cache in (2**23, 0):
        P = Projector(45, 7, seed=3, cache=cache)
        Pm = P.rows(np.arange(45))
        close(_regulariser(alpha, P), Pm.T @ (alpha[:, None] * Pm), TORCH["autograd"])
        mixed = alpha.copy()
        mixed[3] = -0.5  # a negative entry: the plain product
        close(_regulariser(mixed, P), Pm.T @ (mixed[:, None] * Pm), TORCH["autograd"])
