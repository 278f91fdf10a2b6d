"""From scores to decisions: reweight, clean and explain.

* :func:`reweight` — class-aware training weights from importance (imbalanced data);
* :func:`clean` — flag the most harmful or suspicious rows, drop or down-weight them, retrain, compare;
* :func:`explain` — the training samples that support and oppose one prediction.

>>> from samplescope.actions import clean, explain, reweight   # doctest: +SKIP
"""

from samplescope.actions.clean import CleanReport, clean, select_flagged, validation_metrics
from samplescope.actions.explain import Explanation, explain, find_row
from samplescope.actions.reweight import recalibration_offset, reweight, weights_frame, write_weights

__all__ = ["CleanReport", "Explanation", "clean", "explain", "find_row", "recalibration_offset", "reweight",
           "select_flagged", "validation_metrics", "weights_frame", "write_weights"]
