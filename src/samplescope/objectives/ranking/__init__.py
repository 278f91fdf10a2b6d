"""Ranking losses over query groups: RankNet (pairwise), LambdaRank (LightGBM's NDCG lambdas), ListNet (listwise),
XE-NDCG (LightGBM's ``rank_xendcg``) and XGBoost's exact ``rank:ndcg`` / ``rank:pairwise`` lambdas.

Every ranking objective has ``task = "ranking"`` and ``grouped = True``; it receives the query-group
offsets ``bounds`` (``Dataset.group_bounds``) and optional per-document weights, and returns per
document its share of the group loss, the score-space gradient (the "lambda"), LightGBM's diagonal
hessian, and the exact block-diagonal score-space Hessian (:meth:`RankingObjective.hessian_blocks`).
Weights, degenerate groups and the padded-group vectorisation are described in :mod:`._groups`.
"""

from samplescope.objectives.ranking._groups import RankingObjective
from samplescope.objectives.ranking.lambdarank import LambdaRank, default_label_gain
from samplescope.objectives.ranking.listnet import ListNet
from samplescope.objectives.ranking.pairwise import RankNet
from samplescope.objectives.ranking.xendcg import XENDCG
from samplescope.objectives.ranking.xgb_lambdarank import XGBoostNDCG, XGBoostPairwise

__all__ = ["RankingObjective", "RankNet", "LambdaRank", "ListNet", "XENDCG", "XGBoostNDCG", "XGBoostPairwise",
           "default_label_gain"]
