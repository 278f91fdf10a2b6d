"""A self-contained HTML report of importance results (inline CSS and SVG; no network needed)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.report.svg import histogram_svg
from samplescope.result import ImportanceResult, atomic_write

__all__ = ["write_report", "MEANING"]

MEANING = {
    "validation": "change of the mean validation loss when the sample is removed (positive = helpful)",
    "self": "minus the change of the sample's own loss when it is removed (low = the model needs it to fit itself)",
    "knn-utility": "Shapley value of the sample in the K-nearest-neighbour classifier's validation accuracy "
                   "(positive = helpful)",
    "out-of-bag": "score of the sample under bootstrap models that never saw it (low = disagrees with the rest)",
    "none": "unitless score, higher = more useful to keep (low = hard, atypical or mislabeled)",
}


def _rows(result: ImportanceResult, train: Dataset, order: np.ndarray) -> list[dict]:
    out = []
    for r in order:
        out.append({"row": int(r), "id": train.row_ids[r], "label": f"{train.y[r]:g}",
                    "value": f"{result.values[r]:.4g}"})
    return out


def write_report(path, *, train: Dataset, results: list[ImportanceResult], title: str = "samplescope report",
                 model_desc: str = "", valid: Dataset | None = None, summary: dict | None = None,
                 agreement: dict | None = None, top_k: int = 10) -> Path:
    """Write one HTML file: dataset summary, per-method distributions by class, top helpful/harmful rows.

    Args:
        path: output ``.html`` path (written atomically).
        train: the training data the results refer to.
        results: one result per method.
        title: page title.
        model_desc: a line describing the model.
        valid: the validation data, if any.
        summary: extra key/value lines for the header (e.g. validation AUC).
        agreement: optional ``{(method_a, method_b): spearman}``.
        top_k: rows shown per table.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("samplescope.report", "templates"), autoescape=select_autoescape())
    classes = np.unique(train.y)
    sections = []
    for res in results:
        by_class = {f"label {c:g}": res.values[train.y == c] for c in classes} if len(classes) <= 10 else \
            {"all": res.values}
        sections.append({
            "method": res.method, "family": res.family, "target": res.target,
            "meaning": MEANING.get(res.target, ""), "seconds": f"{res.seconds:.3g}",
            "svg": histogram_svg(by_class, title=f"{res.method}: distribution by label"),
            "helpful": _rows(res, train, np.argsort(-res.values, kind="stable")[:top_k]),
            "harmful": _rows(res, train, np.argsort(res.values, kind="stable")[:top_k]),
            "stats": {"mean": f"{np.mean(res.values):.4g}", "share_negative": f"{np.mean(res.values < 0):.1%}"},
        })
    dataset = {"name": train.name, "rows": train.n, "features": train.n_features,
               "labels": {f"{c:g}": int(np.sum(train.y == c)) for c in classes} if len(classes) <= 10 else {},
               "groups": 0 if train.group is None else len(np.unique(train.group)),
               "valid": None if valid is None else {"name": valid.name, "rows": valid.n}}
    html = env.get_template("report.html.j2").render(
        title=title, generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        dataset=dataset, model_desc=model_desc, sections=sections, summary=summary or {},
        agreement=[{"a": a, "b": b, "rho": f"{r:.3f}"} for (a, b), r in (agreement or {}).items()])
    return atomic_write(path, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
