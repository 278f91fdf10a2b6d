#!/usr/bin/env python
"""Benchmark: peak memory of streamed torch valuation vs the number of training rows (DeepFM on OBD codes).

    OPENBLAS_NUM_THREADS=1 nice .venv/bin/python benchmarks/run_torch_memory.py \\
        --sizes 10000 100000 1000000 --methods grad_norm tracin trak --out docs/benchmarks-torch.md

Model: :class:`samplescope.examples.torch_models.DeepFM` over the bundled Open Bandit Dataset's 9 categorical
fields (cardinalities from :func:`samplescope.examples.data.obd_ctr_codes`) and 2 numeric columns, dim 8,
hidden (32, 16), random initialisation (seed 0) — the weights do not change the memory.

Training rows: ``n`` synthetic rows drawn chunk by chunk with replacement from OBD's 8,000 training rows
(codes, numeric columns and clicks of a row kept together), from a seeded generator per chunk so that every
pass over the source yields the same rows: the rows are never all in memory, only one chunk. Validation: OBD's
2,000 held-out rows (in memory, as :func:`samplescope.stream_score` expects).

Each ``(n, method)`` runs in a fresh subprocess with one thread: the RSS after imports, the model and the
validation set are in memory (``before``), then :func:`samplescope.streaming.stream_score` writes the values
to a Parquet file chunk by chunk; ``peak`` is ``getrusage(RUSAGE_SELF).ru_maxrss`` at the end. The table is
written into ``--out`` between ``<!-- memory:start -->`` and ``<!-- memory:end -->`` (replaced on rerun).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- memory:start -->", "<!-- memory:end -->"
N_VALID = 2000


def _rss_mb() -> float:
    """Current resident set size (MB), from /proc (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


class SyntheticOBD:
    """``n`` rows resampled from OBD's training rows, ``chunk`` at a time, identical on every iteration."""

    def __init__(self, pool, n: int, chunk: int, seed: int = 0):
        self.pool, self.n, self.chunk, self.seed = pool, int(n), int(chunk), int(seed)

    def __iter__(self):
        from samplescope.data.dataset import Dataset

        for k, s in enumerate(range(0, self.n, self.chunk)):
            rng = np.random.default_rng((self.seed, k))
            idx = rng.integers(0, self.pool.n, size=min(self.chunk, self.n - s))
            yield Dataset(X=self.pool.X[idx], y=self.pool.y[idx], feature_names=self.pool.feature_names,
                          name=f"synthetic obd rows {s}..")


def worker(n: int, method: str, chunk: int, batch_size: int, proj_dim: int, out: Path) -> dict:
    import torch

    torch.set_num_threads(1)
    import pyarrow.parquet as pq

    from samplescope.examples.data import obd_ctr_codes
    from samplescope.examples.torch_models import DeepFM
    from samplescope.models.torch_adapter import TorchModel
    from samplescope.streaming import stream_score

    pool, valid, cards = obd_ctr_codes("random", "all")
    valid = valid.subset(np.arange(min(N_VALID, valid.n)))
    model = TorchModel(DeepFM(cards, 2, dim=8, hidden=(32, 16), seed=0), "logloss", c=1 / n, weight_decay=1e-3,
                       batch_size=batch_size, name="deepfm")
    params = {"tracin": {"learning_rate": 1.0}, "trak": {"proj_dim": proj_dim}}.get(method, {})
    source = SyntheticOBD(pool, n, chunk)
    before, peak_before = _rss_mb(), _peak_mb()
    t0 = time.perf_counter()
    stream_score(method, model, source, out=out, valid=valid if method in ("tracin", "trak") else None,
                 batch_rows=chunk, **params)
    wall = time.perf_counter() - t0
    peak = _peak_mb()
    rows = pq.ParquetFile(out).metadata.num_rows
    if rows != n:
        raise RuntimeError(f"{out}: {rows} rows written, expected {n}")
    return {"n": n, "method": method, "p": model.p, "wall_s": wall, "us_per_row": wall / n * 1e6,
            "rss_before_mb": before, "peak_before_mb": peak_before, "peak_mb": peak, "rss_after_mb": _rss_mb(),
            "out_mb": out.stat().st_size / 2**20}


def run_one(n: int, method: str, a, folder: Path) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = ["nice", sys.executable, __file__, "--worker", "--sizes", str(n), "--methods", method,
           "--chunk", str(a.chunk), "--batch-size", str(a.batch_size), "--proj-dim", str(a.proj_dim),
           "--folder", str(folder)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=a.timeout)
    if r.returncode != 0:
        raise RuntimeError(f"n={n} {method}: exit {r.returncode}\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def label(method: str, a) -> str:
    return {"grad_norm": "grad_norm", "tracin": f"tracin (η = 1, {N_VALID} validation rows)",
            "trak": f"trak (k = {a.proj_dim}, {N_VALID} validation rows)"}.get(method, method)


def table(results: list[dict], a, command: str) -> str:
    p = results[0]["p"] if results else "?"
    lines = [START, "", "## Peak memory vs n (DeepFM, streaming)", "",
             f"DeepFM (OBD's 9 categorical fields + 2 numeric, dim 8, hidden 32-16, p = {p}, two embedding "
             f"tables scored sparsely), training rows resampled from OBD chunk by chunk (never all in memory), "
             f"`stream_score` writing Parquet in chunks of {a.chunk:,} rows (adapter `batch_size` "
             f"{a.batch_size}); each (n, method) in a fresh process, one thread, on the shared 2-core machine. "
             "*before* = RSS after imports, model and validation set; *peak* = `ru_maxrss` at the end; "
             "*Δ* = peak − before.", "",
             "```", command, "```", "",
             "| n | method | wall s | µs / row | RSS before MB | peak RSS MB | Δ MB | output MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['n']:,} | {label(r['method'], a)} | {r['wall_s']:.1f} | {r['us_per_row']:.1f} | "
                     f"{r['rss_before_mb']:.0f} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['rss_before_mb']:.0f} | "
                     f"{r['out_mb']:.1f} |")
    lines.append("")
    by = {}
    for r in results:
        by.setdefault(r["method"], []).append(r)
    notes = []
    for m, rs in by.items():
        rs = sorted(rs, key=lambda r: r["n"])
        if len(rs) > 1:
            d = rs[-1]["peak_mb"] - rs[0]["peak_mb"]
            notes.append(f"{m}: peak {rs[0]['peak_mb']:.0f} MB at n = {rs[0]['n']:,} → {rs[-1]['peak_mb']:.0f} MB "
                         f"at n = {rs[-1]['n']:,} ({d:+.0f} MB for {rs[-1]['n'] // rs[0]['n']}× the rows)")
    if notes:
        lines += ["Growth of the peak: " + "; ".join(notes) + ".", ""]
    lines += ["What the Δ is: the working set of one adapter batch of per-sample gradients (`torch.func.vmap`; for "
              "`trak` per-sample Jacobians, their projection and the Rademacher rows of the embedding tables), "
              "plus one streamed chunk and pyarrow's buffers — it depends on `--batch-size`, not on n "
              "(December 2026, n = 10,000, `--batch-size 1024`: Δ 124 MB for `grad_norm` and 326 MB for `trak`, "
              "vs 228 and 770 MB at 4096). Nothing of size n is held: the source regenerates each chunk on every "
              "pass (`trak` makes two) and the values go to the Parquet file chunk by chunk. µs / row at "
              "n = 10,000 includes the fixed start-up of the first batch.", ""]
    lines.append(END)
    return "\n".join(lines)


def write_doc(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--methods", nargs="+", default=["grad_norm", "tracin", "trak"])
    ap.add_argument("--chunk", type=int, default=10_000, help="rows per streamed chunk (source and writer)")
    ap.add_argument("--batch-size", type=int, default=4096, help="the adapter's rows per per-sample-gradient batch")
    ap.add_argument("--proj-dim", type=int, default=256, help="TRAK's projection dimension k")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per (n, method) run")
    ap.add_argument("--out", default=None, help="markdown file to write the table into (between markers)")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--from-json", default=None, help="write the table from results saved with --json (no runs)")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        n, method = a.sizes[0], a.methods[0]
        print(json.dumps(worker(n, method, a.chunk, a.batch_size, a.proj_dim,
                                Path(a.folder) / f"{method}-{n}.parquet")))
        return
    command = "OPENBLAS_NUM_THREADS=1 nice .venv/bin/python benchmarks/run_torch_memory.py " + \
        " ".join(sys.argv[1:])
    command = a.command or command
    results = json.loads(Path(a.from_json).read_text()) if a.from_json else []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.sizes if not a.from_json else []:
            for method in a.methods:
                r = run_one(n, method, a, Path(tmp))
                results.append(r)
                delta = r["peak_mb"] - r["rss_before_mb"]
                print(f"n={n:>9,} {method:<10} {r['wall_s']:7.1f} s {r['us_per_row']:6.1f} us/row  before "
                      f"{r['rss_before_mb']:6.0f} MB  peak {r['peak_mb']:6.0f} MB  Δ {delta:5.0f} MB", flush=True)
                Path(tmp, f"{method}-{n}.parquet").unlink(missing_ok=True)
    if a.json and not a.from_json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    block = table(results, a, command)
    print(block)
    if a.out:
        write_doc(ROOT / a.out if not Path(a.out).is_absolute() else Path(a.out), block)


if __name__ == "__main__":
    main()
