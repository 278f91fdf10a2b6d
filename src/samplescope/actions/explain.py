"""Explain one prediction by the training samples behind it.

For a target row ``j`` (a training row, or a row of another table such as a test impression) the
pairwise attributions of :mod:`samplescope.methods.pairwise` give, for every training sample ``i``:

* ``support`` — how much ``i`` pushes ``j``'s score towards the model's prediction: the score
  attribution ``S_ji`` (``s_j(θ̂) − s_j(θ_{-i})``) times ``+1`` when the predicted label is 1 and ``−1``
  when it is 0 (binary); for softmax the predicted class's centred logit; for regression and ranking
  scores, plain ``S_ji`` (positive = pushes the prediction up);
* ``loss_effect`` — the loss attribution ``A_ji`` for ``j``'s own label (positive = ``i`` lowers
  ``j``'s loss), the number the ``influence`` method averages over validation rows.

The "supports" table lists the ``top`` largest positive supports, the "opposes" table the ``top`` most
negative, each in the order of sorting the support row (ties by row). For linear models with
``influence`` or ``tracin`` the features that matter are the largest terms of the exact per-feature split
of the support (``feature=value (+term)``); other models leave the column empty and say so in ``note``.
A training row's own sample is usually its largest supporter (listed like any other).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError

__all__ = ["Explanation", "explain", "find_row"]


@dataclass(frozen=True, eq=False)
class Explanation:
    """The training samples that support and oppose one prediction.

    Attributes:
        row: the target's row in its table; ``id`` its id.
        label: the target's label; ``score`` the model's raw score(s); ``prediction`` the predicted
            probability of the predicted class (classification) or the predicted value;
            ``predicted``: the predicted label (``None`` for regression and ranking).
        method: the pairwise method used.
        support, oppose: DataFrames ``rank``, ``row``, ``id``, ``label``, ``support``, ``loss_effect``,
            ``features``, most supporting (opposing) first.
        note: caveats (e.g. why features are missing).
    """

    row: int
    id: object
    label: float
    score: object
    prediction: float
    predicted: float | None
    method: str
    support: object = field(repr=False)
    oppose: object = field(repr=False)
    note: str = ""

    def to_frame(self):
        """Both tables in one DataFrame with a ``side`` column (``support`` / ``oppose``)."""
        import pandas as pd

        return pd.concat([self.support.assign(side="support"), self.oppose.assign(side="oppose")],
                         ignore_index=True)


def find_row(data: Dataset, *, query=None, item=None) -> int:
    """The row of ``data`` whose group is ``query`` and/or whose id is ``item`` (compared as text).

    >>> import samplescope as ss
    >>> d = ss.from_arrays(np.zeros((3, 1)), np.zeros(3), group=np.array([7, 7, 8]), ids=np.array(["a", "b", "c"]))
    >>> find_row(d, query=7, item="b")
    1
    """
    if query is None and item is None:
        raise DataError("explain: expected a row, or a query and/or an item to look up; found none")
    mask = np.ones(data.n, dtype=bool)
    if query is not None:
        if data.group is None:
            raise DataError(f"{data.name}: looking up query {query!r} needs a group column; found none")
        mask &= data.group.astype(str) == str(query)
        if not mask.any():
            raise DataError(f"{data.name}: query {query!r} not found in group column '{data.group_name}'")
    if item is not None:
        if data.ids is None:
            raise DataError(f"{data.name}: looking up item {item!r} needs an id column; found none")
        mask &= data.ids.astype(str) == str(item)
    hits = np.flatnonzero(mask)
    if len(hits) != 1:
        what = " and ".join(f"{k} {v!r}" for k, v in (("query", query), ("item", item)) if v is not None)
        raise DataError(f"{data.name}: expected exactly one row with {what}; found {len(hits)}")
    return int(hits[0])


def explain(model, train: Dataset, *, row: int | None = None, targets: Dataset | None = None, query=None,
            item=None, top: int = 10, method: str = "auto", n_features: int = 3, **params) -> Explanation:
    """The ``top`` training samples that support and that oppose one prediction.

    Args:
        model: a fitted model or adapter trained on ``train``.
        train: the training data.
        row: the target's row in ``targets`` (or in ``train`` when ``targets`` is ``None``).
        targets: the table holding the target (encoded like ``train``); default ``train``.
        query, item: find the target by group and/or id instead of ``row``.
        top: rows in each table.
        method: a method with pairwise attributions (``influence``, ``tracin``; ``auto`` as in
            :func:`~samplescope.methods.pairwise.pairwise`).
        n_features: features shown per training row (0 = none).
        **params: the method's parameters.

    >>> import samplescope as ss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 2)); y = (X[:, 0] + rng.normal(size=40) > 0).astype(float)
    >>> train = ss.from_arrays(X, y)
    >>> ex = explain(ss.fit_model("logistic", train), train, row=0, top=3)
    >>> ex.support.columns.tolist()
    ['rank', 'row', 'id', 'label', 'support', 'loss_effect', 'features']
    >>> bool((ex.support["support"] > 0).all() and (ex.oppose["support"] < 0).all())
    True
    """
    import pandas as pd

    from samplescope.methods.pairwise import feature_contributions, pairwise
    from samplescope.models import wrap_model

    data = train if targets is None else targets
    if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or top < 0:
        raise DataError(f"explain: top must be an integer >= 0; found {top!r}")
    if not isinstance(n_features, (int, np.integer)) or n_features < 0:
        raise DataError(f"explain: n_features must be an integer >= 0; found {n_features!r}")
    if row is None:
        j = find_row(data, query=query, item=item)
    else:
        if query is not None or item is not None:
            raise DataError("explain: give a row or a query/item, not both")
        if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not 0 <= row < data.n:
            raise DataError(f"{data.name}: row must be an integer in 0..{data.n - 1}; found {row!r}")
        j = int(row)
    adapter = wrap_model(model, train)
    if method == "auto":
        method = "influence" if "hessian" in adapter.capabilities else "tracin"
        if method == "tracin":
            params.setdefault("learning_rate", 1.0)

    # the target's query group travels with it (a ranking loss couples the documents of a group)
    block = np.array([j])
    if data.group is not None:
        block = np.flatnonzero(data.group == data.group[j])
    tgt = data.subset(block)
    jj = int(np.flatnonzero(block == j)[0])
    S = pairwise(adapter, train, tgt, method=method, kind="score", **params)[jj]
    A = pairwise(adapter, train, tgt, method=method, kind="loss", **params)[jj]

    obj = adapter.objective
    scores = np.asarray(adapter.scores(tgt))
    s, pred = scores[jj], np.asarray(obj.predict(scores))[jj]
    if obj.task == "binary":
        p1 = float(np.ravel(pred)[0])
        predicted = float(p1 >= 0.5)
        prediction, sign = (p1 if predicted else 1.0 - p1), (1.0 if predicted else -1.0)
    elif obj.task == "multiclass":
        probs = np.ravel(pred)
        predicted = float(np.argmax(probs))
        prediction, sign = float(probs.max()), 1.0
    else:
        predicted, prediction, sign = None, float(np.ravel(pred)[0]), 1.0
    support = sign * S

    order_up = np.lexsort((np.arange(train.n), -support))[:top]
    order_dn = np.lexsort((np.arange(train.n), support))[:top]
    order_up, order_dn = order_up[support[order_up] > 0], order_dn[support[order_dn] < 0]

    note = ""
    names = train.columns
    feats: dict[int, str] = {}
    if n_features and top:
        rows = np.concatenate([order_up, order_dn])
        C = feature_contributions(adapter, train, data.subset([j]), rows, method=method, **params)
        if C is None:
            note = (f"features that matter are computed for linear models with influence or tracin; "
                    f"not for {type(adapter).__name__} with {method}")
        else:
            X = train.X[rows]
            X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
            C = sign * C[:, : train.n_features]
            for r_i, r in enumerate(rows):
                idx = np.lexsort((np.arange(C.shape[1]), -np.abs(C[r_i])))[:n_features]
                feats[int(r)] = ", ".join(_feature_text(names[f], X[r_i, f], C[r_i, f])
                                          for f in idx if C[r_i, f] != 0)

    def table(rows: np.ndarray):
        return pd.DataFrame({
            "rank": np.arange(1, len(rows) + 1, dtype=np.int64),
            "row": rows.astype(np.int64),
            "id": train.row_ids[rows],
            "label": train.y[rows],
            "support": support[rows],
            "loss_effect": A[rows],
            "features": [feats.get(int(r), "") for r in rows],
        })

    return Explanation(row=j, id=data.row_ids[j], label=float(data.y[j]), score=s, prediction=prediction,
                       predicted=predicted, method=method, support=table(order_up), oppose=table(order_dn),
                       note=note)


def _feature_text(name: str, value: float, term: float) -> str:
    """``name=value (+term)``; a one-hot column (``col=cat`` equal to 1) shows as its name alone."""
    shown = name if ("=" in name and value == 1.0) else f"{name}={value:.4g}"
    return f"{shown} ({term:+.3g})"
