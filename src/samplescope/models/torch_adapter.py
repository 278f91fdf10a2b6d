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

The class is assembled from mixins, one module each: per-sample gradients and projections
(:mod:`~samplescope.models.torch_gradients`), sparse embedding rows (:mod:`~samplescope.models.torch_embeddings`),
curvature and solvers (:mod:`~samplescope.models.torch_curvature`), refit and checkpoints
(:mod:`~samplescope.models.torch_training`).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, ModelError, require
from samplescope.models.base import ModelAdapter
from samplescope.objectives import get_objective
from samplescope.objectives.base import Objective

torch = require("torch", "torch")
from torch.func import functional_call, vmap  # noqa: E402
from torch.utils._pytree import tree_map  # noqa: E402

from samplescope.models.torch_curvature import Curvature, _HessianOperator  # noqa: E402,F401
from samplescope.models.torch_embeddings import _Tap  # noqa: E402
from samplescope.models.torch_gradients import _GRAD_BUDGET, PerSampleGradients  # noqa: E402,F401
from samplescope.models.torch_training import Training  # noqa: E402

__all__ = ["TorchModel"]


class TorchModel(PerSampleGradients, Curvature, Training, ModelAdapter):
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
