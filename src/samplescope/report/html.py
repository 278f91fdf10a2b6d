"""A self-contained HTML report (inline CSS and SVG; no network needed to open it).

Sections, each with a fixed ``id``: ``dataset``, ``distributions`` (per class, and per query for
ranking), ``comparison`` (the selection harness's table and predicted costs), ``curves`` (removal
curves), ``samples`` (most helpful and most harmful rows), ``explanations`` (training rows behind single
predictions, from :func:`samplescope.actions.explain`) and ``recommendation``. A section without data
says how to get it.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.report.svg import bars_svg, boxes_svg, histogram_svg, lines_svg
from samplescope.result import ImportanceResult, atomic_write
from samplescope.select.table import gain_text

__all__ = ["SECTIONS", "write_report", "MEANING"]

#: the id of every section, in page order
SECTIONS = ("dataset", "distributions", "comparison", "curves", "samples", "explanations", "recommendation")

MEANING = {
    "validation": "change of the mean validation loss when the sample is removed (positive = helpful)",
    "self": "minus the change of the sample's own loss when it is removed (low = the model needs it to fit itself)",
    "knn-utility": "Shapley value of the sample in the K-nearest-neighbour classifier's validation accuracy "
                   "(positive = helpful)",
    "out-of-bag": "score of the sample under bootstrap models that never saw it (low = disagrees with the rest)",
    "none": "unitless score, higher = more useful to keep (low = hard, atypical or mislabeled)",
}


def _rows(result: ImportanceResult, train: Dataset, order: np.ndarray) -> list[dict]:
    return [{"row": int(r), "id": train.row_ids[r], "label": f"{train.y[r]:g}",
             "value": f"{result.values[r] + 0.0:.4g}"} for r in order]  # + 0.0: no "-0"


def write_report(path, *, train: Dataset | None = None, results: list[ImportanceResult] = (),
                 title: str = "samplescope report", model_desc: str = "", valid: Dataset | None = None,
                 summary: dict | None = None, agreement: dict | None = None, top_k: int = 10,
                 selection=None, explanations: list | None = None, explanation_note: str = "") -> Path:
    """Write one HTML file with every section of :data:`SECTIONS`.

    Args:
        path: output ``.html`` path (written atomically).
        train: the training data the results refer to (distributions and samples need it).
        results: one result per method, on all training rows.
        title: page title.
        model_desc: a line describing the model.
        valid: the validation data, if any.
        summary: extra key/value lines for the header (e.g. validation AUC).
        agreement: optional ``{(method_a, method_b): spearman}``.
        top_k: rows shown per table.
        selection: a :class:`~samplescope.select.SelectionReport` (comparison, curves, recommendation).
        explanations: :class:`~samplescope.actions.Explanation` objects, with an optional ``title``
            attribute or given as ``(title, explanation)`` pairs.
        explanation_note: shown in the explanations section (e.g. why there are none).
    """
    from jinja2 import Environment, PackageLoader

    env = Environment(loader=PackageLoader("samplescope.report", "templates"), autoescape=True)
    results = list(results)
    ctx = {
        "title": title, "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "dataset": _dataset(train, valid, selection), "model_desc": model_desc or _model_line(selection),
        "summary": summary or {},
        "agreement": _agreement(agreement),
        "distributions": _distributions(results, train) if train is not None else [],
        "samples": _samples(results, train, top_k) if train is not None else [],
        "explanations": _explanations(explanations or []), "explanation_note": explanation_note,
        "sections": SECTIONS,
    }
    ctx.update(_selection(selection))
    html = env.get_template("report.html.j2").render(**ctx)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))


# ------------------------------------------------------------------ dataset and distributions
def _model_line(selection) -> str:
    if selection is None:
        return ""
    m = selection.model
    params = ", ".join(f"{k}={v}" for k, v in (m.get("params") or {}).items())
    return f"{m.get('type', '')}({params})"


def _dataset(train: Dataset | None, valid: Dataset | None, selection) -> dict:
    if train is None:
        d = selection.dataset if selection is not None else {}
        return {"name": d.get("name", "?"), "rows": d.get("rows", 0), "features": d.get("features", 0),
                "labels": d.get("labels", {}), "groups": d.get("groups") or 0, "task": d.get("task", ""),
                "valid": {"name": "validation", "rows": d["valid_rows"]} if d.get("valid_rows") else None}
    classes, counts = np.unique(train.y, return_counts=True)
    return {"name": train.name, "rows": train.n, "features": train.n_features,
            "labels": {f"{c:g}": int(k) for c, k in zip(classes, counts)} if len(classes) <= 10 else {},
            "label_range": f"{train.y.min():.4g} … {train.y.max():.4g} (mean {train.y.mean():.4g})"
            if len(classes) > 10 else "",
            "groups": 0 if train.group is None else len(train.group_bounds) - 1,
            "task": "" if selection is None else selection.dataset.get("task", ""),
            "valid": None if valid is None else {"name": valid.name, "rows": valid.n}}


def _by_label(values: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    classes = np.unique(y)
    if len(classes) <= 10:
        return {f"label {c:g}": values[y == c] for c in classes}
    edges = np.quantile(y, [1 / 3, 2 / 3])
    part = np.searchsorted(edges, y, side="right")
    names = ("label in lowest third", "middle third", "highest third")
    return {names[i]: values[part == i] for i in range(3) if np.any(part == i)}


def _distributions(results: list[ImportanceResult], train: Dataset) -> list[dict]:
    out = []
    bounds = train.group_bounds
    for res in results:
        groups = _by_label(res.values, train.y)
        svg = histogram_svg(groups, title=f"{res.method}: distribution by label") if len(groups) <= 4 else \
            boxes_svg(groups, title=f"{res.method}: by label (box = quartiles, whiskers 5–95%)", width=420)
        per_query = ""
        if bounds is not None:
            sizes = np.diff(bounds)
            pick = np.sort(np.argsort(-sizes, kind="stable")[:30])
            per_query = boxes_svg({str(train.group[bounds[q]]): res.values[bounds[q]:bounds[q + 1]] for q in pick},
                                  title=f"{res.method}: per query ({len(pick)} largest of {len(sizes)})")
        out.append({"method": res.method, "family": res.family, "target": res.target,
                    "meaning": MEANING.get(res.target, ""), "seconds": f"{res.seconds:.3g}", "svg": svg,
                    "per_query": per_query,
                    "stats": {"mean": f"{np.mean(res.values):.4g}",
                              "share_negative": f"{np.mean(res.values < 0):.1%}"}})
    return out


def _samples(results: list[ImportanceResult], train: Dataset, top_k: int) -> list[dict]:
    return [{"method": r.method, "helpful": _rows(r, train, np.argsort(-r.values, kind="stable")[:top_k]),
             "harmful": _rows(r, train, np.argsort(r.values, kind="stable")[:top_k])} for r in results]


def _explanations(items: list) -> list[dict]:
    out = []
    for item in items:
        title, ex = item if isinstance(item, tuple) else (getattr(item, "title", ""), item)
        pred = "" if ex.predicted is None else f", predicted {ex.predicted:g}"
        head = title or f"row {ex.row} (id {ex.id})"
        out.append({"title": head, "line": f"label {ex.label:g}{pred} (prediction {ex.prediction:.3g}); "
                                           f"attributions by {ex.method}",
                    "note": ex.note, "support": _frame_rows(ex.support), "oppose": _frame_rows(ex.oppose)})
    return out


_LONG_TOKEN = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{6,}\b")


def _frame_rows(df) -> list[dict]:
    """Table rows; long hexadecimal (hashed) category values shortened to 8 characters (``9bde591f…``)."""
    return [{"row": int(r["row"]), "id": r["id"], "label": f"{r['label']:g}", "support": f"{r['support']:.3g}",
             "loss_effect": f"{r['loss_effect']:.3g}",
             "features": _LONG_TOKEN.sub(r"\1…", str(r.get("features", "") or ""))}
            for _, r in df.iterrows()]


def _agreement(agreement: dict | None) -> dict:
    """``{(a, b): rho}`` as a symmetric matrix ``{"methods": [...], "rows": [[cell, ...], ...]}``."""
    if not agreement:
        return {}
    names = list(dict.fromkeys([m for pair in agreement for m in pair]))
    rho = {**agreement, **{(b, a): r for (a, b), r in agreement.items()}}
    rows = [[("1" if a == b else (f"{rho[(a, b)]:.2f}" if (a, b) in rho else "–")) for b in names] for a in names]
    return {"methods": names, "rows": list(zip(names, rows))}


# ------------------------------------------------------------------ selection
def _f(v, fmt="{:.2f}") -> str:
    try:
        return "–" if v is None or not np.isfinite(float(v)) else fmt.format(v)
    except (TypeError, ValueError):
        return "–"


def _secs(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.2g} s" if v < 10 else f"{v:,.0f} s"


def _selection(sel) -> dict:
    if sel is None:
        return {"selection": None, "comparison": [], "cost_svg": "", "curves": [], "reasons": [], "unsupported": [],
                "notes": []}
    t = sel.table
    suffix = "_balanced" if sel.goal == "imbalance" else ""

    def rank(m):
        r = t.loc[m]
        return (m != sel.recommendation, not r["supported"], not r["candidate"] and m != "random",
                -np.nan_to_num(r.get("score", np.nan), nan=-1.0), m)

    rows = []
    for m in sorted(t.index, key=rank):
        r = t.loc[m]
        if not r["supported"]:
            continue
        full = r.get("full_seconds", np.nan)
        rows.append({
            "method": m, "family": r["family"], "recommended": m == sel.recommendation,
            "muted": (not r["supported"]) or bool(r.get("excluded", "")),
            "status": ("recommended" if m == sel.recommendation else r.get("excluded") or
                       ("reference only" if not r["candidate"] and r["supported"] and m != "random" else
                        ("ok" if r["status"] == "ok" else r["status"]))),
            "loo": _f(r["loo_spearman"]) + (f" <span class=muted>({int(r['loo_n'])})</span>"
                                            if np.isfinite(r["loo_n"]) else ""),
            "flip": _f(r["flip_auc"]), "stability": _f(r["stability"]),
            "prune": gain_text(r["prune_gain" + suffix], 2), "helpful": gain_text(r["helpful_drop" + suffix], 2),
            "law": r["time_law"] or "–", "sizes": r["sizes"] or "–", "pred": _secs(r["pred_seconds"]),
            "mem": _f(r["pred_memory_mb"], "{:,.0f} MB") if np.isfinite(r["pred_memory_mb"]) and
            r["pred_memory_mb"] >= 1 else ("< 1 MB" if np.isfinite(r["pred_memory_mb"]) else "–"),
            "full": _secs(full) if full is not None and np.isfinite(full) else "–",
            "score": _f(r.get("score", np.nan)),
        })
    pred = {m: t.loc[m, "pred_seconds"] for m in t.index if m != "random" and t.loc[m, "supported"]}
    cost_svg = bars_svg(pred, title=f"predicted time on all {sel.dataset.get('rows', 0):,} training rows",
                        ref=sel.budget_s, ref_label=f"budget {sel.budget_s:g} s", highlight=sel.recommendation)
    return {"selection": {"goal": sel.goal, "budget": f"{sel.budget_s:g}", "recommendation": sel.recommendation,
                          "seconds": f"{sel.seconds:.1f}", "settings": sel.settings,
                          "timed": sorted({int(n) for n in sel.costs["n"]}) if len(sel.costs) else [],
                          "metric": "class-balanced validation loss" if suffix else "validation loss",
                          "holdout": sel.dataset.get("holdout_rows")},
            "comparison": rows, "cost_svg": cost_svg, "curves": _curve_svgs(sel, suffix),
            "reasons": list(sel.reasons), "notes": list(sel.notes),
            "unsupported": [{"method": m, "why": t.loc[m, "status"]} for m in t.index if not t.loc[m, "supported"]]}


def _curve_svgs(sel, suffix: str) -> list[str]:
    c = sel.curves
    if c is None or not len(c):
        return []
    metric = "balanced_loss" if suffix else "loss"
    base = float(c[f"base_{metric}"].iloc[0]) or 1.0
    rnd = c[c.method == "random"].sort_values("fraction")
    rx, ry = [0.0, *rnd.fraction], [0.0, *(100 * (rnd[metric] / base - 1))]
    order = [m for m in sel.table.sort_values("score", ascending=False).index if m in set(c.method) and m != "random"]
    out = []
    for m in order:
        mine = c[c.method == m]
        series = {"random": (rx, ry, "#888", True)}
        for direction, colour in (("helpful", "#d62728"), ("harmful", "#2ca02c")):
            d = mine[mine.direction == direction].sort_values("fraction")
            series[direction] = ([0.0, *d.fraction], [0.0, *(100 * (d[metric] / base - 1))], colour, False)
        star = " ★" if m == sel.recommendation else ""
        out.append(lines_svg(series, title=f"{m}{star}", x_percent=True, xlabel="rows removed",
                             ylabel="Δ loss (%)"))
    return out
