"""From measurements to a recommendation: one scoring rule per goal, and the reasons in plain words.

Each measurement of the harness becomes a criterion in ``[0, 1]`` (1 = best possible):

| criterion | measurement | to [0, 1] |
|---|---|---|
| ``loo_spearman`` | Spearman with exact leave-one-out on a subsample | ``max(ρ, 0)`` |
| ``flip_auc`` | ROC-AUC of planted label errors ranking lowest | ``max(2·AUC − 1, 0)`` |
| ``stability`` | Spearman between overlapping subsamples (and seeds) | ``max(ρ, 0)`` |
| ``prune_gain`` | validation loss after removing the lowest-valued rows, vs random | ÷ the best method's, ≥ 0 |
| ``helpful_drop`` | validation loss after removing the highest-valued rows, vs random | ÷ the best method's, ≥ 0 |

A goal weighs the criteria (:data:`GOALS`); a criterion nobody could measure drops out and the others
are renormalised. Among the methods that fit the time budget (and the memory), the highest score wins;
within :data:`TIE` of it, the one predicted fastest on the full data (times within a factor √10 count
as equal, then the higher score, then the name).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BASELINES", "GOALS", "Goal", "TIE", "criteria", "goal_scores", "recommend"]

#: cheap baselines every comparison includes (when the model supports them), besides random scores
BASELINES = ("self_loss", "margin", "el2n")
RANDOM = "random"
#: scores closer than this to the best are a tie, broken by predicted time
TIE = 0.01


@dataclass(frozen=True)
class Goal:
    """What the user wants to do with the scores, and how much each criterion matters for it."""

    name: str
    wants: str
    weights: dict
    balanced: bool = False


GOALS: dict[str, Goal] = {
    "noise": Goal("noise", "find mislabeled or corrupted rows",
                  {"flip_auc": 0.6, "stability": 0.2, "prune_gain": 0.2}),
    "explain": Goal("explain", "say how much each training row moves the validation loss, like retraining without it",
                    {"loo_spearman": 0.85, "stability": 0.15}),
    "prune": Goal("prune", "drop rows without hurting the model",
                  {"prune_gain": 0.5, "stability": 0.2, "flip_auc": 0.15, "loo_spearman": 0.15}),
    "imbalance": Goal("imbalance", "find the rows each class relies on, to reweight an imbalanced set",
                      {"helpful_drop": 0.45, "loo_spearman": 0.2, "stability": 0.2, "prune_gain": 0.15},
                      balanced=True),
}


def criteria(table, goal: Goal):
    """The ``[0, 1]`` criteria of every method (NaN where not measured), as a DataFrame."""
    import pandas as pd

    suffix = "_balanced" if goal.balanced else ""
    out = pd.DataFrame(index=table.index)
    out["loo_spearman"] = table["loo_spearman"].clip(lower=0, upper=1)
    out["flip_auc"] = (2 * table["flip_auc"] - 1).clip(lower=0, upper=1)
    out["stability"] = table["stability"].clip(lower=0, upper=1)
    for c in ("prune_gain", "helpful_drop"):
        v = table[c + suffix]
        top = v.max(skipna=True)
        out[c] = (v / top).clip(lower=0, upper=1) if np.isfinite(top) and top > 0 else v * 0.0
    return out


def goal_scores(table, goal: Goal):
    """``(scores, weights)``: each method's weighted score and the weights actually used."""
    crit = criteria(table, goal)
    weights = {c: w for c, w in goal.weights.items() if crit[c].notna().any()}
    total = sum(weights.values())
    if not total:
        return crit["loo_spearman"].fillna(0.0) * 0.0, {}
    weights = {c: w / total for c, w in weights.items()}
    return sum(crit[c].fillna(0.0) * w for c, w in weights.items()), weights


def recommend(table, goal: Goal, *, budget_s: float, n: int, memory_bytes: int | None = None):
    """``(method or None, scores, reasons, excluded)`` for ``goal`` under ``budget_s`` seconds on ``n`` rows.

    Args:
        table: the harness's comparison table (index = method).
        goal: the goal.
        budget_s: seconds the full run may take.
        n: training rows of the full run.
        memory_bytes: memory the full run may use (``None``: not checked).
    """
    scores, weights = goal_scores(table, goal)
    excluded: dict[str, str] = {}
    eligible = []
    for m, row in table.iterrows():
        if m == RANDOM or not row["candidate"]:
            continue
        if not row["supported"]:
            excluded[m] = f"not available: {row['status']}"
        elif not np.isfinite(row["pred_seconds"]):
            excluded[m] = row["status"] if row["status"] != "ok" else "not measured within select's time"
        elif row["pred_seconds"] > budget_s:
            excluded[m] = f"predicted {_secs(row['pred_seconds'])} on {n:,} rows: over the {_secs(budget_s)} budget"
        elif memory_bytes and np.isfinite(row["pred_memory_mb"]) and row["pred_memory_mb"] * 2**20 > 0.8 * memory_bytes:
            excluded[m] = (f"predicted {row['pred_memory_mb']:,.0f} MB on {n:,} rows, more than 80% of the "
                           f"{memory_bytes / 2**20:,.0f} MB available")
        else:
            eligible.append(m)
    if not eligible:
        cheapest = table.loc[[m for m in table.index if m != RANDOM and table.loc[m, "supported"]], "pred_seconds"]
        cheapest = cheapest[np.isfinite(cheapest)].sort_values()
        hint = (f"; the cheapest, {cheapest.index[0]}, is predicted to take {_secs(cheapest.iloc[0])}"
                if len(cheapest) else "")
        return None, scores, [f"No method fits the {_secs(budget_s)} budget on {n:,} rows{hint}. "
                              "Raise the budget or run on a sample."], excluded
    best = max(scores[m] for m in eligible)
    tied = [m for m in eligible if scores[m] >= best - TIE]
    pick = min(tied, key=lambda m: (_bucket(table.loc[m, "pred_seconds"]), -scores[m], m))
    return pick, scores, _reasons(table, goal, pick, scores, weights, eligible, excluded, budget_s, n), excluded


# ------------------------------------------------------------------ plain words
_SAY = {
    "loo_spearman": "ranks training rows like exact leave-one-out retraining",
    "flip_auc": "finds planted label errors",
    "stability": "gives a stable ranking",
    "prune_gain": "its lowest-valued rows are safe to drop",
    "helpful_drop": "its highest-valued rows are the ones the model relies on",
}


def _bucket(seconds: float) -> int:
    """Half-decades of predicted time (everything under 10 ms together)."""
    return int(np.floor(2 * np.log10(max(float(seconds), 0.01))))


def _runner_up(table, col, pick, eligible):
    others = table.loc[[m for m in eligible if m != pick], col].dropna()
    if not len(others):
        return ""
    m = others.idxmax()
    return f"best other: {m} {_num(col, others[m])}"


def _num(col: str, v: float) -> str:
    if col in ("prune_gain", "helpful_drop", "prune_gain_balanced", "helpful_drop_balanced"):
        return f"{100 * v:+.2f}%"
    return f"{v:.2f}"


def _detail(table, col, pick, eligible, random_value) -> str:
    row = table.loc[pick]
    v = row[col]
    if not np.isfinite(v):
        return f"{_SAY[col]}: not measured for {pick}."
    extra = ", ".join(x for x in (_runner_up(table, col, pick, eligible),
                                  "" if random_value is None or not np.isfinite(random_value)
                                  else f"random {_num(col, random_value)}") if x)
    extra = f" ({extra})" if extra else ""
    if col == "loo_spearman":
        return (f"It {_SAY[col]}: Spearman {v:.2f} with exact LOO on a {int(row['loo_n']):,}-row subsample{extra}.")
    if col == "flip_auc":
        return (f"It {_SAY[col]}: with {100 * table.attrs.get('flip_rate', 0.1):.0f}% of the labels of a "
                f"{int(table.attrs.get('flip_n', 0)):,}-row subsample made wrong, the wrong rows rank lowest with "
                f"ROC-AUC {v:.2f}{extra}.")
    if col == "stability":
        seeds = " and two seeds" if np.isfinite(row["stability_seed"]) else ""
        return f"It {_SAY[col]}: Spearman {v:.2f} between two overlapping subsamples{seeds}{extra}."
    what = "class-balanced validation loss" if col.endswith("_balanced") else "validation loss"
    share = f"mean over removing {table.attrs.get('fractions', '')} of the rows"
    if col.startswith("prune_gain"):
        return (f"Removing its lowest-valued rows left the {what} {abs(100 * v):.2f}% "
                f"{'lower' if v >= 0 else 'higher'} than removing as many random rows ({share}){extra}.")
    return (f"Removing its highest-valued rows left the {what} {abs(100 * v):.2f}% "
            f"{'higher' if v >= 0 else 'lower'} than removing as many random rows ({share}){extra}"
            f"{': ' + _SAY['helpful_drop'] if v > 0 else ''}.")


def _reasons(table, goal, pick, scores, weights, eligible, excluded, budget_s, n) -> list[str]:
    row = table.loc[pick]
    reasons = [f"Goal '{goal.name}' ({goal.wants}): {pick} scores {scores[pick]:.2f} of 1 on the weighted "
               f"measurements ({', '.join(f'{c} {w:.0%}' for c, w in weights.items())})."]
    rnd = table.loc[RANDOM] if RANDOM in table.index else None
    for col, w in sorted(weights.items(), key=lambda kv: -kv[1]):
        if w < 0.12:
            continue
        real = col + ("_balanced" if goal.balanced and col in ("prune_gain", "helpful_drop") else "")
        reasons.append(_detail(table, real, pick, eligible, None if rnd is None else rnd[real]))
    law = ""
    if isinstance(row["time_law"], str) and row["time_law"]:
        law = (f" (time fitted as {row['time_law']} on {int(row['time_points'])} subsample sizes)"
               if row["time_points"] >= 2 else
               f" (time taken as linear in n from the largest subsample: its runs were too short to fit a law)")
    mem = "" if not np.isfinite(row["pred_memory_mb"]) else \
        f" and {row['pred_memory_mb']:,.0f} MB" if row["pred_memory_mb"] >= 1 else " and under 1 MB"
    reasons.append(f"Predicted {_secs(row['pred_seconds'])}{mem} on all {n:,} rows{law}, within the "
                   f"{_secs(budget_s)} budget.")
    if goal.name == "explain":
        from samplescope.methods.registry import REGISTRY

        info = REGISTRY.get(pick)
        if info is not None and getattr(info, "pairwise", None) is None:
            pw = [m for m in eligible if getattr(REGISTRY.get(m), "pairwise", None) is not None]
            if pw:
                m = max(pw, key=lambda x: scores[x])
                reasons.append(f"{pick} values the validation loss as a whole; to explain one prediction "
                               f"(samplescope explain) use {m}, which has per-prediction attributions "
                               f"(score {scores[m]:.2f}).")
    if rnd is not None and scores[pick] <= scores[RANDOM] + 0.05:
        reasons.append("Caution: on this data no method did clearly better than random scores for this goal.")
    over = [m for m, why in excluded.items() if "budget" in why]
    if over:
        short = "; ".join(f"{m} ({excluded[m].split(':')[0]})" for m in over)
        reasons.append(f"Left out for the budget: {short}.")
    na = [m for m, why in excluded.items() if why.startswith("not available")]
    if na:
        reasons.append(f"Not available for this model or data: {', '.join(na)}.")
    return reasons


def _secs(s: float) -> str:
    if not np.isfinite(s):
        return "an unknown time"
    if s < 1:
        return f"{s:.2g} s"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
