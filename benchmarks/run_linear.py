#!/usr/bin/env python
"""Benchmark: samplescope vs pyDVL and OpenDataVal on logistic regression, same data, same machine, same run.

    make bench        # = bash benchmarks/setup_peers.sh && .venv/bin/python benchmarks/run_linear.py \
                      #       --sizes 1000 10000 100000 --out docs/benchmarks.md

Data: synthetic imbalanced binary classification (30 informative Gaussian features, ~5 % positives,
logistic ground truth), 10 % of the training labels flipped, 1,000 clean validation rows; logistic
regression C = 1. Every method runs in its own process (one thread) so that wall time and peak RSS are
measured the same way for every library. Quality: Spearman with exact leave-one-out (samplescope's
``loo``, itself checked against scikit-learn refits in the test suite) and ROC-AUC of finding the flipped
labels from the lowest values. Throughput of the gradient and margin methods is measured in-process on
1M rows × 50 features.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OURS = [str(ROOT / ".venv/bin/python"), str(ROOT / "benchmarks/run_ours.py")]
PEERS = {
    "pydvl": [str(ROOT / ".bench/venv-pydvl/bin/python"), str(ROOT / "benchmarks/peers/run_peer.py"), "--lib", "pydvl"],
    "opendataval": [str(ROOT / ".bench/venv-odv/bin/python"), str(ROOT / "benchmarks/peers/run_peer.py"),
                    "--lib", "opendataval"],
}
# which peer method is the counterpart of which samplescope method, and the largest N it is run at
PEER_RUNS = {
    ("pydvl", "loo"): 1_000, ("opendataval", "loo"): 1_000,
    ("pydvl", "influence"): 100_000, ("opendataval", "influence"): 1_000,
    ("pydvl", "knn_shapley"): 10_000, ("opendataval", "knn_shapley"): 10_000,
    ("pydvl", "data_oob"): 100_000, ("opendataval", "data_oob"): 10_000,
}
OUR_METHODS = {  # method: (largest N, extra params)
    "loo": (10_000, []), "newton_loo": (100_000, []), "influence": (100_000, []),
    "knn_shapley": (100_000, []), "data_oob": (100_000, ["metric=accuracy"]), "tracin": (100_000, []),
    "grad_norm": (100_000, []), "el2n": (100_000, []), "margin": (100_000, []), "self_loss": (100_000, []),
}


def make_data(n: int, d: int = 30, n_valid: int = 1000, flip: float = 0.1, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d) / np.sqrt(d) * 2.5
    X = rng.normal(size=(n + n_valid, d))
    s = X @ w - 4.2
    y = (rng.random(n + n_valid) < 1 / (1 + np.exp(-s))).astype(np.int64)
    Xtr, ytr, Xva, yva = X[:n], y[:n].copy(), X[n:], y[n:]
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, int(flip * n), replace=False)] = True
    ytr[flipped] = 1 - ytr[flipped]
    return Xtr, ytr, Xva, yva, flipped


def run(cmd: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.npz"
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout > {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:160]}
        with np.load(out, allow_pickle=False) as f:
            return {"values": f["values"], "seconds": float(f["seconds"]), "peak_mb": float(f["peak_rss_mb"]),
                    "wall": time.perf_counter() - t0}


def throughput(n: int = 1_000_000, d: int = 50) -> list[tuple[str, float, float]]:
    import samplescope as ss

    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - 3)))).astype(float)
    train = ss.from_arrays(X, y)
    valid = ss.from_arrays(X[:10_000], y[:10_000])
    model = ss.fit_model("logistic", ss.from_arrays(X[:50_000], y[:50_000]))
    rows = []
    for m in ("grad_norm", "el2n", "margin", "self_loss", "tracin"):
        kw = {"learning_rate": 1.0} if m == "tracin" else {}
        t0 = time.perf_counter()
        ss.score(m, model, train, valid=valid if m == "tracin" else None, **kw)
        sec = time.perf_counter() - t0
        rows.append((m, sec, n / sec))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    lines, checks = [], []
    meta = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, one thread per method, {time.strftime('%Y-%m-%d')}")
    for n in args.sizes:
        Xtr, ytr, Xva, yva, flipped = make_data(n)
        tmp = Path(tempfile.mkdtemp())
        data = tmp / "data.npz"
        np.savez(data, X_train=Xtr, y_train=ytr, X_valid=Xva, y_valid=yva, C=1.0, k=10, n_estimators=200, seed=0)
        res = {}
        for method, (cap, params) in OUR_METHODS.items():
            if n <= cap:
                cmd = [*OURS, "--method", method, "--data", str(data), "--threads", str(args.threads)]
                for p in params:
                    cmd += ["--param", p]
                res[("samplescope", method)] = run(cmd, args.timeout)
                print(n, "samplescope", method, {k: v for k, v in res[("samplescope", method)].items() if k != "values"},
                      flush=True)
        if not args.no_peers:
            for (lib, method), cap in PEER_RUNS.items():
                if n <= cap and Path(PEERS[lib][0]).exists():
                    cmd = [*PEERS[lib], "--method", method, "--data", str(data), "--threads", str(args.threads)]
                    res[(lib, method)] = run(cmd, args.timeout)
                    print(n, lib, method, {k: v for k, v in res[(lib, method)].items() if k != "values"}, flush=True)
        loo = res.get(("samplescope", "loo"), {}).get("values")
        lines.append(f"\n### N = {n:,} training rows (30 features, {ytr.mean():.1%} positives after 10 % flips), "
                     f"1,000 validation rows\n")
        lines.append("| method | library | seconds | peak RSS MB | peer ÷ samplescope time | Spearman vs exact LOO "
                     "| flipped-label AUC |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for (lib, method), r in sorted(res.items(), key=lambda kv: (kv[0][1], kv[0][0] != "samplescope", kv[0][0])):
            if "error" in r:
                lines.append(f"| {method} | {lib} | {r['error']} | | | | |")
                continue
            v = r["values"]
            rho = f"{spearmanr(loo, v)[0]:.3f}" if loo is not None else "–"
            auc = f"{roc_auc_score(flipped, -v):.3f}"
            ours = res.get(("samplescope", method))
            ratio = f"{r['seconds'] / ours['seconds']:.1f}×" if lib != "samplescope" and ours and "seconds" in ours \
                else ""
            lines.append(f"| {method} | {lib} | {r['seconds']:.3g} | {r['peak_mb']:.0f} | {ratio} | {rho} | {auc} |")
        # targets of the foundation issue
        def sec(lib, m):
            return res.get((lib, m), {}).get("seconds")
        if n == 1000 and sec("samplescope", "loo") and sec("pydvl", "loo"):
            checks.append(f"N=1k: loo {sec('pydvl', 'loo') / sec('samplescope', 'loo'):.1f}× faster than pyDVL "
                          f"LOOValuation (target ≥ 20×); max |ours − pyDVL| = "
                          f"{np.max(np.abs(res[('samplescope', 'loo')]['values'] - res[('pydvl', 'loo')]['values'])):.2e}")
        if n == 10000 and sec("samplescope", "loo"):
            checks.append(f"N=10k: loo took {sec('samplescope', 'loo'):.1f} s (target < 60 s)")
        if loo is not None:
            for m, target in (("newton_loo", 0.99), ("influence", 0.95)):
                if ("samplescope", m) in res and "values" in res[("samplescope", m)]:
                    rho = spearmanr(loo, res[("samplescope", m)]["values"])[0]
                    checks.append(f"N={n:,}: {m} Spearman with exact LOO {rho:.4f} (target ≥ {target})")
        if sec("samplescope", "influence") and sec("pydvl", "influence") and n == 100_000:
            checks.append(f"N=100k: influence {sec('pydvl', 'influence') / sec('samplescope', 'influence'):.1f}× "
                          "faster than pyDVL DirectInfluence (target ≥ 10×)")
        if ("pydvl", "knn_shapley") in res and "values" in res[("pydvl", "knn_shapley")]:
            diff = np.max(np.abs(res[("samplescope", "knn_shapley")]["values"] - res[("pydvl", "knn_shapley")]["values"]))
            checks.append(f"N={n:,}: knn_shapley max |ours − pyDVL| = {diff:.1e} (target ≤ 1e-9); "
                          f"{sec('pydvl', 'knn_shapley') / sec('samplescope', 'knn_shapley'):.1f}× faster "
                          "(target ≥ 5× at 10k)")
    tp = throughput()
    body = [
        "# Benchmarks", "",
        "Produced by `make bench` (`bash benchmarks/setup_peers.sh && .venv/bin/python benchmarks/run_linear.py "
        f"--sizes {' '.join(map(str, args.sizes))} --out {args.out}`) on {meta}.",
        "Peers: pyDVL 0.10.0 and OpenDataVal 1.3.0, each in its own venv (see `benchmarks/peers/README.md` for what "
        "each peer method computes and how its values were converted to samplescope's units). Every row is one "
        "process; `seconds` is the valuation only (imports and data loading excluded), peak RSS is the process "
        "peak. Quality columns use the same data for every library: Spearman with exact leave-one-out "
        "(validation log-loss) and ROC-AUC of ranking the 10 % flipped training labels lowest.",
        "", "Other sections, each written by its own script in the same `make bench`: "
        "[trees and ranking](benchmarks-trees.md) (`benchmarks/run_trees.py`), "
        "[deep models](benchmarks-torch.md) (`benchmarks/run_torch.py`).",
        "", "## Targets of the foundation issue", "", *[f"- {c}" for c in checks], "",
        "## Gradient and margin throughput (1,000,000 rows × 50 features, in-process)", "",
        "| method | seconds | rows / s |", "|---|---:|---:|",
        *[f"| {m} | {s:.3f} | {r:,.0f} |" for m, s, r in tp], "",
        "## Time, memory and quality per size", *lines, "",
    ]
    text = "\n".join(body)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp_out = Path(args.out).with_suffix(".md.tmp")
    tmp_out.write_text(text)
    os.replace(tmp_out, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
