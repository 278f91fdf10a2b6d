"""Running a method: the :class:`Context` it receives and :func:`score`, the one entry point."""

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
          **params) -> ImportanceResult:
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
        **params: the method's own parameters.
    """
    info = get_method(method)
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
                  checkpoint_dir=checkpoint_dir, method=method, params=params)
    t0 = time.perf_counter()
    out = info.fn(ctx, **params)
    seconds = time.perf_counter() - t0
    values, extras, target = out if isinstance(out, tuple) else (out, {}, None)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape != (train.n,):
        raise MethodError(f"method '{method}' returned {values.shape} values for {train.n} rows")  # pragma: no cover
    if not np.all(np.isfinite(values)):
        raise DataError(f"method '{method}' produced non-finite values; check the data and the model")
    defaults = {k: v.default for k, v in list(sig.parameters.items())[1:] if v.default is not inspect.Parameter.empty}
    all_params = {**defaults, **params, "seed": seed, **{f"model.{k}": v for k, v in adapter.params().items()}}
    return ImportanceResult(values=values, ids=train.row_ids, method=method, family=info.family,
                            target=target or ctx.target, params=all_params, model_fingerprint=adapter.fingerprint(),
                            data_fingerprint=train.fingerprint(), seconds=seconds, has_ids=train.ids is not None,
                            extras=extras)
