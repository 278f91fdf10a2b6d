"""samplescope: how much each training sample matters to a search or recommendation model.

>>> import samplescope as ss
>>> train = ss.from_arrays(X, y)                        # doctest: +SKIP
>>> model = ss.fit_model("logistic", train, C=1.0)       # doctest: +SKIP
>>> result = ss.score("influence", model, train, valid=valid)  # doctest: +SKIP
>>> result.bottom(10)   # the most harmful samples        # doctest: +SKIP
"""

from samplescope.data import Dataset, from_arrays, from_frame, read_any, read_libsvm, read_table
from samplescope.errors import DataError, MethodError, MissingDependencyError, ModelError, SamplescopeError
from samplescope.methods import get_method, list_methods, score
from samplescope.models import ModelAdapter, fit_model, wrap_model
from samplescope.result import ImportanceResult

__version__ = "0.1.0"

__all__ = [
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
