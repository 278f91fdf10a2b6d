"""Sample weights from importance, class-aware, for imbalanced data.

``reweight`` turns importance values into one training weight per row, in three steps:

1. **class totals** — each class ``c`` is given a total weight ``T_c``. ``strategy="balance"`` and
   ``"class"`` move them towards equal totals: ``T_c ∝ W_c^(1 − balance)`` (``W_c`` = the class's current
   total; ``balance=1`` gives every class the same total, as scikit-learn's ``class_weight="balanced"``;
   ``0.5`` is the square-root compromise); ``"importance"`` and ``"downweight"`` keep ``T_c = W_c``.
   The grand total ``Σ T_c = Σ W_c`` is kept.
2. **importance within a class** — ``z_i = v_i / rms_c(v)`` (sign kept: a harmful sample has ``z < 0``)
   and the multiplier ``m_i = clip(exp(β z_i), lo, hi)``; ``"downweight"`` only lowers
   (``m_i = clip(exp(β min(z_i, 0)), lo, 1)``), ``"class"`` ignores importance (``m_i = 1``).
3. **normalisation** (``preserve``) — ``"class"``: every class ends with exactly ``T_c``, importance only
   moves weight between samples of one class; ``"total"``: only the grand total is kept, so a class whose
   samples are more useful gains weight; ``"none"``: ``w_i = base_i · T_c / W_c · m_i`` as is.

So the default (``"balance"``, ``preserve="class"``) raises the minority class, and within each class raises
the most helpful samples and lowers the harmful and redundant ones. A weighted fit of a probabilistic
model is then biased by the change of class mass; :func:`recalibration_offset` is the logit shift that
undoes it (as for negative downsampling).

The weights plug into every trainer: LightGBM ``lgb.Dataset(X, y, weight=w)``, XGBoost
``xgb.DMatrix(X, y, weight=w)``, scikit-learn ``fit(X, y, sample_weight=w)``, torch
``(w_batch * loss_per_sample).sum() / w_batch.sum()``; :func:`write_weights` writes them as a Parquet
column ``weight`` beside ``row`` (and ``id``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from samplescope.errors import DataError

__all__ = ["PRESERVE", "STRATEGIES", "recalibration_offset", "reweight", "weights_frame", "write_weights"]

STRATEGIES = ("balance", "importance", "downweight", "class")
PRESERVE = ("class", "total", "none")


def reweight(result, *, labels=None, sample_weight=None, strategy: str = "balance", beta: float = 1.0,
             clip: tuple[float, float] = (0.1, 10.0), preserve: str = "class", balance: float = 1.0) -> np.ndarray:
    """One training weight per row from importance values (positive = helpful), class-aware.

    Args:
        result: an :class:`~samplescope.result.ImportanceResult` or an array of values, in row order.
        labels: the class of each row (``None``: one class, e.g. for regression).
        sample_weight: the rows' current weights (default ones); the output replaces them.
        strategy: ``"balance"`` (equalise class totals, then importance within each class),
            ``"importance"`` (importance within each class only), ``"downweight"`` (only lower harmful
            samples) or ``"class"`` (class balance only, importance ignored).
        beta: strength of importance: the multiplier is ``exp(beta · z)``; 0 ignores importance.
        clip: ``(lo, hi)`` bounds of the importance multiplier, ``0 < lo ≤ 1 ≤ hi``.
        preserve: what the normalisation keeps: ``"class"`` totals, the ``"total"``, or ``"none"``.
        balance: how far ``"balance"``/``"class"`` move class totals towards equal, in ``[0, 1]``.

    Returns:
        ``(n,)`` non-negative weights aligned to the rows.

    >>> v = np.array([0.5, -0.5, 0.0, 0.0, 1.0])
    >>> y = np.array([0, 0, 0, 0, 1])
    >>> w = reweight(v, labels=y)
    >>> float(w[y == 0].sum()), float(w[y == 1].sum())   # balanced: 2.5 and 2.5
    (2.5, 2.5)
    >>> bool(w[0] > w[2] > w[1])                          # helpful up, harmful down
    True
    >>> reweight(v, labels=y, strategy="importance", beta=0.0).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    values = np.asarray(getattr(result, "values", result), dtype=np.float64).reshape(-1)
    n = len(values)
    if n == 0:
        raise DataError("reweight: expected at least one importance value; found none")
    if not np.all(np.isfinite(values)):
        raise DataError(f"reweight: importance values must be finite; found {int((~np.isfinite(values)).sum())} "
                        "NaN or inf")
    base = _base_weights(sample_weight, n)
    classes = _classes(labels, n)
    if strategy not in STRATEGIES:
        raise DataError(f"reweight: strategy must be one of {list(STRATEGIES)}; found {strategy!r}")
    if preserve not in PRESERVE:
        raise DataError(f"reweight: preserve must be one of {list(PRESERVE)}; found {preserve!r}")
    if not (np.isfinite(beta) and beta >= 0):
        raise DataError(f"reweight: beta must be a finite number >= 0; found {beta}")
    try:
        lo, hi = (float(c) for c in clip)
    except (TypeError, ValueError):
        raise DataError(f"reweight: clip must be a pair (lo, hi); found {clip!r}") from None
    if not (0 < lo <= 1 <= hi < np.inf):
        raise DataError(f"reweight: clip must satisfy 0 < lo <= 1 <= hi < inf; found ({lo:g}, {hi:g})")
    if not 0 <= balance <= 1:
        raise DataError(f"reweight: balance must be in [0, 1]; found {balance}")

    codes, n_classes = classes
    W = np.bincount(codes, weights=base, minlength=n_classes)  # current class totals
    if strategy in ("balance", "class"):
        T = np.where(W > 0, W ** (1.0 - balance) if balance < 1 else 1.0, 0.0)
        T *= W.sum() / T.sum()
    else:
        T = W.copy()

    if strategy == "class" or beta == 0:
        mult = np.ones(n)
    else:
        ms = np.bincount(codes, weights=base * values**2, minlength=n_classes) / np.where(W > 0, W, 1.0)
        rms = np.sqrt(ms)[codes]
        z = np.divide(values, rms, out=np.zeros(n), where=rms > 0)
        if strategy == "downweight":
            mult = np.clip(np.exp(beta * np.minimum(z, 0.0)), lo, 1.0)
        else:
            mult = np.clip(np.exp(np.clip(beta * z, -700, 700)), lo, hi)

    w = base * np.divide(T, W, out=np.zeros(n_classes), where=W > 0)[codes] * mult
    if preserve == "class":
        got = np.bincount(codes, weights=w, minlength=n_classes)
        w *= np.divide(T, got, out=np.zeros(n_classes), where=got > 0)[codes]
    elif preserve == "total":
        w *= T.sum() / w.sum()
    return w


def recalibration_offset(weights, *, labels, sample_weight=None) -> float:
    """The logit shift that undoes a change of class mass in a binary weighted fit.

    A model fitted with weights that scale the positives' mass by ``a₁`` and the negatives' by ``a₀`` learns
    logits about ``log(a₁ / a₀)`` too high; subtract the returned value from its scores (for negative
    downsampling at rate ``r``: ``log(1 / r)``, the usual correction).

    Args:
        weights: the new weights.
        labels: 0/1 labels.
        sample_weight: the original weights (default ones).

    >>> y = np.array([0, 0, 0, 1])
    >>> round(recalibration_offset(np.array([0.5, 0.5, 0.5, 1.0]), labels=y), 6)   # negatives halved
    0.693147
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(w):
        raise DataError(f"recalibration_offset: labels must have one value per weight ({len(w)}); found {len(y)}")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        found = sorted(set(np.unique(y).tolist()))[:5]
        raise DataError(f"recalibration_offset: labels must be 0/1; found values {found}")
    base = _base_weights(sample_weight, len(w))
    a = [w[y == k].sum() / base[y == k].sum() if base[y == k].sum() > 0 else np.nan for k in (0, 1)]
    if not (np.isfinite(a[0]) and np.isfinite(a[1]) and a[0] > 0 and a[1] > 0):
        raise DataError("recalibration_offset: both classes must keep a positive weight; found a class with none")
    return float(np.log(a[1] / a[0]))


def weights_frame(weights, *, ids=None):
    """A DataFrame ``row``, [``id``], ``weight`` in row order.

    >>> weights_frame(np.array([1.0, 2.0]), ids=np.array(["a", "b"])).columns.tolist()
    ['row', 'id', 'weight']
    """
    import pandas as pd

    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    cols = {"row": np.arange(len(w), dtype=np.int64)}
    if ids is not None:
        ids = np.asarray(ids)
        if len(ids) != len(w):
            raise DataError(f"weights_frame: ids must have one value per weight ({len(w)}); found {len(ids)}")
        cols["id"] = ids
    cols["weight"] = w
    return pd.DataFrame(cols)


def write_weights(path: str | os.PathLike, weights, *, ids=None, metadata: dict | None = None) -> Path:
    """Write :func:`weights_frame` to Parquet atomically (``metadata`` as JSON under key ``samplescope``)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from samplescope.result import _jsonable, atomic_write

    table = pa.Table.from_pandas(weights_frame(weights, ids=ids), preserve_index=False)
    meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
    if metadata:
        meta[b"samplescope"] = json.dumps(_jsonable(metadata)).encode()
    table = table.replace_schema_metadata(meta)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


# ------------------------------------------------------------------ input checks
def _base_weights(sample_weight, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise DataError(f"sample_weight must have one value per row ({n}); found {len(w)}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise DataError("sample_weight must be finite, >= 0 and not all zero; found "
                        f"min {np.nanmin(w):g}, sum {np.nansum(w):g}")
    return w


def _classes(labels, n: int) -> tuple[np.ndarray, int]:
    if labels is None:
        return np.zeros(n, dtype=np.int64), 1
    y = np.asarray(getattr(labels, "y", labels)).reshape(-1)
    if len(y) != n:
        raise DataError(f"reweight: labels must have one value per importance value ({n}); found {len(y)}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise DataError("reweight: labels must be finite; found NaN or inf")
    uniq, codes = np.unique(y, return_inverse=True)
    return codes.reshape(-1), len(uniq)
