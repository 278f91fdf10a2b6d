"""The public surface: ``__all__`` lists exactly the public names, and each of them imports."""

from __future__ import annotations

import importlib

import pytest

import samplescope

TOP_LEVEL = [
    "DataError",
    "Dataset",
    "ImportanceResult",
    "MethodError",
    "MissingDependencyError",
    "ModelAdapter",
    "ModelError",
    "SamplescopeError",
    "__version__",
    "fit_model",
    "from_arrays",
    "from_frame",
    "get_method",
    "list_methods",
    "read_any",
    "read_libsvm",
    "read_table",
    "score",
    "wrap_model",
]

SUBPACKAGES = {
    "samplescope.errors": ["DataError", "MethodError", "MissingDependencyError", "ModelError", "SamplescopeError"],
    "samplescope.methods": ["Context", "MethodInfo", "REGISTRY", "get_method", "list_methods", "register", "score"],
    "samplescope.models": ["CAPABILITIES", "LinearModel", "MODEL_FAMILIES", "ModelAdapter", "SKLEARN_MODELS",
                           "TreeEnsemble", "fit_model", "load_model", "wrap_model"],
    "samplescope.objectives": ["LambdaRank", "ListNet", "LogLoss", "OBJECTIVES", "Objective", "RankNet",
                               "RankingObjective", "SoftmaxCrossEntropy", "SquaredError", "XENDCG", "get_objective"],
    "samplescope.result": ["ImportanceResult", "atomic_write"],
    "samplescope.execution": ["Checkpoint", "chunk_ranges", "map_chunks"],
    "samplescope.linalg": ["SymmetricSolver"],
}


def test_top_level_all_is_exactly_the_public_names():
    assert samplescope.__all__ == sorted(TOP_LEVEL)
    assert len(set(samplescope.__all__)) == len(samplescope.__all__)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_each_public_name_imports(name):
    obj = getattr(samplescope, name)
    assert obj is not None
    exec(f"from samplescope import {name}", {})
    if name != "__version__":
        assert obj.__doc__, f"{name} has no docstring"


def test_no_undeclared_public_names():
    public = {n for n in vars(samplescope) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(samplescope, n)).__name__ == "module"}
    assert public - submodules == set(TOP_LEVEL) - {"__version__"}


@pytest.mark.parametrize("module", sorted(SUBPACKAGES))
def test_subpackage_all(module):
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(SUBPACKAGES[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is listed in __all__ but missing"


def test_errors_form_one_family():
    for name in ("DataError", "ModelError", "MethodError", "MissingDependencyError"):
        assert issubclass(getattr(samplescope, name), samplescope.SamplescopeError)
    assert issubclass(samplescope.DataError, ValueError) and issubclass(samplescope.MethodError, ValueError)
    assert issubclass(samplescope.ModelError, TypeError)
    assert issubclass(samplescope.MissingDependencyError, ImportError)


def test_version():
    import re

    assert re.fullmatch(r"\d+\.\d+\.\d+.*", samplescope.__version__)
