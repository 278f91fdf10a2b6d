#!/usr/bin/env python
"""Check the peer runners (run_peer.py) and regenerate knn_reference.npz.

Run with the pyDVL venv's python (it needs numpy, scipy, scikit-learn; it drives both peer
venvs through subprocesses)::

    .bench/venv-pydvl/bin/python benchmarks/peers/verify_peers.py [--n 1000] [--skip-large]
                                                                  [--write-knn-reference]

What it checks (synthetic imbalanced binary data, ~5 % positives, 30 features, C = 1):
  * N=200: pyDVL LOO against a brute-force scikit-learn refit loop (same estimator:
    LogisticRegression(C, tol=1e-10)) and against exact LOO by Newton's method; pyDVL
    influence against the closed form (1/N) g_val^T H^-1 g_i and its Spearman with LOO;
    OpenDataVal LOO / first-order influence against the same references.
  * N (default 1000): every method of both peers runs; prints wall seconds, peak RSS and
    the Spearman correlation with exact LOO.
  * KNN-Shapley: pyDVL == a plain numpy implementation of Jia et al.'s recursion (and
    OpenDataVal) on the reference problem (N=60, 20 valid, 5 features, k=5, seed 0);
    with --write-knn-reference, saves benchmarks/peers/knn_reference.npz.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BENCH = os.environ.get("BENCH_DIR", os.path.join(REPO, ".bench"))
PY = {
    "pydvl": os.path.join(BENCH, "venv-pydvl", "bin", "python"),
    "opendataval": os.path.join(BENCH, "venv-odv", "bin", "python"),
}
RUN_PEER = os.path.join(HERE, "run_peer.py")
METHODS = ("loo", "influence", "knn_shapley", "data_oob")

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402


# ----------------------------------------------------------------------------------------
# data


def make_synthetic(n_train, n_valid, d=30, pos=0.05, seed=0, C=1.0, k=10, n_estimators=200):
    """Gaussian features, labels from a logistic model whose intercept gives ~`pos`
    positives."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d) * (2.0 / np.sqrt(d))
    X = rng.normal(size=(n_train + n_valid, d))
    z = X @ w
    lo, hi = -30.0, 30.0
    for _ in range(80):  # bisection for the intercept
        b = 0.5 * (lo + hi)
        if np.mean(1.0 / (1.0 + np.exp(-(z + b)))) < pos:
            lo = b
        else:
            hi = b
    y = (rng.random(len(z)) < 1.0 / (1.0 + np.exp(-(z + b)))).astype(np.int64)
    return {
        "X_train": X[:n_train],
        "y_train": y[:n_train],
        "X_valid": X[n_train:],
        "y_valid": y[n_train:],
        "C": np.float64(C),
        "k": np.int64(k),
        "n_estimators": np.int64(n_estimators),
        "seed": np.int64(seed),
    }


# ----------------------------------------------------------------------------------------
# references (numpy / scikit-learn, no peer code)


def _aug(X):
    return np.c_[X, np.ones(len(X))]


def fit_newton(X, y, C, theta0=None, max_iter=100):
    """Minimise C*sum(logloss) + 0.5*||w||^2 (intercept unpenalised) by Newton's method."""
    Xa = _aug(X)
    p1 = Xa.shape[1]
    th = np.zeros(p1) if theta0 is None else theta0.copy()
    D = np.eye(p1)
    D[-1, -1] = 0.0
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(Xa @ th)))
        g = C * (Xa.T @ (p - y)) + D @ th
        H = C * (Xa * (p * (1 - p))[:, None]).T @ Xa + D
        step = np.linalg.solve(H, g)
        th -= step
        if np.max(np.abs(step)) < 1e-14 * max(1.0, np.max(np.abs(th))):
            break
    return th


def mean_logloss(th, X, y):
    z = _aug(X) @ th
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def exact_loo_newton(D):
    X, y, Xv, yv, C = D["X_train"], D["y_train"], D["X_valid"], D["y_valid"], float(D["C"])
    th = fit_newton(X, y, C)
    L = mean_logloss(th, Xv, yv)
    idx = np.arange(len(y))
    return np.array(
        [mean_logloss(fit_newton(X[idx != i], y[idx != i], C, th), Xv, yv) - L for i in idx]
    )


def brute_loo_sklearn(D, tol=1e-10):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    X, y, Xv, yv, C = D["X_train"], D["y_train"], D["X_valid"], D["y_valid"], float(D["C"])

    def L(mask):
        m = LogisticRegression(C=C, tol=tol, max_iter=10_000).fit(X[mask], y[mask])
        return log_loss(yv, m.predict_proba(Xv))

    idx = np.arange(len(y))
    full = L(np.ones(len(y), bool))
    return np.array([L(idx != i) - full for i in idx])


def sklearn_theta(D, tol=1e-10):
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=float(D["C"]), tol=tol, max_iter=10_000)
    m.fit(D["X_train"], D["y_train"])
    return np.r_[m.coef_.ravel(), m.intercept_]


def influence_closed_form(D, first_order=False, theta=None):
    """(1/N) g_val^T H^-1 g_i with H the Hessian of mean loss + ||w||^2/(2 C N), at theta
    (default: the exact optimum by Newton's method)."""
    X, y, Xv, yv, C = D["X_train"], D["y_train"], D["X_valid"], D["y_valid"], float(D["C"])
    n = len(y)
    th = fit_newton(X, y, C) if theta is None else theta
    Xa, Xva = _aug(X), _aug(Xv)
    p = 1 / (1 + np.exp(-(Xa @ th)))
    pv = 1 / (1 + np.exp(-(Xva @ th)))
    G = (p - y)[:, None] * Xa
    gv = ((pv - yv)[:, None] * Xva).mean(axis=0)
    if first_order:
        return G @ gv / n
    Dm = np.eye(Xa.shape[1])
    Dm[-1, -1] = 0.0
    H = (Xa * (p * (1 - p))[:, None]).T @ Xa / n + Dm / (C * n)
    return G @ np.linalg.solve(H, gv) / n


def knn_shapley_numpy(Xtr, ytr, Xva, yva, k):
    """Jia et al. (2019) exact KNN-Shapley, written from the paper: neighbours sorted by
    Euclidean distance (stable argsort), s_N = 1[y_N = y]/N,
    s_i = s_{i+1} + (1[y_i = y] - 1[y_{i+1} = y]) / max(K, i), averaged over test points."""
    n = len(ytr)
    out = np.zeros(n)
    for x, yv in zip(Xva, yva):
        dist = np.sqrt(((Xtr - x) ** 2).sum(axis=1))
        order = np.argsort(dist, kind="stable")
        match = (ytr[order] == yv).astype(float)
        s = np.zeros(n)
        s[n - 1] = match[n - 1] / n
        for i in range(n - 2, -1, -1):  # 0-based position i is rank i+1
            s[i] = s[i + 1] + (match[i] - match[i + 1]) / max(k, i + 1)
        out[order] += s
    return out / len(yva)


# ----------------------------------------------------------------------------------------


def run_peer(lib, method, data, out, extra=()):
    cmd = [PY[lib], RUN_PEER, "--lib", lib, "--method", method, "--data", data, "--out", out,
           "--quiet", *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{lib}/{method} failed:\n{res.stderr[-3000:]}")
    with np.load(out) as z:
        r = {k: z[k] for k in z.files}
    r["process_wall"] = wall
    return r


def spearman(a, b):
    return float(spearmanr(a, b)[0])


def check_small(work, summary):
    print("== N=200 correctness checks ==")
    D = make_synthetic(200, 100, seed=0)
    path = os.path.join(work, "synth_200.npz")
    np.savez(path, **D)
    t0 = time.perf_counter()
    bf = brute_loo_sklearn(D)
    t_bf = time.perf_counter() - t0
    ex = exact_loo_newton(D)
    th_sk = sklearn_theta(D)
    infl_cf = influence_closed_form(D, theta=th_sk)  # same theta as the peers use
    infl_exact = influence_closed_form(D)  # at the exact optimum
    fo_cf = influence_closed_form(D, first_order=True, theta=th_sk)
    r = {
        ("pydvl", "loo"): run_peer("pydvl", "loo", path, os.path.join(work, "p200_loo.npz")),
        ("pydvl", "influence"): run_peer(
            "pydvl", "influence", path, os.path.join(work, "p200_inf.npz")
        ),
        ("pydvl", "influence_dampall"): run_peer(
            "pydvl", "influence", path, os.path.join(work, "p200_inf_da.npz"),
            ["--influence-damp-intercept"],
        ),
        ("opendataval", "loo"): run_peer(
            "opendataval", "loo", path, os.path.join(work, "o200_loo.npz")
        ),
        ("opendataval", "loo_newton"): run_peer(
            "opendataval", "loo", path, os.path.join(work, "o200_loo_nc.npz"),
            ["--solver", "newton-cholesky", "--odv-precision", "float64"],
        ),
        ("opendataval", "influence"): run_peer(
            "opendataval", "influence", path, os.path.join(work, "o200_inf.npz")
        ),
    }
    pl = r[("pydvl", "loo")]["values"]
    pi = r[("pydvl", "influence")]["values"]
    checks = {
        "positives_train": int(D["y_train"].sum()),
        "max_abs_loo": float(np.abs(bf).max()),
        "brute_sklearn_seconds": t_bf,
        "pydvl_loo_vs_sklearn_bruteforce_maxabs": float(np.abs(pl - bf).max()),
        "pydvl_loo_vs_exact_newton_maxabs": float(np.abs(pl - ex).max()),
        "sklearn_bruteforce_vs_exact_newton_maxabs": float(np.abs(bf - ex).max()),
        "max_abs_influence": float(np.abs(infl_cf).max()),
        "pydvl_influence_vs_closed_form_maxabs": float(np.abs(pi - infl_cf).max()),
        "pydvl_influence_vs_closed_form_at_exact_optimum_maxabs": float(
            np.abs(pi - infl_exact).max()
        ),
        "pydvl_influence_dampall_vs_closed_form_maxabs": float(
            np.abs(r[("pydvl", "influence_dampall")]["values"] - infl_cf).max()
        ),
        "pydvl_influence_spearman_vs_loo": spearman(pi, bf),
        "pydvl_influence_pearson_vs_loo": float(np.corrcoef(pi, bf)[0, 1]),
        "odv_loo_vs_exact_newton_maxabs": float(
            np.abs(r[("opendataval", "loo")]["values"] - ex).max()
        ),
        "odv_loo_newton_cholesky_f64_vs_exact_maxabs": float(
            np.abs(r[("opendataval", "loo_newton")]["values"] - ex).max()
        ),
        "odv_loo_spearman_vs_exact": spearman(r[("opendataval", "loo")]["values"], ex),
        "odv_influence_vs_first_order_closed_form_maxabs": float(
            np.abs(r[("opendataval", "influence")]["values"] - fo_cf).max()
        ),
        "odv_influence_spearman_vs_loo": spearman(r[("opendataval", "influence")]["values"], bf),
    }
    for k, v in checks.items():
        print(f"  {k:52s} {v:.4g}")
    summary["n200"] = checks
    ok = (
        checks["pydvl_loo_vs_sklearn_bruteforce_maxabs"] < 1e-7
        and checks["pydvl_influence_vs_closed_form_maxabs"] < 1e-9
        and checks["odv_influence_vs_first_order_closed_form_maxabs"] < 1e-6
    )
    return ok


def check_large(work, n, summary, odv_f64=False):
    print(f"== N={n}: all methods ==")
    D = make_synthetic(n, n // 2, seed=0)
    path = os.path.join(work, f"synth_{n}.npz")
    np.savez(path, **D)
    rows = []
    res = {}
    for lib in ("pydvl", "opendataval"):
        for m in METHODS:
            out = os.path.join(work, f"{lib}_{m}_{n}.npz")
            r = run_peer(lib, m, path, out)
            res[(lib, m)] = r
    ref = res[("pydvl", "loo")]["values"]  # == exact LOO to ~1e-7 (checked at N=200)
    print(f"  positives: train {int(D['y_train'].sum())}/{n}, valid "
          f"{int(D['y_valid'].sum())}/{n // 2}")
    print(f"  {'lib':12s} {'method':12s} {'seconds':>9s} {'peakMB':>8s} {'+MB':>7s} "
          f"{'rho(LOO)':>9s}")
    for (lib, m), r in res.items():
        row = {
            "lib": lib, "method": m, "seconds": float(r["seconds"]),
            "peak_rss_mb": float(r["peak_rss_mb"]),
            "rss_increment_mb": float(r["peak_rss_mb"] - r["rss_before_mb"]),
            "spearman_vs_pydvl_loo": spearman(r["values"], ref),
        }
        rows.append(row)
        print(f"  {lib:12s} {m:12s} {row['seconds']:9.3f} {row['peak_rss_mb']:8.1f} "
              f"{row['rss_increment_mb']:7.1f} {row['spearman_vs_pydvl_loo']:9.3f}")
    knn_diff = float(np.abs(res[("pydvl", "knn_shapley")]["values"]
                            - res[("opendataval", "knn_shapley")]["values"]).max())
    print(f"  knn_shapley max |pyDVL - OpenDataVal| = {knn_diff:.3g}")
    print(f"  data_oob Spearman pyDVL vs OpenDataVal = "
          f"{spearman(res[('pydvl', 'data_oob')]['values'], res[('opendataval', 'data_oob')]['values']):.3f}")
    summary[f"n{n}"] = {"rows": rows, "knn_maxabs_pydvl_vs_odv": knn_diff}
    return True


def knn_reference(write, summary):
    print("== KNN-Shapley reference (N=60, 20 valid, 5 features, k=5, seed 0) ==")
    rng = np.random.default_rng(0)
    n, m, d, k = 60, 20, 5, 5
    X = rng.normal(size=(n + m, d))
    w = rng.normal(size=d)
    y = (rng.random(n + m) < 1 / (1 + np.exp(-(X @ w)))).astype(np.int64)
    Xtr, ytr, Xva, yva = X[:n], y[:n], X[n:], y[n:]
    work = os.path.join(BENCH, "verify")
    path = os.path.join(work, "knn_ref_in.npz")
    np.savez(path, X_train=Xtr, y_train=ytr, X_valid=Xva, y_valid=yva, C=np.float64(1.0),
             k=np.int64(k), n_estimators=np.int64(10), seed=np.int64(0))
    rp = run_peer("pydvl", "knn_shapley", path, os.path.join(work, "knn_ref_pydvl.npz"),
                  ["--no-warmup"])
    ro = run_peer("opendataval", "knn_shapley", path, os.path.join(work, "knn_ref_odv.npz"),
                  ["--no-warmup"])
    vp, vo = rp["values"], ro["values"]
    vn = knn_shapley_numpy(Xtr, ytr, Xva, yva, k)
    dist = np.sqrt(((Xva[:, None, :] - Xtr[None, :, :]) ** 2).sum(-1))
    gaps = np.diff(np.sort(dist, axis=1), axis=1)
    # efficiency: sum of Shapley values = u(N) - u(empty) = mean over valid of
    # (#correct among the k nearest)/k
    nn = np.argsort(dist, axis=1, kind="stable")[:, :k]
    u_full = float(np.mean((ytr[nn] == yva[:, None]).sum(1) / k))
    info = {
        "pydvl_vs_numpy_recursion_maxabs": float(np.abs(vp - vn).max()),
        "pydvl_vs_odv_float32_maxabs": float(np.abs(vp - vo).max()),
        "sum_values_minus_u_full": float(vp.sum() - u_full),
        "min_gap_between_sorted_distances": float(gaps.min()),
        "positives_train": int(ytr.sum()),
    }
    for key, v in info.items():
        print(f"  {key:40s} {v:.3g}")
    summary["knn_reference"] = info
    if write:
        out = os.path.join(HERE, "knn_reference.npz")
        np.savez(
            out, X_train=Xtr, y_train=ytr, X_valid=Xva, y_valid=yva, k=np.int64(k),
            values=vp, pydvl_version=np.array("0.10.0"),
            note=np.array(
                "pyDVL 0.10.0 KNNShapleyValuation(KNeighborsClassifier(n_neighbors=k)) values; "
                "Euclidean distance, no exact ties (min gap between sorted distances "
                f"{gaps.min():.3g}); generated by benchmarks/peers/verify_peers.py"
            ),
        )
        print(f"  wrote {out}")
    return info["pydvl_vs_numpy_recursion_maxabs"] < 1e-12


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--write-knn-reference", action="store_true")
    ap.add_argument("--json", default=None, help="write the summary here")
    args = ap.parse_args(argv)
    for lib, py in PY.items():
        if not os.path.exists(py):
            sys.exit(f"{py} missing: run benchmarks/setup_peers.sh first")
    work = os.path.join(BENCH, "verify")
    os.makedirs(work, exist_ok=True)
    summary = {}
    ok = check_small(work, summary)
    ok &= knn_reference(args.write_knn_reference, summary)
    if not args.skip_large:
        ok &= check_large(work, args.n, summary)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=2)
    print("OK" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
