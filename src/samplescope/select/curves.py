"""(c) Removal curves: remove the top-k most helpful, most harmful and random rows, refit, measure.

The gains summarise a curve against random removal, relative to the loss of the model on all rows:
``prune_gain`` = mean over k of (loss without k random rows − loss without the k lowest-valued rows),
``helpful_drop`` = mean over k of (loss without the k highest-valued rows − loss without k random rows);
both also on the class-balanced loss (``_balanced``).
"""

from __future__ import annotations

import warnings

import numpy as np

from samplescope.errors import SamplescopeError
from samplescope.select.recommend import RANDOM

__all__ = ["CURVE_COLUMNS", "FRACTIONS", "RANDOM_DRAWS", "removal_curves"]

FRACTIONS = (0.02, 0.05, 0.1, 0.2)
RANDOM_DRAWS = 3
CURVE_COLUMNS = ["method", "direction", "fraction", "k", "loss", "balanced_loss", "base_loss", "base_balanced_loss"]


def removal_curves(h, names: list[str], s: int, goal) -> None:
    """Removal curves on the harness ``h``'s subsample of ``s`` rows; appends to ``h.curves``, sets the gains.

    For each fraction (small first): remove random rows (mean of :data:`RANDOM_DRAWS` draws), each
    method's most helpful and most harmful rows; refit; measure the validation loss. Methods go in order of
    promise so that a cut for time costs the least; the refits stop when the phase's time is up.
    """
    rows, data = h.prefix(s)
    base = h.models[("prefix", s)]
    names = [m for m in names if s in h.scores[m]]
    t_refit = h.refit_s[("prefix", s)]
    fractions = FRACTIONS
    if t_refit * len(fractions) * (2 * len(names) + RANDOM_DRAWS) > h.left():
        fractions = (0.05, 0.2)
    # the most promising first (by what is measured already), so a cut for time costs the least
    key = "loo_spearman" if goal.name == "explain" else "flip_auc"
    names.sort(key=lambda m: (m != RANDOM, -np.nan_to_num(h.m.get(m, {}).get(key, np.nan), nan=-2), m))
    fit = max(0, int((h.left() / max(t_refit, 1e-3) / len(fractions) - RANDOM_DRAWS) // 2))
    if fit < len(names):
        h.notes.append(f"removal curves skipped for {', '.join(names[fit:])} (each needs {2 * len(fractions)} "
                       f"refits of about {t_refit:.2g} s)")
        names = names[:fit]
    h.fractions = fractions if names else ()
    if not names:
        return
    b_loss, b_bal = h.metric(base)
    rng = np.random.default_rng(h.seed + 29)

    def without(drop: np.ndarray) -> tuple[float, float]:
        return h.metric(base.refit(data.subset(np.delete(np.arange(len(rows)), drop))))

    cut = False
    for f in fractions:  # every method gets the small fractions before any gets the large ones
        if h.left() <= 0:
            cut = True
            break
        k = max(1, int(round(f * len(rows))))
        res = [without(rng.choice(len(rows), k, replace=False)) for _ in range(RANDOM_DRAWS)]
        h.curves.append((RANDOM, "random", f, k, *np.mean(res, axis=0), b_loss, b_bal))
        for name in names:
            if name == RANDOM:
                continue
            if h.left() <= 0:  # refits slower than the estimate (a busy machine): stop on time
                cut = True
                break
            v = h.scores[name][s]
            for direction, drop in (("helpful", np.argsort(-v, kind="stable")[:k]),
                                    ("harmful", np.argsort(v, kind="stable")[:k])):
                try:
                    loss, bal = without(drop)
                except SamplescopeError as exc:
                    loss = bal = float("nan")
                    h.notes.append(f"{name}: refit without its {direction} {k} rows failed ({exc})")
                h.curves.append((name, direction, f, k, loss, bal, b_loss, b_bal))
    if cut:
        done = sorted({c[2] for c in h.curves if c[0] != RANDOM})
        h.notes.append(f"removal curves cut short on time (refits took longer than estimated); "
                       f"fractions done: {', '.join(f'{x:.0%}' for x in done) or 'none'}")
    _gains(h, names)


def _gains(h, names: list[str]) -> None:
    import pandas as pd

    c = pd.DataFrame(h.curves, columns=CURVE_COLUMNS)
    if c.empty:
        return
    rnd = c[c.method == RANDOM].set_index("fraction")
    curved = [m for m in names if m != RANDOM and (c.method == m).any()]
    # gains over the fractions every method got to (a cut for time can leave the last ones out)
    common = set(rnd.index)
    for m in curved:
        common &= set(c.fraction[(c.method == m) & (c.direction == "harmful")])
    for name in [RANDOM, *curved] if RANDOM in names else curved:
        out = h.m.setdefault(name, {})
        mine = c[(c.method == name) & c.fraction.isin(common)]
        for metric, suffix in (("loss", ""), ("balanced_loss", "_balanced")):
            if name == RANDOM:
                out["prune_gain" + suffix] = out["helpful_drop" + suffix] = 0.0
                continue
            scale = abs(c[f"base_{metric}"].iloc[0]) or 1.0
            harm = mine[mine.direction == "harmful"].set_index("fraction")[metric]
            help_ = mine[mine.direction == "helpful"].set_index("fraction")[metric]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: a refit failed everywhere
                out["prune_gain" + suffix] = float(np.nanmean((rnd[metric] - harm).dropna()) / scale)
                out["helpful_drop" + suffix] = float(np.nanmean((help_ - rnd[metric]).dropna()) / scale)
