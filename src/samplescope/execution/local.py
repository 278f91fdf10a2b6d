"""In-process execution: chunks of work run serially or on a thread pool, with checkpoints.

numpy/scipy release the GIL inside BLAS, so threads parallelise the batched linear algebra every
method is written in without copying data to other processes. A :class:`Checkpoint` stores each
finished chunk; a rerun with the same key skips them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from samplescope.result import atomic_write

__all__ = ["Checkpoint", "map_chunks", "chunk_ranges"]


def chunk_ranges(n: int, size: int) -> list[np.ndarray]:
    """Split ``0..n-1`` into consecutive index arrays of at most ``size``."""
    size = max(1, int(size))
    return [np.arange(s, min(s + size, n)) for s in range(0, n, size)]


class Checkpoint:
    """Finished chunks of one run, stored under ``directory`` keyed by what defines the run.

    Args:
        directory: folder for checkpoint files (created if missing).
        key: anything JSON-serialisable that identifies the run (method, params, fingerprints).
    """

    def __init__(self, directory: str | os.PathLike, key: dict):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=repr).encode()).hexdigest()[:16]
        self.path = self.dir / f"samplescope-{digest}.npz"
        self.done: dict[int, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as f:
                self.done = {int(k[1:]): f[k] for k in f.files}

    def save(self) -> None:
        arrays = {f"c{k}": v for k, v in self.done.items()}
        atomic_write(self.path, lambda tmp: np.savez(open(tmp, "wb"), **arrays))

    def clear(self) -> None:
        if self.path.exists():
            self.path.unlink()


def map_chunks(fn: Callable[[np.ndarray], np.ndarray], chunks: Sequence[np.ndarray], *, n_jobs: int = 1,
               progress: Callable[[int], None] | None = None, checkpoint: Checkpoint | None = None,
               save_every: int = 1) -> list[np.ndarray]:
    """Apply ``fn`` to every chunk (in order of results), resuming from ``checkpoint``.

    Args:
        fn: maps an index array to an array of results for those indices.
        chunks: index arrays.
        n_jobs: threads (1 = serial; -1 = all cores).
        progress: called with the number of items finished after each chunk.
        checkpoint: store finished chunks and skip those already stored.
        save_every: write the checkpoint after this many finished chunks.
    """
    out: list[np.ndarray | None] = [None] * len(chunks)
    todo = []
    for k, c in enumerate(chunks):
        if checkpoint is not None and k in checkpoint.done:
            out[k] = checkpoint.done[k]
            if progress:
                progress(len(c))
        else:
            todo.append(k)

    def finish(k: int, res: np.ndarray, count: list[int]) -> None:
        out[k] = res
        if progress:
            progress(len(chunks[k]))
        if checkpoint is not None:
            checkpoint.done[k] = res
            count[0] += 1
            if count[0] % save_every == 0:
                checkpoint.save()

    count = [0]
    jobs = os.cpu_count() if n_jobs in (-1, 0) else max(1, int(n_jobs))
    if jobs == 1 or len(todo) <= 1:
        for k in todo:
            finish(k, fn(chunks[k]), count)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(fn, chunks[k]): k for k in todo}
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                finish(futures[fut], fut.result(), count)
    if checkpoint is not None and todo:
        checkpoint.save()
    return out  # type: ignore[return-value]
