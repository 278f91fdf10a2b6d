"""XGBoost boosters (``Booster`` or the scikit-learn wrappers) as :class:`TreeEnsemble` adapters.

The trees are read from the model's JSON (``save_raw("json")``: leaf values as stored float32, node ids as
``pred_leaf`` returns them, renumbered ``0..L_t-1`` per tree) and the training parameters from its
configuration (``save_config()``), so a booster in memory and one loaded from a ``.json``/``.ubj`` file are
the same adapter. Objectives:

| XGBoost | samplescope objective |
|---|---|
| ``binary:logistic``, ``reg:logistic``, ``binary:logitraw`` (``scale_pos_weight`` 1) | ``logloss`` |
| ``reg:squarederror`` | ``squared_error`` |
| ``rank:ndcg`` | ``xgb_ndcg`` (XGBoost's exact lambdas, :mod:`samplescope.objectives.ranking.xgb_lambdarank`) |
| ``rank:pairwise`` | ``xgb_pairwise`` (idem: XGBoost 2+'s top-K, normalised pairwise lambdas) |

Ranking: the ``lambdarank_param`` block (``lambdarank_num_pair_per_sample``, ``lambdarank_normalization``,
``lambdarank_score_normalization``, ``ndcg_exp_gain``) is passed on. Refused with a ModelError:
``lambdarank_pair_method="mean"`` (pairs drawn by a ``std::minstd_rand`` per query and round, whose
``uniform_int_distribution`` is the C++ standard library's, not replicated here) and ``lambdarank_unbiased``
(position biases re-estimated every round). XGBoost's weights are per query group: a ranking dataset's row
weights must be constant within each query (after rows of weight 0 are dropped) and are passed per group.

The init score is ``base_score`` as a margin (the logit for the logistic objectives), checked against the
booster's own margin prediction. Leaf values follow ``−η T_α(G)/(H + λ)`` with ``eta``, ``reg_lambda``
(default 1), ``reg_alpha`` and ``max_delta_step``.
Refits load the model's full configuration into a fresh booster and run the same number of rounds, so
every parameter — including whether ``base_score`` is estimated from the data — is what it was.
Sparse features are densified (in row blocks) before XGBoost sees them: a zero is a zero, never "missing".
"""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, MethodError, ModelError, require
from samplescope.models.trees import TreeEnsemble
from samplescope.objectives import LogLoss, SquaredError
from samplescope.objectives.ranking import XGBoostNDCG, XGBoostPairwise

__all__ = ["XGBoostModel", "fit_xgboost", "XGBOOST_OBJECTIVES"]

XGBOOST_OBJECTIVES = ("binary:logistic", "reg:logistic", "binary:logitraw", "reg:squarederror", "rank:ndcg",
                      "rank:pairwise")
_LOGISTIC = ("binary:logistic", "reg:logistic", "binary:logitraw")
_BLOCK = 65536  # rows densified at a time


def _objective_for(cfg: dict):
    obj = cfg["learner"]["objective"]
    name = obj["name"]
    if name in _LOGISTIC:
        spw = float(obj.get("reg_loss_param", {}).get("scale_pos_weight", 1))
        if spw != 1.0:
            raise ModelError(f"xgboost: objective '{name}' is supported with scale_pos_weight=1; found {spw:g}")
        return LogLoss()
    if name == "reg:squarederror":
        return SquaredError()
    if name in ("rank:ndcg", "rank:pairwise"):
        return _ranking_objective(name, obj.get("lambdarank_param", {}))
    raise ModelError(f"xgboost: objective '{name}' is not supported; expected one of {list(XGBOOST_OBJECTIVES)}")


def _flag(p: dict, key: str, default: bool) -> bool:
    v = str(p.get(key, int(default))).strip().lower()
    return v in ("1", "true")


def _ranking_objective(name: str, p: dict):
    """``xgb_ndcg`` / ``xgb_pairwise`` from XGBoost's ``lambdarank_param`` (values are strings in the config)."""
    method = str(p.get("lambdarank_pair_method", "topk"))
    if method != "topk":
        raise ModelError(f"xgboost: objective '{name}' with lambdarank_pair_method='{method}' is not supported; "
                         "expected 'topk' (the 'mean' method samples pairs at random every round, which is not "
                         "replicated here)")
    if _flag(p, "lambdarank_unbiased", False):
        raise ModelError(f"xgboost: objective '{name}' with lambdarank_unbiased=true is not supported; expected "
                         "false (the position biases are re-estimated every round)")
    kw = {"num_pair_per_sample": int(p.get("lambdarank_num_pair_per_sample", 2**32 - 1)),
          "score_normalization": _flag(p, "lambdarank_score_normalization", True),
          "normalization": _flag(p, "lambdarank_normalization", True)}
    if name == "rank:ndcg":
        kw["exp_gain"] = _flag(p, "ndcg_exp_gain", True)
    try:
        return XGBoostNDCG(**kw) if name == "rank:ndcg" else XGBoostPairwise(**kw)
    except MethodError as exc:
        raise ModelError(f"xgboost: objective '{name}': {exc}") from None


def _nthread(cfg: dict) -> int:
    n = int(cfg["learner"].get("generic_param", {}).get("nthread", "0") or 0)
    return n if n > 0 else -1


class XGBoostModel(TreeEnsemble):
    """A fitted XGBoost booster (``gbtree``, one output, one tree per round).

    Args:
        booster: ``xgboost.Booster`` or a fitted ``XGBClassifier`` / ``XGBRegressor`` / ``XGBRanker``.
        train: the training data (only needed for a model file read without ``params``).
        params: training parameters to set on the booster (``{"eta": 0.1, "reg_lambda": 1, "max_depth": 4, ...}``)
            or the JSON of ``booster.save_config()``. A model file holds none of them: without ``params`` the
            learning rate and λ are recovered from the leaf values on the training rows (exact when alpha and
            max_delta_step were 0) and refits are refused.
        from_file: the booster was read from a model file (so its configuration is XGBoost's defaults).
    """

    name = "xgboost"
    unbound_hint = ("an XGBoost model file holds no training parameters; pass the training data "
                    "(wrap_model(model, train)) or the parameters (load_model(path, params=...))")

    def __init__(self, booster, train: Dataset | None = None, *, params: dict | str | None = None,
                 from_file: bool = False):
        xgb = require("xgboost", "gbdt")
        if not isinstance(booster, xgb.Booster):
            try:
                booster = booster.get_booster()
            except Exception:  # xgboost raises NotFittedError / XGBoostError
                raise ModelError(f"{type(booster).__name__} is not fitted; fit it first or let samplescope "
                                 "fit it") from None
        if params is not None:
            try:
                booster.load_config(params) if isinstance(params, str) else booster.set_param(dict(params))
            except (xgb.core.XGBoostError, TypeError, ValueError) as exc:
                raise ModelError(f"xgboost: could not apply params {str(params)[:80]!r}: "
                                 f"{str(exc).splitlines()[0]}") from None
        self.params_known = params is not None or not from_file
        cfg = json.loads(booster.save_config())
        learner = cfg["learner"]
        gb = learner["gradient_booster"]
        if gb.get("name") != "gbtree":
            raise ModelError(f"xgboost: booster '{gb.get('name')}' is not supported; expected 'gbtree' "
                             "(dart rescales earlier trees, gblinear has none)")
        if int(gb["gbtree_model_param"].get("num_parallel_tree", 1)) != 1:
            raise ModelError("xgboost: num_parallel_tree > 1 (boosted forests) is not supported; expected 1")
        mp = learner["learner_model_param"]
        if int(mp.get("num_class", 0)) > 1 or int(mp.get("num_target", 1)) > 1:
            raise ModelError(f"xgboost: multi-output boosters are not supported; found num_class={mp.get('num_class')}, "
                             f"num_target={mp.get('num_target')}")
        best = booster.attr("best_iteration")
        total = booster.num_boosted_rounds()
        used = int(best) + 1 if best is not None and int(best) + 1 < total else total
        if used < total:
            booster = booster[:used]
        self.booster = booster
        self.config = cfg
        self.xgb_objective = learner["objective"]["name"]
        trees = json.loads(booster.save_raw(raw_format="json"))["learner"]["gradient_booster"]["model"]["trees"]
        values, maps = [], []
        for tree in trees:
            leaf = np.asarray(tree["left_children"]) == -1
            m = np.full(len(leaf), -1, dtype=np.int32)
            m[leaf] = np.arange(int(leaf.sum()), dtype=np.int32)
            maps.append(m)
            values.append(np.asarray(tree["split_conditions"], dtype=np.float64)[leaf])
        self._node_offsets = np.concatenate([[0], np.cumsum([len(m) for m in maps])]).astype(np.int64)
        self._node_map = np.concatenate(maps)
        tp = gb["tree_train_param"]
        objective = _objective_for(cfg)
        base = float(np.float32(str(mp["base_score"]).strip("[]")))
        margin = float(np.log(base / (1.0 - base))) if self.xgb_objective in _LOGISTIC else base
        known = self.params_known
        super().__init__(objective, values, learning_rate=float(tp.get("eta", 0.3)) if known else None,
                         reg_lambda=float(tp.get("lambda", 1.0)) if known else None,
                         reg_alpha=float(tp.get("alpha", tp.get("reg_alpha", 0.0))),
                         max_delta_step=float(tp.get("max_delta_step", 0.0)), init_score=margin,
                         init_in_first_tree=False, n_features=int(mp["num_feature"]), fit_params={})
        # the margin of an all-zero row minus its leaf values is the init score XGBoost really uses
        probe = xgb.DMatrix(np.zeros((1, self.n_features)), nthread=1)
        seen = float(booster.predict(probe, output_margin=True)[0]) - float(self._leaf_sum(self._predict_leaves(
            np.zeros((1, self.n_features))))[0])
        if abs(seen - margin) > 1e-5 * (1.0 + abs(margin)):
            self.init_score = seen
        if train is not None:
            self.bind(train)

    def _learn(self, train: Dataset) -> None:
        """Recover η and λ of a model file from ``o (H + λ) = −η G`` over every leaf (least squares)."""
        rows, rhs = [], []
        w = train.weights
        for r in self.rounds(train):  # the replay itself needs neither
            o = self.outputs(r.t)
            G = np.bincount(r.leaf, w * r.grad, minlength=len(o))
            H = np.bincount(r.leaf, w * r.hess, minlength=len(o))
            rows.append(np.c_[-G, -o])
            rhs.append(o * H)
        A, b = np.vstack(rows), np.concatenate(rhs)
        if np.linalg.matrix_rank(A) < 2:
            raise ModelError(f"xgboost: the model file holds no training parameters and its leaves do not determine "
                             f"eta and reg_lambda on {train.name}; pass them: load_model(path, params={{...}})")
        eta, lam = np.linalg.lstsq(A, b, rcond=None)[0]
        self.learning_rate, self.reg_lambda = float(eta), float(max(lam, 0.0))

    def _leaf_sum(self, L: np.ndarray) -> np.ndarray:
        flat = np.concatenate(self.stored)
        return flat[L.astype(np.int64) + self.offsets[:-1][None, :]].sum(axis=1)

    def _dmatrix(self, X, **kw):
        xgb = require("xgboost", "gbdt")
        # threads cost more than they save when building a small matrix
        return xgb.DMatrix(X, nthread=_nthread(self.config) if X.shape[0] >= 10_000 else 1, **kw)

    def _predict_leaves(self, X) -> np.ndarray:
        out = np.empty((X.shape[0], self.n_trees), dtype=np.int32)
        for s in range(0, X.shape[0], _BLOCK):
            block = X[s:s + _BLOCK]
            block = block.toarray() if sp.issparse(block) else block
            nodes = self.booster.predict(self._dmatrix(block), pred_leaf=True,
                                         iteration_range=(0, self.n_trees)).reshape(block.shape[0], -1)
            out[s:s + _BLOCK] = self._node_map[nodes.astype(np.int64) + self._node_offsets[:-1][None, :]]
        return out

    def model_bytes(self) -> bytes:
        return bytes(self.booster.save_raw(raw_format="ubj")) + self.booster.save_config().encode()

    def params(self) -> dict:
        return {**super().params(), "xgb_objective": self.xgb_objective,
                "max_depth": int(self.config["learner"]["gradient_booster"]["tree_train_param"].get("max_depth", 6))}

    def refit(self, data: Dataset) -> "XGBoostModel":
        """Retrain a booster with this model's full configuration and number of rounds on ``data``'s rows of
        positive weight (weights honoured)."""
        xgb = require("xgboost", "gbdt")
        if not self.params_known:
            raise ModelError("xgboost: a model file holds no training parameters (max_depth, eta, reg_lambda, ...), "
                             "so it cannot be retrained as it was; pass them: load_model(path, params={...}) or "
                             "params=booster.save_config()")
        kept = self.kept_rows(data)
        d = _train_matrix(kept, _nthread(self.config))
        booster = xgb.Booster(cache=[d])
        booster.load_config(json.dumps(self.config))
        try:
            for i in range(self.n_trees):
                booster.update(d, i)
        except xgb.core.XGBoostError as exc:
            raise ModelError(f"xgboost could not train on {kept.name}: {exc}") from None
        return XGBoostModel(booster)


def _train_matrix(data: Dataset, nthread: int):
    xgb = require("xgboost", "gbdt")
    X = data.X.toarray() if sp.issparse(data.X) else data.X
    sizes = TreeEnsemble.group_sizes(data)
    weight = data.weight if sizes is None or data.weight is None else _group_weights(data)
    d = xgb.DMatrix(X, data.y, weight=weight, nthread=nthread)
    if sizes is not None:
        d.set_group(sizes)
    return d


def _group_weights(data: Dataset) -> np.ndarray:
    """One weight per query group (XGBoost's ranking weights): the rows' weights, constant within each group."""
    w, b = data.weights, data.group_bounds
    lo, hi = np.minimum.reduceat(w, b[:-1]), np.maximum.reduceat(w, b[:-1])
    bad = np.flatnonzero(hi - lo > 1e-12 * np.maximum(1.0, hi))
    if len(bad):
        g = int(bad[0])
        raise DataError(f"{data.name}: XGBoost's ranking weights are per query group; expected weights constant "
                        f"within each group; found {len(bad)} group(s) with varying weights, first group {g} "
                        f"(rows {int(b[g])}..{int(b[g + 1]) - 1}) with weights {lo[g]:g}..{hi[g]:g}")
    return hi


def fit_xgboost(train: Dataset, *, objective: str | None = None, n_estimators: int = 100, seed: int = 0,
                **params) -> XGBoostModel:
    """Fit an XGBoost booster on ``train`` (weights and query groups honoured) and wrap it.

    Args:
        train: training data.
        objective: one of :data:`XGBOOST_OBJECTIVES`; default ``rank:ndcg`` with query groups,
            ``binary:logistic`` for 0/1 labels, else ``reg:squarederror``.
        n_estimators: boosting rounds (alias ``num_boost_round``).
        seed: XGBoost's ``seed``.
        **params: any XGBoost parameter (``eta``, ``max_depth``, ``reg_lambda``, ``min_child_weight``, ...).
            Defaults: ``tree_method="hist"``, ``nthread=1``.
    """
    xgb = require("xgboost", "gbdt")
    n_estimators = int(params.pop("num_boost_round", n_estimators))
    if objective is None:
        objective = ("rank:ndcg" if train.group is not None
                     else "binary:logistic" if set(np.unique(train.y).tolist()) <= {0.0, 1.0} else "reg:squarederror")
    if objective not in XGBOOST_OBJECTIVES:
        raise ModelError(f"xgboost: objective '{objective}' is not supported; "
                         f"expected one of {list(XGBOOST_OBJECTIVES)}")
    if objective.startswith("rank:") and train.group is None:
        raise DataError(f"{train.name}: objective '{objective}' needs query groups; expected a group column, "
                        "found none")
    if n_estimators < 1:
        raise ModelError(f"xgboost: n_estimators must be >= 1; found {n_estimators}")
    full = {"objective": objective, "tree_method": "hist", "nthread": 1, "seed": int(seed), **params}
    kept = TreeEnsemble.kept_rows(train)
    try:
        booster = xgb.train(full, _train_matrix(kept, int(full["nthread"]) or -1), num_boost_round=n_estimators)
    except xgb.core.XGBoostError as exc:
        raise ModelError(f"xgboost could not train on {kept.name}: {exc}") from None
    return XGBoostModel(booster)
