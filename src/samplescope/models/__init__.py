"""Model adapters: each model family seen through the quantities importance methods need."""

from __future__ import annotations

import os

from samplescope.data.dataset import Dataset
from samplescope.errors import ModelError, require
from samplescope.models.base import CAPABILITIES, ModelAdapter
from samplescope.models.linear import LinearModel
from samplescope.models.sklearn_linear import SKLEARN_MODELS, fit_sklearn, from_sklearn
from samplescope.models.trees import TreeEnsemble

__all__ = ["CAPABILITIES", "MODEL_FAMILIES", "ModelAdapter", "LinearModel", "SKLEARN_MODELS", "TreeEnsemble",
           "fit_model", "load_model", "wrap_model"]

TREE_MODELS = ("lightgbm", "xgboost")

#: every model family and the capabilities its adapter provides (``samplescope methods`` reads this)
MODEL_FAMILIES: dict[str, frozenset] = {
    "linear": LinearModel.capabilities,
    "lightgbm": TreeEnsemble.capabilities,
    "xgboost": TreeEnsemble.capabilities,
    # TorchModel.capabilities, spelled out so that listing methods does not import torch
    "torch": frozenset({"scores", "param_gradients", "hessian", "refit", "input_gradient"}),
}


def wrap_model(model, train: Dataset | None = None) -> ModelAdapter:
    """Adapt a fitted model (an adapter is returned unchanged, a tree adapter bound to ``train``).

    Args:
        model: a fitted scikit-learn linear estimator, a LightGBM ``Booster`` / ``LGBMModel``, an XGBoost
            ``Booster`` / ``XGBModel``, a torch ``nn.Module`` (objective from its ``objective`` attribute or
            inferred, see ``models.torch_io.wrap_module``; wrap it in ``TorchModel`` for every option), or a
            :class:`ModelAdapter`.
        train: the training data, for what depends on it (``SGDClassifier``'s 1/n, LightGBM's init score).
    """
    if isinstance(model, ModelAdapter):
        if isinstance(model, TreeEnsemble) and train is not None:
            model.bind(train)
        return model
    mod = type(model).__module__
    if mod.startswith("sklearn."):
        return from_sklearn(model, train)
    if mod.startswith("lightgbm."):
        from samplescope.models.lightgbm_adapter import LightGBMModel

        return LightGBMModel(model, train)
    if mod.startswith("xgboost."):
        from samplescope.models.xgboost_adapter import XGBoostModel

        return XGBoostModel(model, train)
    if any(c.__module__.startswith("torch.nn") for c in type(model).__mro__):  # torch itself imported lazily
        require("torch", "torch")
        from samplescope.models.torch_io import wrap_module

        return wrap_module(model, train)
    raise ModelError(
        f"unsupported model {type(model).__name__} (module {mod}); expected a scikit-learn linear estimator, "
        "a LightGBM or XGBoost booster, or a samplescope ModelAdapter"
    )


def fit_model(kind: str, train: Dataset, **params) -> ModelAdapter:
    """Fit a model of the given kind on ``train`` and adapt it.

    Args:
        kind: one of ``logistic``, ``ridge``, ``linear``, ``sgd``, ``linear_ranker``, ``lightgbm``, ``xgboost``.
        train: training data (its sample weights are honoured; rows of weight 0 are left out of boosters).
        **params: linear models: ``C``, ``alpha``, ``fit_intercept``, ``seed``, ``max_iter``; boosters:
            ``objective``, ``n_estimators``, ``seed`` and any native parameter of the library.
            ``linear_ranker``: ``objective`` (``ranknet``/``lambdarank``/``listnet``), ``alpha``, ``c`` and
            the objective's parameters (:func:`~samplescope.models.ranking_linear.fit_linear_ranker`).
    """
    if kind in SKLEARN_MODELS:
        return fit_sklearn(kind, train, **params)
    if kind == "linear_ranker":
        from samplescope.models.ranking_linear import fit_linear_ranker

        return fit_linear_ranker(train, **params)
    if kind == "lightgbm":
        from samplescope.models.lightgbm_adapter import fit_lightgbm

        return fit_lightgbm(train, **params)
    if kind == "xgboost":
        from samplescope.models.xgboost_adapter import fit_xgboost

        return fit_xgboost(train, **params)
    raise ModelError(f"unsupported model '{kind}'; expected one of "
                     f"{list(SKLEARN_MODELS) + ['linear_ranker'] + list(TREE_MODELS)}")


def load_model(path: str | os.PathLike, train: Dataset | None = None, *,
               params: dict | str | None = None) -> ModelAdapter:
    """Read a model file in its library's native format, recognised by its content.

    LightGBM text models (``Booster.save_model``, first line ``tree``; they hold every training parameter) and
    XGBoost JSON or UBJSON models (``Booster.save_model("m.json" | "m.ubj")``; they hold none). Pickles are
    refused, never opened.

    Args:
        path: the model file.
        train: the training data (LightGBM needs it for its init score; it can also come later with ``score``).
        params: XGBoost only: the training parameters (``{"eta": ..., "reg_lambda": ..., "max_depth": ...}`` or
            the JSON of ``booster.save_config()``). Without them η and λ are recovered from the training rows
            and refits (``loo``, ``data_oob``) are refused.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ModelError(f"{path}: could not read the model file; found {exc.strerror or exc}") from None
    head = raw[:64].lstrip()
    if raw[:1] == b"\x80" or path.lower().endswith((".pkl", ".pickle", ".joblib", ".sav")):
        raise ModelError(f"{path}: pickled models are never loaded; expected a native model file: LightGBM "
                         "booster.save_model('model.txt') or XGBoost booster.save_model('model.json'/'model.ubj')")
    if head.startswith(b"tree") or head.startswith(b"\xef\xbb\xbftree"):
        from samplescope.models.lightgbm_adapter import LightGBMModel

        lgb = require("lightgbm", "gbdt")
        if params is not None:
            raise ModelError(f"{path}: params= applies to XGBoost model files; a LightGBM model text holds its own "
                             "parameters")
        try:
            booster = lgb.Booster(model_str=raw.decode("utf-8-sig"))
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: not a readable LightGBM text model ({exc})") from None
        return LightGBMModel(booster, train)
    if head.startswith(b"{"):
        from samplescope.models.xgboost_adapter import XGBoostModel

        xgb = require("xgboost", "gbdt")
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(raw))
        except xgb.core.XGBoostError as exc:
            raise ModelError(f"{path}: not a readable XGBoost JSON/UBJSON model ({str(exc).splitlines()[0]})") from None
        return XGBoostModel(booster, train, params=params, from_file=True)
    shown = raw[:16]
    raise ModelError(f"{path}: unrecognised model file; expected a LightGBM text model (first line 'tree') or an "
                     f"XGBoost JSON/UBJSON model (starting with '{{'); found {shown!r}")
