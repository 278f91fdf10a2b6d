"""Checkpoints of :func:`samplescope.streaming.stream_score`: an interrupted streamed run resumes where it stopped.

A run's files live in ``<checkpoint_dir>/samplescope-stream-<digest>/``, ``digest`` the sha256 of the run's *key*
(as for :class:`samplescope.execution.local.Checkpoint`): method, parameters, seed, ``batch_rows``, the model's
fingerprint and its training checkpoints' (``tracin``, ``trak``), the validation set's and the source's (see
:func:`source_fingerprint`). Every file is written atomically (temporary file + rename):

* ``key.json`` — the key, written first;
* ``state.npz`` — the global state of a multi-pass method, once computed (``influence``: the solved vector
  ``(H+δI)⁻¹∇L_valid``, or Arnoldi's ``U, λ`` / the exact ``H`` for a self target; ``trak``: each checkpoint's
  ``z = M⁻¹Pᵀ∇L_valid``, or for a self target the explicit ``M⁻¹``), so a resumed run skips those passes;
* ``chunk-NNNNNN.npz`` — chunk ``N``'s values and its data fingerprint.

A resumed run still iterates the source to reach the next chunk, but computes nothing for the chunks already
stored; each one's fingerprint is compared with the stored one, and a source that changed raises
:class:`~samplescope.errors.DataError` (and removes the stale checkpoint) rather than mixing values. A folder of
another run (any part of the key differs) is never read: it is left alone with a warning naming what differs.
The run's folder is removed once the output file is written.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from samplescope.errors import DataError
from samplescope.result import atomic_write

__all__ = ["StreamCheckpoint", "source_fingerprint"]

_PREFIX = "samplescope-stream-"


def source_fingerprint(source, chunks):
    """``(fingerprint, chunks)`` of a streaming source (``chunks`` re-chained when a one-shot iterator).

    * a :class:`~samplescope.data.dataset.Dataset`: its fingerprint (features, labels, groups, weights);
    * a :class:`~samplescope.streaming.ParquetSource`: the resolved path, size and modification time (ns), the
      columns and ``batch_rows`` — a file rewritten in place is another source;
    * anything else (:class:`~samplescope.streaming.LoaderSource`, a list of chunks): the type and the first
      chunk's fingerprint (later chunks are checked one by one as the run reaches them).
    """
    from samplescope.data.dataset import Dataset
    from samplescope.streaming import ParquetSource

    if isinstance(source, Dataset):
        return {"dataset": source.fingerprint(), "n": source.n}, chunks
    if isinstance(source, ParquetSource):
        st = source.path.stat()
        return {"parquet": str(source.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                "columns": source.columns, "batch_rows": source.batch_rows}, chunks
    it = iter(chunks)
    first = next(it, None)
    if it is chunks:  # a one-shot iterator: put the first chunk back
        chunks = itertools.chain([] if first is None else [first], it)
    return {"type": type(source).__name__, "first_chunk": None if first is None else first.fingerprint()}, chunks


class StreamCheckpoint:
    """The stored state and finished chunks of one streamed run (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike, key: dict):
        root = Path(directory)
        if root.exists() and not root.is_dir():
            raise DataError(f"{root}: checkpoint_dir must be a folder; found a file")
        self.key = json.loads(json.dumps(key, sort_keys=True, default=repr))
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = root / f"{_PREFIX}{digest}"
        if not (self.dir / "key.json").is_file():
            self._warn_others(root)

    def _ensure(self) -> None:
        """Create the run's folder and its key on the first save (a run that fails before it leaves nothing)."""
        if not (self.dir / "key.json").is_file():
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.dir / "key.json", lambda tmp: Path(tmp).write_text(json.dumps(self.key, indent=1)))

    def _warn_others(self, root: Path) -> None:
        others = []
        for f in sorted(root.glob(f"{_PREFIX}*/key.json")):
            try:
                other = json.loads(f.read_text())
            except (OSError, ValueError):
                other = {}
            diff = sorted(k for k in set(self.key) | set(other) if self.key.get(k) != other.get(k))
            others.append(f"{f.parent.name} (differs in {', '.join(diff)})")
        if others:
            warnings.warn(f"{root}: the streamed-run checkpoint(s) {'; '.join(others)} belong to another run "
                          "(model, parameters or data differ); ignored, this run starts from scratch",
                          UserWarning, stacklevel=4)

    def load_state(self) -> dict | None:
        """The saved global state, or ``None``."""
        path = self.dir / "state.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # damaged (e.g. not written by us): redo it
            warnings.warn(f"{path}: unreadable checkpoint state; recomputing it", UserWarning, stacklevel=3)
            path.unlink(missing_ok=True)
            return None

    def save_state(self, state: dict) -> dict:
        """Store ``state`` (name → array); returns it as it will be read back."""
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in state.items()}
        self._ensure()
        atomic_write(self.dir / "state.npz", lambda tmp: _savez(tmp, arrays))
        return arrays

    def load_chunk(self, k: int, fingerprint: str) -> np.ndarray | None:
        """Chunk ``k``'s stored values, or ``None``; a chunk stored with other data raises ``DataError``."""
        path = self.dir / f"chunk-{k:06d}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                values, fp = f["values"], str(f["fingerprint"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # damaged: value this chunk again
            warnings.warn(f"{path}: unreadable checkpointed chunk; valuing chunk {k} again", UserWarning,
                          stacklevel=3)
            path.unlink(missing_ok=True)
            return None
        if fp != fingerprint:
            self.clear()
            raise DataError(f"chunk {k} of the source differs from the one checkpointed in {self.dir} (the source "
                            "changed, or its order is not fixed); the checkpoint was removed, run again")
        return values

    def save_chunk(self, k: int, values: np.ndarray, fingerprint: str) -> None:
        arrays = {"values": np.asarray(values, dtype=np.float64), "fingerprint": np.array(fingerprint)}
        self._ensure()
        atomic_write(self.dir / f"chunk-{k:06d}.npz", lambda tmp: _savez(tmp, arrays))

    def clear(self) -> None:
        """Remove this run's folder (other runs' are left alone)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _savez(path, arrays: dict) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
