#!/usr/bin/env python
"""Benchmark: boosted trees and search ranking — fidelity against tree-influence, ranking effect, scale.

    make bench-trees   # = bash benchmarks/setup_tree_peers.sh && .venv/bin/python benchmarks/run_trees.py \
                       #       --out docs/benchmarks-trees.md

Three parts, each cached as JSON under ``.bench/trees-results/`` so that ``--parts`` can rerun one of them
and the page is rewritten from all three:

``fidelity``
    A binary LightGBM and a binary XGBoost model (scikit-learn API, 20 rounds, 4 leaves / depth 2) on the
    first 500 rows of MSLR-WEB 5k train (label: relevance ≥ 1), validated on the first 500 rows of MSLR-WEB
    5k test. The model is trained once by ``peers/run_tree_influence.py`` and written in its native format;
    samplescope loads that very file (``load_model``). Every valuation runs in its own process (one thread):
    samplescope's ``boostin`` (default and ``shrunk_leaf=True``, the authors' convention),
    ``leaf_influence`` (``update_set=-1``) and ``loo`` (exact: one retraining per row); tree-influence 0.1.7's
    ``BoostIn``, ``LeafInfluence(update_set=-1)`` and ``LeafRefit(update_set=-1)`` (leave-one-out with the
    tree structures fixed) in ``.bench/venv-treeinf``. Quality: Spearman with exact refit-LOO and with
    LeafRefit; agreement: Spearman and max |ours − theirs| / max |theirs| against the peer's value of the
    same method.
``ranking``
    LightGBM lambdarank (100 rounds, 31 leaves, learning rate 0.1, ``feature_fraction=0.8`` so that the seed
    changes the model) on MSLR-WEB 5k train (5,000 documents, 43 queries), validated on MSLR-WEB 5k test.
    For every seed: fit, score with each method, remove the 5 % most harmful (lowest values) or most
    helpful (highest values) query groups (2 of 43) or documents (250), retrain with the same parameters
    ``--retrain-seeds`` times (seeds s, s + 1000, …) and measure the mean change of the validation NDCG@10
    against the full data retrained with the same seeds; the baseline removes 5 % at random (a new draw per
    seed). Query values come from ``score(..., unit="query")`` (``loo``: one retraining per query;
    ``data_oob``: 32 bootstrap models over whole queries, out-of-bag NDCG@10).
``scale``
    ``boostin`` self-influence (no validation set) of a binary LightGBM model with 100 trees on 1,000,000
    synthetic rows × 20 features, in a fresh process: wall time and peak RSS of the valuation (the peak
    mark is reset just before it through ``/proc/self/clear_refs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trees_page import render  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OURS_PY = str(ROOT / ".venv/bin/python")
PEER_PY = ROOT / ".bench/venv-treeinf/bin/python"
PEER_SCRIPT = str(ROOT / "benchmarks/peers/run_tree_influence.py")
CACHE = ROOT / ".bench/trees-results"
MSLR = os.environ.get("SAMPLESCOPE_MSLR", "/work/shared/data/mslr_web_5k")
PARTS = ("fidelity", "ranking", "scale")

FIDELITY_PARAMS = {  # scikit-learn-API parameters, as tree-influence needs them
    "lightgbm": {"n_estimators": 20, "num_leaves": 4, "learning_rate": 0.1, "reg_lambda": 1.0,
                 "min_child_samples": 20, "random_state": 0},
    "xgboost": {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.1, "reg_lambda": 1.0,
                "min_child_weight": 1.0, "random_state": 0},
}
OUR_FIDELITY = [("boostin", {}), ("boostin", {"shrunk_leaf": True}), ("leaf_influence", {"update_set": -1}),
                ("loo", {})]
PEER_FIDELITY = ["boostin", "leaf_influence", "leaf_refit"]
RANK_PARAMS = {"objective": "lambdarank", "n_estimators": 100, "num_leaves": 31, "learning_rate": 0.1,
               "feature_fraction": 0.8, "num_threads": 1}
RANK_METHODS = [("boostin", "document"), ("boostin", "query"), ("leaf_influence", "document"),
                ("leaf_influence", "query"), ("loo", "query"), ("el2n", "document"), ("el2n", "query"), ("margin", "document"),
                ("margin", "query"), ("data_oob", "query")]
RANK_PARAMS_BY_METHOD = {"data_oob": {"n_estimators": 32, "metric": "ndcg@10"}}  # out-of-bag NDCG@10 per query


# ------------------------------------------------------------------ memory
def status_mb(key: str = "VmRSS") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_since_reset(reset: bool) -> float:
    return status_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_thread() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = "1"


# ------------------------------------------------------------------ workers (fresh processes)
def worker_fidelity(args) -> int:
    """Load the peer-trained model file and run one samplescope method on it."""
    one_thread()
    import warnings

    import samplescope as ss
    from samplescope.models import load_model

    d = np.load(args.data)
    train = ss.from_arrays(d["X_train"], d["y_train"].astype(float), name="train")
    valid = ss.from_arrays(d["X_valid"], d["y_valid"].astype(float), name="valid")
    folder = Path(args.model_dir)
    if args.library == "lightgbm":
        model = load_model(folder / "model.txt", train)
    else:
        model = load_model(folder / "model.json", train, params=(folder / "config.json").read_text())
    params = json.loads(args.params)
    before = status_mb()
    reset = reset_peak()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the Newton check must pass on the peer's model
        res = ss.score(args.method, model, train, valid=valid, **params)
    seconds = time.perf_counter() - t0
    np.savez(args.out, values=res.values, seconds=seconds, peak_rss_mb=peak_since_reset(reset),
             rss_before_mb=before)
    return 0


def worker_scale(args) -> int:
    """boostin self-influence of a saved LightGBM model on saved rows."""
    one_thread()
    import samplescope as ss
    from samplescope.models import load_model

    X = np.load(args.data + ".X.npy")
    y = np.load(args.data + ".y.npy")
    train = ss.from_arrays(X, y, name="scale")
    model = load_model(args.model_dir, train)
    before = status_mb()
    reset = reset_peak()
    t0 = time.perf_counter()
    res = ss.score("boostin", model, train)
    seconds = time.perf_counter() - t0
    peak = peak_since_reset(reset)
    np.savez(args.out, seconds=seconds, peak_rss_mb=peak, rss_before_mb=before, n=train.n,
             trees=model.n_trees, finite=bool(np.all(np.isfinite(res.values))),
             leaf_matrix_mb=train.n * model.n_trees * 4 / 2**20, x_mb=X.nbytes / 2**20)
    return 0


def run(cmd: list[str], timeout: float = 3600) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.npz"
        try:
            proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout > {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
        with np.load(out, allow_pickle=False) as f:
            return {k: f[k].tolist() for k in f.files}


# ------------------------------------------------------------------ data
def mslr(split: str):
    from samplescope.datasets import load_mslr_5k

    return load_mslr_5k(split, source=MSLR)


def fidelity_data(path: Path, n: int) -> None:
    tr, te = mslr("train"), mslr("test")
    np.savez(path, X_train=tr.X[:n].toarray(), y_train=(tr.y[:n] >= 1).astype(float),
             X_valid=te.X[:n].toarray(), y_valid=(te.y[:n] >= 1).astype(float))


# ------------------------------------------------------------------ part 1: fidelity
def part_fidelity(args) -> dict:
    from scipy.stats import spearmanr

    out: dict = {"n": args.fidelity_rows, "libraries": {}}
    peer_ok = PEER_PY.exists() and not args.no_peers
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        fidelity_data(data, args.fidelity_rows)
        for lib, params in FIDELITY_PARAMS.items():
            mdir = Path(tmp) / lib
            trainer = str(PEER_PY) if peer_ok else OURS_PY  # LGBMClassifier / XGBClassifier exist in both
            base = [trainer, PEER_SCRIPT, "--data", str(data), "--library", lib, "--params", json.dumps(params)]
            made = run([*base, "--method", "none", "--model-dir", str(mdir)])
            if "error" in made:
                raise RuntimeError(f"training the {lib} fidelity model failed: {made['error']}")
            rows = {}
            for method, kw in OUR_FIDELITY:
                label = method + ("(shrunk_leaf)" if kw.get("shrunk_leaf") else "")
                print(f"[fidelity] {lib} samplescope {label}", file=sys.stderr, flush=True)
                rows[("samplescope", label)] = run([OURS_PY, __file__, "--worker", "fidelity", "--data", str(data),
                                                    "--library", lib, "--model-dir", str(mdir), "--method",
                                                    method, "--params", json.dumps(kw)])
            if peer_ok:
                for method in PEER_FIDELITY:
                    print(f"[fidelity] {lib} tree-influence {method}", file=sys.stderr, flush=True)
                    rows[("tree-influence", method)] = run([*base, "--method", method])
            loo = np.asarray(rows[("samplescope", "loo")]["values"])
            refit = rows.get(("tree-influence", "leaf_refit"), {}).get("values")
            table = []
            for (libname, label), r in rows.items():
                entry = {"library": libname, "method": label}
                if "error" in r:
                    entry["error"] = r["error"]
                    table.append(entry)
                    continue
                v = np.asarray(r["values"])
                entry.update(seconds=r["seconds"], peak_mb=r["peak_rss_mb"],
                             rise_mb=max(0.0, r["peak_rss_mb"] - r["rss_before_mb"]))
                if label != "loo":
                    entry["rho_loo"] = float(spearmanr(v, loo)[0])
                if refit is not None and label != "leaf_refit":
                    entry["rho_refit"] = float(spearmanr(v, refit)[0])
                peer_name = label.split("(")[0]
                peer = rows.get(("tree-influence", peer_name))
                if libname == "samplescope" and peer is not None and "values" in peer:
                    pv = np.asarray(peer["values"])
                    entry["agree_rho"] = float(spearmanr(v, pv)[0])
                    entry["agree_rel"] = float(np.max(np.abs(v - pv)) / np.max(np.abs(pv)))
                    entry["time_ratio"] = peer["seconds"] / r["seconds"]
                    entry["peak_ratio"] = peer["peak_rss_mb"] / r["peak_rss_mb"]
                    entry["rise_ratio"] = (max(1.0, peer["peak_rss_mb"] - peer["rss_before_mb"])
                                           / max(1.0, entry["rise_mb"]))
                table.append(entry)
            out["libraries"][lib] = {"params": params, "rows": table}
    if peer_ok:
        out["peer"] = "tree-influence 0.1.7"  # pinned by setup_tree_peers.sh
    return out


# ------------------------------------------------------------------ part 2: ranking effect
def part_ranking(args) -> dict:
    import warnings

    import samplescope as ss
    from samplescope.errors import MethodError
    from samplescope.metrics import ndcg

    train, valid = mslr("train"), mslr("test")
    b = train.group_bounds
    n_groups = len(b) - 1
    k_q = max(1, int(round(args.fraction * n_groups)))
    k_d = max(1, int(round(args.fraction * train.n)))
    gid = np.repeat(np.arange(n_groups), np.diff(b))

    def ndcg10(model):
        return float(ndcg(valid.y, model.scores(valid), valid.group_bounds, k=10))

    def removed_weight(unit, members):
        w = np.ones(train.n)
        w[np.isin(gid, members) if unit == "query" else members] = 0.0
        return w

    results: dict = {}
    base_scores = []
    skipped: dict = {}
    for seed in range(args.seeds):
        t_seed = time.perf_counter()
        params = {**RANK_PARAMS, "n_estimators": args.rounds}
        model = ss.fit_model("lightgbm", train, seed=seed, **params)
        base = ndcg10(model)
        base_scores.append(base)

        # the outcome of a removal is the mean over `retrain_seeds` retrainings (seed, seed + 1000, ...): a
        # user removes rows, not one seed's model, and one retraining's NDCG@10 moves by about as much as the
        # effect measured (leave-one-query-out effects of one seed correlate with another seed's at ≈ 0)
        retrain = [seed + 1000 * j for j in range(args.retrain_seeds)]

        def ndcg_mean(w):
            return float(np.mean([ndcg10(ss.fit_model("lightgbm", train.with_weight(w), seed=rs, **params))
                                  for rs in retrain]))

        base_r = ndcg_mean(np.ones(train.n))

        def after(unit, members):
            return ndcg_mean(removed_weight(unit, members)) - base_r

        rng = np.random.default_rng(1000 + seed)
        rand = {}
        for unit, k, size in (("query", k_q, n_groups), ("document", k_d, train.n)):
            draws = [after(unit, rng.choice(size, k, replace=False)) for _ in range(args.random_draws)]
            rand[unit] = float(np.mean(draws))
            results.setdefault(("random", unit), {"harmful": [], "helpful": [], "draws": []})
            results[("random", unit)]["harmful"].append(rand[unit])
            results[("random", unit)]["draws"].extend(draws)
        doc_cache: dict = {}
        query_values: dict = {}
        for method, unit in RANK_METHODS:
            key = (method, unit)
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    if method == "boostin" and unit == "query" and "boostin" in doc_cache:
                        # score(unit="query") sums the documents' values (aggregate "sum"): reuse them
                        v = np.add.reduceat(doc_cache["boostin"], b[:-1])
                    else:
                        v = ss.score(method, model, train, valid=valid if method in ("boostin", "loo", "leaf_influence") else None,
                                     unit=unit, seed=seed, **RANK_PARAMS_BY_METHOD.get(method, {})).values
            except MethodError as exc:
                skipped[key] = str(exc)
                continue
            if unit == "document":
                doc_cache[method] = v
            else:
                query_values[method] = v
            secs = time.perf_counter() - t0
            k = k_q if unit == "query" else k_d
            order = np.argsort(v, kind="stable")
            r = results.setdefault(key, {"harmful": [], "helpful": [], "seconds": [], "vs_random_harmful": [],
                                         "vs_random_helpful": []})
            r["harmful"].append(after(unit, order[:k]))
            r["helpful"].append(after(unit, order[-k:]))
            r["vs_random_harmful"].append(r["harmful"][-1] - rand[unit])  # paired: same seed, same model
            r["vs_random_helpful"].append(r["helpful"][-1] - rand[unit])
            r["seconds"].append(secs)
        if "loo" in query_values:  # how each method ranks the queries against exact leave-one-query-out
            from scipy.stats import spearmanr

            for method, v in query_values.items():
                if method != "loo":
                    rho = float(spearmanr(v, query_values["loo"])[0])
                    results[(method, "query")].setdefault("rho_loo", []).append(rho)
        print(f"[ranking] seed {seed}: base NDCG@10 {base:.4f}, {time.perf_counter() - t_seed:.0f} s",
              file=sys.stderr, flush=True)
    return {"seeds": args.seeds, "rounds": args.rounds, "random_draws": args.random_draws, "k_query": k_q,
            "retrain_seeds": args.retrain_seeds,
            "k_document": k_d, "n_groups": n_groups,
            "n": train.n, "base": base_scores,
            "rows": [{"method": m, "unit": u, **r} for (m, u), r in results.items()],
            "skipped": [{"method": m, "unit": u, "reason": why} for (m, u), why in skipped.items()]}


# ------------------------------------------------------------------ part 3: scale
def part_scale(args) -> dict:
    import lightgbm as lgb

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.scale_rows:
            rng = np.random.default_rng(7)
            d = 20
            X = rng.normal(size=(n, d))
            s = X[:, 0] - 0.5 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] - 1.0
            y = (rng.random(n) < 1 / (1 + np.exp(-s))).astype(np.float64)
            stem = str(Path(tmp) / f"scale{n}")
            np.save(stem + ".X.npy", X)
            np.save(stem + ".y.npy", y)
            t0 = time.perf_counter()
            booster = lgb.train({"objective": "binary", "num_leaves": 31, "learning_rate": 0.1, "verbosity": -1,
                                 "num_threads": 1, "deterministic": True, "force_row_wise": True, "seed": 0},
                                lgb.Dataset(X, y), num_boost_round=args.scale_trees)
            fit_s = time.perf_counter() - t0
            model_path = stem + ".model.txt"
            booster.save_model(model_path)
            del X, y, booster
            print(f"[scale] {n:,} rows: model trained in {fit_s:.0f} s; boostin self-influence ...", file=sys.stderr,
                  flush=True)
            r = run([OURS_PY, __file__, "--worker", "scale", "--data", stem, "--model-dir", model_path])
            r["fit_seconds"] = fit_s
            r["rows"] = n
            out.append(r)
    return {"runs": out, "trees": args.scale_trees}


def _keyed(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/benchmarks-trees.md")
    ap.add_argument("--parts", nargs="*", choices=PARTS, default=list(PARTS),
                    help="parts to (re)run (none: only rewrite the page); the others are read from "
                         ".bench/trees-results/ when there")
    ap.add_argument("--no-peers", action="store_true", help="skip tree-influence (no .bench/venv-treeinf)")
    ap.add_argument("--fidelity-rows", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--random-draws", type=int, default=3, help="random removals per seed (their mean is used)")
    ap.add_argument("--retrain-seeds", type=int, default=3,
                    help="ranking: retrainings (seeds) averaged for the NDCG@10 after each removal")
    ap.add_argument("--scale-rows", type=int, nargs="+", default=[250_000, 1_000_000])
    ap.add_argument("--scale-trees", type=int, default=100)
    # internal: one valuation in a fresh process
    ap.add_argument("--worker", choices=("fidelity", "scale"))
    ap.add_argument("--data")
    ap.add_argument("--library")
    ap.add_argument("--model-dir")
    ap.add_argument("--method")
    ap.add_argument("--params", default="{}")
    args = ap.parse_args(argv)
    if args.worker:  # --out is then the .npz the worker writes
        return worker_fidelity(args) if args.worker == "fidelity" else worker_scale(args)
    one_thread()
    CACHE.mkdir(parents=True, exist_ok=True)
    runners = {"fidelity": part_fidelity, "ranking": part_ranking, "scale": part_scale}
    parts = {}
    for name in PARTS:
        path = CACHE / f"{name}.json"
        if name in args.parts:
            t0 = time.perf_counter()
            parts[name] = _keyed(runners[name](args))
            parts[name]["wall_seconds"] = time.perf_counter() - t0
            path.write_text(json.dumps(parts[name], indent=1))
        elif path.exists():
            parts[name] = json.loads(path.read_text())
    meta = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{date.today().isoformat()}")
    text = render(parts, meta, "bash benchmarks/setup_tree_peers.sh && .venv/bin/python benchmarks/run_trees.py "
                               f"--out {args.out}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
