"""Any torch ``nn.Module`` that maps a batch to scores, seen through the adapter capabilities.

The module scores a batch of rows of ``data.X`` (turned into its input by ``inputs``; default: a float
tensor of the rows) and is trained on a samplescope objective. The training objective is

    J(θ) = c · Σ_i w_i ℓ(y_i, s_i(θ)) + ½ Σ_j λ_j θ_j²        (λ_j = weight_decay of parameter j)

over the parameters that *count* (``params``: names or prefixes of modules/parameters, or the last ``k``
modules); the others are constants. Everything a method needs is computed with ``torch.func``:

* per-sample gradients ``g_i = ∂(λ_iᵀ s_i)/∂θ`` with ``λ_i = ∂ℓ/∂s_i`` from the numpy objective (exact for
  pointwise and ranking objectives alike: they sum to each query group's gradient), by
  ``vmap(grad(functional_call))`` over chunks of rows; never an ``n × p`` matrix, only ``chunk × p``;
* embedding tables (``nn.Embedding`` weights that count) sparsely: a forward hook adds a zero tensor
  ``ε`` to the table's output and the gradient with respect to ``ε`` gives, per sample, the rows touched and
  their gradients; dot products, norms and projections then gather only those rows (``padding_idx``
  rows get no gradient, as in torch);
* Hessian-vector products by reverse-over-reverse (``grad(θ ↦ ∇J(θ)·v)``, several ``v`` at once under
  ``vmap``), or Gauss–Newton products ``Jᵀ ∇²_s L J v`` (``jvp``, then ``vjp``) with ``curvature="ggn"``
  (positive semi-definite for non-convex models), through the torch version of the objective
  (:mod:`samplescope.models.torch_objectives`), in query-group-aligned chunks; solvers: exact (a
  pseudo-inverse), CG, LiSSA, Arnoldi (:mod:`samplescope.models.ihvp`); an embedding's ``padding_idx`` row
  is no parameter (torch never moves it) and gets no curvature;
* ``refit``: full-batch L-BFGS (strong Wolfe line search, warm start, ``max_iter`` 500, gradient tolerance
  1e-9) for small models, or ``optimizer="adam"`` (``epochs`` over shuffled minibatches of ``batch_size``,
  learning rate ``lr``, seeded) — ``refit_options`` sets them.

The module is used in ``eval`` mode (dropout off, batch-norm statistics fixed) and never modified, except
that it is copied when ``device``/``dtype`` ask for a conversion. ``checkpoints=[(state_dict, lr), ...]``
are parameter snapshots from training, for ``tracin`` and ``trak``.
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, ModelError, require
from samplescope.models.base import ModelAdapter
from samplescope.models.ihvp import EigenSolver, dense_hessian, make_solver
from samplescope.objectives import get_objective
from samplescope.objectives.base import Objective

torch = require("torch", "torch")
from torch.func import functional_call, grad, jvp, vjp, vmap  # noqa: E402
from torch.utils._pytree import tree_map  # noqa: E402

from samplescope.models.torch_objectives import torch_loss  # noqa: E402

__all__ = ["TorchModel"]

_GRAD_BUDGET = 2**27  # bytes of per-sample gradients held at once


class _Tap:
    """Forward hooks on embedding modules: record the indices each call sees, or add ``ε`` to its output."""

    def __init__(self, modules: dict):
        self.modules, self.mode, self.eps, self.seen, self.calls = modules, None, None, {}, Counter()

    @contextmanager
    def active(self, mode: str, eps: dict | None = None):
        handles = [m.register_forward_hook(self._hook(name)) for name, m in self.modules.items()]
        self.mode, self.eps, self.seen, self.calls = mode, eps, {}, Counter()
        try:
            yield self
        finally:
            for h in handles:
                h.remove()
            self.mode, self.eps = None, None

    def _hook(self, name: str):
        def fn(mod, inp, out):
            key = f"{name}#{self.calls[name]}"
            self.calls[name] += 1
            if self.mode == "record":
                self.seen[key] = (name, inp[0].detach(), tuple(out.shape))
            elif self.mode == "perturb":
                return out + self.eps[key]
            return None
        return fn


class TorchModel(ModelAdapter):
    """A torch module and its training objective (see the module docstring).

    Args:
        module: an ``nn.Module``; ``module(inputs(X_rows))`` returns scores ``(B,)``, ``(B, 1)`` or ``(B, K)``.
        objective: a samplescope objective or its name (``logloss``, ``squared_error``, ranking names...).
        params: which parameters count: ``None`` = every parameter with ``requires_grad``; names or prefixes
            (``["head", "tower.2"]``); or an int ``k`` = the last ``k`` modules that own parameters.
        c: the loss scale in ``J`` (``1/n`` for a mean training loss).
        weight_decay: ``λ`` for every parameter that counts, or ``{name_or_prefix: λ}`` (others 0).
        batch_size: rows per chunk (per-sample gradients are further capped at 128 MB a chunk).
        device, dtype: where and in which precision to compute (default: the module's); fp32, fp64, bf16.
        checkpoints: ``[(state_dict, learning_rate), ...]`` snapshots from training (``tracin``, ``trak``).
        inputs: ``fn(X_rows: np.ndarray) -> tensor | tuple of tensors``; default a float tensor of the rows.
        sparse_embeddings: treat ``nn.Embedding`` tables sparsely (only the rows a sample touches).
        curvature: ``hessian`` (exact second derivatives) or ``ggn`` (Gauss–Newton).
        polish: before second-order methods, move the counted parameters to the optimum of ``J`` with
            ``refit`` (convex models such as logistic regression); default: use them as they are.
        refit_options: ``optimizer`` (``lbfgs``/``adam``), ``max_iter``, ``tol``, ``lr``, ``epochs``, ``seed``.
        name: the model kind shown in results.
    """

    kind = "torch"
    capabilities = frozenset({"scores", "param_gradients", "hessian", "refit", "input_gradient"})

    def __init__(self, module, objective: Objective | str, *, params: Sequence[str] | int | None = None,
                 c: float = 1.0, weight_decay: float | dict = 0.0, batch_size: int = 512, device=None, dtype=None,
                 checkpoints: Sequence | None = None, inputs: Callable | None = None, sparse_embeddings: bool = True,
                 curvature: str = "hessian", polish: bool = False, refit_options: dict | None = None,
                 name: str = "torch"):
        if not isinstance(module, torch.nn.Module):
            raise ModelError(f"TorchModel needs a torch.nn.Module; found {type(module).__name__}")
        self.objective = get_objective(objective) if isinstance(objective, str) else objective
        if curvature not in ("hessian", "ggn"):
            raise ModelError(f"curvature must be 'hessian' or 'ggn'; found {curvature!r}")
        if int(batch_size) < 1:
            raise ModelError(f"batch_size must be >= 1; found {batch_size}")
        first = next(iter(module.parameters()), None)
        self.device = torch.device(device) if device is not None else (first.device if first is not None
                                                                         else torch.device("cpu"))
        self.dtype = dtype if dtype is not None else (first.dtype if first is not None else torch.float32)
        if first is not None and (first.device != self.device or first.dtype != self.dtype):
            module = copy.deepcopy(module).to(device=self.device, dtype=self.dtype)
        self.module = module.eval()
        self.c, self.batch_size, self.curvature, self.polish = float(c), int(batch_size), curvature, bool(polish)
        self.weight_decay, self.spec, self.name = weight_decay, params, name
        self.inputs = inputs
        self.refit_options = dict(refit_options or {})
        self.sparse_embeddings = bool(sparse_embeddings)
        self._select(params)
        self.checkpoints = [(sd, float(lr)) for sd, lr in (checkpoints or [])]
        self._optimum: dict[str, TorchModel] = {}
        self._projections: dict = {}
        self._fp: str | None = None

    # ------------------------------------------------------------------ parameters
    def _select(self, spec) -> None:
        named = dict(self.module.named_parameters())
        if spec is None:
            names = [n for n, t in named.items() if t.requires_grad]
        elif isinstance(spec, int) and not isinstance(spec, bool):
            owners = [m for m, mod in self.module.named_modules() if any(True for _ in mod.parameters(recurse=False))]
            if not 1 <= spec <= len(owners):
                raise ModelError(f"params={spec}: expected 1..{len(owners)} (the modules that own parameters)")
            keep = owners[-spec:]
            names = [n for n in named if n.rpartition(".")[0] in keep]
        else:
            pats = [spec] if isinstance(spec, str) else list(spec)
            names = [n for n in named if any(n == p or n.startswith(p + ".") for p in pats)]
            missing = [p for p in pats if not any(n == p or n.startswith(p + ".") for n in named)]
            if missing:
                tops = sorted({n.split(".")[0] for n in named})
                raise ModelError(f"params: {missing} match no parameter of the module; expected names or prefixes "
                                 f"such as {tops}")
        if not names:
            raise ModelError("the module has no parameters that count (none requires grad)")
        conv = dict(dtype=self.dtype, device=self.device)
        self.names = names
        self._theta = {n: named[n].detach().to(**conv) for n in names}
        self._const = {n: t.detach() for n, t in named.items() if n not in self._theta}
        self._const.update({n: b for n, b in self.module.named_buffers()})
        self._sizes = [self._theta[n].numel() for n in names]
        self._offsets = dict(zip(names, np.cumsum([0] + self._sizes[:-1]).tolist()))
        self.p = int(sum(self._sizes))
        mods = dict(self.module.named_modules())
        embeddings = {n: mods[n.rpartition(".")[0]] for n in names if n.endswith("weight")
                      and isinstance(mods.get(n.rpartition(".")[0]), torch.nn.Embedding)}
        self._tables = embeddings if self.sparse_embeddings else {}
        # torch never moves an embedding's padding row: it is no parameter (masked in Hessian products too)
        self._padding = {n: m.padding_idx for n, m in embeddings.items() if m.padding_idx is not None}
        self._dense = [n for n in names if n not in self._tables]
        self._dense_index = np.concatenate([np.arange(self._offsets[n], self._offsets[n] + self._theta[n].numel())
                                            for n in self._dense]) if self._dense else np.zeros(0, dtype=np.int64)
        self._tap = _Tap({n.rpartition(".")[0]: m for n, m in self._tables.items()})
        self._reg = {n: self._decay_of(n) for n in names}

    def _decay_of(self, name: str) -> float:
        wd = self.weight_decay
        if not isinstance(wd, dict):
            return float(wd)
        hits = [p for p in wd if name == p or name.startswith(p + ".")]
        return float(wd[max(hits, key=len)]) if hits else 0.0

    def decay_vector(self) -> np.ndarray:
        """The L2 strength ``λ_j`` of every counted parameter, flat ``(p,)``."""
        return np.concatenate([np.full(k, self._reg[n]) for n, k in zip(self.names, self._sizes)])

    def with_params(self, theta: dict) -> "TorchModel":
        """A copy with other values of the parameters that count (same module, objective, options)."""
        new = copy.copy(self)
        new._theta = {n: torch.as_tensor(theta[n]).detach().to(dtype=self.dtype, device=self.device).reshape(
            self._theta[n].shape) for n in self.names}
        new._optimum, new._fp = {}, None
        return new

    def state_dict(self) -> dict:
        """The module's parameters and buffers at this adapter's values (a copy; loadable by the module)."""
        return {n: t.detach().clone() for n, t in {**self._const, **self._theta}.items()}

    def flat(self, d: dict | None = None) -> np.ndarray:
        """The counted parameters (or a dict shaped like them) as one float64 vector ``(p,)``."""
        d = self._theta if d is None else d
        return np.concatenate([d[n].detach().reshape(-1).to("cpu", torch.float64).numpy() for n in self.names])

    def unflat(self, v: np.ndarray, dtype=None) -> dict:
        """A vector ``(p,)`` (or ``(p, m)``: a leading ``m`` axis per tensor) as a dict of tensors."""
        v = np.asarray(v, dtype=np.float64)
        out = {}
        for n, size in zip(self.names, self._sizes):
            o, part = self._offsets[n], v[self._offsets[n]:self._offsets[n] + size]
            shape = self._theta[n].shape if v.ndim == 1 else (v.shape[1],) + tuple(self._theta[n].shape)
            part = part if v.ndim == 1 else part.T
            out[n] = torch.as_tensor(np.ascontiguousarray(part), device=self.device,
                                     dtype=dtype or self._acc).reshape(shape)
        return out

    @property
    def _acc(self):
        return torch.float64 if self.dtype == torch.float64 else torch.float32

    def params(self) -> dict:
        spec = self.spec if self.spec is None or isinstance(self.spec, int) else ",".join(
            [self.spec] if isinstance(self.spec, str) else self.spec)
        return {"model": self.name, "objective": self.objective.name, "c": self.c,
                "weight_decay": self.weight_decay if not isinstance(self.weight_decay, dict) else repr(
                    sorted(self.weight_decay.items())),
                "params": "all" if spec is None else spec, "p": self.p, "curvature": self.curvature,
                "dtype": str(self.dtype).replace("torch.", "")}

    def fingerprint(self) -> str:
        if self._fp is None:
            h = hashlib.sha256(repr(sorted(self.params().items())).encode())
            for d in (self._theta, self._const):
                for n in sorted(d):
                    h.update(n.encode())
                    h.update(d[n].detach().to("cpu").reshape(-1).view(torch.uint8).numpy().tobytes())
            self._fp = h.hexdigest()[:16]
        return self._fp

    def __repr__(self) -> str:  # pragma: no cover
        return f"TorchModel({type(self.module).__name__}, objective={self.objective!r}, p={self.p}, c={self.c:g})"

    # ------------------------------------------------------------------ data
    def _x(self, data: Dataset, s: int, e: int):
        X = data.X[s:e]
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        if self.inputs is not None:
            return tree_map(lambda t: t.to(self.device) if torch.is_tensor(t) else t, self.inputs(X))
        return torch.as_tensor(X, dtype=self.dtype, device=self.device)

    def chunks(self, data: Dataset, size: int | None = None) -> list[tuple[int, int]]:
        """``(start, stop)`` row ranges of at most ``size`` rows; whole query groups for grouped objectives."""
        size = max(1, int(size or self.batch_size))
        b = data.group_bounds if self.objective.grouped else None
        if b is None:
            return [(s, min(s + size, data.n)) for s in range(0, data.n, size)]
        out, s = [], 0
        while s < data.n:
            e = int(b[max(np.searchsorted(b, s + size, side="right") - 1, np.searchsorted(b, s, side="right"))])
            out.append((s, e))
            s = e
        return out

    def _call(self, theta: dict, x):
        args = x if isinstance(x, tuple) else (x,)
        return functional_call(self.module, {**self._const, **theta}, args)

    def _shape_scores(self, out, B: int):
        K = self.objective.n_outputs
        if out.shape[0] != B or out.numel() != B * K:
            raise ModelError(f"the torch module returned scores of shape {tuple(out.shape)} for {B} rows; expected "
                             f"({B},) or ({B}, {K}) for objective '{self.objective.name}'")
        return out.reshape(B) if K == 1 else out.reshape(B, K)

    def check_data(self, data: Dataset) -> None:
        if self.objective.grouped:
            self.objective.check_groups(data.group_bounds, n=data.n, source=data.name, column=data.group_name)
        super().check_data(data)
        try:
            with torch.no_grad():
                self._shape_scores(self._call(self._theta, self._x(data, 0, min(2, data.n))), min(2, data.n))
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the user's module on the user's data
            raise DataError(f"{data.name}: the torch model could not score its rows ({data.n_features} feature "
                            f"columns); found {type(exc).__name__}: {exc}") from None

    def scores(self, data: Dataset) -> np.ndarray:
        parts = []
        with torch.no_grad():
            for s, e in self.chunks(data):
                out = self._shape_scores(self._call(self._theta, self._x(data, s, e)), e - s)
                parts.append(out.to("cpu", torch.float64).numpy())
        return np.concatenate(parts)

    def score_gradients(self, data: Dataset, S: np.ndarray | None = None) -> np.ndarray:
        """``λ_i = ∂ℓ/∂s_i`` as ``(n, K)``."""
        S = self.scores(data) if S is None else S
        return self.objective.gradient(data.y, S, data.group_bounds, **self._w(data)).reshape(data.n, -1)

    def _w(self, data: Dataset) -> dict:
        """Ranking objectives take the weights (absent documents, pair weights); pointwise ones do not."""
        return {"weight": data.weight} if self.objective.grouped and data.weight is not None else {}

    def losses(self, data: Dataset) -> np.ndarray:
        return self.objective.loss(data.y, self.scores(data), data.group_bounds, **self._w(data))

    def loss_scale(self, data: Dataset) -> np.ndarray:
        """The factor of each ``ℓ_i`` in ``J``: ``c · w_i``."""
        return self.c * data.weights

    # ------------------------------------------------------------------ per-sample gradients
    def _grad_rows(self, K: int = 1) -> int:
        per_row = max(1, len(self._dense_index)) * K * torch.finfo(self._acc).bits // 8
        return max(1, min(self.batch_size, _GRAD_BUDGET // per_row))

    def _per_sample(self, theta: dict, x, lam, jacobian: bool = False):
        """Per-sample gradients of ``λ_iᵀ s_i`` (or, with ``jacobian``, of each of the K scores).

        Returns ``(G, sparse)``: ``G`` dense ``(B, p_dense)`` (``(B, K, p_dense)``), ``sparse`` a dict
        ``name -> (idx (B, T), delta (B, T, D) or (B, K, T, D))`` for each embedding table that counts.
        """
        B = lam.shape[0]
        eps, keys = {}, {}
        if self._tables:
            with self._tap.active("record"), torch.no_grad():
                self._call(theta, x)
            for key, (mod, idx, shape) in self._tap.seen.items():
                if shape[0] != B or idx.shape[0] != B:
                    raise ModelError(f"embedding '{mod}' was called on a batch of {idx.shape[0]} rows for {B} samples; "
                                     "sparse embeddings need the batch as the first axis (or sparse_embeddings=False)")
                eps[key] = torch.zeros((B, 1) + shape[1:], dtype=self.dtype, device=self.device)
                keys[key] = (mod + ".weight", idx.reshape(B, -1))
        dense = {n: theta[n] for n in self._dense}
        tables = {n: theta[n] for n in self._tables}

        def f(d, ep, xi, li):
            xi = tree_map(lambda t: t.unsqueeze(0) if torch.is_tensor(t) else t, xi)
            with self._tap.active("perturb", ep):
                s = functional_call(self.module, {**self._const, **tables, **d}, xi if isinstance(xi, tuple) else (xi,))
            return (s.reshape(-1) * li).sum()

        g = grad(f, argnums=(0, 1))
        if jacobian:
            eye = torch.eye(lam.shape[1], dtype=self.dtype, device=self.device)
            g = vmap(g, in_dims=(None, None, None, 0))
            gd, ge = vmap(g, in_dims=(None, 0, 0, None))(dense, eps, x, eye)
        else:
            gd, ge = vmap(g, in_dims=(None, 0, 0, 0))(dense, eps, x, lam.to(self.dtype))
        lead = (B, lam.shape[1]) if jacobian else (B,)
        G = torch.cat([gd[n].reshape(*lead, -1).to(self._acc) for n in self._dense], dim=-1) if self._dense else \
            torch.zeros(lead + (0,), dtype=self._acc, device=self.device)
        sparse: dict = {}
        for key, (name, idx) in keys.items():
            D = self._theta[name].shape[1]
            delta = ge[key].reshape(*lead, idx.shape[1], D).to(self._acc)
            pad = self._tables[name].padding_idx
            if pad is not None:
                mask = (idx != pad).to(delta.dtype)
                delta = delta * (mask[:, None, :, None] if jacobian else mask[:, :, None])
            if name in sparse:
                i0, d0 = sparse[name]
                idx, delta = torch.cat([i0, idx], 1), torch.cat([d0, delta], -2)
            sparse[name] = (idx, delta)
        return G, sparse

    def _gradient_chunks(self, data: Dataset, K: int = 1, jacobian: bool = False, lam: np.ndarray | None = None):
        """Yield ``(s, e, G, sparse)`` over chunks of ``data`` (see :meth:`_per_sample`)."""
        if lam is None and not jacobian:
            lam = self.score_gradients(data)
        for s, e in self.chunks(data, self._grad_rows(K)):
            L = torch.zeros((e - s, K)) if jacobian else torch.as_tensor(lam[s:e], device=self.device)
            yield (s, e) + self._per_sample(self._theta, self._x(data, s, e), L, jacobian)

    def param_gradients(self, data: Dataset) -> np.ndarray:
        """Dense per-sample gradients ``(n, p)`` (tests and small models only: memory n·p)."""
        out = np.zeros((data.n, self.p))
        for s, e, G, sparse in self._gradient_chunks(data):
            out[s:e, self._dense_index] = G.to("cpu", torch.float64).numpy()
            for name, (idx, delta) in sparse.items():
                o, D = self._offsets[name], delta.shape[-1]
                cols = (o + idx[:, :, None].cpu().numpy() * D + np.arange(D)).reshape(e - s, -1)
                np.add.at(out[s:e], (np.arange(e - s)[:, None], cols),
                          delta.reshape(e - s, -1).to("cpu", torch.float64).numpy())
        return out

    def _split(self, V: np.ndarray) -> tuple:
        """A ``(p, r)`` matrix as its dense rows ``(p_dense, r)`` and each table ``(V, D, r)`` (tensors)."""
        vd = torch.as_tensor(V[self._dense_index], dtype=self._acc, device=self.device)
        vt = {n: torch.as_tensor(V[self._offsets[n]:self._offsets[n] + t.numel()], dtype=self._acc,
                                 device=self.device).reshape(t.shape[0], t.shape[1], -1)
              for n, t in ((n, self._theta[n]) for n in self._tables)}
        return vd, vt

    def gradient_dot(self, data: Dataset, v: np.ndarray) -> np.ndarray:
        """``g_i · v`` for every row; ``v`` of shape ``(p,)`` or ``(p, r)`` (then ``(n, r)``)."""
        v = np.asarray(v, dtype=np.float64)
        V = v.reshape(self.p, -1)
        vd, vt = self._split(V)
        out = np.empty((data.n, V.shape[1]))
        for s, e, G, sparse in self._gradient_chunks(data):
            acc = G @ vd
            for name, (idx, delta) in sparse.items():
                acc = acc + torch.einsum("btd,btdr->br", delta, vt[name][idx])
            out[s:e] = acc.to("cpu", torch.float64).numpy()
        return out[:, 0] if v.ndim == 1 else out

    def gradient_sq_norms(self, data: Dataset) -> np.ndarray:
        """``‖g_i‖²``; a table row touched twice by one sample counts once, with its summed gradient."""
        out = np.empty(data.n)
        for s, e, G, sparse in self._gradient_chunks(data):
            acc = (G * G).sum(dim=1)
            for idx, delta in sparse.values():
                same = (idx[:, :, None] == idx[:, None, :]).to(delta.dtype)
                acc = acc + (torch.einsum("bsd,btd->bst", delta, delta) * same).sum(dim=(1, 2))
            out[s:e] = acc.to("cpu", torch.float64).numpy()
        return out

    def mean_gradient(self, data: Dataset) -> np.ndarray:
        """Gradient of the weighted mean loss ``Σ w_i ℓ_i / Σ w_i`` over ``data``, flat ``(p,)``."""
        lam = self.score_gradients(data) * (data.weights / data.weights.sum())[:, None]
        total = {n: torch.zeros_like(t, dtype=self._acc) for n, t in self._theta.items()}
        for s, e in self.chunks(data):
            L = torch.as_tensor(lam[s:e], dtype=self.dtype, device=self.device)
            x = self._x(data, s, e)
            g = grad(lambda th: (self._call(th, x).reshape(e - s, -1) * L).sum())(self._theta)
            for n in total:
                total[n] += g[n].to(self._acc)
        return self.flat(total)

    def projected_jacobians(self, data: Dataset, projector):
        """Yield ``(s, e, Ψ)`` with ``Ψ = (∂s_i/∂θ) P`` of shape ``(e − s, K, k)`` (float64), chunk by chunk.

        ``projector`` is a :class:`samplescope.projectors.Projector` over the ``p`` counted parameters;
        table rows are projected from the rows a sample touches only.
        """
        K = self.objective.n_outputs
        dense = self._dense_projection(projector)
        for s, e, G, sparse in self._gradient_chunks(data, K, jacobian=True):
            psi = dense(G)
            for name, (idx, delta) in sparse.items():
                uniq, inv = torch.unique(idx, return_inverse=True)
                D = delta.shape[-1]
                rows = self._offsets[name] + uniq.cpu().numpy()[:, None] * D + np.arange(D)
                Pt = torch.as_tensor(projector.rows(rows.reshape(-1)), dtype=self._acc,
                                     device=self.device).reshape(len(uniq), D, -1)
                psi = psi + torch.einsum("bktd,btdj->bkj", delta, Pt[inv])
            yield s, e, psi.to("cpu", torch.float64).numpy()

    def _dense_projection(self, projector):
        """``G ↦ G P_dense``: ``P``'s rows of the dense parameters, kept on the device when they fit in
        512 MB (per projector), else generated block by block for every chunk."""
        key = (projector.seed, projector.k, projector.kind, projector.p)
        if key in self._projections:
            Pd = self._projections[key]
            return lambda G: G @ Pd
        idx = self._dense_index
        if len(idx) * projector.k * 4 <= 2**29:
            Pd = self._projections.setdefault(key, torch.as_tensor(projector.rows(idx), dtype=self._acc,
                                                                   device=self.device))
            return lambda G: G @ Pd

        def blocks(G):
            out = 0
            for b in range(0, len(idx), 65536):
                P = torch.as_tensor(projector.rows(idx[b:b + 65536]), dtype=self._acc, device=self.device)
                out = out + G[..., b:b + 65536] @ P
            return out
        return blocks

    # ------------------------------------------------------------------ curvature
    def _chunk_objective(self, data: Dataset, s: int, e: int, reference: dict | None = None):
        """``θ ↦ c Σ_{rows s..e} w_i ℓ_i`` and ``s ↦`` the same as a function of the chunk's scores.

        A loss that freezes weights at reference scores (LambdaRank) freezes them at ``reference``
        (default: the model's parameters), i.e. at the point where derivatives are taken."""
        x = self._x(data, s, e)
        y, w = data.y[s:e], data.weights[s:e]
        b = data.group_bounds if self.objective.grouped else None
        b = None if b is None else b[(b >= s) & (b <= e)] - s
        loss = torch_loss(self.objective)
        at = None
        if not getattr(self.objective, "smooth", True):
            with torch.no_grad():
                out = self._shape_scores(self._call(reference or self._theta, x), e - s)
            at = out.to("cpu", torch.float64).numpy()

        def of_scores(S):
            return self.c * loss(y, S.to(self._acc), b, w, at).sum()

        def of_theta(th):
            return of_scores(self._shape_scores(self._call(th, x), e - s))

        return of_theta, of_scores, x

    def _regulariser(self, th: dict):
        return 0.5 * sum(self._reg[n] * (th[n].to(self._acc) ** 2).sum() for n in self.names if self._reg[n])

    def hvp_operator(self, data: Dataset, *, curvature: str | None = None, stochastic: bool = False):
        """The Hessian (or Gauss–Newton matrix) of ``J`` on ``data`` as an operator for the solvers
        (``stochastic``: LiSSA draws one chunk of ``batch_size`` rows per product)."""
        return _HessianOperator(self, data, curvature or self.curvature, stochastic)

    def hessian(self, data: Dataset) -> np.ndarray:
        """The dense Hessian of ``J`` at the parameters, ``(p, p)`` from ``p`` products (``p`` ≤ 8192)."""
        return dense_hessian(self.hvp_operator(data))

    def hessian_solver(self, data: Dataset, *, method: str = "exact", damping: float = 0.0,
                       iterations: int | None = None, rank: int | None = None, seed: int = 0):
        """A solver of ``(H + δI) x = b`` (``exact``, ``cg``, ``lissa`` or ``arnoldi``; see ``models.ihvp``).

        ``exact`` is the pseudo-inverse on the eigenvalues above ``rtol · λ_max`` (``rtol`` 1e-10 in float64,
        1e-4 in lower precisions): exactly flat directions come out of finite-precision products as round-off
        and are dropped; negative eigenvalues (a non-convex model, or parameters away from an optimum) are
        dropped with a warning."""
        op = self.hvp_operator(data)
        if method != "exact":
            return make_solver(method, op, damping=damping, iterations=iterations, rank=rank, seed=seed)
        solver = EigenSolver(dense_hessian(op) + damping * np.eye(self.p),
                             rtol=1e-10 if self.dtype == torch.float64 else 1e-4)
        if solver.negative:
            warnings.warn(f"the Hessian of the training objective has {solver.negative} negative eigenvalue(s) "
                          f"(smallest {solver.eigenvalues[0]:.3g}: a non-convex model or parameters away from an "
                          "optimum); inverting it on its positive eigenvalues only — add damping or use "
                          "curvature='ggn'", RuntimeWarning, stacklevel=3)
        return solver

    def group_gradients(self, data: Dataset) -> np.ndarray:
        """``G_q = Σ_{i∈q} c w_i g_i`` for every query group, ``(n_groups, p)`` (dense: small models)."""
        b = data.group_bounds
        if b is None:
            raise DataError(f"{data.name}: expected query groups (column '{data.group_name}'); found none")
        gidx = np.repeat(np.arange(len(b) - 1), np.diff(b))
        scale = self.loss_scale(data)
        out = np.zeros((len(b) - 1, self.p))
        for s, e in self.chunks(data, max(1, min(self.batch_size, _GRAD_BUDGET // (8 * self.p)))):
            np.add.at(out, gidx[s:e], scale[s:e, None] * self.param_gradients(data.subset(np.arange(s, e))))
        return out

    def hessian_trace(self, data: Dataset, *, probes: int = 64, seed: int = 0) -> float:
        """``tr(H)``: exact from ``p`` products when ``p`` ≤ 1024, else Hutchinson with Rademacher probes."""
        op = self.hvp_operator(data)
        if self.p <= 1024:
            return float(np.trace(dense_hessian(op)))
        Z = np.random.default_rng(seed).choice([-1.0, 1.0], size=(self.p, probes))
        return float(np.einsum("ij,ij->", Z, op.matvec(Z)) / probes)

    def gradient_quadratic(self, data: Dataset, solver) -> np.ndarray:
        """``g_iᵀ H⁻¹ g_i`` without an ``n × n`` matrix: through ``Uᵀg_i`` for a low-rank solver, else chunk
        by chunk (``solve`` of the chunk's gradients)."""
        if hasattr(solver, "low_rank"):
            U, lam = solver.low_rank
            Z = self.gradient_dot(data, U).reshape(data.n, -1)
            return (Z**2 / lam).sum(axis=1)
        out = np.empty(data.n)
        for s, e in self.chunks(data, max(1, min(self.batch_size, _GRAD_BUDGET // (8 * self.p)))):
            G = self.param_gradients(data.subset(np.arange(s, e)))  # whole query groups: same λ_i
            out[s:e] = np.einsum("ij,ji->i", G, solver.solve(G.T))
        return out

    # ------------------------------------------------------------------ inputs
    def input_gradients(self, data: Dataset) -> np.ndarray:
        """Per-sample ``∂s/∂x`` with respect to the float input rows: ``(n, d)`` or ``(n, d, K)``."""
        K = self.objective.n_outputs
        out = np.empty((data.n, data.n_features, K))

        def score(xi):
            return self._call(self._theta, xi.unsqueeze(0)).reshape(-1)

        for s, e in self.chunks(data):
            x = self._x(data, s, e)
            if not torch.is_tensor(x) or not x.is_floating_point():
                raise ModelError("margin needs the score's gradient with respect to a float input tensor; the "
                                 "model's inputs are not one (custom `inputs` or integer ids)")
            J = vmap(torch.func.jacrev(score))(x)  # (B, K, d)
            out[s:e] = J.reshape(e - s, K, -1).transpose(1, 2).to("cpu", torch.float64).numpy()
        if not np.any(out):
            raise ModelError("the torch model's scores do not depend differentiably on its inputs (embedding ids?); "
                             "margin needs ∂s/∂x — use another method for this model")
        return out[:, :, 0] if K == 1 else out

    def input_gradient(self) -> np.ndarray:
        raise ModelError("a torch model has no single input gradient; use input_gradients(data)")

    # ------------------------------------------------------------------ training
    def at_optimum(self, train: Dataset) -> "TorchModel":
        """With ``polish``: the model moved to the optimum of ``J`` on ``train`` by :meth:`refit`; else itself."""
        if not self.polish:
            return self
        key = train.fingerprint()
        if key not in self._optimum:
            self._optimum[key] = self.refit(train)
        return self._optimum[key]

    def refit(self, data: Dataset) -> "TorchModel":
        """Minimise ``J`` on ``data`` (its rows and weights) from the current parameters (see the module docs)."""
        o = {"optimizer": "lbfgs", "max_iter": 500, "tol": 1e-9, "lr": 1e-3, "epochs": 10, "seed": 0,
             **self.refit_options}
        theta = {n: t.detach().clone().requires_grad_(True) for n, t in self._theta.items()}
        leaves = list(theta.values())
        if o["optimizer"] == "lbfgs":
            opt = torch.optim.LBFGS(leaves, lr=1.0, max_iter=int(o["max_iter"]), tolerance_grad=float(o["tol"]),
                                    tolerance_change=1e-15 if self._acc == torch.float64 else 1e-9,
                                    history_size=50, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                value = 0.0
                reg = self._regulariser(theta)
                if torch.is_tensor(reg):
                    reg.backward()
                    value = float(reg.detach())
                ref = {n: t.detach() for n, t in theta.items()}
                for s, e in self.chunks(data):
                    J = self._chunk_objective(data, s, e, ref)[0](theta)
                    J.backward()
                    value += float(J.detach())
                return torch.tensor(value, dtype=self._acc)

            opt.step(closure)
        elif o["optimizer"] == "adam":
            opt = torch.optim.Adam(leaves, lr=float(o["lr"]))
            gen = np.random.default_rng(int(o["seed"]))
            for _ in range(int(o["epochs"])):
                perm = data.subset(gen.permutation(data.n)) if not self.objective.grouped else data
                for s, e in self.chunks(perm):
                    opt.zero_grad()
                    ref = {n: t.detach() for n, t in theta.items()}
                    J = self._chunk_objective(perm, s, e, ref)[0](theta) * (data.n / (e - s)) + self._regulariser(theta)
                    J.backward()
                    opt.step()
        else:
            raise ModelError(f"refit_options optimizer must be 'lbfgs' or 'adam'; found {o['optimizer']!r}")
        return self.with_params({n: t.detach() for n, t in theta.items()})

    # ------------------------------------------------------------------ checkpoints
    def with_state(self, state: dict, what: str = "state_dict") -> "TorchModel":
        """A copy at the values of a ``state_dict`` (every counted parameter; others and buffers when present)."""
        if not isinstance(state, dict):
            raise ModelError(f"{what}: expected a state_dict (name -> tensor); found {type(state).__name__}")
        missing = [n for n in self.names if n not in state]
        if missing:
            raise ModelError(f"{what}: missing parameters {missing[:5]}; expected every counted parameter "
                             f"({len(self.names)}), found keys {sorted(state)[:5]}")
        bad = [n for n in self.names if tuple(state[n].shape) != tuple(self._theta[n].shape)]
        if bad:
            raise ModelError(f"{what}: parameter '{bad[0]}' has shape {tuple(state[bad[0]].shape)}; expected "
                             f"{tuple(self._theta[bad[0]].shape)}")
        m = self.with_params({n: state[n] for n in self.names})
        m._const = {n: (state[n].detach().to(device=self.device, dtype=v.dtype) if n in state else v)
                    for n, v in self._const.items()}
        return m

    def checkpoint_models(self) -> list[tuple["TorchModel", float]]:
        """``[(model at checkpoint t, η_t), ...]`` from ``checkpoints``; ``[]`` without them."""
        return [(self.with_state(sd, f"checkpoint {t}"), lr) for t, (sd, lr) in enumerate(self.checkpoints)]


class _HessianOperator:
    """``V ↦ (∇²J) V`` (or the Gauss–Newton ``Jᵀ ∇²_s L J V``) over ``data`` in chunks, numpy in and out."""

    stochastic = False

    def __init__(self, model: TorchModel, data: Dataset, curvature: str, stochastic: bool = False):
        self.m, self.data, self.curvature, self.p, self.stochastic = model, data, curvature, model.p, stochastic

    def _chunk(self, s: int, e: int, T: dict) -> dict:
        m = self.m
        of_theta, of_scores, x = m._chunk_objective(self.data, s, e)
        theta = m._theta
        if self.curvature == "hessian":  # reverse-over-reverse: no forward-mode decompositions (much faster)
            def gv(th, t):
                g = grad(of_theta)(th)
                return sum((g[n] * t[n]).sum() for n in g)

            return vmap(grad(gv), in_dims=(None, 0))(theta, T)

        def f(th):
            return m._shape_scores(m._call(th, x), e - s)

        def one(t):
            S, JT = jvp(f, (theta,), (t,))
            _, AJ = jvp(grad(of_scores), (S,), (JT,))
            return vjp(f, theta)[1](AJ.to(S.dtype))[0]

        return vmap(one)(T)

    def sample_matvec(self, V: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An unbiased minibatch estimate of ``H V``: one random chunk, scaled by the number of chunks."""
        chunks = self.m.chunks(self.data)
        return self.matvec(V, [chunks[int(rng.integers(len(chunks)))]], scale=len(chunks))

    def matvec(self, V: np.ndarray, rows: list | None = None, scale: float = 1.0) -> np.ndarray:
        m = self.m
        T = m.unflat(V, dtype=m.dtype)
        for n, pad in m._padding.items():
            T[n] = T[n].index_fill(1, torch.tensor([pad], device=m.device), 0.0)
        total = {n: torch.zeros_like(t, dtype=m._acc) for n, t in T.items()}
        for s, e in rows if rows is not None else m.chunks(self.data):
            with warnings.catch_warnings():  # torch's forward-mode decompositions load through torch.jit once
                warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch")
                hv = self._chunk(s, e, T)
            for n in total:
                total[n] += hv[n].to(m._acc)
        out = np.stack([m.flat({n: total[n][j] for n in m.names}) for j in range(V.shape[1])], axis=1)
        return scale * out + m.decay_vector()[:, None] * V
