"""Evidence for ``samplescope select``: three dataset/model pairs; what it recommends, the full-data run
time it predicted, and what the full run then took. Writes ``docs/selection.md``.

    .venv/bin/python benchmarks/selection.py --out docs/selection.md

Pairs (all data ships with samplescope or scikit-learn; no network):

1. Open Bandit Dataset clicks (ZOZOTOWN, bundled) + logistic regression, goal ``noise``;
2. scikit-learn's bundled ``load_digits`` (10 classes) + multinomial logistic regression, goal ``explain``;
3. LightGBM's lambdarank example (bundled, query groups, graded labels) + a LightGBM lambdarank booster,
   goal ``prune``.

BLAS runs single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set) so that the timings do not depend on
how busy a shared machine is; the prediction and the full run are measured under the same setting.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def obd_pair():
    from samplescope.data.readers import read_table
    from samplescope.datasets import write_obd_files
    from samplescope.models import fit_model

    folder = tempfile.mkdtemp(prefix="samplescope-obd-")
    tp, vp = write_obd_files(folder, policy="pooled", campaign="all")
    train = read_table(tp, label="click", id="impression_id")
    valid = read_table(vp, label="click", id="impression_id", encoder=train.encoder)
    return ("OBD clicks (pooled, all)", "logistic C=1", train, valid, fit_model("logistic", train, C=1.0), "noise",
            ("newton_loo", "loo"))


def digits_pair():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import samplescope as ss

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    train = ss.from_arrays(Xtr, ytr.astype(float), name="digits-train")
    valid = ss.from_arrays(Xva, yva.astype(float), name="digits-valid")
    return ("sklearn load_digits (10 classes)", "logistic C=1", train, valid, ss.fit_model("logistic", train),
            "explain", ("newton_loo", "loo"))


def lambdarank_pair():
    import samplescope as ss
    from samplescope.datasets import load_lambdarank_example

    train, valid = load_lambdarank_example("train"), load_lambdarank_example("test")
    model = ss.fit_model("lightgbm", train, objective="lambdarank", n_estimators=50, num_leaves=15)
    return "LightGBM lambdarank example", "LightGBM lambdarank, 50 trees", train, valid, model, "prune", ("self_loss",)


PAIRS = {"obd": obd_pair, "digits": digits_pair, "lambdarank": lambdarank_pair}


def run_pair(make, budget_s: float, max_seconds: float, seed: int) -> dict:
    from samplescope.methods.base import score
    from samplescope.select import measure, select

    name, model_desc, train, valid, model, goal, also = make()
    t0 = time.perf_counter()
    sel = select(model, train, valid, goal=goal, budget_s=budget_s, max_seconds=max_seconds, seed=seed)
    select_s = time.perf_counter() - t0
    rec = sel.recommendation
    row = {"data": name, "model": model_desc, "n": train.n, "m": valid.n, "goal": goal, "select_s": select_s,
           "rec": rec, "sel": sel}
    full = {}
    for m in dict.fromkeys([rec, *also]):
        if m is None or not np.isfinite(sel.table.loc[m, "pred_seconds"]):
            continue
        meas = measure(lambda: score(m, model, train, valid=valid, seed=seed), memory=True)
        t = sel.table.loc[m]
        full[m] = {"pred_s": float(t["pred_seconds"]), "law": t["time_law"], "sizes": t["sizes"],
                   "pred_mb": float(t["pred_memory_mb"]), "full_s": meas.seconds,
                   "full_mb": np.nan if meas.peak_bytes is None else meas.peak_bytes / 2**20}
    row["full"] = full
    if rec is not None:
        row.update(full[rec])
    return row


def _f(v: float, fmt: str = "{:.2f}") -> str:
    return "–" if not np.isfinite(v) else fmt.format(v)


def _mb(v: float) -> str:
    return "–" if not np.isfinite(v) else ("< 1 MB" if v < 1 else f"{v:,.0f} MB")


def _s(v: float) -> str:
    return f"{v:.3g} s" if v < 100 else f"{v:,.0f} s"


def to_markdown(rows: list[dict], budget_s: float, max_seconds: float) -> str:
    lines = [
        "# Selection: does `samplescope select` pick a sensible method, and does it know what it will cost?",
        "",
        "Produced by `.venv/bin/python benchmarks/selection.py --out docs/selection.md` "
        f"(Python {platform.python_version()}, {platform.machine()}, BLAS single-threaded; "
        f"budget {budget_s:g} s for the full run, select limited to {max_seconds:g} s).",
        "",
        "For each dataset/model pair, `select` measured every registered method the model supports on stratified "
        "subsamples (agreement with exact leave-one-out, planted label errors, removal curves, stability, time "
        "and memory at growing sizes), recommended one for the stated goal, and predicted its run time on all "
        "training rows from a fitted a·nᵇ. Then the recommended method ran on all rows.",
        "",
        "| data | model | train rows | goal | select took | recommended | predicted full run "
        "| time fit (timed at rows) | full run took | actual / predicted |",
        "|---|---|---:|---|---:|---|---:|---|---:|---:|",
    ]
    for r in rows:
        if r["rec"] is None:
            lines.append(f"| {r['data']} | {r['model']} | {r['n']:,} | {r['goal']} | {_s(r['select_s'])} | none fits "
                         "the budget | | | | |")
            continue
        lines.append(f"| {r['data']} | {r['model']} | {r['n']:,} | {r['goal']} | {_s(r['select_s'])} | **{r['rec']}** "
                     f"| {_s(r['pred_s'])} | {r['law']} ({r['sizes']}) | {_s(r['full_s'])} "
                     f"| {r['full_s'] / r['pred_s']:.2g}× |")
    lines += ["", "The prediction is a·nᵇ through the three largest subsamples timed, with 1 ≤ b ≤ 3 "
              "(every method touches every row; a flatter curve on small subsamples only means a fixed cost "
              "such as a p³ factorisation dominates there). Runs under 2 ms are mostly overhead and are "
              "extrapolated linearly. "
              "The full run also pays what the subsample runs did not: the fitted scikit-learn model is first moved "
              "to the exact optimum of its objective.", "",
              "Predicted and measured on the full data for more methods (memory: peak resident set size on top of "
              "what the process held):", "",
              "| data | method | predicted time | took | actual / predicted | predicted memory | peak memory |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        for m, x in r["full"].items():
            lines.append(f"| {r['data']} | {m} | {_s(x['pred_s'])} | {_s(x['full_s'])} | "
                         f"{x['full_s'] / x['pred_s']:.2g}× | {_mb(x['pred_mb'])} | {_mb(x['full_mb'])} |")
    lines.append("")
    for r in rows:
        sel = r["sel"]
        t = sel.table
        shown = t[t.supported & (t.index != "random") & (t.status != "supported; not compared (not among the "
                                                                       "chosen methods)")]
        shown = shown.sort_values("score", ascending=False)
        lines += [f"## {r['data']} — {r['model']}, goal `{r['goal']}`", "",
                  f"{r['n']:,} training rows, {r['m']:,} validation rows; select took {_s(r['select_s'])} "
                  f"(subsample sizes {', '.join(map(str, sel.settings['sizes']))}).", "",
                  "| method | LOO ρ | flip AUC | stability | prune gain | helpful drop | predicted full run | score |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        f = _f
        for m, x in shown.iterrows():
            name = f"**{m}**" if m == sel.recommendation else m
            pred = _s(x.pred_seconds) if np.isfinite(x.pred_seconds) else x.status
            lines.append(f"| {name} | {f(x.loo_spearman)} | {f(x.flip_auc)} | {f(x.stability)} | "
                         f"{f(x.prune_gain, '{:+.1%}')} | {f(x.helpful_drop, '{:+.1%}')} | {pred} | {f(x.score)} |")
        rnd = t.loc["random"]
        lines.append(f"| random | {f(rnd.loo_spearman)} | {f(rnd.flip_auc)} | {f(rnd.stability)} | | | | "
                     f"{f(rnd.score)} |")
        lines += ["", "Why, in `select`'s words:", ""] + [f"- {x}" for x in sel.reasons] + [""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/selection.md")
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from samplescope.result import atomic_write

    rows = []
    for key in args.pairs:
        print(f"· {key}", flush=True)
        rows.append(run_pair(PAIRS[key], args.budget, args.max_seconds, args.seed))
        r = rows[-1]
        pred, took = r.get("pred_s", float("nan")), r.get("full_s", float("nan"))
        print(f"  {r['rec']}: predicted {pred:.3g} s, took {took:.3g} s", flush=True)
    text = to_markdown(rows, args.budget, args.max_seconds)
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
