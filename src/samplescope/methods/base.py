"""Running a method: the :class:`Context` it receives and :func:`score`, the one entry point.

Units of importance
-------------------
``unit="document"`` (default) values every training row; ``unit="query"`` values every query group as a
whole — the natural unit of a ranking loss, which is a sum over queries. Each method declares the units it
supports and how query values are made (:class:`~samplescope.methods.registry.MethodInfo`):

* ``native``: the method reads ``ctx.unit`` and returns one value per group (``loo`` refits without the whole
  group; ``influence`` uses the group's gradient ``G_q = c Σ_{i∈q} w_i g_i``; ``newton_loo`` the rank-``m·K``
  downdate of the group's Hessian block);
* ``sum``: the sum of the group's document values — the group's value when the value is additive in the
  sample's term of the objective (first-order validation-loss changes: ``tracin``; ``self_loss`` = −L_q);
  refused for a ``self`` target, whose group value is not a sum;
* ``mean``: the mean of the group's document values, a documented summary for non-additive scores.

Query values come in the groups' order of appearance, with the group ids as ``ids`` and an extra column
``n_documents``. Document values on grouped data carry the extra column ``group``.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, MethodError
from samplescope.execution.local import Checkpoint
from samplescope.models import ModelAdapter, wrap_model
from samplescope.methods.registry import get_method
from samplescope.result import ImportanceResult

__all__ = ["Context", "score"]


@dataclass
class Context:
    """What a method function receives.

    Attributes:
        model: the adapted model.
        train: training data whose rows are valued.
        valid: validation data, or ``None`` (then the target is the sample's own loss).
        seed: random seed for stochastic parts.
        n_jobs: threads.
        progress: callback ``progress(done_items)``, or ``None``.
        checkpoint_dir: folder for checkpoints of long runs, or ``None``.
    """

    model: ModelAdapter
    train: Dataset
    valid: Dataset | None = None
    seed: int = 0
    n_jobs: int = 1
    progress: Callable[[int], None] | None = None
    checkpoint_dir: str | None = None
    method: str = ""
    params: dict | None = None
    unit: str = "document"

    @property
    def target(self) -> str:
        return "validation" if self.valid is not None else "self"

    def tick(self, k: int) -> None:
        if self.progress is not None:
            self.progress(k)

    def checkpoint(self) -> Checkpoint | None:
        """A checkpoint keyed by method, parameters and fingerprints (``None`` without a folder)."""
        if self.checkpoint_dir is None:
            return None
        key = {"method": self.method, "params": self.params, "model": self.model.fingerprint(),
               "train": self.train.fingerprint(), "valid": None if self.valid is None else self.valid.fingerprint(),
               "seed": self.seed}
        return Checkpoint(self.checkpoint_dir, key)


def score(method: str, model, train: Dataset, *, valid: Dataset | None = None, seed: int = 0, n_jobs: int = 1,
          progress: Callable[[int], None] | None = None, checkpoint_dir: str | None = None,
          unit: str = "document", **params) -> ImportanceResult:
    """Importance of every training sample by one method.

    Args:
        method: a registered method name (see ``samplescope methods``).
        model: a fitted model or a :class:`ModelAdapter`.
        train: the training data the model was fitted on.
        valid: validation data; importance is then the change of the mean validation loss when a sample is
            removed (positive = helpful). Without it, methods use each sample's own loss.
        seed: seed of stochastic methods.
        n_jobs: threads.
        progress: callback receiving the number of samples finished since the last call.
        checkpoint_dir: folder where long runs store finished chunks and resume from.
        unit: ``"document"`` (one value per training row) or ``"query"`` (one value per query group).
        **params: the method's own parameters.
    """
    info = get_method(method)
    _check_unit(info, unit, train, valid)
    adapter = wrap_model(model, train)
    missing = info.requires - adapter.capabilities
    if missing:
        raise MethodError(
            f"method '{method}' needs {sorted(missing)} from the model, which {type(adapter).__name__} "
            f"does not provide; methods for this model: run `samplescope methods`"
        )
    task = adapter.objective.task
    if task not in info.tasks:
        raise MethodError(f"method '{method}' supports tasks {sorted(info.tasks)}; the model's task is '{task}'")
    sig = inspect.signature(info.fn)
    accepted = [p for p in list(sig.parameters)[1:]]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise MethodError(f"method '{method}' has no parameter(s) {unknown}; expected some of {accepted}")
    adapter.check_data(train)
    if valid is not None:
        adapter.check_data(valid)
    elif info.needs_valid:
        raise MethodError(f"method '{method}' needs a validation set (--valid FILE); none was given")
    if not info.weights and train.weight is not None and not np.allclose(train.weight, train.weight[0]):
        raise MethodError(
            f"method '{method}' does not use sample weights; found non-uniform weights in column "
            f"'{train.weight_name}' of {train.name}. Drop the weights or choose another method"
        )
    ctx = Context(model=adapter, train=train, valid=valid, seed=seed, n_jobs=n_jobs, progress=progress,
                  checkpoint_dir=checkpoint_dir, method=method, params=params if unit == "document" else
                  {**params, "unit": unit}, unit=unit)
    t0 = time.perf_counter()
    out = info.fn(ctx, **params)
    seconds = time.perf_counter() - t0
    values, extras, target = out if isinstance(out, tuple) else (out, {}, None)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    ids, has_ids = train.row_ids, train.ids is not None
    if unit == "query":
        values, extras, ids = _by_query(info, values, extras, train)
        has_ids = True
    elif train.group is not None and "group" not in extras:
        extras = {**extras, "group": train.group}
    if values.shape != (len(ids),):
        raise MethodError(  # pragma: no cover
            f"method '{method}' returned {values.shape} values for {len(ids)} {unit}s")
    if not np.all(np.isfinite(values)):
        raise DataError(f"method '{method}' produced non-finite values; check the data and the model")
    defaults = {k: v.default for k, v in list(sig.parameters.items())[1:] if v.default is not inspect.Parameter.empty}
    all_params = {**defaults, **params, "seed": seed, "unit": unit,
                  **{f"model.{k}": v for k, v in adapter.params().items()}}
    return ImportanceResult(values=values, ids=ids, method=method, family=info.family,
                            target=target or ctx.target, params=all_params, model_fingerprint=adapter.fingerprint(),
                            data_fingerprint=train.fingerprint(), seconds=seconds, has_ids=has_ids,
                            extras=extras, unit=unit)


UNITS = ("document", "query")


def _check_unit(info, unit: str, train: Dataset, valid: Dataset | None) -> None:
    if unit not in UNITS:
        raise MethodError(f"unit must be one of {list(UNITS)}; found {unit!r}")
    if unit not in info.units:
        raise MethodError(f"method '{info.name}' supports units {list(info.units)}; found unit '{unit}'")
    if unit == "query":
        if train.group is None:
            raise DataError(f"{train.name}: unit 'query' needs query groups; expected a group column "
                            f"('{train.group_name}', rows of one query contiguous); found none")
        if info.aggregate == "sum" and valid is None and "self" in info.targets:
            raise MethodError(f"method '{info.name}' gives unit 'query' as the sum of its document values, which "
                              "is the group's value only for a validation target; pass a validation set "
                              "(--valid FILE) or use unit 'document'")


def _by_query(info, values: np.ndarray, extras: dict, train: Dataset):
    """Query-unit values, extras and ids from a method's output (``native``: already one per group)."""
    b = train.group_bounds
    sizes = np.diff(b)
    if info.aggregate == "native":
        out, ex = values, dict(extras)
    else:
        if values.shape != (train.n,):
            raise MethodError(  # pragma: no cover
                f"method '{info.name}' returned {values.shape} values for {train.n} rows")
        agg = (lambda v: np.add.reduceat(v, b[:-1])) if info.aggregate == "sum" else \
            (lambda v: np.add.reduceat(v, b[:-1]) / sizes)
        out = agg(values)
        ex = {k: agg(np.asarray(v, dtype=np.float64)) for k, v in extras.items()
              if np.ndim(v) == 1 and len(v) == train.n and np.issubdtype(np.asarray(v).dtype, np.number)}
    ex["n_documents"] = sizes
    return out, ex, train.group[b[:-1]]
