"""BoostIn: TracIn over the boosting rounds of a GBDT (Brophy, Hammoudeh & Lowd 2023, "Adapting and
Evaluating Influence-Estimation Methods for Gradient-Boosted Decision Trees", JMLR 24(154)).

Each boosting round is a checkpoint. With the structure of tree ``t`` fixed, up-weighting training row ``i``
moves only the value of its own leaf ``l = leaf_t(i)``, by (Newton leaf ``o = −η G/(H + λ)``, see
:mod:`samplescope.models.trees`)

    ∂o_{t,l}/∂w_i = −η (g_i^t + h_i^t v_{t,l}) / (H_{t,l} + λ)          v = o/η,  g, h at the round-t scores

and that moves the round-t score of every row in the same leaf. TracIn sums, over rounds, the resulting
first-order change of the target loss at that round's scores:

    validation:  v_i = w_i Σ_t η (g_i^t + h_i^t v_{t,l}) / (H_{t,l} + λ) · (1/Σω) Σ_{e: leaf_t(e) = l} ω_e g_e^t
    self:        v_i = −w_i Σ_t η g_i^t (g_i^t + h_i^t v_{t,l}) / (H_{t,l} + λ)

Units and sign are those of ``loo``: the validation value approximates ``L_valid(without i) − L_valid``
(mean validation loss, ω = validation weights; positive = the row helps), the self value approximates minus
the change of the row's own loss. Cost O((n + m)·T) time, O(n + m) memory beyond the ``(n, T)`` leaf
matrix — the influence of every training row on every validation row is never formed.

Relation to tree-influence's ``BoostIn`` (the authors' code): it returns a matrix ``(n_train, n_test)`` per
test example with ``w_i = 1``; the validation value here is its row mean (weighted by ω). Its code uses the
*shrunk* leaf value ``o = η v`` in ``g_i + h_i·o``; the derivative of the Newton leaf value has the unshrunk
``v``, which is the default here. ``shrunk_leaf=True`` reproduces the authors' code. The per-target matrix
itself (transposed, times ``w_i``) is the pairwise attribution (``samplescope.methods.pairwise``,
``kind="loss"``; ``kind="score"``: ``−w_i Σ_t ∂o_t/∂w_i`` over shared leaves). Zero where the leaf
value is clipped (``max_delta_step``) or thresholded to 0 (L1). For ranking objectives ``g``, ``h`` are the
per-document lambdas and their diagonal hessians.

``unit="query"`` (validation target): the sum of the group's document values — the first-order change when
every weight of the group goes to 0 together (a group's lambdas per unit weight do not change when all its
weights are scaled alike, see :mod:`samplescope.objectives.ranking`).
"""

from __future__ import annotations

import numpy as np

from samplescope.methods.registry import register


def _steps(m, r, w, shrunk_leaf):
    """``w_i · (−∂o_{t,leaf(i)}/∂w_i)`` for every training row in round ``r``."""
    o = m.outputs(r.t)
    H = np.bincount(r.leaf, w * r.hess, minlength=len(o))
    v = o if shrunk_leaf else o / m.learning_rate
    return w * m.leaf_rate(r.t, H)[r.leaf] * (r.grad + r.hess * v[r.leaf])


def boostin_pairwise(ctx, targets, *, kind: str = "loss", shrunk_leaf: bool = False) -> np.ndarray:
    """``(n_target, n_train)``: ``Σ_t 1[same leaf] · w_i η (g_i + h_i v)/(H + λ) · g_j^t`` (loss) or
    ``−Σ_t 1[same leaf] · w_i η (g_i + h_i v)/(H + λ)`` (score)."""
    m, train = ctx.model, ctx.train
    P = np.zeros((targets.n, train.n))
    others = m.rounds(targets)
    for r in m.rounds(train, check=True):
        rt = next(others)
        same = rt.leaf[:, None] == r.leaf[None, :]
        step = _steps(m, r, train.weights, shrunk_leaf)
        P += same * (rt.grad[:, None] if kind == "loss" else -1.0) * step[None, :]
    return P


@register("boostin", family="gradient", requires=("tree_structure",), cost="O((n + m) T), memory O(n + m)",
          summary="TracIn over boosting rounds: leaf-value derivatives times the target's gradient (GBDT)",
          targets=("validation", "self"), tasks=("binary", "regression", "ranking"),
          paper="Brophy et al. 2023", pairwise=boostin_pairwise, units=("document", "query"), aggregate="sum")
def boostin(ctx, *, shrunk_leaf: bool = False):
    m, train, valid = ctx.model, ctx.train, ctx.valid
    values = np.zeros(train.n)
    targets = None
    if valid is not None:
        omega = valid.weights / valid.weights.sum()
        targets = m.rounds(valid)
    for r in m.rounds(train, check=True):
        step = _steps(m, r, train.weights, shrunk_leaf)  # w_i · (−∂o_leaf(i)/∂w_i)
        if targets is not None:
            rv = next(targets)
            A = np.bincount(rv.leaf, omega * rv.grad, minlength=len(m.outputs(r.t)))  # target gradient per leaf
            values += step * A[r.leaf]
        else:
            values -= step * r.grad
    return values, {}, ctx.target
