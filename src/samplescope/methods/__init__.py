"""Importance methods: one file per method, each registered by name in :data:`REGISTRY`.

Loss family: ``self_loss``, ``loo``, ``influence``, ``newton_loo``, ``data_oob``, ``knn_shapley``.
Gradient family: ``grad_norm``, ``el2n``, ``tracin``.
Decision-boundary family: ``margin``.
"""

from samplescope.methods import (  # noqa: F401  (imported to register)
    data_oob,
    el2n,
    grad_norm,
    influence,
    knn_shapley,
    loo,
    margin,
    newton_loo,
    self_loss,
    tracin,
)
from samplescope.methods.base import Context, score
from samplescope.methods.registry import REGISTRY, MethodInfo, get_method, list_methods, register

__all__ = ["Context", "MethodInfo", "REGISTRY", "get_method", "list_methods", "register", "score"]
