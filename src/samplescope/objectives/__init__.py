"""Training losses: per-sample loss, score-space gradient and hessian, for every task."""

from __future__ import annotations

from samplescope.errors import MethodError
from samplescope.objectives.base import Objective
from samplescope.objectives.logloss import LogLoss
from samplescope.objectives.softmax import SoftmaxCrossEntropy
from samplescope.objectives.squared_error import SquaredError

__all__ = ["Objective", "LogLoss", "SquaredError", "SoftmaxCrossEntropy", "OBJECTIVES", "get_objective"]

OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls for cls in (LogLoss, SquaredError, SoftmaxCrossEntropy)
}


def get_objective(name: str, **kwargs) -> Objective:
    """An objective by name (``logloss``, ``squared_error``, ``softmax``)."""
    try:
        return OBJECTIVES[name](**kwargs)
    except KeyError:
        raise MethodError(
            f"unknown objective '{name}'; expected one of {sorted(OBJECTIVES)}"
        ) from None
