"""Flag likely mislabeled or harmful samples, drop or down-weight them, retrain, and measure the change.

The flagged rows are the lowest importance values (most harmful or most suspicious: every method's
values read "higher = more useful to keep"), chosen by :func:`select_flagged`:

* ``fraction`` — at most ``floor(fraction · n)`` rows; ``top_k`` — at most ``k`` rows;
* ``threshold`` — only rows with value ``< threshold`` (e.g. ``0``: the harmful ones), alone or capped
  by ``fraction`` or ``top_k``.

Never more than asked: ties at the cut are broken by row order (lower row first), deterministically.
``action="drop"`` retrains on the other rows; ``"downweight"`` multiplies the flagged rows' weights by
``factor`` (``0`` gives the same fit as dropping) and retrains on all rows. The retrain is the model's own
``refit`` (same hyper-parameters); the "before" model is the same model at the optimum of the full
training objective, so the two differ only by the cleaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, MethodError

__all__ = ["ACTIONS", "CleanReport", "clean", "select_flagged", "validation_metrics"]

ACTIONS = ("drop", "downweight")


def select_flagged(values, *, fraction: float | None = None, top_k: int | None = None,
                   threshold: float | None = None) -> np.ndarray:
    """Rows to flag, most suspicious (lowest value) first.

    Args:
        values: ``(n,)`` importance, higher = more useful.
        fraction: flag at most ``floor(fraction · n)`` rows, ``0 ≤ fraction ≤ 1``.
        top_k: flag at most ``top_k`` rows.
        threshold: flag only rows with value ``< threshold``.

    >>> select_flagged(np.array([0.3, -1.0, 0.2, -1.0, 5.0]), top_k=2).tolist()
    [1, 3]
    >>> select_flagged(np.array([0.3, -1.0, 0.2, -1.0, 5.0]), fraction=0.5).tolist()   # floor(2.5) = 2
    [1, 3]
    >>> select_flagged(np.array([0.3, -1.0, 0.2, -1.0, 5.0]), threshold=0.25).tolist()
    [1, 3, 2]
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(v)
    if fraction is not None and top_k is not None:
        raise DataError(f"clean: give fraction or top_k, not both; found fraction={fraction}, top_k={top_k}")
    if fraction is None and top_k is None and threshold is None:
        raise DataError("clean: expected one of fraction, top_k or threshold; found none")
    k = n
    if fraction is not None:
        if not (isinstance(fraction, (int, float)) and 0 <= fraction <= 1):
            raise DataError(f"clean: fraction must be a number in [0, 1]; found {fraction!r}")
        k = int(np.floor(fraction * n + 1e-9))
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
            raise DataError(f"clean: top_k must be an integer >= 0; found {top_k!r}")
        k = min(int(top_k), n)
    if not np.all(np.isfinite(v)):
        raise DataError(f"clean: importance values must be finite; found {int((~np.isfinite(v)).sum())} NaN or inf")
    order = np.lexsort((np.arange(n), v))[:k]  # by value, ties by row
    if threshold is not None:
        if not np.isfinite(threshold):
            raise DataError(f"clean: threshold must be a finite number; found {threshold!r}")
        order = order[v[order] < threshold]
    return order.astype(np.int64)


@dataclass(frozen=True, eq=False)
class CleanReport:
    """What :func:`clean` flagged, what it trained on, and the validation change.

    Attributes:
        flagged: flagged rows, most suspicious first.
        action: ``"drop"`` or ``"downweight"``.
        weights: ``(n,)`` the training weights of the retrain (``0`` for dropped rows).
        kept: rows the retrain used (every row for ``"downweight"``).
        model: the retrained adapter.
        before, after: validation metrics of the model on all rows and of the retrain (``None`` without
            validation data): ``loss`` (mean loss, lower is better) and, per task, ``roc_auc``,
            ``pr_auc``, ``accuracy`` or ``rmse``.
        values: the importance values used.
        ids: the training ids.
    """

    flagged: np.ndarray
    action: str
    weights: np.ndarray
    kept: np.ndarray
    model: object = field(repr=False)
    before: dict | None
    after: dict | None
    values: np.ndarray = field(repr=False)
    ids: np.ndarray = field(repr=False)

    @property
    def change(self) -> dict:
        """``after − before`` for every metric (empty without validation data)."""
        if self.before is None or self.after is None:
            return {}
        return {k: self.after[k] - self.before[k] for k in self.before if k in self.after}

    def to_frame(self):
        """Per-row decisions in row order: ``row``, ``id``, ``importance``, ``flagged``, ``weight``."""
        import pandas as pd

        flagged = np.zeros(len(self.values), dtype=bool)
        flagged[self.flagged] = True
        return pd.DataFrame({"row": np.arange(len(self.values), dtype=np.int64), "id": self.ids,
                             "importance": self.values, "flagged": flagged, "weight": self.weights})

    def __repr__(self) -> str:
        ch = ", ".join(f"{k} {v:+.4g}" for k, v in self.change.items())
        return (f"CleanReport(action={self.action!r}, flagged={len(self.flagged)} of {len(self.values)}"
                f"{', ' + ch if ch else ''})")


def clean(result, train: Dataset, model, *, fraction: float | None = None, top_k: int | None = None,
          threshold: float | None = None, action: str = "drop", factor: float = 0.0,
          valid: Dataset | None = None) -> CleanReport:
    """Flag the lowest-valued training rows, drop or down-weight them, retrain and compare on ``valid``.

    Args:
        result: an :class:`~samplescope.result.ImportanceResult` for ``train`` (or its values, row order).
        train: the training data the model was fitted on.
        model: a fitted model or adapter that can ``refit``.
        fraction, top_k, threshold: how many rows to flag (see :func:`select_flagged`).
        action: ``"drop"`` the flagged rows or ``"downweight"`` them.
        factor: the flagged rows' weight multiplier for ``"downweight"``, in ``[0, 1]``.
        valid: validation data for the before/after metrics.

    >>> import samplescope as ss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)); y = (X[:, 0] > 0).astype(float); y[:6] = 1 - y[:6]
    >>> train = ss.from_arrays(X[:40], y[:40]); valid = ss.from_arrays(X[40:], y[40:])
    >>> model = ss.fit_model("logistic", train)
    >>> rep = clean(ss.score("self_loss", model, train), train, model, fraction=0.1, valid=valid)
    >>> len(rep.flagged), len(rep.kept)
    (4, 36)
    """
    from samplescope.models import wrap_model

    values = np.asarray(getattr(result, "values", result), dtype=np.float64).reshape(-1)
    if len(values) != train.n:
        raise DataError(f"clean: the scores have {len(values)} rows; the training data {train.name} has {train.n}")
    ids = getattr(result, "ids", None)
    if getattr(result, "has_ids", False) and train.ids is not None and not np.array_equal(
            np.asarray(ids).astype(str), train.row_ids.astype(str)):
        raise DataError(f"clean: the scores' ids differ from the ids of {train.name}; expected scores computed "
                        "on the same rows, in the same order")
    if action not in ACTIONS:
        raise DataError(f"clean: action must be one of {list(ACTIONS)}; found {action!r}")
    if not (isinstance(factor, (int, float)) and 0 <= factor <= 1):
        raise DataError(f"clean: factor must be a number in [0, 1]; found {factor!r}")
    adapter = wrap_model(model, train)
    if "refit" not in adapter.capabilities:
        raise MethodError(f"clean: the model ({type(adapter).__name__}) cannot be retrained; expected an adapter "
                          "with the 'refit' capability")
    adapter.check_data(train)
    if valid is not None:
        adapter.check_data(valid)

    flagged = select_flagged(values, fraction=fraction, top_k=top_k, threshold=threshold)
    base = train.weights.astype(np.float64)
    weights = base.copy()
    if action == "drop":
        weights[flagged] = 0.0
        kept = np.setdiff1d(np.arange(train.n), flagged)
        if len(kept) == 0:
            raise DataError(f"clean: flagging {len(flagged)} rows would drop every row of {train.name}")
        cleaned = train.subset(kept)
    else:
        weights[flagged] *= factor
        kept = np.arange(train.n)
        if weights.sum() <= 0:
            raise DataError(f"clean: down-weighting {len(flagged)} rows by {factor} leaves no weight in {train.name}")
        cleaned = train.with_weight(weights)
    if adapter.objective.task in ("binary", "multiclass"):
        before_cls = np.unique(train.y[base > 0])
        after_cls = np.unique(cleaned.y[cleaned.weights > 0])
        if len(after_cls) < len(before_cls):
            lost = sorted(set(before_cls.tolist()) - set(after_cls.tolist()))
            raise DataError(f"clean: flagging {len(flagged)} rows removes every row of class(es) {lost} from "
                            f"{train.name}; expected a smaller fraction/top_k or a threshold")
    before_model = adapter.at_optimum(train)
    after_model = adapter.refit(cleaned)
    before = after = None
    if valid is not None:
        before, after = validation_metrics(before_model, valid), validation_metrics(after_model, valid)
    return CleanReport(flagged=flagged, action=action, weights=weights, kept=kept, model=after_model,
                       before=before, after=after, values=values, ids=train.row_ids)


def validation_metrics(model, data: Dataset) -> dict:
    """Mean loss plus a task metric: ``roc_auc``/``pr_auc`` (binary), ``accuracy`` (multiclass), ``rmse``.

    >>> import samplescope as ss
    >>> d = ss.from_arrays(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0.0, 1.0, 0.0, 1.0]))
    >>> sorted(validation_metrics(ss.fit_model("logistic", d), d))
    ['loss', 'pr_auc', 'roc_auc']
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    obj = model.objective
    s = model.scores(data)
    out = {"loss": obj.mean_loss(data.y, s, data.weight, data.group_bounds)}
    task = obj.task
    if task == "binary" and len(np.unique(data.y)) == 2:
        out["roc_auc"] = float(roc_auc_score(data.y, s, sample_weight=data.weight))
        out["pr_auc"] = float(average_precision_score(data.y, s, sample_weight=data.weight))
    elif task == "multiclass":
        out["accuracy"] = float(np.average(np.argmax(s, axis=1) == data.y, weights=data.weights))
    elif task == "regression":
        out["rmse"] = float(np.sqrt(np.average((s - data.y) ** 2, weights=data.weights)))
    return out
