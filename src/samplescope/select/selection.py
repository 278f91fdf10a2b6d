"""The result of :func:`~samplescope.select.select`: the comparison table, the curves, the recommendation."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samplescope.errors import DataError
from samplescope.result import atomic_write

__all__ = ["SelectionReport"]


@dataclass(eq=False)
class SelectionReport:
    """Every measurement of the selection harness and the method it recommends.

    Attributes:
        goal: ``noise``, ``explain``, ``prune`` or ``imbalance``.
        budget_s: seconds the full run may take.
        recommendation: the recommended method, or ``None`` when none fits the budget.
        reasons: the recommendation in plain words, one sentence per line.
        table: one row per method (index ``method``): ``family``, ``candidate`` (may be recommended),
            ``supported``, ``status``, the measurements (``loo_spearman``, ``flip_auc``, ``stability``,
            ``prune_gain``, ``helpful_drop`` …), the cost fit (``time_law``, ``pred_seconds``,
            ``pred_memory_mb``), ``within_budget`` and the goal ``score``.
        curves: removal curves, one row per (``method``, ``direction`` in helpful/harmful/random,
            ``fraction``): ``k``, ``loss``, ``balanced_loss``, ``base_loss``, ``base_balanced_loss``.
        costs: every timed run: ``method``, ``n``, ``seconds``, ``peak_mb`` (NaN when not traced).
        dataset: name, rows, task, labels, groups, validation rows, and whether a holdout was used.
        model: the model's type, hyper-parameters and fingerprint.
        settings: subsample sizes and parameters of the measurements.
        seconds: wall time of the selection.
        notes: what was skipped and why.
    """

    goal: str
    budget_s: float
    recommendation: str | None
    reasons: list
    table: object = field(repr=False)
    curves: object = field(repr=False)
    costs: object = field(repr=False)
    dataset: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"SelectionReport(goal={self.goal!r}, recommendation={self.recommendation!r}, "
                f"methods={len(self.table)}, budget_s={self.budget_s:g}, seconds={self.seconds:.3g})")

    def summary(self) -> str:
        """The recommendation and its reasons as plain text."""
        head = (f"Recommended for '{self.goal}': {self.recommendation}" if self.recommendation
                else f"No recommendation for '{self.goal}'")
        return "\n".join([head] + [f"- {r}" for r in self.reasons])

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        """Everything, JSON-serialisable (tables as records)."""
        return {"format": "samplescope-selection/1", "goal": self.goal, "budget_s": self.budget_s,
                "recommendation": self.recommendation, "reasons": list(self.reasons),
                "table": _records(self.table.reset_index()), "curves": _records(self.curves),
                "costs": _records(self.costs), "dataset": _plain(self.dataset), "model": _plain(self.model),
                "settings": _plain(self.settings), "seconds": self.seconds, "notes": list(self.notes),
                "table_attrs": _plain(dict(self.table.attrs))}

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The report as JSON; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        if path is not None:
            atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> "SelectionReport":
        """Read what :meth:`to_json` wrote (a path, or the JSON text itself)."""
        import pandas as pd

        text = str(source)
        if not text.lstrip().startswith("{"):
            p = Path(source)
            if not p.is_file():
                raise DataError(f"{p}: selection file not found; expected a JSON file written by samplescope select")
            text = p.read_text(encoding="utf-8")
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: not a selection file; expected JSON, found a parse error ({exc})") from None
        if not isinstance(d, dict) or d.get("format") != "samplescope-selection/1":
            found = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise DataError(f"{source}: not a selection file; expected format 'samplescope-selection/1', "
                            f"found {found!r}")
        table = pd.DataFrame(d["table"]).set_index("method")
        table.attrs.update(d.get("table_attrs", {}))
        curves = pd.DataFrame(d["curves"])
        costs = pd.DataFrame(d["costs"])
        return cls(goal=d["goal"], budget_s=d["budget_s"], recommendation=d["recommendation"], reasons=d["reasons"],
                   table=table, curves=curves, costs=costs, dataset=d["dataset"], model=d["model"],
                   settings=d["settings"], seconds=d["seconds"], notes=d["notes"])

    def to_html(self, path: str | os.PathLike, **kwargs) -> Path:
        """Write the HTML report (see :func:`samplescope.report.write_report`; ``train``, ``results`` … optional)."""
        from samplescope.report import write_report

        return write_report(path, selection=self, **kwargs)


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # strict JSON has no NaN; read back as NaN by pandas
    return obj


def _records(df) -> list:
    return [_plain(r) for r in df.to_dict(orient="records")]
