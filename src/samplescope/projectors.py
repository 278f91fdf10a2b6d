"""Seeded Johnson–Lindenstrauss projections of parameter gradients, ``R^p → R^k`` (TRAK's ``projectors``).

A projector is the ``(p, k)`` matrix ``P`` with i.i.d. entries of mean 0 and variance ``1/k``, so that
``E‖Pᵀx‖² = ‖x‖²`` and, for any ``m`` vectors, every squared norm and inner product is kept within a
factor ``1 ± ε`` with probability at least ``1 − m² e^{−k(ε²/2 − ε³/3)/2}`` (Johnson & Lindenstrauss 1984;
Achlioptas 2003 for the ±1 entries).

``P`` is never stored whole for large ``p``: entry ``(i, j)`` is a pure function of ``(seed, i, j)``
(a SplitMix64 hash), so any set of rows — a block of a dense gradient, or the few rows of an embedding
table that a sample touches — is generated on demand, identically on every machine and in any order.
Same seed → same projection; ``n × p`` per-sample gradients are never materialised, only chunks of them.

* ``rademacher``: ``±1/√k`` (the default; what TRAK uses on CPU).
* ``gaussian``: ``N(0, 1/k)`` by Box–Muller from two hashes.
* ``identity``: ``P = I_p`` (``k = p``), for exact references.
"""

from __future__ import annotations

import numpy as np

from samplescope.errors import MethodError

__all__ = ["PROJECTORS", "Projector", "jl_epsilon"]

PROJECTORS = ("rademacher", "gaussian", "identity")
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _unit(h: np.ndarray) -> np.ndarray:
    """A hash → a uniform number in (0, 1)."""
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2.0**53)


def jl_epsilon(k: int, m: int, delta: float = 0.05) -> float:
    """The distortion ``ε`` a ``k``-dimensional projection keeps for ``m`` vectors with probability ``1 − δ``
    (the smallest ε with ``m² exp(−k(ε²/2 − ε³/3)/2) ≤ δ``, found by bisection; ≤ 1)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        eps = 0.5 * (lo + hi)
        bound = max(m, 2) ** 2 * np.exp(-k * (eps**2 / 2 - eps**3 / 3) / 2)
        lo, hi = (lo, eps) if bound <= delta else (eps, hi)
    return hi


class Projector:
    """The seeded projection ``P`` of shape ``(p, k)`` (see the module docstring).

    Args:
        p: input dimension (parameters).
        k: output dimension; ignored for ``identity`` (``k = p``).
        seed: the seed; entry ``(i, j)`` depends only on ``(seed, i, j)``.
        kind: ``rademacher``, ``gaussian`` or ``identity``.
        cache: cache ``P`` whole when ``p·k`` is at most this many entries.
    """

    def __init__(self, p: int, k: int, *, seed: int = 0, kind: str = "rademacher", cache: int = 2**23):
        if kind not in PROJECTORS:
            raise MethodError(f"unknown projector '{kind}'; expected one of {list(PROJECTORS)}")
        if int(p) < 1 or (kind != "identity" and int(k) < 1):
            raise MethodError(f"a projection needs p >= 1 and k >= 1; found p={p}, k={k}")
        self.p, self.kind, self.seed = int(p), kind, int(seed)
        self.k = self.p if kind == "identity" else int(k)
        self.cache = int(cache)
        self._full: np.ndarray | None = None
        base = _splitmix64(np.array([self.seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
        self._row_base = base[0]
        self._cols = _splitmix64(np.arange(self.k, dtype=np.uint64) * _M2 + base)

    def __repr__(self) -> str:
        return f"Projector(p={self.p}, k={self.k}, seed={self.seed}, kind={self.kind!r})"

    def rows(self, index) -> np.ndarray:
        """``P[index, :]`` as ``(len(index), k)`` float64."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if self._full is not None:
            return self._full[index]
        if self.kind == "identity":
            out = np.zeros((len(index), self.k))
            out[np.arange(len(index)), index] = 1.0
            return out
        r = _splitmix64(index.astype(np.uint64) + self._row_base)
        h = _splitmix64(r[:, None] ^ self._cols[None, :])
        if self.kind == "rademacher":
            out = np.where((h >> np.uint64(63)).astype(bool), 1.0, -1.0)
        else:
            u1, u2 = _unit(h), _unit(_splitmix64(h))
            out = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        return out / np.sqrt(self.k)

    def matrix(self) -> np.ndarray:
        """``P`` whole, ``(p, k)`` (cached when small)."""
        if self._full is not None:
            return self._full
        P = self.rows(np.arange(self.p))
        if self.p * self.k <= self.cache:
            self._full = P
        return P

    def project(self, G: np.ndarray, block: int = 4096) -> np.ndarray:
        """``G P`` for ``G`` of shape ``(m, p)`` (rows of gradients), by blocks of ``P``'s rows."""
        G = np.asarray(G, dtype=np.float64)
        if G.shape[-1] != self.p:
            raise MethodError(f"projector: expected vectors of length {self.p}; found {G.shape[-1]}")
        if self.kind == "identity":
            return G.copy()
        if self._full is not None or self.p * self.k <= self.cache:
            return G @ self.matrix()
        out = np.zeros(G.shape[:-1] + (self.k,))
        for s in range(0, self.p, block):
            idx = np.arange(s, min(s + block, self.p))
            out += G[..., idx] @ self.rows(idx)
        return out
