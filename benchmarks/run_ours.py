#!/usr/bin/env python
"""Run one samplescope method on a benchmark dataset in a fresh process (same protocol as peers/run_peer.py).

    .venv/bin/python benchmarks/run_ours.py --method influence --data IN.npz --out OUT.npz [--threads 1]

Timing covers the valuation (including moving the fitted model to its exact optimum where a method
needs it), not imports or data loading. Peak memory is the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--method", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--param", action="append", default=[], help="KEY=VALUE method parameter")
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    import samplescope as ss

    d = np.load(args.data)
    train = ss.from_arrays(d["X_train"], d["y_train"].astype(float))
    valid = ss.from_arrays(d["X_valid"], d["y_valid"].astype(float))
    params = {}
    for kv in args.param:
        k, v = kv.split("=", 1)
        try:
            params[k] = int(v)
        except ValueError:
            try:
                params[k] = float(v)
            except ValueError:
                params[k] = v
    if args.method == "knn_shapley":
        params.setdefault("k", int(d["k"]))
    if args.method == "data_oob":
        params.setdefault("n_estimators", int(d["n_estimators"]))
    model = ss.fit_model("logistic", train, C=float(d["C"]))
    before = rss_mb()
    t0 = time.perf_counter()
    res = ss.score(args.method, model, train, valid=valid, seed=int(d["seed"]), n_jobs=args.threads, **params)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(args.out, values=res.values, seconds=seconds, peak_rss_mb=peak, rss_before_mb=before,
             note=f"samplescope {args.method} target={res.target} params={params}", lib="samplescope",
             method=args.method, lib_version=ss.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
