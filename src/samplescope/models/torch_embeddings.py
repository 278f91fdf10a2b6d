"""Embedding tables seen sparsely: the rows each sample touches and their per-sample gradients.

For an ``nn.Embedding`` weight ``E`` (``V × D``) a sample that looks up rows ``t_1..t_T`` has the gradient
``∂f/∂E = Σ_t e_{t} δ_tᵀ`` with ``δ_t = ∂f/∂o_t`` the gradient with respect to the table's output ``o_t``:
only ``T`` rows out of ``V`` are non-zero. A forward hook adds a zero tensor ``ε`` to the table's output;
the gradient with respect to ``ε`` is ``δ`` (the trick of Goodfellow 2015, "Efficient per-example gradient
computations", applied to lookups), so per-sample gradients of a table cost ``T·D``, not ``V·D``.
``padding_idx`` rows get no gradient, as in torch.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

__all__ = ["_Tap"]


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

