"""Per-sample gradients of a :class:`~samplescope.models.torch_adapter.TorchModel`, chunk by chunk.

    g_i = ∂(λ_iᵀ s_i)/∂θ,   λ_i = ∂ℓ/∂s_i   (Koh & Liang 2017; per-sample by ``vmap(grad(·))``)

with ``λ_i`` from the numpy objective (exact for pointwise and ranking objectives alike: they sum to each
query group's gradient). ``torch.func.vmap(grad(functional_call))`` runs over chunks of rows: never an
``n × p`` matrix, only ``chunk × p`` (capped at ``_GRAD_BUDGET`` bytes). Embedding tables that count are
sparse: each sample's touched rows and their gradients (:mod:`samplescope.models.torch_embeddings`); dot
products, norms and projections gather only those rows. ``projected_jacobians`` gives TRAK's
``Ψ_i = (∂s_i/∂θ) P`` for a seeded projection ``P`` (:mod:`samplescope.projectors`).
"""

from __future__ import annotations

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import ModelError, require

torch = require("torch", "torch")
from torch.func import functional_call, grad, vmap  # noqa: E402
from torch.utils._pytree import tree_map  # noqa: E402

__all__ = ["PerSampleGradients"]

_GRAD_BUDGET = 2**27  # bytes of per-sample gradients held at once


class PerSampleGradients:
    """Mixin of :class:`TorchModel`: per-sample gradients, their dot products, norms and projections."""

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
