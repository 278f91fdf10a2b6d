"""Training losses: per-sample loss, score-space gradient and hessian, for every task."""

from __future__ import annotations

from samplescope.errors import MethodError
from samplescope.objectives.base import Objective
from samplescope.objectives.logloss import LogLoss
from samplescope.objectives.ranking import XENDCG, LambdaRank, ListNet, RankingObjective, RankNet
from samplescope.objectives.softmax import SoftmaxCrossEntropy
from samplescope.objectives.squared_error import SquaredError

__all__ = ["Objective", "LogLoss", "SquaredError", "SoftmaxCrossEntropy", "RankingObjective", "RankNet",
           "LambdaRank", "ListNet", "XENDCG", "OBJECTIVES", "get_objective"]

OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls for cls in (LogLoss, SquaredError, SoftmaxCrossEntropy, RankNet, LambdaRank, ListNet, XENDCG)
}

#: LightGBM's parameter names, accepted as aliases (``get_objective("lambdarank", lambdarank_norm=False)``).
ALIASES = {"lambdarank_truncation_level": "truncation_level", "lambdarank_norm": "norm"}


def get_objective(name: str, **kwargs) -> Objective:
    """An objective by name, with its parameters.

    ``logloss``, ``squared_error``, ``softmax`` (``n_classes``), and the ranking objectives ``ranknet``
    (``sigmoid``), ``lambdarank`` (``sigmoid``, ``truncation_level`` / ``lambdarank_truncation_level``,
    ``label_gain``, ``norm`` / ``lambdarank_norm``), ``listnet`` (no parameters) and ``xendcg``
    (``objective_seed``). XGBoost's exact ranking lambdas (``XGBoostNDCG``, ``XGBoostPairwise`` in
    :mod:`samplescope.objectives.ranking`) belong to its adapter and are not looked up by name.
    """
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise MethodError(
            f"unknown objective '{name}'; expected one of {sorted(OBJECTIVES)}"
        ) from None
    kwargs = {ALIASES.get(k, k): v for k, v in kwargs.items()}
    import inspect

    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise MethodError(f"objective '{name}' has no parameter(s) {unknown}; expected some of {accepted}")
    return cls(**kwargs)
