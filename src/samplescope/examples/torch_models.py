"""Reference torch models for search and recommendation, used in the examples and the tests.

Every model maps a batch of rows of ``Dataset.X`` (float; id columns hold integer codes) to raw scores, so
that :class:`~samplescope.models.torch_adapter.TorchModel` adapts it with the default ``inputs``:

* :class:`LogisticRegressionNet` — ``s = x·w + b`` (``K`` outputs for softmax): the linear models of
  :mod:`samplescope.models.linear` written in torch; :func:`torch_logistic` builds it from a
  :class:`~samplescope.models.linear.LinearModel` with the same objective, so every method must agree.
* :class:`MLP` — a multilayer perceptron on numeric features.
* :class:`DeepFM` — Guo et al. 2017, "DeepFM: A Factorization-Machine based Neural Network for CTR
  Prediction": a first-order term, a factorisation machine and an MLP over shared field embeddings
  (one ``nn.Embedding`` for all categorical fields; id columns first, numeric columns after).
* :class:`MatrixFactorization` — ``s = p_u·q_i + b_u + b_i + b`` on ``[user, item]`` id columns
  (Koren, Bell & Volinsky 2009), for implicit feedback.
* :class:`CrossEncoder` — a small transformer encoder over the tokens of ``[CLS] query [SEP] item``
  (id columns, 0 = padding), scoring the pair from the ``[CLS]`` state (Nogueira & Cho 2019). Its attention is
  written out (no fused kernels) so ``torch.func.vmap`` computes per-sample gradients through it.

Each module carries an ``objective`` attribute (the samplescope objective name it is trained with), which
``samplescope.wrap_model`` and the CLI's ``--model torch:module:factory`` read.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np

from samplescope.errors import require

torch = require("torch", "torch")
nn = torch.nn

__all__ = ["LogisticRegressionNet", "MLP", "DeepFM", "MatrixFactorization", "CrossEncoder", "torch_logistic",
           "mlp", "train_module"]


class LogisticRegressionNet(nn.Module):
    """``s = x W + b`` with ``K`` outputs (``objective``: ``logloss``, ``squared_error`` or ``softmax``)."""

    def __init__(self, n_features: int, n_outputs: int = 1, *, bias: bool = True, objective: str = "logloss"):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs, bias=bias)
        self.objective = objective

    def forward(self, x):
        return self.linear(x)


class MLP(nn.Module):
    """A ReLU perceptron ``n_features → hidden... → n_outputs``."""

    def __init__(self, n_features: int, hidden: Sequence[int] = (32, 16), n_outputs: int = 1, *,
                 objective: str = "logloss", seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        sizes = [n_features, *hidden]
        layers: list = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_outputs))
        self.net = nn.Sequential(*layers)
        self.objective = objective

    def forward(self, x):
        return self.net(x)


class DeepFM(nn.Module):
    """DeepFM over ``len(cardinalities)`` categorical id columns followed by ``n_numeric`` numeric ones."""

    def __init__(self, cardinalities: Sequence[int], n_numeric: int = 0, *, dim: int = 8,
                 hidden: Sequence[int] = (32, 16), seed: int = 0, objective: str = "logloss"):
        super().__init__()
        torch.manual_seed(seed)
        self.n_fields, self.n_numeric = len(cardinalities), int(n_numeric)
        self.register_buffer("offsets", torch.as_tensor(np.r_[0, np.cumsum(cardinalities)[:-1]], dtype=torch.long))
        total = int(np.sum(cardinalities))
        self.first = nn.Embedding(total, 1)
        self.embed = nn.Embedding(total, dim)
        nn.init.normal_(self.first.weight, std=0.01)
        nn.init.normal_(self.embed.weight, std=0.1)
        self.numeric = nn.Linear(self.n_numeric, 1) if self.n_numeric else None
        sizes = [self.n_fields * dim + self.n_numeric, *hidden]
        layers: list = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.deep = nn.Sequential(*layers)
        self.objective = objective

    def forward(self, x):
        ids = x[:, :self.n_fields].long() + self.offsets
        num = x[:, self.n_fields:]
        e = self.embed(ids)  # (B, F, D)
        fm = 0.5 * (e.sum(dim=1) ** 2 - (e * e).sum(dim=1)).sum(dim=1)
        out = self.first(ids).sum(dim=(1, 2)) + fm
        if self.numeric is not None:
            out = out + self.numeric(num).reshape(-1)
        return out + self.deep(torch.cat([e.flatten(1), num], dim=1)).reshape(-1)


class MatrixFactorization(nn.Module):
    """``s(u, i) = p_u · q_i + b_u + b_i + b`` on ``[user, item]`` integer id columns."""

    def __init__(self, n_users: int, n_items: int, dim: int = 16, *, seed: int = 0, objective: str = "logloss"):
        super().__init__()
        torch.manual_seed(seed)
        self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        self.user_bias, self.item_bias = nn.Embedding(n_users, 1), nn.Embedding(n_items, 1)
        for t in (self.user, self.item):
            nn.init.normal_(t.weight, std=0.1)
        for t in (self.user_bias, self.item_bias):
            nn.init.zeros_(t.weight)
        self.bias = nn.Parameter(torch.zeros(()))
        self.objective = objective

    def forward(self, x):
        u, i = x[:, 0].long(), x[:, 1].long()
        dot = (self.user(u) * self.item(i)).sum(dim=1)
        return dot + self.user_bias(u).reshape(-1) + self.item_bias(i).reshape(-1) + self.bias


class _Block(nn.Module):
    """Pre-norm transformer block with the attention written out (vmap-friendly, no fused kernels)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, h, keep):
        B, L, D = h.shape
        q, k, v = self.qkv(self.norm1(h)).reshape(B, L, 3, self.heads, D // self.heads).unbind(dim=2)
        att = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(D // self.heads)
        att = att.masked_fill(~keep[:, None, None, :], -1e9).softmax(dim=-1)
        h = h + self.proj(torch.einsum("bhlm,bmhd->blhd", att, v).reshape(B, L, D))
        return h + self.ff(self.norm2(h))


class CrossEncoder(nn.Module):
    """A small transformer cross-encoder over token-id columns (0 = padding, the first token is ``[CLS]``)."""

    def __init__(self, vocab_size: int, max_len: int, *, dim: int = 16, heads: int = 2, layers: int = 1,
                 seed: int = 0, objective: str = "listnet"):
        super().__init__()
        torch.manual_seed(seed)
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList([_Block(dim, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)
        self.objective = objective

    def forward(self, x):
        ids = x.long()
        keep = ids != 0
        h = self.tokens(ids) + self.position.weight[: ids.shape[1]]
        for block in self.blocks:
            h = block(h, keep)
        return self.head(self.norm(h[:, 0])).reshape(-1)


def torch_logistic(linear, *, dtype=None):
    """A :class:`~samplescope.models.torch_adapter.TorchModel` of a :class:`LinearModel` (same parameters,
    objective, ``c`` and L2 strength on the weights only), the reference the tests compare with."""
    from samplescope.models.torch_adapter import TorchModel

    dtype = dtype or torch.float64
    K = linear.n_outputs
    net = LogisticRegressionNet(linear.n_features, K, bias=linear.fit_intercept, objective=linear.objective.name)
    net = net.to(dtype)
    with torch.no_grad():
        net.linear.weight.copy_(torch.as_tensor(linear.coef.T))
        if linear.fit_intercept:
            net.linear.bias.copy_(torch.as_tensor(linear.intercept))
    return TorchModel(net, linear.objective, c=linear.c, weight_decay={"linear.weight": linear.alpha},
                      name=f"torch-{linear.name}")


def mlp(n_features: int) -> MLP:
    """Factory for ``samplescope score --model torch:samplescope.examples.torch_models:mlp``."""
    return MLP(n_features)


def train_module(model, data, *, epochs: int = 20, lr: float = 1e-2, batch_size: int = 256, seed: int = 0,
                 snapshots: int = 0):
    """Train a :class:`TorchModel`'s counted parameters with Adam on ``J`` (shuffled minibatches, seeded).

    With ``snapshots`` > 0 the epochs run in that many segments (Adam restarts at each) and the parameters
    after each segment are kept as ``checkpoints`` ``(state_dict, lr)`` of the returned adapter, for
    ``tracin`` and ``trak``.
    """
    m = copy.copy(model)
    m.batch_size = int(batch_size)
    segments = max(1, int(snapshots))
    ckpts = []
    for k in range(segments):
        n_ep = epochs // segments + (1 if k < epochs % segments else 0)
        m.refit_options = {**model.refit_options, "optimizer": "adam", "epochs": n_ep, "lr": lr, "seed": seed + k}
        m = m.refit(data)
        if snapshots:
            ckpts.append((m.state_dict(), float(lr)))
    out = model.with_params(m.state_dict())
    out.checkpoints = ckpts
    return out
