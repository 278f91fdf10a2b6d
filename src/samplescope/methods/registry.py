"""The method registry: every method registers itself by name with what it needs and what it costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from samplescope.errors import MethodError

__all__ = ["MethodInfo", "REGISTRY", "register", "get_method", "list_methods"]


@dataclass(frozen=True)
class MethodInfo:
    """What a method is and needs.

    Attributes:
        name: registry name (``--method``).
        family: ``loss``, ``gradient`` or ``boundary``.
        requires: model capabilities (see ``samplescope.models.CAPABILITIES``).
        cost: time/memory in big-O, n = training rows, m = validation rows, p = parameters.
        summary: one line.
        targets: what the values can refer to: ``validation``, ``self``, ``out-of-bag``, ``knn-utility``, ``none``.
        needs_valid: a validation set is mandatory.
        tasks: tasks (objective.task) the method supports.
        stochastic: the result depends on ``seed``.
        weights: honours sample weights (weight 2 = a duplicated row).
        fn: ``fn(ctx, **params) -> values | (values, extras)``.
        paper: reference.
        pairwise: optional ``pairwise(ctx, targets, *, kind="loss", **params) -> (n_target, n_train)``
            attributions (see ``samplescope.methods.pairwise``), or ``None``.
        units: what one value is about: ``document`` (a row) and/or ``query`` (a whole query group).
        aggregate: how ``unit="query"`` values are made: ``native`` (the method reads ``ctx.unit`` and returns
            one value per group), ``sum`` (the sum of the group's document values: exact for values additive in
            the sample's term of the objective, e.g. first-order changes of a validation loss; refused for a
            ``self`` target), or ``mean`` (the mean over the group's documents, a documented summary).
    """

    name: str
    family: str
    requires: frozenset
    cost: str
    summary: str
    targets: tuple
    fn: Callable = field(repr=False)
    needs_valid: bool = False
    tasks: frozenset = frozenset({"binary", "regression", "multiclass"})
    stochastic: bool = False
    weights: bool = True
    paper: str = ""
    pairwise: Callable | None = field(default=None, repr=False)
    units: tuple = ("document",)
    aggregate: str = "native"


REGISTRY: dict[str, MethodInfo] = {}


def register(name: str, *, family: str, requires: tuple = (), cost: str, summary: str, targets: tuple,
             needs_valid: bool = False, tasks: tuple = ("binary", "regression", "multiclass"),
             stochastic: bool = False, weights: bool = True, paper: str = "",
             pairwise: Callable | None = None, units: tuple = ("document",), aggregate: str = "native"):
    """Decorator registering a method function under ``name``."""
    if aggregate not in ("native", "sum", "mean") or not set(units) <= {"document", "query"}:
        raise ValueError(f"method '{name}': units must be from ('document', 'query') and aggregate one of "
                         f"native/sum/mean; found units={units!r}, aggregate={aggregate!r}")

    def deco(fn):
        if name in REGISTRY:
            raise ValueError(f"method '{name}' is registered twice")
        REGISTRY[name] = MethodInfo(name=name, family=family, requires=frozenset(requires), cost=cost,
                                    summary=summary, targets=tuple(targets), fn=fn, needs_valid=needs_valid,
                                    tasks=frozenset(tasks), stochastic=stochastic, weights=weights, paper=paper,
                                    pairwise=pairwise, units=tuple(units), aggregate=aggregate)
        return fn

    return deco


def get_method(name: str) -> MethodInfo:
    """A registered method; the error lists every valid name."""
    try:
        return REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise MethodError(f"unknown method '{name}'{hint}; expected one of {sorted(REGISTRY)}") from None


def list_methods() -> list[MethodInfo]:
    """Every registered method, by family then name."""
    order = {"loss": 0, "gradient": 1, "boundary": 2}
    return sorted(REGISTRY.values(), key=lambda m: (order.get(m.family, 9), m.name))
