"""The page of ``run_trees.py``: docs/benchmarks-trees.md rendered from the three parts' JSON results.

Every statement about the numbers is computed from them (failures, paired t, seeds beating random), so the
page stays true when it is regenerated.
"""

from __future__ import annotations

import numpy as np


def _ms(xs) -> str:
    xs = np.asarray(xs, dtype=float)
    if xs.size == 0:
        return ""
    return f"{xs.mean():+.4f} ± {xs.std(ddof=1) if len(xs) > 1 else 0.0:.4f}"


def _num(x, fmt="{:.3g}") -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else fmt.format(x)


def render(parts: dict, meta: str, cmd: str) -> str:
    L = ["# Benchmarks: ranking and trees", "",
         f"Produced by `make bench-trees` (`{cmd}`) on {meta} (a machine shared with other jobs: wall times are "
         "indicative; each ratio compares runs made one after the other). Part of `make bench`; the linear-model "
         "page is "
         "[benchmarks.md](benchmarks.md). Every number below comes from this run; nothing is copied from "
         "elsewhere.", ""]
    f = parts.get("fidelity")
    if f:
        L += ["## Fidelity: boostin and leaf_influence against tree-influence and exact leave-one-out", "",
              f"Binary models on the first {f['n']} rows of MSLR-WEB 5k train (relevance ≥ 1), validated on the "
              f"first {f['n']} rows of MSLR-WEB 5k test. Each model is trained once by "
              "`benchmarks/peers/run_tree_influence.py` (scikit-learn API, one thread) and saved natively; "
              "samplescope reads that same file with `load_model`, tree-influence uses the in-memory model. "
              "Values are the influence on the mean validation log-loss (tree-influence: the row mean of "
              "`get_local_influence`). Every row is its own process, one thread; `seconds` covers the valuation "
              "only (tree-influence: `fit` + `get_local_influence`; model training and imports excluded); "
              "`peak MB` is the process's peak RSS from the start of the valuation, `rise MB` its rise over the "
              "RSS at that start (1 MB floor in ratios). Ratios are tree-influence ÷ samplescope for the same "
              "method. `exact LOO` = samplescope's `loo`: one full retraining per row (tree structures free to "
              "change); `LeafRefit` = tree-influence's leave-one-out with every tree structure fixed and the "
              "leaf values re-fitted (the quantity LeafInfluence linearises).", ""]
        for lib, block in f["libraries"].items():
            ps = ", ".join(f"{k}={v}" for k, v in block["params"].items())
            L += [f"### {'LightGBM' if lib == 'lightgbm' else 'XGBoost'} ({ps})", "",
                  "| method | library | seconds | peak MB | rise MB | time ratio | rise ratio | Spearman vs exact "
                  "LOO | Spearman vs LeafRefit | agreement with tree-influence: Spearman / max rel. diff |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
            for r in block["rows"]:
                if "error" in r:
                    L.append(f"| {r['method']} | {r['library']} | error: {r['error']} | | | | | | | |")
                    continue
                agree = (f"{r['agree_rho']:.6f} / {r['agree_rel']:.1e}" if "agree_rho" in r else "")
                L.append(f"| {r['method']} | {r['library']} | {_num(r['seconds'])} | {r['peak_mb']:.0f} | "
                         f"{r['rise_mb']:.1f} | {_num(r.get('time_ratio'), '{:.0f}×')} | "
                         f"{_num(r.get('rise_ratio'), '{:.1f}×')} | {_num(r.get('rho_loo'), '{:.3f}')} | "
                         f"{_num(r.get('rho_refit'), '{:.3f}')} | {agree} |")
            L.append("")
        L += ["`boostin(shrunk_leaf)` is the authors' convention (the shrunk leaf value η·v in g + h·v) and "
              "reproduces tree-influence's BoostIn; samplescope's default uses the unshrunk Newton value v, "
              "the exact derivative of the leaf value (see `methods/boostin.py`), hence its lower agreement. "
              "Spearman with exact refit-LOO is low for every method on both sides: removing one of 500 rows "
              "changes the split thresholds and feature choices of later trees, a discontinuous effect that "
              "no fixed-structure derivative sees; against the fixed-structure leave-one-out (LeafRefit) "
              "leaf_influence is close to exact.", ""]
    rk = parts.get("ranking")
    if rk:
        L += ["## Ranking effect on real data: remove 5 %, retrain, validation NDCG@10", "",
              f"LightGBM lambdarank ({rk['rounds']} rounds, 31 leaves, learning rate 0.1, feature_fraction 0.8, "
              f"one thread) on MSLR-WEB 5k train ({rk['n']:,} documents, {rk['n_groups']} queries), validated on "
              "MSLR-WEB 5k test. Per seed (the model's seed and the random draw): fit, score, remove the "
              f"{rk['k_query']} query groups (5 % of {rk['n_groups']}) or {rk['k_document']} documents (5 %) "
              "that the method values lowest (most harmful) or highest (most helpful), retrain with the same "
              f"parameters and measure the change of validation NDCG@10, averaged over {rk.get('retrain_seeds', 1)} "
              "retrainings (seeds s, s + 1000, …; the change is against the full data retrained with the same "
              "seeds): a team removes rows, not one seed's model, and a single retraining moves NDCG@10 by about as "
              "much as the effects measured. Mean ± sd over "
              f"{rk['seeds']} seeds; base NDCG@10 {np.mean(rk['base']):.4f} ± {np.std(rk['base'], ddof=1):.4f}. "
              "`boostin`, `leaf_influence` and `loo` value the validation lambdarank loss (the same test set NDCG "
              "is measured on); `el2n` and `margin` need no validation set; `data_oob` scores each query by the "
              "NDCG@10 of 32 bootstrap models (over whole queries) that never saw it. The random row is the mean of "
              f"{rk.get('random_draws', 1)} random removals per seed. Desired: the harmful column above the random "
              "row of the same unit, the helpful column below it; `− random` columns are the per-seed (paired) "
              "differences from that seed's random removal. `ρ loo` = Spearman of the query values with exact "
              "leave-one-query-out (`loo`), per seed.", ""]
        L += ["| method | unit | NDCG@10 change, most harmful removed | − random | most helpful removed | − random "
              "| harmful > random | helpful < random | seeds beating random (harmful · helpful) | ρ loo | "
              "scoring seconds |",
              "|---|---|---:|---:|---:|---:|:---:|:---:|:---:|---:|---:|"]
        rows = {(r["method"], r["unit"]): r for r in rk["rows"]}
        for unit in ("query", "document"):
            rnd = rows.get(("random", unit))
            if rnd:
                L.append(f"| random | {unit} | {_ms(rnd['harmful'])} | | | | | | | | |")
            for r in rk["rows"]:
                if r["unit"] != unit or r["method"] == "random":
                    continue
                h, p = np.mean(r["harmful"]), np.mean(r["helpful"])
                ok_h = "yes" if rnd and h > np.mean(rnd["harmful"]) else "no"
                ok_p = "yes" if rnd and p < np.mean(rnd["harmful"]) else "no"
                rho = _ms(r["rho_loo"]).replace("+", "") if r.get("rho_loo") else ""
                reused = r["method"] == "boostin" and unit == "query" and np.mean(r["seconds"]) < 0.05
                secs = "sum of the document values" if reused else f"{np.mean(r['seconds']):.1f}"
                vh, vp = np.asarray(r.get("vs_random_harmful", [])), np.asarray(r.get("vs_random_helpful", []))
                beat = f"{int((vh > 0).sum())}/{len(vh)} · {int((vp < 0).sum())}/{len(vp)}"
                L.append(f"| {r['method']} | {unit} | {_ms(r['harmful'])} | {_ms(r.get('vs_random_harmful', []))} | "
                         f"{_ms(r['helpful'])} | {_ms(r.get('vs_random_helpful', []))} | {ok_h} | {ok_p} | {beat} | "
                         f"{rho} | {secs} |")
        for s in rk.get("skipped", []):
            L.append(f"| {s['method']} | {s['unit']} | not available: {s['reason']} | | | | | | | | |")
        L.append("")
        L += _ranking_findings(rk, rows) + _query_noise(rk, rows)
        if rk.get("notes"):
            L += [rk["notes"], ""]
    sc = parts.get("scale")
    if sc:
        L += ["## Scale: boostin self-influence, bounded memory", "",
              f"Binary LightGBM, {sc['trees']} trees of 31 leaves, on synthetic rows × 20 float64 features, "
              "scored without a validation set (`score(\"boostin\", model, train)`) in a fresh process, one "
              "thread. `peak MB` is the process's peak RSS during the valuation (mark reset at its start); it "
              "includes the features and the model already loaded (`before MB`). An n × n matrix at 1M rows "
              "would take 8 TB; the method keeps the `(n, T)` int32 leaf matrix and O(n) vectors per round.", "",
              "| rows | trees | boostin seconds | before MB | peak MB | rise MB | features MB | leaf matrix MB | "
              "rows / s |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in sc["runs"]:
            if "error" in r:
                L.append(f"| {r['rows']:,} | {sc['trees']} | error: {r['error']} | | | | | | |")
                continue
            L.append(f"| {r['rows']:,} | {r['trees']} | {r['seconds']:.1f} | {r['rss_before_mb']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] - r['rss_before_mb']:.0f} | {r['x_mb']:.0f} | "
                     f"{r['leaf_matrix_mb']:.0f} | {r['rows'] / r['seconds']:,.0f} |")
        L.append("")
    return "\n".join(L)


def _query_noise(rk: dict, rows: dict) -> list[str]:
    """How far the query-level effects stand above the seed-to-seed noise (paired t = mean / (sd / √seeds))."""
    def t(xs):
        xs = np.asarray(xs, dtype=float)
        return float(xs.mean() / (xs.std(ddof=1) / np.sqrt(len(xs)))) if len(xs) > 1 and xs.std() > 0 else 0.0

    parts = [f"`{m}` {t(r['vs_random_harmful']):+.1f} / {t(r['vs_random_helpful']):+.1f}"
             for (m, u), r in rows.items() if u == "query" and m in ("boostin", "leaf_influence", "loo")]
    if not parts:
        return []
    doc = rows.get(("boostin", "document"))
    doc_t = (f"`boostin` by document (removing {rk['k_document']} of {rk['n']:,} documents: t "
             f"{t(doc['vs_random_harmful']):+.1f} / {t(doc['vs_random_helpful']):+.1f})") if doc else "document level"
    from scipy.stats import t as student

    crit = float(student.ppf(0.95, rk["seeds"] - 1))
    return ["How sure the query-level signs are: paired t of the harmful / helpful differences from random over "
            f"{rk['seeds']} seeds (significant at 5 %, one-sided, beyond ±{crit:.2f}): " + ", ".join(parts)
            + ". Even exact leave-one-query-out (`loo`, 43 retrainings per seed) sits at this noise floor: "
            "removing 2 of 43 queries moves the retrained NDCG@10 by about as much through the retraining "
            "itself (changed tree structures) as through the queries' content, so the query-level rows show the "
            f"right direction on average, not a decisive margin; {doc_t} is far above it.", ""]


def _ranking_findings(rk: dict, rows: dict) -> list[str]:
    """Plain statements computed from the numbers (so that they stay true when the page is regenerated)."""
    out = []
    for (method, unit), r in rows.items():
        rnd = rows.get(("random", unit))
        if method == "random" or not rnd:
            continue
        base = np.mean(rnd["harmful"])
        fails = [what for what, ok in (("removing its most harmful 5 % does not raise NDCG@10 more than random",
                                        np.mean(r["harmful"]) > base),
                                       ("removing its most helpful 5 % does not lower NDCG@10 more than random",
                                        np.mean(r["helpful"]) < base)) if not ok]
        if fails:
            extra = ""
            if r.get("rho_loo"):
                extra = (f" Its query values rank the queries unlike exact leave-one-query-out "
                         f"(Spearman {np.mean(r['rho_loo']):+.3f} on average over the seeds).")
            out.append(f"- `{method}` by {unit}: " + "; ".join(fails) + "." + extra)
    if out:
        rq = rows.get(("random", "query"), {})
        sd = float(np.std(rq.get("draws", rq.get("harmful", [0.0])), ddof=1)) if len(rq.get("draws", [])) > 1 else 0.0
        per_query = rk["n"] / rk["n_groups"]
        out = ["Where a method fails the check:", ""] + out + [
            "", f"Removing {rk['k_query']} of {rk['n_groups']} queries at random moves NDCG@10 by ± {sd:.4f} (sd of "
            "the single random draws), to be compared with the query-level effects above; and one query is a large "
            f"perturbation (about {per_query:.0f} documents, {100 / rk['n_groups']:.1f} % of the data) for "
            "first-order values such as a sum of `boostin` document values: the fidelity section shows that "
            "retraining is dominated by changed tree structures, which first-order methods do not see.", ""]
    return out
