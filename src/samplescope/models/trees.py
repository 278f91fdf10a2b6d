"""Gradient-boosted decision trees seen through the Newton boosting recursion they were trained by.

A GBDT with one tree per boosting round ``t = 0..T-1`` scores

    F(x) = b + Σ_t o_t[leaf_t(x)]

with ``b`` the init score (LightGBM's ``boost_from_average``, XGBoost's ``base_score`` as a margin).
Tree ``t`` was grown on the per-round raw scores ``F^t = b + Σ_{s<t} o_s[leaf_s]`` of the training rows,
their gradients ``g_i^t = ∂ℓ/∂s`` and hessians ``h_i^t`` (recomputed here from the objective), and each
leaf value is the regularised Newton step (LightGBM and XGBoost alike)

    o_{t,l} = −η · T_α(G_{t,l}) / (H_{t,l} + λ)         G = Σ_{i∈l} w_i g_i^t,   H = Σ_{i∈l} w_i h_i^t

with learning rate ``η``, ``λ`` = ``lambda_l2`` / ``reg_lambda``, soft-thresholding ``T_α`` by
``α`` = ``lambda_l1`` / ``reg_alpha`` and, when set, ``|o/η| ≤ max_delta_step``. With the tree structure
fixed, a perturbation ``(dG, dH)`` of a leaf's sums moves its value by

    do_{t,l} = −η (dG + v_{t,l} dH) / (H_{t,l} + λ)       v = o/η (the unshrunk Newton value)

(zero where the value is clipped or thresholded to 0): the derivative every tree method is built on.
``min_sum_hessian_in_leaf`` / ``min_child_weight`` only shape the trees and play no part here.

Capabilities: ``scores``, ``tree_structure`` (leaf indices ``(n, T)``, per-round scores, gradients and
hessians, leaf values, the Newton formula), ``param_gradients`` (θ = every leaf value: ``g_i`` is λ_i on
the T leaves the row falls in), ``refit`` (same parameters, same number of rounds; rows of weight 0 are
left out, so weight 0 is removal) and ``features``.
"""

from __future__ import annotations

import hashlib
import warnings
from abc import abstractmethod
from typing import Iterator, NamedTuple

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, MethodError, ModelError
from samplescope.models.base import ModelAdapter
from samplescope.objectives.base import Objective

__all__ = ["TreeEnsemble", "TreeRound", "third_derivative"]

# |o_stored − o_newton| above this (relative to max |o|) means the leaves were not fitted by the Newton
# formula on these rows (bagging, GOSS, another init score, other data): methods then warn
NEWTON_RTOL = 1e-4


class TreeRound(NamedTuple):
    """One boosting round seen from a dataset: where its rows fall and the gradients tree ``t`` was fitted to."""

    t: int
    leaf: np.ndarray  # (n,) leaf index of each row in tree t
    scores: np.ndarray  # (n,) raw scores F^t before tree t
    grad: np.ndarray  # (n,) ∂ℓ/∂s at F^t
    hess: np.ndarray  # (n,) ∂²ℓ/∂s² at F^t


def third_derivative(objective: Objective, y: np.ndarray, s: np.ndarray, bounds=None) -> np.ndarray:
    """``∂³ℓ/∂s³`` of a pointwise objective (closed form for log-loss and squared error, else differences)."""
    if objective.grouped or objective.n_outputs != 1:
        raise MethodError(f"the third derivative is defined here for pointwise single-output objectives; "
                          f"found objective '{objective.name}'")
    if objective.name == "logloss":
        p = 1.0 / (1.0 + np.exp(-s))
        return p * (1.0 - p) * (1.0 - 2.0 * p)
    if objective.name == "squared_error":
        return np.zeros_like(s)
    step = 1e-4 * (1.0 + np.abs(s))
    return (objective.hessian(y, s + step, bounds) - objective.hessian(y, s - step, bounds)) / (2 * step)


class TreeEnsemble(ModelAdapter):
    """Shared machinery of the boosted-tree adapters (one tree per round, one output).

    Subclasses parse their library's model into the arguments below and implement :meth:`_predict_leaves`,
    :meth:`refit`, :meth:`model_bytes` and :meth:`_resolve_init_score`.

    Args:
        objective: the training loss.
        leaf_values: per tree, the stored leaf values ``(L_t,)`` exactly as the model holds them.
        learning_rate: η.
        reg_lambda: λ (L2 on leaf values).
        reg_alpha: α (L1 on leaf values).
        max_delta_step: bound on ``|o/η|`` (0 = none).
        init_score: the init score ``b``; ``None`` until known (LightGBM needs the training labels).
        learning_rate, reg_lambda: ``None`` until known (an XGBoost model file does not hold them).
        init_in_first_tree: the library added ``b`` to the first tree's leaf values (LightGBM).
        n_features: feature columns the model expects.
        fit_params: the library's training parameters (used by :meth:`refit`).
    """

    kind = "gbdt"
    name = "gbdt"
    capabilities = frozenset({"scores", "tree_structure", "param_gradients", "refit", "features"})

    def __init__(self, objective: Objective, leaf_values: list[np.ndarray], *, learning_rate: float | None,
                 reg_lambda: float | None, reg_alpha: float = 0.0, max_delta_step: float = 0.0,
                 init_score: float | None, init_in_first_tree: bool, n_features: int, fit_params: dict):
        if objective.n_outputs != 1:
            raise ModelError(f"{self.name}: multi-output boosters are not supported; found objective "
                             f"'{objective.name}' with {objective.n_outputs} outputs")
        if not leaf_values:
            raise ModelError(f"{self.name}: the model has no trees; expected at least one boosting round")
        self.objective = objective
        self.stored = [np.asarray(v, dtype=np.float64) for v in leaf_values]
        self.learning_rate = None if learning_rate is None else float(learning_rate)
        self.reg_lambda = None if reg_lambda is None else float(reg_lambda)
        self.reg_alpha = float(reg_alpha)
        self.max_delta_step = float(max_delta_step)
        self.init_score = None if init_score is None else float(init_score)
        self.init_in_first_tree = bool(init_in_first_tree)
        self.n_features = int(n_features)
        self.fit_params = dict(fit_params)
        self.offsets = np.concatenate([[0], np.cumsum([len(v) for v in self.stored])]).astype(np.int64)
        self._leaf_cache: dict[str, np.ndarray] = {}
        self._fp: str | None = None

    # ------------------------------------------------------------------ library hooks
    @abstractmethod
    def _predict_leaves(self, X) -> np.ndarray:
        """Leaf index of every row in every tree, ``(n, T)`` (compact: ``0..L_t-1``)."""

    @abstractmethod
    def model_bytes(self) -> bytes:
        """The model in its native serialisation (for the fingerprint)."""

    def _learn(self, train: Dataset) -> None:
        """Fill in what the model itself does not hold (``init_score``, ``learning_rate``) from its training data."""
        raise ModelError(f"{self.name}: the model is incomplete and cannot be completed from data")  # pragma: no cover

    #: what to tell a user who runs a method on an adapter that needs its training data first
    unbound_hint = "pass the training data when wrapping: wrap_model(booster, train)"

    # ------------------------------------------------------------------ shapes
    @property
    def n_trees(self) -> int:
        return len(self.stored)

    @property
    def n_leaves(self) -> np.ndarray:
        """Leaves per tree ``(T,)``."""
        return np.diff(self.offsets)

    def params(self) -> dict:
        return {"model": self.name, "objective": self.objective.name, "n_trees": self.n_trees,
                "learning_rate": self.learning_rate, "reg_lambda": self.reg_lambda, "reg_alpha": self.reg_alpha,
                "max_delta_step": self.max_delta_step}

    def fingerprint(self) -> str:
        if self._fp is None:  # the model and its training parameters, not what is learned later from data
            h = hashlib.sha256(self.model_bytes())
            h.update(self.objective.name.encode())
            self._fp = h.hexdigest()[:16]
        return self._fp

    def bind(self, train: Dataset) -> "TreeEnsemble":
        """Resolve what only the training data tells (LightGBM's folded init score, the learning rate and λ of an
        XGBoost model file); returns ``self``."""
        if self.init_score is None or self.learning_rate is None:
            self._learn(train)
        return self

    def _require_bound(self) -> None:
        if self.init_score is None or self.learning_rate is None:
            raise ModelError(f"{self.name}: {self.unbound_hint}")

    def check_data(self, data: Dataset) -> None:
        if data.n_features != self.n_features:
            raise DataError(f"{data.name}: the {self.name} model expects {self.n_features} feature columns; "
                            f"found {data.n_features}")
        super().check_data(data)

    # ------------------------------------------------------------------ structure
    def outputs(self, t: int) -> np.ndarray:
        """Tree ``t``'s own leaf values ``o_t`` (the init score taken out of LightGBM's first tree)."""
        if t == 0 and self.init_in_first_tree:
            return self.stored[0] - self._init()
        return self.stored[t]

    def leaves(self, data: Dataset) -> np.ndarray:
        """Leaf indices ``(n, T)`` int32 (the last two datasets are cached)."""
        key = data.fingerprint()
        if key not in self._leaf_cache:
            L = np.ascontiguousarray(self._predict_leaves(data.X), dtype=np.int32)
            if L.shape != (data.n, self.n_trees):  # pragma: no cover - library contract
                raise ModelError(f"{self.name}: expected leaf indices of shape {(data.n, self.n_trees)}; "
                                 f"found {L.shape}")
            if len(self._leaf_cache) >= 2:
                self._leaf_cache.pop(next(iter(self._leaf_cache)))
            self._leaf_cache[key] = L
        return self._leaf_cache[key]

    def scores(self, data: Dataset) -> np.ndarray:
        L = self.leaves(data)
        s = np.zeros(data.n) if self.init_in_first_tree else np.full(data.n, self._init())
        for t, values in enumerate(self.stored):  # tree by tree: O(n) memory beyond the leaf matrix
            s += values[L[:, t]]
        return s

    def losses(self, data: Dataset) -> np.ndarray:
        return self.objective.loss(data.y, self.scores(data), data.group_bounds, **self._weight_kw(data))

    def _init(self) -> float:
        if self.init_score is None:
            raise ModelError(f"{self.name}: the model folds its init score (boost_from_average) into the first "
                             f"tree; {self.unbound_hint}")
        return self.init_score

    def rounds(self, data: Dataset, *, check: bool = False, derivatives=None,
               training: bool | None = None) -> Iterator[TreeRound]:
        """Every boosting round from ``data``'s side, in order: O(n) memory beyond the leaf matrix.

        Args:
            data: rows to follow through the rounds.
            check: ``data`` is the training data: compare the stored leaf values with the Newton formula on
                its rows and warn (once the rounds are exhausted) when they do not match.
            derivatives: ``derivatives(t, F) -> (g, h)`` replacing the objective's gradient and hessian (per unit
                weight) at the round's scores, for a caller that computes them along with more in one pass.
            training: ``data`` holds the rows the booster was trained on (default: ``check``). A stochastic
                objective (XE-NDCG draws new gammas every round) then gives each round's own gradients
                (:meth:`round_objective`); other rows (validation targets) get the objective's deterministic loss.
        """
        training = check if training is None else training
        L = self.leaves(data)
        y, bounds, w = data.y, data.group_bounds, data.weights
        kw = self._weight_kw(data)
        F = np.full(data.n, self._init())
        worst = 0.0
        for t in range(self.n_trees):
            if derivatives is None:
                obj = self.round_objective(t) if training else self.objective
                g = obj.gradient(y, F, bounds, **kw)
                h = obj.hessian(y, F, bounds, **kw)
            else:
                g, h = derivatives(t, F)
            leaf = L[:, t]
            o = self.outputs(t)
            if check:
                G = np.bincount(leaf, w * g, minlength=len(o))
                H = np.bincount(leaf, w * h, minlength=len(o))
                worst = max(worst, float(np.max(np.abs(self.leaf_output(G, H) - o))))
            yield TreeRound(t, leaf, F, g, h)
            F = F + o[leaf]
        if check:
            scale = max(1.0, max(float(np.max(np.abs(self.outputs(t)))) for t in range(self.n_trees)))
            if worst > NEWTON_RTOL * scale:
                warnings.warn(
                    f"{self.name}: the stored leaf values differ from the Newton formula on {data.name}'s rows by up "
                    f"to {worst:.3g}; expected agreement to {NEWTON_RTOL:g} (are these the training rows and weights? "
                    "bagging, GOSS, path smoothing or an external init_score also break it). Tree-influence values "
                    "are approximate", RuntimeWarning, stacklevel=3)

    def round_objective(self, t: int) -> Objective:
        """The objective tree ``t`` was fitted to: ``objective.for_round(t)`` for a stochastic objective (one
        whose gradients change from round to round, e.g. XE-NDCG's gammas), else the objective itself."""
        for_round = getattr(self.objective, "for_round", None)
        return self.objective if for_round is None else for_round(t)

    # ------------------------------------------------------------------ the Newton formula
    def leaf_output(self, G: np.ndarray, H: np.ndarray) -> np.ndarray:
        """``−η T_α(G)/(H + λ)``, clipped to ``η·max_delta_step``: the value a leaf with sums G, H gets."""
        self._require_bound()
        G = np.asarray(G, dtype=np.float64)
        num = np.sign(G) * np.maximum(np.abs(G) - self.reg_alpha, 0.0) if self.reg_alpha else G
        den = np.asarray(H, dtype=np.float64) + self.reg_lambda
        v = -np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        if self.max_delta_step > 0:
            v = np.clip(v, -self.max_delta_step, self.max_delta_step)
        return self.learning_rate * v

    def leaf_slope(self, t: int) -> np.ndarray:
        """``1`` where tree ``t``'s leaf values move smoothly with G and H, ``0`` where clipped or thresholded."""
        self._require_bound()
        o = self.outputs(t)
        active = np.ones(len(o))
        if self.reg_alpha:
            active[o == 0] = 0.0
        if self.max_delta_step > 0:
            active[np.abs(o) >= self.learning_rate * self.max_delta_step * (1 - 1e-9)] = 0.0
        return active

    def leaf_rate(self, t: int, H: np.ndarray) -> np.ndarray:
        """``η · slope / (H + λ)`` per leaf of tree ``t`` (0 for a leaf without training weight): the factor in
        ``do = −rate · (dG + v dH)`` shared by every leaf-value derivative."""
        den = np.asarray(H, dtype=np.float64) + self.reg_lambda
        return np.divide(self.learning_rate * self.leaf_slope(t), den, out=np.zeros_like(den), where=den > 0)

    # ------------------------------------------------------------------ param_gradients: θ = all leaf values
    def loss_scale(self, data: Dataset) -> np.ndarray:
        """The factor of each ``ℓ_i`` in the training objective: the sample weight."""
        return data.weights


    def _weight_kw(self, data: Dataset) -> dict:
        # ranking objectives take the weights (a document's lambda depends on its query's other weights)
        return {"weight": data.weight} if self.objective.grouped else {}

    def final_gradient(self, data: Dataset) -> np.ndarray:
        """``λ_i = ∂ℓ_i/∂s_i`` at the model's scores (per unit weight)."""
        return self.objective.gradient(data.y, self.scores(data), data.group_bounds, **self._weight_kw(data))

    def mean_gradient(self, data: Dataset) -> np.ndarray:
        """Gradient of the weighted mean loss with respect to every leaf value, ``(Σ_t L_t,)``."""
        w = data.weights
        lam = self.final_gradient(data) * (w / w.sum())
        L = self.leaves(data)
        return np.concatenate([np.bincount(L[:, t], lam, minlength=len(v)) for t, v in enumerate(self.stored)])

    def gradient_dot(self, data: Dataset, v: np.ndarray) -> np.ndarray:
        """``g_i · v = λ_i Σ_t v[leaf_t(i)]``."""
        v, L = np.asarray(v), self.leaves(data)
        acc = np.zeros(data.n)
        for t in range(self.n_trees):
            acc += v[self.offsets[t]:self.offsets[t + 1]][L[:, t]]
        return self.final_gradient(data) * acc

    def gradient_sq_norms(self, data: Dataset) -> np.ndarray:
        """``‖g_i‖² = T λ_i²`` (one leaf per tree)."""
        return self.n_trees * self.final_gradient(data) ** 2

    # ------------------------------------------------------------------ refit helpers
    @staticmethod
    def kept_rows(data: Dataset) -> Dataset:
        """``data`` without its rows of weight 0 (so that weight 0 is removal, as for every adapter)."""
        w = data.weights
        if np.all(w > 0):
            return data
        if not np.any(w > 0):
            raise DataError(f"{data.name}: every row has weight 0; expected at least one row to train on")
        return data.subset(np.flatnonzero(w > 0))

    @staticmethod
    def group_sizes(data: Dataset) -> np.ndarray | None:
        b = data.group_bounds
        return None if b is None else np.diff(b)

    def __repr__(self) -> str:  # pragma: no cover
        return (f"{type(self).__name__}(objective={self.objective!r}, trees={self.n_trees}, "
                f"learning_rate={self.learning_rate:g}, reg_lambda={self.reg_lambda:g})")
