"""Training a :class:`~samplescope.models.torch_adapter.TorchModel`: ``refit`` and training checkpoints.

``refit`` minimises ``J(θ) = c · Σ_i w_i ℓ(y_i, s_i(θ)) + ½ Σ_j λ_j θ_j²`` by full-batch L-BFGS (strong Wolfe
line search; Nocedal & Wright 2006, ch. 7) for small models, or Adam (Kingma & Ba 2015) over shuffled
minibatches. ``checkpoints=[(state_dict, η_t), ...]`` are parameter snapshots from training, the ``θ_t`` of
TracIn (Pruthi et al. 2020) and of TRAK's ensemble (Park et al. 2023).
"""

from __future__ import annotations

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import ModelError, require

torch = require("torch", "torch")

__all__ = ["Training"]


class Training:
    """Mixin of :class:`TorchModel`: ``at_optimum``, ``refit``, ``with_state`` and ``checkpoint_models``."""

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
