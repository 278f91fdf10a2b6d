"""The comparison table: one row per registered method (and random scores), from the harness's measurements."""

from __future__ import annotations

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.select.cost import memory_law, time_law
from samplescope.select.recommend import RANDOM

__all__ = ["build_table", "static_support", "gain_text"]


def build_table(h, registered: list[str], chosen: set, n_full: int):
    """The table of :class:`~samplescope.select.SelectionReport` from a finished harness ``h``.

    Args:
        h: the harness (its times, memory peaks, measurements, statuses).
        registered: every registered method name.
        chosen: the candidates (may be recommended).
        n_full: training rows of the full run (where time and memory are extrapolated to).
    """
    import pandas as pd

    from samplescope.methods.registry import REGISTRY

    rows = []
    for name in [RANDOM, *registered]:
        info = REGISTRY.get(name)
        pts = h.times.get(name, {})
        law = time_law(pts) if name != RANDOM else None
        mpts = h.mem.get(name, {})
        mlaw = memory_law(mpts) if name != RANDOM else None
        meas = h.m.get(name, {})
        stab = [meas.get(k, np.nan) for k in ("stability_subsample", "stability_seed")]
        stab = [x for x in stab if np.isfinite(x)]
        why = ("" if info is None else static_support(info, h.adapter, h.train, h.valid)) or \
            h.status.get(name, "")
        status = why or ("ok" if pts else f"too slow: stopped on the smallest subsample ({h.cap:.2g} s)"
                         if name in h.slow else "supported; not compared (not among the chosen methods)")
        rows.append({
            "method": name, "family": "baseline" if info is None else info.family,
            "targets": "none" if info is None else ",".join(info.targets),
            "candidate": name in chosen, "supported": not why, "status": status,
            "loo_spearman": meas.get("loo_spearman", np.nan), "loo_n": meas.get("loo_n", np.nan),
            "flip_auc": meas.get("flip_auc", np.nan),
            "stability": min(stab) if stab else np.nan,
            "stability_subsample": meas.get("stability_subsample", np.nan),
            "stability_seed": meas.get("stability_seed", np.nan),
            **{k: meas.get(k, np.nan) for k in ("prune_gain", "helpful_drop", "prune_gain_balanced",
                                                "helpful_drop_balanced")},
            "sizes": f"{min(pts):,}–{max(pts):,}" if len(pts) > 1 else (f"{min(pts):,}" if pts else ""),
            "time_law": str(law) if law else "", "time_points": law.points if law else 0,
            "time_b": law.b if law else np.nan,
            "pred_seconds": law.predict(n_full) if law else np.nan,
            "pred_memory_mb": mlaw.predict(n_full) / 2**20 if mlaw else np.nan,
            "paper": "" if info is None else info.paper,
        })
    return pd.DataFrame(rows).set_index("method")


def static_support(info, adapter, train: Dataset, valid: Dataset | None) -> str:
    """Why ``info`` cannot run on this model and data ("" when it can), without running it."""
    missing = info.requires - adapter.capabilities
    if missing:
        return f"needs {', '.join(sorted(missing))} from the model, which {type(adapter).__name__} does not provide"
    if adapter.objective.task not in info.tasks:
        return f"supports tasks {', '.join(sorted(info.tasks))}; the model's task is {adapter.objective.task}"
    if info.needs_valid and valid is None:
        return "needs a validation set"
    if not info.weights and train.weight is not None and not np.allclose(train.weight, train.weight[0]):
        return "does not use sample weights, and the data has non-uniform weights"
    return ""


def gain_text(v, digits: int = 1) -> str:
    """A removal-curve gain (the loss difference from random removal, as a share of the model's validation loss
    on all rows) for people: ``+11.7%``; beyond ±100 % without decimals and with thousands separators,
    ``-1,476%`` (removing those rows broke the model, e.g. took away every positive), where ``-1475.52%``
    suggests a precision it does not have."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(x):
        return "–"
    return f"{x:+,.0%}" if abs(x) >= 1.0 else f"{x:+.{digits}%}"
