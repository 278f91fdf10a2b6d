"""The method-selection harness: every registered method measured on the user's own data and model.

Measurements (each on stratified subsamples of the training rows, with the model refitted there through
its own ``refit``, so any model family with that capability works):

(f) **support** — which methods the model, task and data allow at all (the method's own checks);
(e) **cost** — wall time at growing sizes (125, 250, … up to ``max_rows`` or half the data), peak memory
    at two sizes, both fitted as ``a·nᵇ`` and extrapolated to the full training set;
(a) **agreement with exact LOO** — Spearman with the ``loo`` method on a subsample of ``loo_rows``;
(b) **planted label errors** — ``flip_rate`` of a subsample's labels made wrong, model refitted, ROC-AUC
    of the wrong rows ranking lowest;
(d) **stability** — Spearman between two overlapping subsamples (and two seeds for stochastic methods);
(c) **removal curves** — remove the top-k most helpful, most harmful and random k rows, refit, measure
    the validation loss (and its class-balanced version).

Everything is budget-aware: a measurement whose cost, predicted from the cost fit, does not fit the time
left is skipped and the table says so. Random scores and the cheap baselines (``self_loss``, ``margin``,
``el2n``) are always compared. Methods come from the registry, so a new method is compared the moment it
is registered.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Callable, Sequence

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import MethodError, SamplescopeError
from samplescope.methods.base import score
from samplescope.methods.registry import get_method, list_methods
from samplescope.models import wrap_model
from samplescope.select.cost import (TimedOut, available_memory, measure, measure_guarded, rss_probe_works,
                                     time_law)
from samplescope.select.curves import CURVE_COLUMNS, removal_curves
from samplescope.select.recommend import BASELINES, GOALS, RANDOM, recommend
from samplescope.select.sampling import corrupt, stratified_order
from samplescope.select.selection import SelectionReport
from samplescope.select.table import build_table

__all__ = ["select"]

_log = logging.getLogger("samplescope.select")

#: share of select's time given to each phase (unused time passes on to the next)
SHARES = (("cost", 0.4), ("flips", 0.2), ("stability", 0.15), ("removal", 0.25))
#: runs predicted to take longer than this (seconds) run in a separate process with a time limit
GUARD_S = 0.2


def select(model, train: Dataset, valid: Dataset | None = None, *, goal: str = "noise", budget_s: float = 60.0,
           methods: Sequence[str] | None = None, seed: int = 0, n_jobs: int = 1, max_seconds: float | None = None,
           max_rows: int = 4000, loo_rows: int = 500, flip_rows: int = 1000, removal_rows: int = 2000,
           flip_rate: float = 0.1, on_step: Callable[[str], None] | None = None) -> SelectionReport:
    """Measure the importance methods on this model and data, and recommend one for ``goal``.

    Args:
        model: a fitted model or adapter (it must support ``refit``).
        train: the training data the model was fitted on.
        valid: validation data; without it a stratified fifth of ``train`` is held out to measure the
            removal curves (methods still run as you would run them, without a validation set).
        goal: ``noise`` (find mislabeled rows), ``explain`` (attribute the validation loss),
            ``prune`` (drop rows safely) or ``imbalance`` (find the rows each class relies on).
        budget_s: seconds the full run of the recommended method may take on all of ``train``.
        methods: candidate methods (default: every registered one the model supports); random scores and
            the cheap baselines (candidates too) and the ``loo`` reference are measured in any case.
        seed: seed of subsamples, label flips and stochastic methods.
        n_jobs: threads for the methods.
        max_seconds: time select itself may spend (default ``max(budget_s, 20)``); measurements predicted
            not to fit are skipped, and the report says so.
        max_rows: largest subsample (the data's half at most, so that costs are extrapolated).
        loo_rows: subsample size for the agreement with exact leave-one-out.
        flip_rows: subsample size for planted label errors and stability.
        removal_rows: subsample size for the removal curves.
        flip_rate: share of labels made wrong.
        on_step: called with a short message before each phase.
    """
    import pandas as pd

    t_start = time.perf_counter()
    say = on_step or (lambda msg: None)
    goal_info = _check_args(goal, budget_s, max_seconds, flip_rate, max_rows, loo_rows, flip_rows, removal_rows)
    adapter = wrap_model(model, train)
    if "refit" not in adapter.capabilities:
        raise MethodError(f"select: the model must support 'refit' (retraining on subsamples); "
                          f"{type(adapter).__name__} provides {sorted(adapter.capabilities)}")
    adapter.check_data(train)
    if valid is not None:
        adapter.check_data(valid)
    task = adapter.objective.task
    if goal_info.balanced and task == "regression":
        raise MethodError(f"select: goal '{goal}' needs classes (a classification or ranking task); "
                          f"found task 'regression'")
    registered = [m.name for m in list_methods()]
    if methods is not None:
        chosen = [get_method(m).name for m in methods]
        if not chosen:
            raise MethodError("select: methods must name at least one method; found an empty list")
    else:
        chosen = registered
    run_names = list(dict.fromkeys([RANDOM, *[b for b in BASELINES if b in registered], *chosen,
                                    *(["loo"] if "loo" in registered else [])]))
    limit = float(max_seconds) if max_seconds is not None else max(float(budget_s), 20.0)

    order = stratified_order(train, task, seed)
    eval_data, holdout = valid, False
    if valid is None:
        order, held = order.split(0.2)
        eval_data, holdout = train.subset(held), True
    h = _Harness(adapter, train, valid, eval_data, order, task, seed, n_jobs, limit)
    sizes = _sizes(order.n, max_rows)

    h.phase("cost")
    say(f"timing {len(run_names)} methods on subsamples of {', '.join(map(str, sizes))} rows")
    h.costs(run_names, sizes)
    h.memory()
    done = h.ran()
    s_loo = max([s for s in sizes if s <= loo_rows] or [sizes[0]])
    h.loo_agreement(sizes, s_loo)
    reached = h.reached(sizes)  # later phases reuse the scores of the cost phase at this size or below
    s_flip = max([s for s in sizes if s <= min(flip_rows, reached)] or [sizes[0]])
    h.phase("flips")
    say(f"planting label errors in {flip_rate:.0%} of a {s_flip}-row subsample")
    h.flips(done, s_flip, flip_rate)
    h.phase("stability")
    say("checking rank stability across subsamples and seeds")
    h.stability(done, s_flip)
    h.phase("removal")
    s_rem = max([s for s in sizes if s <= min(removal_rows, reached)] or [sizes[0]])
    say(f"removal curves on {s_rem} rows (refits)")
    removal_curves(h, done, s_rem, goal_info)
    h.phase(None)

    table = build_table(h, registered, set(chosen) | set(BASELINES), train.n)
    table.attrs.update({"flip_rate": flip_rate, "flip_n": int(h.n_of(s_flip)),
                        "fractions": f"{min(h.fractions):.0%}–{max(h.fractions):.0%}" if h.fractions else ""})
    mem = available_memory()
    pick, scores, reasons, excluded = recommend(table, goal_info, budget_s=budget_s, n=train.n, memory_bytes=mem)
    table["score"] = scores
    table["within_budget"] = table["pred_seconds"] <= budget_s
    table["excluded"] = [excluded.get(m, "") for m in table.index]
    dataset = {"name": train.name, "rows": train.n, "features": train.n_features, "task": task,
               "valid_rows": None if valid is None else valid.n, "holdout_rows": eval_data.n if holdout else None,
               "groups": None if train.group is None else int(len(train.group_bounds) - 1),
               "labels": ({f"{c:g}": int(k) for c, k in zip(*np.unique(train.y, return_counts=True))}
                          if task != "regression" else {}), "fingerprint": train.fingerprint()}
    return SelectionReport(
        goal=goal, budget_s=float(budget_s), recommendation=pick, reasons=reasons, table=table,
        curves=pd.DataFrame(h.curves, columns=CURVE_COLUMNS),
        costs=pd.DataFrame(h.cost_rows, columns=["method", "n", "seconds", "peak_mb"]),
        dataset=dataset,
        model={"type": type(adapter).__name__, "params": adapter.params(), "fingerprint": adapter.fingerprint()},
        settings={"sizes": [int(h.n_of(s)) for s in sizes], "loo_n": int(h.n_of(s_loo)), "flip_n": int(h.n_of(s_flip)),
                  "removal_n": int(h.n_of(s_rem)), "fractions": list(h.fractions), "flip_rate": flip_rate,
                  "seed": seed, "max_seconds": limit, "memory_available_mb": None if mem is None else mem / 2**20,
                  "phase_seconds": h.phase_seconds},
        seconds=time.perf_counter() - t_start, notes=h.notes)


def _check_args(goal, budget_s, max_seconds, flip_rate, *sizes):
    if goal not in GOALS:
        raise MethodError(f"select: goal must be one of {list(GOALS)}; found {goal!r}")
    for name, v in (("budget_s", budget_s), ("max_seconds", max_seconds)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise MethodError(f"select: {name} must be a number of seconds > 0; found {v!r}")
    if isinstance(flip_rate, bool) or not isinstance(flip_rate, (int, float)) or not 0 < flip_rate < 0.5:
        raise MethodError(f"select: flip_rate must be in (0, 0.5); found {flip_rate!r}")
    for name, v in zip(("max_rows", "loo_rows", "flip_rows", "removal_rows"), sizes):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 20:
            raise MethodError(f"select: {name} must be an integer >= 20; found {v!r}")
    return GOALS[goal]


def _sizes(n: int, max_rows: int) -> list[int]:
    """Doubling subsample sizes up to ``max_rows`` and half the rows (all rows when there are fewer than 400)."""
    top = n if n < 400 else min(max_rows, n // 2)
    sizes = [top]
    while sizes[-1] // 2 >= min(100, top // 4):
        sizes.append(sizes[-1] // 2)
    return sorted(set(sizes))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b)[0])


class _Harness:
    """The state shared by the measurements: subsample models, scores per size, notes."""

    def __init__(self, adapter, train, valid, eval_data, order, task, seed, n_jobs, limit):
        self.adapter, self.train, self.valid, self.eval = adapter, train, valid, eval_data
        self.order, self.task, self.seed, self.n_jobs = order, task, seed, n_jobs
        self.t0, self.limit, self.deadline, self.share = time.perf_counter(), limit, time.perf_counter(), 0.0
        self.phase_seconds: dict[str, float] = {}
        self._phase, self._phase_t = None, 0.0
        self.models: dict = {}
        self.refit_s: dict = {}
        self.times: dict[str, dict[int, float]] = {}
        self.mem: dict[str, dict[int, int]] = {}
        self.scores: dict[str, dict[int, np.ndarray]] = {}
        self.status: dict[str, str] = {}
        self.m: dict[str, dict[str, float]] = {}
        self.curves: list = []
        self.cost_rows: list = []
        self.notes: list[str] = []
        self.fractions: tuple = ()
        self.slow: set[str] = set()
        self.cap = max(1.0, 0.3 * limit * dict(SHARES)["cost"])  # the longest single run of the cost phase

    # ------------------------------------------------------------------ plumbing
    def phase(self, name: str | None) -> None:
        now = time.perf_counter()
        if self._phase is not None:
            self.phase_seconds[self._phase] = now - self._phase_t
        self._phase, self._phase_t = name, now
        if name is None:
            return
        self.share += dict(SHARES)[name]
        self.deadline = self.t0 + self.limit * self.share

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def n_of(self, s: int) -> int:
        return self.order.cut(s)

    def model(self, key, data: Dataset):
        if key not in self.models:
            meas = measure(lambda: self.adapter.refit(data))
            self.models[key], self.refit_s[key] = meas.value, meas.seconds
            _log.debug("refit %s on %d rows: %.3g s", key, data.n, meas.seconds)
        return self.models[key]

    def prefix(self, s: int) -> tuple[np.ndarray, Dataset]:
        rows = self.order.prefix(s)
        return rows, self.train.subset(rows)

    def run(self, method: str, model, data: Dataset, *, seed: int, memory: bool | str = False,
            predicted: float = float("nan")):
        """A measurement, or ``None`` when the method cannot run (reason in ``status``) or was stopped.

        A run predicted to take more than :data:`GUARD_S` (or not predicted at all) runs in a forked
        process that is stopped after three times its prediction (or the single-run cap), so that no method
        can hold the comparison hostage.
        """
        if method == RANDOM:
            return measure(lambda: np.random.default_rng([seed, data.n]).random(data.n), memory=memory)
        limit = None if predicted < GUARD_S else (self.cap if not np.isfinite(predicted)
                                                  else max(3 * predicted, 1.0, min(self.left(), self.cap)))
        work = lambda: score(method, model, data, valid=self.valid, seed=seed, n_jobs=self.n_jobs).values  # noqa: E731
        try:
            meas = (measure(work, memory=memory) if limit is None
                    else measure_guarded(work, timeout=limit, memory=memory))
        except TimedOut:
            self.slow.add(method)
            self.notes.append(f"{method}: stopped after {limit:.2g} s on {data.n:,} rows")
            return None
        except SamplescopeError as exc:
            self.status[method] = str(exc)
            return None
        except Exception as exc:  # a method's bug must not take the comparison down; say it loudly
            warnings.warn(f"select: method '{method}' failed with {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=3)
            self.status[method] = f"failed: {type(exc).__name__}: {exc}"
            return None
        _log.debug("%s on %d rows: %.3g s", method, data.n, meas.seconds)
        return meas

    def predict(self, method: str, n: int) -> float:
        """Seconds predicted for ``method`` on ``n`` rows (pessimistic while there are few sizes)."""
        law = time_law(self.times.get(method, {}), scheduling=True)
        return float("nan") if law is None else law.predict(n)

    def ran(self) -> list[str]:
        return [m for m in self.times if self.times[m]]

    def reached(self, sizes: list[int]) -> int:
        """The largest size at which most of the methods that ran have scores."""
        ran = [m for m in self.ran() if m != RANDOM]
        ok = [s for s in sizes if sum(s in self.scores[m] for m in ran) >= max(1, len(ran) / 2)]
        return max(ok or sizes[:1])

    def metric(self, model) -> tuple[float, float]:
        d = self.eval
        per = model.objective.loss(d.y, model.scores(d), d.group_bounds)
        w = d.weights
        loss = float(np.average(per, weights=w))
        if self.task in ("binary", "multiclass", "ranking") and len(np.unique(d.y)) > 1:
            bal = float(np.mean([np.average(per[d.y == c], weights=w[d.y == c]) for c in np.unique(d.y)
                                 if w[d.y == c].sum() > 0]))
        else:
            bal = loss
        return loss, bal

    # ------------------------------------------------------------------ (e) cost and (f) support
    def costs(self, names: list[str], sizes: list[int]) -> None:
        active = list(names)
        for name in names:
            self.times[name], self.scores[name] = {}, {}
        for s in sizes:
            rows, data = self.prefix(s)
            model = self.model(("prefix", s), data)
            for name in sorted(active, key=lambda m: np.nan_to_num(self.predict(m, len(rows)), nan=0.0)):
                pred = self.predict(name, len(rows))
                if self.times[name] and (pred > self.cap or pred > self.left()):
                    active.remove(name)
                    self.notes.append(f"{name}: timed up to {max(self.times[name]):,} rows; stopped there "
                                      f"({len(rows):,} rows predicted {pred:.2g} s, {max(self.left(), 0):.2g} s "
                                      f"left for timing, {self.cap:.2g} s at most per run)")
                    continue
                meas = self.run(name, model, data, seed=self.seed, memory="rss" if rss_probe_works() else False,
                                predicted=pred)
                if meas is None:
                    active.remove(name)
                    continue
                self.times[name][len(rows)] = meas.seconds  # one cold run, like the user's (repeats hit caches)
                self.scores[name][s] = meas.value
                if meas.peak_bytes is not None:
                    self.mem.setdefault(name, {})[len(rows)] = meas.peak_bytes

    def memory(self) -> None:
        """Peak memory by a separate traced run at two sizes, where the peak RSS could not be read."""
        for name in self.ran() if not rss_probe_works() else ():
            pts = self.times[name]
            ns = sorted(pts)
            fast = [n for n in ns if pts[n] <= 1.0][-2:] or ns[:1]
            for n in fast:
                if name != RANDOM and self.left() < 2 * pts[n]:
                    self.notes.append(f"{name}: peak memory not measured at {n:,} rows (out of time)")
                    continue
                s = next(s for s in self.scores[name] if self.n_of(s) == n)
                _, data = self.prefix(s)
                meas = self.run(name, self.models[("prefix", s)], data, seed=self.seed, memory="tracemalloc",
                                predicted=2 * pts[n])
                if meas is not None:
                    self.mem.setdefault(name, {})[n] = meas.peak_bytes
        for name in self.ran():
            for n, sec in sorted(self.times[name].items()):
                peak = self.mem.get(name, {}).get(n)
                self.cost_rows.append((name, n, sec, np.nan if peak is None else peak / 2**20))

    # ------------------------------------------------------------------ (a) exact LOO
    def loo_agreement(self, sizes: list[int], s_loo: int) -> None:
        ref = self.scores.get("loo", {})
        usable = [s for s in sizes if s <= s_loo and s in ref]
        if not usable:
            self.notes.append("agreement with exact LOO not measured: the loo method did not run on a subsample "
                              f"of up to {self.n_of(s_loo):,} rows within the time")
            return
        for name in self.ran():
            common = [s for s in usable if s in self.scores[name]]
            if common:
                s = max(common)
                self.m.setdefault(name, {}).update(loo_spearman=_spearman(self.scores[name][s], ref[s]),
                                                   loo_n=self.n_of(s))

    # ------------------------------------------------------------------ (b) planted label errors
    def flips(self, names: list[str], s: int, rate: float) -> None:
        from sklearn.metrics import roc_auc_score

        rows, data = self.prefix(s)
        protect = np.isin(rows, self.order.rows[: self.order.front])
        noisy, flipped = corrupt(data, self.task, rate, self.seed + 17, n_classes=self.adapter.objective.n_outputs
                                 if self.task == "multiclass" else None, protect=protect)
        model = None
        for name in sorted(names, key=lambda m: self.predict(m, len(rows))):
            pred = self.predict(name, len(rows))
            if pred > self.left():
                self.notes.append(f"{name}: planted label errors not measured (predicted {pred:.1f} s)")
                continue
            model = model or self.model(("flips", s), noisy)
            meas = self.run(name, model, noisy, seed=self.seed, predicted=pred)
            if meas is not None:
                auc = roc_auc_score(flipped, -meas.value)
                if name == RANDOM:  # its expected value, not one draw
                    auc = np.mean([roc_auc_score(flipped, np.random.default_rng([self.seed, i]).random(noisy.n))
                                   for i in range(20)])
                self.m.setdefault(name, {})["flip_auc"] = float(auc)

    # ------------------------------------------------------------------ (d) stability
    def stability(self, names: list[str], s: int) -> None:
        from samplescope.methods.registry import REGISTRY

        rows_a, data_a = self.prefix(s)
        rows_b = self.order.resample(s, 0.75, self.seed + 1)
        common = np.intersect1d(rows_a, rows_b)
        ia, ib = np.searchsorted(rows_a, common), np.searchsorted(rows_b, common)
        data_b = self.train.subset(rows_b)
        model_b = None
        for name in sorted(names, key=lambda m: self.predict(m, len(rows_a))):
            if s not in self.scores[name]:
                continue
            stochastic = name == RANDOM or REGISTRY[name].stochastic
            pred = self.predict(name, len(rows_a)) * (2 if stochastic else 1)
            if pred > self.left():
                self.notes.append(f"{name}: stability not measured (predicted {pred:.1f} s)")
                continue
            model_b = model_b or self.model(("resample", s), data_b)
            out = self.m.setdefault(name, {})
            single = self.predict(name, len(rows_a))
            meas = self.run(name, model_b, data_b, seed=self.seed, predicted=single)
            if meas is not None:
                out["stability_subsample"] = _spearman(self.scores[name][s][ia], meas.value[ib])
            if stochastic:
                meas = self.run(name, self.models[("prefix", s)], data_a, seed=self.seed + 1, predicted=single)
                if meas is not None:
                    out["stability_seed"] = _spearman(self.scores[name][s], meas.value)
