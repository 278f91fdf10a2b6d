"""LightGBM boosters (``Booster`` or the scikit-learn wrappers) as :class:`TreeEnsemble` adapters.

Everything is read from the model text (``Booster.model_to_string()``, the same text a model file holds):
the leaf values of every tree (full precision), the objective line and the complete parameter block, so a
booster trained in this process and one loaded from a file are the same adapter. Objectives:

| LightGBM | samplescope objective |
|---|---|
| ``binary`` (``sigmoid`` 1, no ``is_unbalance`` / ``scale_pos_weight``) | ``logloss`` |
| ``regression`` (L2; ``reg_sqrt`` off) | ``squared_error`` |
| ``lambdarank`` | ``lambdarank`` (truncation level, label gain, normalisation, sigmoid passed on) |
| ``rank_xendcg`` | ``xendcg`` (``objective_seed`` passed on): the loss at the mean gamma; the training rows get |
|  | each round's own gammas and LightGBM's lambdas (``XENDCG.for_round``), so the trees are reproduced |

``rank_xendcg`` draws new gammas every round from one generator per query, ``Random(objective_seed + q)``
(``src/objective/rank_objective.hpp``, LightGBM 4.7): training is deterministic whatever ``num_threads`` is, and
:meth:`TreeEnsemble.rounds` replays round ``t`` exactly on the training rows (queries indexed after rows of
weight 0 are dropped, as a refit drops them). Bagging by query or position bias draw differently and are
caught by the Newton check of the tree methods.

With ``boost_from_average`` LightGBM adds the init score ``b`` (binary: ``log(p̄/(1−p̄))``, regression: the
weighted mean label, both over the training rows) to the first tree's leaf values; the adapter recomputes
``b`` from the training data it is wrapped with and takes it out of tree 0.
Refits pass the model's own complete parameter block back to ``lightgbm.train`` with the same number of
rounds (reproducing the original booster exactly on the same rows).
"""

from __future__ import annotations

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, ModelError, require
from samplescope.models.trees import TreeEnsemble
from samplescope.objectives import LogLoss, SquaredError, get_objective

__all__ = ["LightGBMModel", "fit_lightgbm", "LIGHTGBM_OBJECTIVES"]

LIGHTGBM_OBJECTIVES = ("binary", "regression", "lambdarank", "rank_xendcg")
_ALIASES = {"regression_l2": "regression", "l2": "regression", "mean_squared_error": "regression", "mse": "regression",
            "l2_root": "regression", "root_mean_squared_error": "regression", "rmse": "regression",
            "xendcg": "rank_xendcg", "xe_ndcg": "rank_xendcg", "xe_ndcg_mart": "rank_xendcg",
            "xendcg_mart": "rank_xendcg"}
# parameters that say nothing about how the trees are trained (or that refits set themselves)
_NOT_TRAINING = {"num_iterations", "early_stopping_round", "early_stopping_min_delta", "first_metric_only", "metric",
                 "local_listen_port", "time_out", "num_machines", "machines", "machine_list_filename",
                 "output_model", "input_model", "snapshot_freq", "saved_feature_importance_type"}
_K_EPSILON = 1e-15  # LightGBM's kEpsilon
_BLOCK = 65536  # rows predicted at a time


def _objective_for(name: str, p: dict):
    if name == "binary":
        if float(p.get("sigmoid", 1.0)) != 1.0 or p.get("is_unbalance") or float(p.get("scale_pos_weight", 1.0)) != 1.0:
            raise ModelError("lightgbm: objective 'binary' is supported with sigmoid=1, is_unbalance=false and "
                             f"scale_pos_weight=1; found sigmoid={p.get('sigmoid')}, is_unbalance="
                             f"{p.get('is_unbalance')}, scale_pos_weight={p.get('scale_pos_weight')}")
        return LogLoss()
    if name == "regression":
        if p.get("reg_sqrt"):
            raise ModelError("lightgbm: objective 'regression' with reg_sqrt=true is not supported; "
                             "expected reg_sqrt=false")
        return SquaredError()
    if name == "lambdarank":
        kw = {"truncation_level": int(p.get("lambdarank_truncation_level", 30)),
              "norm": bool(p.get("lambdarank_norm", True)), "sigmoid": float(p.get("sigmoid", 1.0))}
        if p.get("label_gain") not in (None, "", []):
            kw["label_gain"] = [float(g) for g in np.atleast_1d(p["label_gain"])]
        return _ranking("lambdarank", name, kw)
    if name == "rank_xendcg":
        return _ranking("xendcg", name, {"objective_seed": int(p.get("objective_seed", 5))})
    raise ModelError(f"lightgbm: objective '{name}' is not supported; expected one of {list(LIGHTGBM_OBJECTIVES)}")


def _ranking(ours: str, theirs: str, kw: dict):
    try:
        return get_objective(ours, **kw)
    except (TypeError, ValueError) as exc:  # MethodError is a ValueError: the objective is not there (yet)
        raise ModelError(f"lightgbm: objective '{theirs}' needs samplescope's ranking objective '{ours}' "
                         f"with parameters {sorted(kw)}; it is not available ({exc})") from None


def _parse(text: str):
    """Header fields and per-tree leaf values of a LightGBM model text."""
    header, trees, tree = {}, [], None
    for line in text.splitlines():
        if line.startswith("Tree="):
            tree = {}
            trees.append(tree)
        elif line.startswith("end of trees"):
            break
        elif "=" in line:
            k, _, v = line.partition("=")
            (header if tree is None else tree)[k] = v
    return header, trees


class LightGBMModel(TreeEnsemble):
    """A fitted LightGBM booster.

    Args:
        booster: ``lightgbm.Booster`` or a fitted ``LGBMClassifier`` / ``LGBMRegressor`` / ``LGBMRanker``.
        train: the training data (needed to recover the ``boost_from_average`` init score; may be given later
            through :meth:`bind`).
    """

    name = "lightgbm"

    def __init__(self, booster, train: Dataset | None = None):
        lgb = require("lightgbm", "gbdt")
        if not isinstance(booster, lgb.Booster):
            if not hasattr(booster, "booster_"):
                raise ModelError(f"{type(booster).__name__} is not fitted; fit it first or let samplescope fit it")
            booster = booster.booster_
        self.booster = booster
        self.text = booster.model_to_string()
        header, trees = _parse(self.text)
        if int(header.get("num_tree_per_iteration", 1)) != 1 or int(header.get("num_class", 1)) != 1:
            raise ModelError("lightgbm: multiclass boosters are not supported; found "
                             f"num_class={header.get('num_class')}")
        full = lgb.Booster(model_str=self.text).params  # the complete parameter block of the model text
        if full.get("boosting", "gbdt") not in ("gbdt", "gbrt"):
            raise ModelError(f"lightgbm: boosting '{full.get('boosting')}' is not supported; expected 'gbdt' "
                             "(dart rescales earlier trees, rf averages them)")
        if full.get("linear_tree") or any(t.get("is_linear", "0") != "0" for t in trees):
            raise ModelError("lightgbm: linear trees are not supported; expected linear_tree=false")
        used = booster.best_iteration if 0 < booster.best_iteration < len(trees) else len(trees)
        name = header.get("objective", "").split(" ")[0]
        name = _ALIASES.get(name, name)
        self.params_ = full
        self.lgb_objective = name
        values = [np.array(t["leaf_value"].split(), dtype=np.float64) for t in trees[:used]]
        fold = name in ("binary", "regression") and bool(full.get("boost_from_average", True))
        super().__init__(_objective_for(name, full), values, learning_rate=full.get("learning_rate", 0.1),
                         reg_lambda=full.get("lambda_l2", 0.0), reg_alpha=full.get("lambda_l1", 0.0),
                         max_delta_step=full.get("max_delta_step", 0.0), init_score=None if fold else 0.0,
                         init_in_first_tree=fold, n_features=int(header["max_feature_idx"]) + 1,
                         fit_params={k: v for k, v in full.items() if k not in _NOT_TRAINING})
        if float(full.get("path_smooth", 0.0)) > 0:
            import warnings

            warnings.warn("lightgbm: path_smooth > 0 shrinks leaf values toward their parents; the Newton "
                          "leaf formula tree methods use ignores it", RuntimeWarning, stacklevel=2)
        if train is not None:
            self.bind(train)

    def _learn(self, train: Dataset) -> None:
        self.init_score = self._init_score(train)

    def _init_score(self, train: Dataset) -> float:
        w = train.weights
        y = train.y.astype(np.float32).astype(np.float64)  # LightGBM keeps labels as float32
        if self.lgb_objective == "binary":
            p = float(np.dot(w, y > 0) / w.sum())
            p = min(max(p, _K_EPSILON), 1.0 - _K_EPSILON)
            b = np.log(p / (1.0 - p))
        else:
            b = float(np.dot(w, y) / w.sum())
        return b if abs(b) > _K_EPSILON else 0.0

    def _predict_leaves(self, X) -> np.ndarray:
        # the model's own thread count: LightGBM's default (every core) costs ~10 ms per call on a busy machine
        threads = int(self.params_.get("num_threads", 0) or 0)
        kw = {"num_threads": threads} if threads > 0 else {}
        # in row blocks: LightGBM fills a float64 (rows, T) buffer before casting to int32
        out = np.empty((X.shape[0], self.n_trees), dtype=np.int32)
        for s in range(0, X.shape[0], _BLOCK):
            block = self.booster.predict(X[s:s + _BLOCK], pred_leaf=True, num_iteration=self.n_trees, **kw)
            out[s:s + _BLOCK] = np.asarray(block).reshape(-1, self.n_trees)
        return out

    def model_bytes(self) -> bytes:
        return self.text.encode()

    def params(self) -> dict:
        return {**super().params(), "lgb_objective": self.lgb_objective,
                "num_leaves": int(self.params_.get("num_leaves", 31))}

    def refit(self, data: Dataset) -> "LightGBMModel":
        """Retrain with this model's complete parameter block and number of rounds on ``data``'s rows of
        positive weight (weights honoured)."""
        kept = self.kept_rows(data)
        return LightGBMModel(_train(self.fit_params, kept, self.n_trees), train=kept)


def _train(params: dict, data: Dataset, rounds: int):
    lgb = require("lightgbm", "gbdt")
    ds = lgb.Dataset(data.X, data.y, weight=data.weight, group=TreeEnsemble.group_sizes(data),
                     params={"verbosity": -1})
    try:
        return lgb.train({**params, "verbosity": -1}, ds, num_boost_round=int(rounds))
    except lgb.basic.LightGBMError as exc:
        raise ModelError(f"lightgbm could not train on {data.name}: {exc}") from None


def fit_lightgbm(train: Dataset, *, objective: str | None = None, n_estimators: int = 100, seed: int = 0,
                 **params) -> LightGBMModel:
    """Fit a LightGBM booster on ``train`` (weights and query groups honoured) and wrap it.

    Args:
        train: training data.
        objective: ``binary``, ``regression``, ``lambdarank`` or ``rank_xendcg``; default ``lambdarank`` with
            query groups, ``binary`` for 0/1 labels, else ``regression``.
        n_estimators: boosting rounds (alias ``num_boost_round``).
        seed: LightGBM's ``seed``.
        **params: any LightGBM parameter (``learning_rate``, ``num_leaves``, ``lambda_l2``, ``min_data_in_leaf``,
            ...). Defaults make training reproducible: ``deterministic``, ``force_row_wise``, ``num_threads=1``.
    """
    n_estimators = int(params.pop("num_boost_round", n_estimators))
    if objective is None:
        objective = ("lambdarank" if train.group is not None
                     else "binary" if set(np.unique(train.y).tolist()) <= {0.0, 1.0} else "regression")
    name = _ALIASES.get(objective, objective)
    if name not in LIGHTGBM_OBJECTIVES:
        raise ModelError(f"lightgbm: objective '{objective}' is not supported; "
                         f"expected one of {list(LIGHTGBM_OBJECTIVES)}")
    if name in ("lambdarank", "rank_xendcg") and train.group is None:
        raise DataError(f"{train.name}: objective '{objective}' needs query groups; expected a group column, "
                        "found none")
    if n_estimators < 1:
        raise ModelError(f"lightgbm: n_estimators must be >= 1; found {n_estimators}")
    full = {"objective": name, "verbosity": -1, "deterministic": True, "force_row_wise": True, "num_threads": 1,
            "seed": int(seed), **params}
    kept = TreeEnsemble.kept_rows(train)
    return LightGBMModel(_train(full, kept, n_estimators), train=kept)
