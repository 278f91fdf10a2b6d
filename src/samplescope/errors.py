"""One family of exceptions for everything a user can get wrong.

Every message follows one template: what was wrong, what was expected, what was found.
The CLI turns any :class:`SamplescopeError` into a one-line message and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "SamplescopeError",
    "DataError",
    "ModelError",
    "MethodError",
    "MissingDependencyError",
]


class SamplescopeError(Exception):
    """Base class of every error samplescope raises for bad input."""


class DataError(SamplescopeError, ValueError):
    """A file, column or array is missing, malformed or inconsistent."""


class ModelError(SamplescopeError, TypeError):
    """A model is unsupported, unfitted or inconsistent with the data."""


class MethodError(SamplescopeError, ValueError):
    """An unknown method, a bad method parameter, or a method the model cannot support."""


class MissingDependencyError(SamplescopeError, ImportError):
    """An optional extra is not installed."""


def require(module: str, extra: str):
    """Import ``module`` or fail with the pip command that installs it.

    Args:
        module: importable module name, e.g. ``"torch"``.
        extra: the samplescope extra that provides it, e.g. ``"torch"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"this feature needs the optional package '{module}', which is not installed; "
            f"install it with: pip install 'samplescope[{extra}]'"
        ) from exc
