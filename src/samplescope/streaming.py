"""Streaming: value training rows that do not fit in memory, chunk by chunk, writing the values as they come.

A *source* yields the training data as a sequence of :class:`~samplescope.data.dataset.Dataset` chunks, in
the same order every time it is iterated (methods that need global quantities make more than one pass):

* a :class:`~samplescope.data.dataset.Dataset` (cut into chunks of ``batch_rows``),
* :class:`ParquetSource` — a Parquet file read in batches of ``batch_rows`` (never whole), query groups
  kept whole (a group cut by a batch boundary waits for the next batch),
* :class:`LoaderSource` — a torch ``DataLoader`` yielding ``(x, y)`` or ``(x, y, weight)`` batches without
  shuffling (rows are ``x.reshape(len(x), -1)``).

:func:`stream_score` computes one method with the model's chunked primitives and appends each chunk's values
to a Parquet file (``row``, ``id`` when the data has ids, ``importance``) that
:meth:`ImportanceResult.read_parquet` reads, with the same metadata; memory is bounded by the chunk (and
the model), not by ``n``. Methods and their passes over the source:

* one pass: ``grad_norm``, ``el2n``, ``self_loss``, ``tracin`` (``learning_rate`` a number, or the model's
  checkpoints) — the same per-row formulas as the methods;
* ``influence``: every Hessian-vector product of a ``cg`` / ``lissa`` / ``arnoldi`` solve is one pass, then
  one pass for the values (self target: ``arnoldi`` or, for small models, ``exact``);
* ``trak``: one pass to accumulate each checkpoint's ``k × k`` kernel, one for the values.

Checkpoint and resume: with ``checkpoint_dir``, every finished chunk's values and, once computed, the global
state of a multi-pass method (``influence``'s solved vector, ``trak``'s per-checkpoint ``z`` or ``M⁻¹``) are
stored there (atomically, keyed by method, parameters, seed, ``batch_rows`` and the model's, validation set's and
source's fingerprints); rerun the same call after an interruption and it skips the passes and chunks already
done — same values as an uninterrupted run (a ``trak`` self target then uses the stored ``M⁻¹``, equal to a run
without checkpoints up to rounding). A checkpoint of another run is ignored with a warning; the run's
checkpoint is removed once ``out`` is written. See :mod:`samplescope.stream_checkpoint`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, MethodError
from samplescope.methods.registry import get_method
from samplescope.models import wrap_model
from samplescope.models.ihvp import _Solver
from samplescope.stream_checkpoint import StreamCheckpoint, source_fingerprint

__all__ = ["STREAM_METHODS", "LoaderSource", "ParquetSource", "stream_score"]

STREAM_METHODS = ("grad_norm", "el2n", "self_loss", "tracin", "influence", "trak")


class ParquetSource:
    """A Parquet file as chunks of at most ``batch_rows`` rows (whole query groups), read batch by batch.

    Args:
        path: the file.
        label, features, group, weight, id: columns, as for :func:`samplescope.read_table` (features must be
            numeric or encoded the same in every batch: the first batch's encoder is reused).
        batch_rows: rows read at a time.
    """

    def __init__(self, path, *, label: str, features=None, group: str | None = None, weight: str | None = None,
                 id: str | None = None, batch_rows: int = 65536):
        self.path, self.batch_rows = Path(path), int(batch_rows)
        self.columns = dict(label=label, features=features, group=group, weight=weight, id=id)
        if not self.path.is_file():
            raise DataError(f"{self.path}: file not found; expected a Parquet file")

    def __iter__(self) -> Iterator[Dataset]:
        import pandas as pd
        import pyarrow.parquet as pq

        from samplescope.data.readers import from_frame

        group, enc, carry, start = self.columns["group"], None, None, 0
        batches = pq.ParquetFile(self.path).iter_batches(batch_size=self.batch_rows)
        nxt = next(batches, None)
        while nxt is not None:
            df, nxt = nxt.to_pandas(), next(batches, None)
            df = df if carry is None else pd.concat([carry, df], ignore_index=True)
            carry = None
            if group is not None and nxt is not None:  # the last group may continue in the next batch
                g = df[group].to_numpy()
                differs = g[::-1] != g[-1]
                cut = len(df) - int(differs.argmax()) if differs.any() else 0
                df, carry = df.iloc[:cut], df.iloc[cut:]
                if not len(df):
                    continue
            ds = from_frame(df, **self.columns, encoder=enc,
                            name=f"{self.path.name} rows {start}..{start + len(df) - 1}")
            enc = enc or ds.encoder
            start += len(df)
            yield ds


class LoaderSource:
    """A torch ``DataLoader`` of ``(x, y)`` / ``(x, y, weight)`` batches as chunks (no shuffling)."""

    def __init__(self, loader, *, name: str = "loader"):
        sampler = getattr(loader, "sampler", None)
        if sampler is not None and type(sampler).__name__ not in ("SequentialSampler",):
            raise DataError(f"{name}: streaming makes several passes and needs the same row order each time; "
                            "expected a DataLoader without shuffling (SequentialSampler), found "
                            f"{type(sampler).__name__}")
        self.loader, self.name = loader, name

    def __iter__(self) -> Iterator[Dataset]:
        start = 0
        for batch in self.loader:
            x, y = (np.asarray(b.detach().cpu() if hasattr(b, "detach") else b) for b in batch[:2])
            w = None if len(batch) < 3 else np.asarray(batch[2].detach().cpu() if hasattr(batch[2], "detach")
                                                        else batch[2])
            yield Dataset(X=x.reshape(len(x), -1), y=y.reshape(-1), weight=w, name=f"{self.name} rows {start}..")
            start += len(x)


def _chunks(source, batch_rows: int):
    if isinstance(source, Dataset):
        b = source.group_bounds
        cuts = np.arange(0, source.n, batch_rows) if b is None else \
            np.unique(b[np.searchsorted(b, np.arange(0, source.n, batch_rows))])
        cuts = np.r_[cuts[cuts < source.n], source.n]
        return [source.subset(np.arange(s, e)) for s, e in zip(cuts[:-1], cuts[1:])]
    if isinstance(source, (str, os.PathLike)):
        raise DataError(f"{source}: a file path needs its columns; pass ParquetSource(path, label=...)")
    return source


class _Writer:
    """Appends chunks of ``row, [id], importance`` to a temporary Parquet file, renamed over ``out`` at the end."""

    def __init__(self, out: Path):
        self.out, self.writer, self.tmp = Path(out), None, None

    def write(self, start: int, data: Dataset, values: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {"row": pa.array(np.arange(start, start + data.n, dtype=np.int64))}
        if data.ids is not None:
            cols["id"] = pa.array(data.ids)
        cols["importance"] = pa.array(np.asarray(values, dtype=np.float64))
        table = pa.table(cols)
        if self.writer is None:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent or ".")
            os.close(fd)
            self.writer = pq.ParquetWriter(self.tmp, table.schema, store_schema=False)  # metadata = the schema's
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self, meta: dict) -> Path:
        if self.writer is None:
            raise DataError("the training source yielded no rows; expected at least one")
        self.writer.add_key_value_metadata({"samplescope": json.dumps(meta)})
        self.writer.close()
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            Path(self.tmp).unlink(missing_ok=True)


def stream_score(method: str, model, source, *, out, valid: Dataset | None = None, seed: int = 0,
                 batch_rows: int = 65536, progress: Callable[[int], None] | None = None,
                 checkpoint_dir: str | os.PathLike | None = None, **params) -> Path:
    """Value every row of ``source`` with ``method`` and write the values to ``out`` (Parquet) as they come.

    Args:
        method: one of :data:`STREAM_METHODS`.
        model: a fitted model or adapter (a torch model: :class:`~samplescope.models.torch_adapter.TorchModel`).
        source: a Dataset, :class:`ParquetSource` or :class:`LoaderSource` (see the module docstring).
        out: the ``.parquet`` file written (atomically, at the end).
        valid: validation data (in memory); values then refer to the validation loss.
        seed: seed of stochastic parts (TRAK's projections, Arnoldi's start).
        batch_rows: chunk size when ``source`` is a Dataset.
        progress: called with the number of rows finished after each chunk of the last pass (chunks restored
            from a checkpoint included).
        checkpoint_dir: folder where finished chunks and global state are stored, and an interrupted run with
            the same arguments resumes from (see :mod:`samplescope.stream_checkpoint`); ``None``: no checkpoint.
        **params: the method's parameters (as for :func:`samplescope.score`).

    Returns:
        The path written; :meth:`ImportanceResult.read_parquet` reads it.
    """
    if method not in STREAM_METHODS:
        raise MethodError(f"method '{method}' cannot stream; expected one of {list(STREAM_METHODS)}")
    info = get_method(method)
    chunks = _chunks(source, int(batch_rows))
    m = wrap_model(model)
    if info.needs_valid and valid is None:
        raise MethodError(f"method '{method}' needs a validation set; none was given")
    known = {"tracin": {"learning_rate"}, "influence": {"damping", "solver", "iterations", "rank"},
             "trak": {"proj_dim", "projector", "damping"}}.get(method, set())
    if set(params) - known:
        raise MethodError(f"method '{method}' has no parameter(s) {sorted(set(params) - known)}; expected some "
                          f"of {sorted(known)}")
    t0 = time.perf_counter()
    ck = None
    if checkpoint_dir is not None:
        src, chunks = source_fingerprint(source, chunks)
        cps = m.checkpoint_models() if hasattr(m, "checkpoint_models") else []  # not in the model's fingerprint
        ck = StreamCheckpoint(checkpoint_dir, {
            "kind": "stream-v1", "method": method, "params": params, "seed": seed, "batch_rows": int(batch_rows),
            "model": m.fingerprint(), "checkpoints": [[mt.fingerprint(), eta] for mt, eta in cps],
            "valid": None if valid is None else valid.fingerprint(), "source": src})
    per_chunk = _plan(method, m, chunks, valid, seed, params, ck)
    writer, start, digest = _Writer(Path(out)), 0, hashlib.sha256()
    try:
        for k, data in enumerate(chunks):
            m.check_data(data)
            fp = data.fingerprint()
            values = None if ck is None else ck.load_chunk(k, fp)
            if values is None:
                values = per_chunk(data)
                if ck is not None:
                    ck.save_chunk(k, values, fp)
            writer.write(start, data, values)
            digest.update(fp.encode())
            start += data.n
            if progress:
                progress(data.n)
        target = "validation" if valid is not None and method in ("tracin", "influence", "trak") else \
            ("none" if method in ("grad_norm", "el2n", "self_loss") else "self")
        meta = {"method": method, "family": info.family, "target": target,
                "params": {**params, "seed": seed, "streamed": True,
                           **{f"model.{k}": v for k, v in m.params().items()}},
                "model_fingerprint": m.fingerprint(), "data_fingerprint": digest.hexdigest()[:16],
                "seconds": time.perf_counter() - t0, "positive_means": "helpful", "unit": "document"}
        path = writer.close(json.loads(json.dumps(meta, default=str)))
    except BaseException:
        writer.abort()
        raise
    if ck is not None:
        ck.clear()
    return path


def _plan(method: str, m, chunks, valid, seed: int, params: dict, ck=None) -> Callable[[Dataset], np.ndarray]:
    """The global passes a method needs (restored from / stored in ``ck``); returns the per-chunk value function."""
    if method == "grad_norm":
        return lambda d: -d.weights * np.sqrt(m.gradient_sq_norms(d))
    if method == "self_loss":
        return lambda d: -m.losses(d)
    if method == "el2n":
        def el2n(d):
            lam = m.objective.gradient(d.y, m.scores(d), d.group_bounds)
            return -(np.abs(lam) if lam.ndim == 1 else np.linalg.norm(lam, axis=1))
        return el2n
    if method == "tracin":
        return _tracin(m, valid, params.get("learning_rate", "auto"))
    state = None if ck is None else ck.load_state()
    if method == "influence":
        if state is None:
            state = _influence(m, chunks, valid, seed, storable=ck is not None, **params)
            state = state if ck is None else ck.save_state(state)
        return _influence_values(m, state)
    from samplescope.methods import trak

    damping = params.get("damping", 0.0)
    stages = trak.ensemble(m, seed, params.get("proj_dim", 2048), params.get("projector", "rademacher"), damping)
    if state is None:
        state = {}
        for t, (mt, P) in enumerate(stages):
            solve, z = trak.kernel(mt, chunks, valid, P, damping)[:2]
            # stored: z, or for a self target the explicit M⁻¹ (a closure cannot be saved)
            state[f"z{t}" if z is not None else f"solve{t}"] = z if z is not None else \
                (solve if ck is None else solve(np.eye(P.k)))
        state = state if ck is None else ck.save_state(state)

    def solver(A):  # a self target's solve: the kernel's own, or the stored M⁻¹
        return A if A is None or callable(A) else (lambda B: A @ B)
    parts = [(mt, P, solver(state.get(f"solve{t}")), state.get(f"z{t}")) for t, (mt, P) in enumerate(stages)]
    return lambda d: sum(trak.values(mt, d, P, solve, z) for mt, P, solve, z in parts) / len(parts)


def _tracin(m, valid, learning_rate):
    from samplescope.methods.tracin import _number

    cps = m.checkpoint_models() if hasattr(m, "checkpoint_models") else []
    if not cps:
        if learning_rate == "auto":
            raise MethodError("tracin: streaming needs learning_rate as a number (CLI: --param learning_rate=0.01) "
                              "or a model with training checkpoints; found learning_rate='auto' and none")
        cps = [(m, _number(learning_rate))]
    elif learning_rate != "auto":
        cps = [(mt, _number(learning_rate)) for mt, _ in cps]
    z = [mt.mean_gradient(valid) if valid is not None else None for mt, _ in cps]

    def values(d):
        out = np.zeros(d.n)
        for (mt, eta), zt in zip(cps, z):
            s = eta * mt.loss_scale(d)
            out += s * mt.gradient_dot(d, zt) if zt is not None else -s * mt.gradient_sq_norms(d)
        return out
    return values


class _StreamOperator:
    """``V ↦ H V`` with one pass over the chunks (each chunk's data term, the regulariser once)."""

    def __init__(self, m, chunks):
        if not hasattr(m, "hvp_operator"):
            raise MethodError(f"influence: streaming needs Hessian-vector products from the model; "
                              f"{type(m).__name__} has none (use a torch model)")
        self.m, self.chunks, self.p, self.decay = m, chunks, m.p, m.decay_vector()

    def matvec(self, V: np.ndarray) -> np.ndarray:
        total = self.decay[:, None] * V
        for d in self.chunks:
            total += self.m.hvp_operator(d).matvec(V) - self.decay[:, None] * V
        return total


def _influence(m, chunks, valid, seed, *, storable: bool = False, damping: float = 0.0, solver: str = "cg",
               iterations=None, rank=None):
    """The solved state: ``z = (H+δI)⁻¹∇L_valid``; for a self target the solver, or (``storable``) its Arnoldi
    ``U, λ`` / exact ``H``."""
    from samplescope.models.ihvp import make_solver

    if valid is None and solver not in ("arnoldi", "exact"):
        raise MethodError(f"influence: a streamed self target (no validation set) needs solver='arnoldi' (or 'exact' "
                          f"for small models); found solver={solver!r}")
    S = make_solver(solver, _StreamOperator(m, chunks), damping=damping, iterations=iterations, rank=rank, seed=seed)
    if valid is not None:
        return {"z": S.solve(m.mean_gradient(valid))}
    if not storable:
        return {"solver": S}
    return {"U": S.low_rank[0], "lam": S.low_rank[1]} if hasattr(S, "low_rank") else {"H": S.H}


class _LowRank(_Solver):
    """Arnoldi's ``H⁻¹ ≈ U diag(1/λ) Uᵀ`` from its stored ``U, λ`` (the solver's own arithmetic)."""

    def __init__(self, U, lam):
        self.U, self.lam, self.low_rank, self.p = U, lam, (U, lam), U.shape[0]

    def solve(self, B):
        return self.U @ ((self.U.T @ B) / (self.lam[:, None] if np.ndim(B) == 2 else self.lam))


def _influence_values(m, state: dict):
    if "z" in state:
        z = state["z"]
        return lambda d: m.loss_scale(d) * m.gradient_dot(d, z)
    from samplescope.linalg import SymmetricSolver

    S = state["solver"] if "solver" in state else \
        _LowRank(state["U"], state["lam"]) if "U" in state else SymmetricSolver(state["H"])
    return lambda d: -m.loss_scale(d) * m.gradient_quadratic(d, S)
