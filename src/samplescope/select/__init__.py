"""Which importance method to use, measured on your own data and model.

:func:`select` runs every registered method the model supports on stratified subsamples and measures
agreement with exact leave-one-out, detection of planted label errors, removal curves, rank stability and
cost (time and memory, extrapolated to the full data); then recommends a method for a goal under a time
budget, with the reasons in plain words (:class:`SelectionReport`).

>>> from samplescope.select import select                          # doctest: +SKIP
>>> report = select(model, train, valid, goal="noise", budget_s=60)  # doctest: +SKIP
>>> print(report.summary())                                         # doctest: +SKIP
"""

from samplescope.select.cost import PowerLaw, fit_power_law, measure
from samplescope.select.harness import select
from samplescope.select.recommend import BASELINES, GOALS, Goal
from samplescope.select.selection import SelectionReport

__all__ = ["BASELINES", "GOALS", "Goal", "PowerLaw", "SelectionReport", "fit_power_law", "measure", "select"]
