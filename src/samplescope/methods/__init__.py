"""Importance methods: one file per method, each registered by name in :data:`REGISTRY`.

Loss family: ``self_loss``, ``loo``, ``influence``, ``newton_loo``, ``data_oob``, ``knn_shapley``.
Gradient family: ``grad_norm``, ``el2n``, ``tracin``, ``trak``.
Decision-boundary family: ``margin``.
Boosted trees: ``boostin`` (gradient family), ``leaf_influence`` (loss family).
"""

from samplescope.methods import (  # noqa: F401  (imported to register)
    boostin,
    data_oob,
    el2n,
    grad_norm,
    influence,
    knn_shapley,
    leaf_influence,
    loo,
    margin,
    newton_loo,
    self_loss,
    tracin,
    trak,
)
from samplescope.methods.base import Context, score
from samplescope.methods.registry import REGISTRY, MethodInfo, get_method, list_methods, register

__all__ = ["Context", "MethodInfo", "REGISTRY", "get_method", "list_methods", "register", "score"]
