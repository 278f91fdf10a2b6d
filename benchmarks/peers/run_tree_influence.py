#!/usr/bin/env python
"""Train one binary booster and run tree-influence's BoostIn or LeafInfluence on it (peer of run_trees.py).

Runs in ``.bench/venv-treeinf`` (created by ``benchmarks/setup_tree_peers.sh``), never in the project venv:

    .bench/venv-treeinf/bin/python benchmarks/peers/run_tree_influence.py --data IN.npz --library lightgbm \
        --params '{"n_estimators": 30, ...}' --method boostin --out OUT.npz [--model-dir DIR]

tree-influence (Brophy, Hammoudeh & Lowd, JMLR 2023) reads scikit-learn-API models only, so the model is
trained here with ``LGBMClassifier`` / ``XGBClassifier`` and written to ``--model-dir`` in the library's
native format (``model.txt`` for LightGBM; ``model.json`` + ``config.json`` for XGBoost), which samplescope
then loads with ``load_model`` — both sides value the very same trees. Training is deterministic (one
thread, fixed seed), so every run of this script builds the same model.

Methods: ``boostin`` (BoostIn), ``leaf_influence`` (LeafInfluence) and ``leaf_refit`` (LeafRefit: leave-one-out
with the tree structures fixed and every leaf value re-fitted by the Newton recursion — the quantity
LeafInfluence approximates to first order), all with ``update_set=-1`` unless ``--update-set`` says otherwise.

Values: ``get_local_influence(X_valid, y_valid)`` is the ``(n_train, n_valid)`` matrix of each training row's
influence on each validation row's loss (positive = helpful); its row mean is the influence on the mean
validation loss, the quantity samplescope's ``boostin`` / ``leaf_influence`` return with a validation set.
``seconds`` covers ``fit`` + ``get_local_influence`` (model parsing included, training excluded); peak
memory is the process's peak RSS from just before ``fit`` on (the kernel's mark is reset there through
``/proc/self/clear_refs``), reported with the RSS at that moment so that the rise can be taken.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def status_mb(key: str = "VmRSS") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so that it covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def train_model(library: str, params: dict, X, y):
    if library == "lightgbm":
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(objective="binary", n_jobs=1, deterministic=True, force_row_wise=True,
                               verbose=-1, **params)
    else:
        from xgboost import XGBClassifier

        # tree-influence's XGBoost parser takes the init score of a binary model to be 0 (base_score 0.5)
        model = XGBClassifier(objective="binary:logistic", n_jobs=1, tree_method="hist", base_score=0.5, **params)
    return model.fit(X, y)


def save_native(library: str, model, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    if library == "lightgbm":
        model.booster_.save_model(os.path.join(folder, "model.txt"))
    else:
        booster = model.get_booster()
        booster.save_model(os.path.join(folder, "model.json"))
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write(booster.save_config())


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--library", choices=("lightgbm", "xgboost"), required=True)
    ap.add_argument("--params", required=True, help="JSON of scikit-learn-API booster parameters")
    ap.add_argument("--method", choices=("boostin", "leaf_influence", "leaf_refit", "none"), required=True)
    ap.add_argument("--update-set", type=int, default=-1, help="LeafInfluence update_set")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model-dir", default=None, help="write the trained model here in its native format")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = "1"
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np

    d = np.load(args.data)
    Xtr, ytr, Xva, yva = d["X_train"], d["y_train"].astype(int), d["X_valid"], d["y_valid"].astype(int)
    model = train_model(args.library, json.loads(args.params), Xtr, ytr)
    if args.model_dir:
        save_native(args.library, model, args.model_dir)
    if args.method == "none":  # training only
        np.savez(args.out, trained=True)
        return 0
    from importlib.metadata import version

    from tree_influence.explainers import BoostIn, LeafInfluence, LeafRefit

    before = status_mb()
    reset = reset_peak()
    t0 = time.perf_counter()
    if args.method == "boostin":
        explainer = BoostIn()
    elif args.method == "leaf_influence":
        explainer = LeafInfluence(update_set=args.update_set, n_jobs=1)
    else:  # leave-one-out with every tree structure fixed, leaf values re-fitted exactly (the reference of both)
        explainer = LeafRefit(update_set=args.update_set, n_jobs=1)
    explainer.fit(model, Xtr, ytr)
    local = explainer.get_local_influence(Xva, yva)  # (n_train, n_valid)
    values = np.asarray(local, dtype=np.float64).mean(axis=1)
    seconds = time.perf_counter() - t0
    peak = status_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(args.out, values=values, seconds=seconds, peak_rss_mb=peak, rss_before_mb=before,
             lib="tree-influence", lib_version=version("tree-influence"), method=args.method,
             note=f"tree_influence {type(explainer).__name__} row mean over {len(yva)} validation rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
