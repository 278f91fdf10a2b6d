"""Command-line options of the boosted-tree models: ``--model lightgbm|xgboost|FILE``, ``--objective``,
``--model-param KEY=VALUE`` (checked against LightGBM's parameter names), and fitting or loading the booster."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from samplescope.cli_common import CLIError, _key_value, _parse_value
from samplescope.models import SKLEARN_MODELS, TREE_MODELS, fit_model, load_model

# ------------------------------------------------------------------ boosted trees (--model lightgbm|xgboost|FILE)
_UNITS = ("document", "query")
# set through their own options, never through --model-param
_RESERVED_MODEL_PARAMS = {"objective": "--objective", "seed": "--seed", "random_state": "--seed"}


def _model_file(model: str, kind: str) -> Path | None:
    """``--model PATH``: an existing file that is not a model name (names win over files in the folder)."""
    if kind in SKLEARN_MODELS or kind in TREE_MODELS or kind.startswith("torch:"):
        return None
    path = Path(model).expanduser()
    if path.is_dir():
        raise CLIError(f"{model}: --model must be a model name or a model file; found a directory")
    return path if path.is_file() else None


def _parse_model_params(items: list[str]) -> dict[str, Any]:
    """``--model-param KEY=VALUE`` strings → booster parameters (values typed like --param)."""
    out: dict[str, Any] = {}
    for item in items:
        key, raw = _key_value(item, "--model-param", "num_leaves=31", out)
        if key in _RESERVED_MODEL_PARAMS:
            raise CLIError(f"--model-param {key}: set it with {_RESERVED_MODEL_PARAMS[key]}; "
                           "expected another booster parameter")
        out[key] = _parse_value(raw)
    return out


def _check_lightgbm_params(params: dict[str, Any]) -> None:
    """Unknown LightGBM parameter names are an error (LightGBM itself only warns and ignores them)."""
    try:
        from lightgbm.basic import _ConfigAliases

        known = set(_ConfigAliases._get_all_param_aliases())
        known |= {a for names in _ConfigAliases._get_all_param_aliases().values() for a in names}
    except Exception:  # pragma: no cover - lightgbm missing or its private table moved: let LightGBM decide
        return
    unknown = sorted(k for k in params if k not in known and k not in ("n_estimators", "num_boost_round"))
    if unknown:
        import difflib

        hints = [f"{k} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(k, known, n=1)) else k
                 for k in unknown]
        raise CLIError(f"--model-param: LightGBM has no parameter(s) {', '.join(hints)}; expected LightGBM "
                       "parameter names or n_estimators")


def _tree_options(kind: str, objective: str | None, model_params: dict[str, Any], no_intercept: bool) -> None:
    """Checks of the tree options that need no data."""
    tree = kind in TREE_MODELS or kind == "file"
    if not tree:
        if objective is not None or model_params:
            used = "--objective" if objective is not None else "--model-param"
            raise CLIError(f"{used} applies to --model lightgbm, xgboost or a model file; found --model {kind}")
        return
    if no_intercept:
        raise CLIError(f"--no-intercept applies to linear models; found --model {kind}")
    if kind == "file" and objective is not None:
        raise CLIError("--objective applies to --model lightgbm or xgboost; a model file holds its own objective")
    if kind == "lightgbm":
        _check_lightgbm_params(model_params)


def _tree_model(kind: str, path: Path | None, train_ds, objective: str | None, model_params: dict[str, Any],
                seed: int):
    """Fit a booster on the training data, or read a native model file (never a pickle)."""
    if kind == "file":
        if model_params:  # XGBoost files hold no training parameters; LightGBM refuses them (one line)
            return load_model(path, train_ds, params=model_params)
        return load_model(path, train_ds)
    if kind == "xgboost":
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = fit_model(kind, train_ds, objective=objective, seed=seed, **model_params)
        unused = [str(w.message) for w in caught if "not used" in str(w.message)]
        if unused:
            found = re.findall(r'"(\w+)"', unused[0]) or [unused[0].strip()[:120]]
            raise CLIError(f"--model-param: XGBoost did not use {', '.join(found)}; expected XGBoost parameter "
                           "names or n_estimators")
        for w in caught:
            if "not used" not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return fitted
    return fit_model(kind, train_ds, objective=objective, seed=seed, **model_params)


