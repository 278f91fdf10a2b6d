"""The torch adapter's calculus against plain autograd: per-sample gradients (a Python loop of
``torch.autograd.grad``), sparse embedding rows, dot products and norms, Hessian-vector products, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread, no spin-waiting

import samplescope as ss  # noqa: E402
from samplescope.errors import ModelError  # noqa: E402
from samplescope.models.torch_adapter import TorchModel  # noqa: E402
from samplescope.models.torch_objectives import torch_loss  # noqa: E402
from samplescope.objectives import OBJECTIVES, get_objective  # noqa: E402
from tolerances import TORCH, close  # noqa: E402


class TabularNet(torch.nn.Module):
    """Two categorical columns (embeddings, one with a padding row) and two numeric ones, K outputs."""

    def __init__(self, K: int = 1):
        super().__init__()
        torch.manual_seed(0)
        self.emb_a = torch.nn.Embedding(7, 3, padding_idx=0)
        self.emb_b = torch.nn.Embedding(5, 3)
        self.body = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Tanh(), torch.nn.Linear(6, K))

    def forward(self, x):
        ids = x[:, :2].long()
        # emb_a is called twice (shared table): both calls must add up
        e = self.emb_a(ids[:, 0]) + 0.5 * self.emb_a((ids[:, 0] + 1) % 7) + self.emb_b(ids[:, 1])
        return self.body(torch.cat([e, x[:, 2:], e[:, :1]], dim=1))


def tabular(n=23, K=1, seed=0, weights=True, group=False):
    rng = np.random.default_rng(seed)
    X = np.c_[rng.integers(0, 7, n), rng.integers(0, 5, n), rng.normal(size=(n, 2))]
    if K > 1:
        y = rng.integers(0, K, n).astype(float)
        y[:K] = np.arange(K)
    else:
        y = rng.integers(0, 2, n).astype(float) if not group else rng.integers(0, 3, n).astype(float)
    g = np.repeat(np.arange(n), 1)[:n] // 4 if group else None
    return ss.from_arrays(X, y, weight=rng.uniform(0.5, 2, n) if weights else None, group=g)


def loop_gradients(tm: TorchModel, data) -> np.ndarray:
    """Reference: one ``autograd.grad`` per sample of its (per unit weight) loss, through the torch loss."""
    th = {n: t.clone().requires_grad_(True) for n, t in tm._theta.items()}
    X = torch.as_tensor(data.X, dtype=tm.dtype)
    loss = torch_loss(tm.objective)
    rows = []
    for i in range(data.n):
        s = torch.func.functional_call(tm.module, {**tm._const, **th}, (X[i:i + 1],))
        s = s.reshape(1) if tm.objective.n_outputs == 1 else s.reshape(1, -1)
        li = loss(data.y[i:i + 1], s, None, np.ones(1)).sum()
        g = torch.autograd.grad(li, [th[n] for n in tm.names], allow_unused=True)
        rows.append(np.concatenate([(torch.zeros_like(th[n]) if gi is None else gi).reshape(-1).detach().numpy()
                                    for n, gi in zip(tm.names, g)]))
    return np.array(rows)


@pytest.mark.parametrize("objective,K", [("logloss", 1), ("squared_error", 1), ("softmax", 3)])
@pytest.mark.parametrize("sparse", [True, False])
def test_per_sample_gradients_match_an_autograd_loop(objective, K, sparse):
    data = tabular(K=K)
    obj = get_objective(objective, **({"n_classes": K} if K > 1 else {}))
    tm = TorchModel(TabularNet(K).double(), obj, batch_size=5, sparse_embeddings=sparse)
    ref = loop_gradients(tm, data)
    close(tm.param_gradients(data), ref, TORCH["autograd"])
    assert bool(tm._tables) == sparse
    # the padding row of emb_a never gets a gradient, as in torch
    pad = tm._offsets["emb_a.weight"]
    assert np.all(tm.param_gradients(data)[:, pad:pad + 3] == 0)


@pytest.mark.parametrize("sparse", [True, False])
def test_products_norms_and_mean_gradient_match_dense_gradients(sparse):
    data = tabular(K=3)
    tm = TorchModel(TabularNet(3).double(), get_objective("softmax", n_classes=3), batch_size=4,
                    sparse_embeddings=sparse)
    G = tm.param_gradients(data)
    V = np.random.default_rng(1).normal(size=(tm.p, 3))
    close(tm.gradient_dot(data, V), G @ V, TORCH["autograd"])
    close(tm.gradient_dot(data, V[:, 0]), G @ V[:, 0], TORCH["autograd"])
    close(tm.gradient_sq_norms(data), np.einsum("ij,ij->i", G, G), TORCH["autograd"])
    w = data.weights / data.weights.sum()
    close(tm.mean_gradient(data), w @ G, TORCH["autograd"])


def test_parameter_selection_by_name_prefix_and_last_modules():
    net = TabularNet().double()
    data = tabular()
    full = TorchModel(net, "logloss")
    head = TorchModel(net, "logloss", params=["body.2"])
    assert head.names == ["body.2.weight", "body.2.bias"] and head.p == 7
    last = TorchModel(net, "logloss", params=1)
    assert last.names == head.names
    cols = np.r_[[full._offsets[n] + j for n in head.names for j in range(full._theta[n].numel())]]
    close(head.param_gradients(data), full.param_gradients(data)[:, cols], TORCH["autograd"])
    with pytest.raises(ModelError, match=r"params: \['nope'\] match no parameter"):
        TorchModel(net, "logloss", params=["nope"])


@pytest.mark.parametrize("name", ["ranknet", "lambdarank", "listnet"])
def test_ranking_gradients_sum_to_each_query_gradient(name):
    data = tabular(n=22, group=True)
    tm = TorchModel(TabularNet().double(), name, batch_size=5)  # chunks keep whole query groups
    th = {n: t.clone().requires_grad_(True) for n, t in tm._theta.items()}
    s = torch.func.functional_call(tm.module, {**tm._const, **th}, (torch.as_tensor(data.X),)).reshape(-1)
    L = torch_loss(tm.objective)(data.y, s, data.group_bounds, data.weights).sum()
    ref = np.concatenate([g.reshape(-1).numpy() for g in torch.autograd.grad(L, [th[n] for n in tm.names])])
    close(data.weights @ tm.param_gradients(data), ref, TORCH["autograd"])


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_torch_losses_have_the_numpy_definitions(name):
    rng = np.random.default_rng(3)
    sizes = [1, 3, 5, 4, 6, 2]
    n, b = sum(sizes), np.r_[0, np.cumsum(sizes)]
    obj = get_objective(name)
    K = obj.n_outputs
    y = rng.integers(0, K if K > 1 else (2 if name == "logloss" else 4), n).astype(float)
    s = rng.normal(size=(n, K)) if K > 1 else rng.normal(size=n)
    w = rng.uniform(0.5, 2, n)
    w[3] = 0.0
    st = torch.tensor(s, requires_grad=True)
    shares = torch_loss(obj)(y, st, b, w)
    shares.sum().backward()
    kw = {"weight": w} if obj.grouped else {}
    close(shares.detach().numpy(), w * obj.loss(y, s, b, **kw), TORCH["autograd"])
    lam = obj.gradient(y, s, b, **kw)
    close(st.grad.numpy(), (w[:, None] * lam) if K > 1 else w * lam, TORCH["autograd"])


def test_hessian_vector_products_match_autograd_hessian():
    data = tabular(n=12, weights=True)
    tm = TorchModel(TabularNet().double(), "logloss", c=0.7, weight_decay={"body": 0.3}, batch_size=5)
    th0 = [tm._theta[n] for n in tm.names]

    def J(*flat):
        th = dict(zip(tm.names, flat))
        s = torch.func.functional_call(tm.module, {**tm._const, **th}, (torch.as_tensor(data.X),)).reshape(-1)
        reg = sum(0.5 * 0.3 * (th[n] ** 2).sum() for n in tm.names if n.startswith("body"))
        return 0.7 * torch_loss(tm.objective)(data.y, s, None, data.weights).sum() + reg

    blocks = torch.autograd.functional.hessian(J, tuple(th0))
    H = np.block([[blocks[i][j].reshape(th0[i].numel(), th0[j].numel()).numpy() for j in range(len(th0))]
                  for i in range(len(th0))])
    close(tm.hessian(data), H, TORCH["autograd"])
    ggn = TorchModel(TabularNet().double(), "logloss", c=0.7, weight_decay={"body": 0.3}, curvature="ggn")
    assert np.linalg.eigvalsh(ggn.hessian(data)).min() > -1e-10  # Gauss–Newton: positive semi-definite
    assert abs(tm.hessian_trace(data) - np.trace(H)) <= 1e-9 * abs(np.trace(H))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, "fp32"), (torch.bfloat16, "bf16")])
def test_lower_precisions_agree_with_float64(dtype, tol):
    data = tabular(n=30)
    ref = TorchModel(TabularNet().double(), "logloss")
    low = TorchModel(TabularNet(), "logloss", dtype=dtype)
    assert low.dtype == dtype
    close(low.scores(data), ref.scores(data), TORCH[tol])
    v = np.random.default_rng(0).normal(size=ref.p)
    close(low.gradient_dot(data, v), ref.gradient_dot(data, v), TORCH[tol])
    close(low.gradient_sq_norms(data), ref.gradient_sq_norms(data), TORCH[tol])


def test_bad_outputs_and_inputs_are_user_errors():
    data = tabular()
    with pytest.raises(ModelError, match=r"returned scores of shape \(23, 3\) for 23 rows; expected \(23,\)"):
        TorchModel(TabularNet(3).double(), "logloss").scores(data)
    with pytest.raises(ss.MethodError, match="newton_loo needs a linear model"):
        ss.score("newton_loo", TorchModel(TabularNet().double(), "logloss"), data)
    narrow = ss.from_arrays(np.zeros((4, 1)), np.array([0.0, 1, 0, 1]), name="narrow.parquet")
    with pytest.raises(ss.DataError, match=r"narrow.parquet: the torch model could not score its rows \(1 feature"):
        ss.score("grad_norm", TorchModel(TabularNet().double(), "logloss"), narrow)


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.a, self.b = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)

    def forward(self, xa, xb):
        return (torch.tanh(self.a(xa)) * self.b(xb)).sum(dim=1)


def test_custom_inputs_with_several_tensors():
    data = tabular()
    split = lambda X: (torch.as_tensor(X[:, :2]), torch.as_tensor(X[:, 2:]))  # noqa: E731
    tm = TorchModel(TwoInputs().double(), "logloss", inputs=split, batch_size=6)
    th = {n: t.clone().requires_grad_(True) for n, t in tm._theta.items()}
    rows = []
    for i in range(data.n):
        s = torch.func.functional_call(tm.module, th, split(data.X[i:i + 1])).reshape(1)
        g = torch.autograd.grad(torch_loss(tm.objective)(data.y[i:i + 1], s, None, np.ones(1)).sum(),
                                [th[n] for n in tm.names])
        rows.append(np.concatenate([x.reshape(-1).numpy() for x in g]))
    close(tm.param_gradients(data), np.array(rows), TORCH["autograd"])


def test_bare_modules_are_wrapped_and_torch_is_optional(monkeypatch):
    import sys

    data = tabular(weights=False)
    net = TabularNet().double()
    close(ss.score("grad_norm", net, data).values,
          ss.score("grad_norm", TorchModel(net, "logloss"), data).values, TORCH["autograd"])
    assert ss.wrap_model(TabularNet(3).double(), data).objective.name == "softmax"
    net.objective = "squared_error"
    assert ss.wrap_model(net, data).objective.name == "squared_error"
    fake = type("Module", (), {"__module__": "torch.nn.modules.module"})()
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ss.MissingDependencyError, match=r"pip install 'samplescope\[torch\]'"):
        ss.wrap_model(fake, data)
