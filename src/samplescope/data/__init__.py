"""Samples: the :class:`Dataset` and readers for tables, LibSVM files and data frames."""

from samplescope.data.dataset import Dataset
from samplescope.data.encoding import FeatureEncoder
from samplescope.data.readers import from_arrays, from_frame, read_any, read_libsvm, read_table

__all__ = ["Dataset", "FeatureEncoder", "from_arrays", "from_frame", "read_any", "read_libsvm", "read_table"]
