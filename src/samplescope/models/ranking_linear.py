"""A linear ranker: a linear scorer trained with a ranking loss over query groups, exactly.

    s_i = x_iᵀ w            J(w) = c Σ_q L_q(s_q) + ½ α ‖w‖²

with ``L_q`` one of the ranking objectives (``ranknet``, ``lambdarank``, ``listnet``;
:mod:`samplescope.objectives.ranking`). It is a :class:`~samplescope.models.linear.LinearModel`, so every
method that works with linear models has an exact reference on tiny data: refits are damped Newton with the
exact block-diagonal Hessian of the query losses (RankNet, ListNet: smooth and convex, the refit is the
unique optimum for α > 0). For LambdaRank the refit minimises the lambda-weighted RankNet surrogate with
its |ΔNDCG| weights frozen at every Newton iterate (see :mod:`samplescope.objectives.ranking.lambdarank`).

No intercept by default: a ranking loss ignores a shift of all scores of a query, so an intercept is not
identifiable (with ``fit_intercept=True`` it stays at 0).
"""

from __future__ import annotations

import warnings

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, MethodError
from samplescope.models.linear import LinearModel
from samplescope.objectives import get_objective

__all__ = ["RANKING_OBJECTIVES", "fit_linear_ranker"]

RANKING_OBJECTIVES = ("lambdarank", "ranknet", "listnet")


def fit_linear_ranker(train: Dataset, *, objective: str = "ranknet", alpha: float = 1.0, c: float = 1.0,
                      fit_intercept: bool = False, max_iter: int = 100, **objective_params) -> LinearModel:
    """Fit a linear ranker on ``train`` (its query groups and sample weights are honoured).

    Args:
        train: training data with a group column.
        objective: ``ranknet`` (default), ``lambdarank`` or ``listnet``.
        alpha: L2 strength on the weights (> 0 keeps the optimum unique).
        c: scale of the loss.
        fit_intercept: include an (unidentifiable, unpenalised) intercept.
        max_iter: Newton iterations.
        **objective_params: the objective's parameters, e.g. ``sigmoid``, ``truncation_level`` (or LightGBM's
            ``lambdarank_truncation_level``), ``label_gain``, ``norm`` (``lambdarank_norm``).
    """
    if objective not in RANKING_OBJECTIVES:
        raise MethodError(f"model 'linear_ranker': objective must be one of {list(RANKING_OBJECTIVES)}; "
                          f"found {objective!r}")
    for name, v in (("alpha", alpha), ("c", c)):
        if not (np.isfinite(v) and v >= (0 if name == "alpha" else 1e-300)):
            raise MethodError(f"model 'linear_ranker': {name} must be a finite number "
                              f"{'>= 0' if name == 'alpha' else '> 0'}; found {v}")
    obj = get_objective(objective, **objective_params)
    if train.group is None:
        raise DataError(f"{train.name}: model 'linear_ranker' needs query groups; expected a group column "
                        f"('{train.group_name}', rows of one query contiguous); found none")
    K = 1
    model = LinearModel(obj, np.zeros((train.n_features, K)), np.zeros(K), c=c, alpha=alpha,
                        fit_intercept=fit_intercept, name="linear_ranker")
    model.check_data(train)
    fitted = model.with_theta(model.solve(train, max_iter=max_iter))
    G = fitted.objective_gradient(train, fitted.theta, fitted.effective_weights(train))
    scale = 1.0 + np.abs(fitted.theta).max()
    if np.abs(G).max() > 1e-6 * scale * max(1.0, c * train.weights.sum()):
        warnings.warn(
            f"linear_ranker: objective '{objective}' did not reach a stationary point in {max_iter} Newton steps "
            f"(max |gradient| {np.abs(G).max():.3g}); LambdaRank's |ΔNDCG| weights keep switching with the ranking "
            "(with norm=True most of all). Exact references need a smooth objective: ranknet or listnet",
            RuntimeWarning, stacklevel=2)
    fitted._optimum[train.fingerprint()] = fitted.theta  # methods needing the optimum do not solve again
    return fitted
