"""Tiny boosters and a statement of their boosting recursion written independently of ``models/trees.py``.

The leaf values are read from each library's own dump (``dump_model`` / ``get_dump(json)``), the leaf
indices from ``predict(pred_leaf=True)``, the init score from its definition (LightGBM: logit of the mean
label / the mean label; XGBoost: ``base_score`` as a margin), and the losses' derivatives are written out.
"""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import xgboost as xgb
from scipy.special import expit, logit

import samplescope as ss

# small, fast, deterministic boosters: every leaf gets a few rows
LGB = dict(num_leaves=4, min_data_in_leaf=3, min_data_in_bin=1, learning_rate=0.3, lambda_l2=0.7)
XGB = dict(max_depth=2, eta=0.3, reg_lambda=0.7, min_child_weight=0.0)


def fit(kind: str, train, rounds: int = 2, **kw):
    base = LGB if kind == "lightgbm" else XGB
    return ss.fit_model(kind, train, n_estimators=rounds, **{**base, **kw})


# ------------------------------------------------------------------ the loss, written out
def grad(task, y, s):
    return expit(s) - y if task == "binary" else s - y


def hess(task, y, s):
    return expit(s) * (1 - expit(s)) if task == "binary" else np.ones_like(s)


def third(task, y, s):
    p = expit(s)
    return p * (1 - p) * (1 - 2 * p) if task == "binary" else np.zeros_like(s)


def loss(task, y, s):
    return np.logaddexp(0, s) - y * s if task == "binary" else 0.5 * (s - y) ** 2


# ------------------------------------------------------------------ the structure, read independently
class Structure:
    """Init score ``b``, per-tree own leaf values ``o[t]`` (dict leaf → value) and a leaf function."""

    def __init__(self, adapter, train, task):
        self.task, self.eta, self.lam = task, None, None
        if adapter.name == "lightgbm":
            booster = adapter.booster
            p = lgb.Booster(model_str=booster.model_to_string()).params
            self.eta, self.lam = p["learning_rate"], p["lambda_l2"]
            w = train.weights
            self.b = logit(np.dot(w, train.y) / w.sum()) if task == "binary" else np.dot(w, train.y) / w.sum()
            self.o = []
            for t, tree in enumerate(booster.dump_model()["tree_info"]):
                vals = {}
                stack = [tree["tree_structure"]]
                while stack:
                    node = stack.pop()
                    if "leaf_index" in node:
                        vals[node["leaf_index"]] = node["leaf_value"] - (self.b if t == 0 else 0.0)
                    else:
                        stack += [node["left_child"], node["right_child"]]
                self.o.append(vals)
            self._leaves = lambda X: booster.predict(X, pred_leaf=True, num_threads=1)
        else:
            booster = adapter.booster
            cfg = json.loads(booster.save_config())
            tp = cfg["learner"]["gradient_booster"]["tree_train_param"]
            self.eta, self.lam = float(tp["eta"]), float(tp["lambda"])
            base = float(np.float32(cfg["learner"]["learner_model_param"]["base_score"].strip("[]")))
            self.b = logit(base) if task == "binary" else base
            self.o = []
            for dump in booster.get_dump(dump_format="json"):
                vals, stack = {}, [json.loads(dump)]
                while stack:
                    node = stack.pop()
                    if "leaf" in node:
                        vals[node["nodeid"]] = node["leaf"]
                    else:
                        stack += node["children"]
                self.o.append(vals)
            self._leaves = lambda X: booster.predict(xgb.DMatrix(X, nthread=1), pred_leaf=True).astype(int)

    def leaves(self, data):
        return np.asarray(self._leaves(data.X)).reshape(data.n, -1)

    def round_scores(self, data):
        """``F^t`` before every tree, ``(n, T + 1)`` (last column = final scores)."""
        L = self.leaves(data)
        F = np.full((data.n, len(self.o) + 1), self.b, dtype=float)
        for t, vals in enumerate(self.o):
            F[:, t + 1] = F[:, t] + np.array([vals[int(l)] for l in L[:, t]])
        return F

    def leaf_value(self, G, H):
        return -self.eta * G / (H + self.lam)
