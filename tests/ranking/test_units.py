"""Units of importance: a document, or a whole query group — exact references on tiny data, results, refusals."""

from __future__ import annotations

import numpy as np
import pytest

import samplescope as ss
from samplescope.errors import DataError, MethodError
from samplescope.methods import REGISTRY
from samplescope.models import ModelAdapter
from samplescope.result import ImportanceResult
from ranking_data import make_ranking
from tolerances import RANKING, close


@pytest.fixture(scope="module")
def rank_data():
    train = make_ranking(n_groups=7, seed=5, weights="group", ids=True)
    valid = make_ranking(n_groups=5, seed=6, name="valid")
    return train, valid


def fitted(train, objective):
    return ss.fit_model("linear_ranker", train, objective=objective, alpha=0.5)


def valid_loss(m, theta, valid):
    mt = m.with_theta(theta)
    return mt.objective.mean_loss(valid.y, mt.scores(valid), valid.weight, valid.group_bounds)


def group_rows(data, q):
    b = data.group_bounds
    return np.arange(b[q], b[q + 1])


def brute_force(m, train, valid, unit):
    """Refit on the data with the row (or the group) actually deleted; validation and self targets."""
    theta = m.theta
    w = m.effective_weights(train)
    base_v, base_own = valid_loss(m, theta, valid), m.losses(train)
    members = range(train.n) if unit == "document" else range(len(train.group_bounds) - 1)
    out_v, out_s = [], []
    for k in members:
        rows = np.array([k]) if unit == "document" else group_rows(train, k)
        keep = np.setdiff1d(np.arange(train.n), rows)
        T = m.solve(train.subset(keep), theta0=theta)
        out_v.append(valid_loss(m, T, valid) - base_v)
        own = m.with_theta(T).losses(train)
        out_s.append(-(own[k] - base_own[k]) if unit == "document" else -np.dot(own[rows] - base_own[rows], w[rows]))
    return np.array(out_v), np.array(out_s)


@pytest.mark.parametrize("objective", ["ranknet", "listnet"])
@pytest.mark.parametrize("unit", ["document", "query"])
def test_loo_equals_brute_force_refits(rank_data, objective, unit):
    train, valid = rank_data
    m = fitted(train, objective)
    ref_v, ref_s = brute_force(m, train, valid, unit)
    r = ss.score("loo", m, train, valid=valid, unit=unit)
    close(r.values, ref_v, RANKING["loo"])
    close(ss.score("loo", m, train, unit=unit).values, ref_s, RANKING["loo"])
    assert np.std(ref_v) > 0 and r.unit == unit


def test_query_loo_for_a_pointwise_model_on_grouped_data(problem):
    train, valid = problem("binary", n=30, seed=3)
    g = np.repeat(np.arange(8), [5, 3, 4, 4, 2, 6, 3, 3])
    train = ss.from_arrays(train.X, train.y, group=g, name="train")
    m = ss.fit_model("logistic", train, C=1.0).at_optimum(train)
    r = ss.score("loo", m, train, valid=valid, unit="query")
    base = m.objective.mean_loss(valid.y, m.scores(valid))
    ref = []
    for q in range(8):
        T = m.solve(train.subset(g != q))
        ref.append(m.objective.mean_loss(valid.y, m.with_theta(T).scores(valid)) - base)
    close(r.values, ref, RANKING["loo"])
    np.testing.assert_array_equal(r.ids, np.arange(8))
    nl = ss.score("newton_loo", m, train, valid=valid, unit="query").values
    assert np.corrcoef(nl, ref)[0, 1] > 0.99


class Generic(ModelAdapter):
    """A linear ranker seen only through ``scores`` and ``refit``: exercises the generic refit loop."""

    capabilities = frozenset({"scores", "refit"})

    def __init__(self, inner):
        self.inner, self.objective = inner, inner.objective

    def scores(self, data):
        return self.inner.scores(data)

    def losses(self, data):
        return self.inner.losses(data)

    def refit(self, data):
        return Generic(self.inner.refit(data))

    def fingerprint(self):
        return self.inner.fingerprint()


@pytest.mark.parametrize("unit", ["document", "query"])
def test_generic_refit_loop_agrees_with_the_batched_linear_path(rank_data, unit):
    train, valid = rank_data
    m = fitted(train, "listnet")
    for v in (valid, None):
        a = ss.score("loo", Generic(m), train, valid=v, unit=unit).values
        b = ss.score("loo", m, train, valid=v, unit=unit).values
        close(a, b, RANKING["loo"])


@pytest.mark.parametrize("objective", ["ranknet", "listnet", "lambdarank"])
@pytest.mark.parametrize("unit", ["document", "query"])
def test_newton_loo_is_one_exact_newton_step(rank_data, objective, unit):
    """θ̃ = θ̂ − H_b⁻¹ ∇J_b(θ̂) with H_b, ∇J_b the Hessian and gradient of the leave-out objective (dense)."""
    train, valid = rank_data
    kw = {"norm": False} if objective == "lambdarank" else {}
    m = ss.fit_model("linear_ranker", train, objective=objective, alpha=0.5, **kw)
    theta, w = m.theta, m.effective_weights(train)
    base = valid_loss(m, theta, valid)
    members = range(train.n) if unit == "document" else range(len(train.group_bounds) - 1)
    ref = []
    for k in members:
        wb = w.copy()
        wb[[k] if unit == "document" else group_rows(train, k)] = 0.0
        step = np.linalg.solve(m.hessian(train, theta, wb), m.objective_gradient(train, theta, wb).ravel())
        ref.append(valid_loss(m, theta - step.reshape(theta.shape), valid) - base)
    close(ss.score("newton_loo", m, train, valid=valid, unit=unit).values, ref, RANKING["newton_loo"])


@pytest.mark.parametrize("objective", ["ranknet", "listnet"])
def test_influence_by_query(rank_data, objective):
    train, valid = rank_data
    m = fitted(train, objective)
    H = m.hessian(train)
    b = train.group_bounds
    doc = ss.score("influence", m, train, valid=valid)
    q = ss.score("influence", m, train, valid=valid, unit="query")
    close(q.values, np.add.reduceat(doc.values, b[:-1]), RANKING["influence"])  # additive: sum of documents
    G = m.group_gradients(train)
    z = np.linalg.solve(H, m.mean_gradient(valid))
    close(q.values, G @ z, RANKING["influence"])
    close(ss.score("influence", m, train, unit="query").values,
          -np.einsum("qp,qp->q", G, np.linalg.solve(H, G.T).T) / m.c, RANKING["influence"])
    # first order of the exact group refit
    loo = ss.score("loo", m, train, valid=valid, unit="query").values
    assert np.corrcoef(q.values, loo)[0, 1] > 0.9


def test_sum_and_mean_aggregates(rank_data):
    train, valid = rank_data
    m = fitted(train, "ranknet")
    b = train.group_bounds
    sizes = np.diff(b)
    for name, agg in (("tracin", "sum"), ("self_loss", "sum"), ("grad_norm", "mean"), ("el2n", "mean")):
        assert REGISTRY[name].aggregate == agg
        if name == "el2n":
            continue  # refuses non-uniform weights
        doc = ss.score(name, m, train, valid=valid)
        q = ss.score(name, m, train, valid=valid, unit="query")
        expected = np.add.reduceat(doc.values, b[:-1]) / (sizes if agg == "mean" else 1)
        close(q.values, expected, {"scale_rtol": 1e-12})
        np.testing.assert_array_equal(q.extras["n_documents"], sizes)
    # self_loss by query is minus the group's loss (weights constant within a group here: Σ ℓ_i = L_q / w_q)
    wq = train.weights[b[:-1]]
    L = m.objective.group_losses(train.y, m.scores(train), b, train.weights)
    close(ss.score("self_loss", m, train, unit="query").values, -L / wq, {"scale_rtol": 1e-12})


def test_result_records_the_unit(rank_data, tmp_path):
    train, valid = rank_data
    m = fitted(train, "ranknet")
    q = ss.score("loo", m, train, valid=valid, unit="query")
    groups = train.group[train.group_bounds[:-1]]
    assert q.unit == "query" and q.has_ids and len(q) == len(groups)
    np.testing.assert_array_equal(q.ids, groups)
    assert q.metadata()["unit"] == "query" and q.params["unit"] == "query"
    df = q.to_pandas()
    assert list(df.columns) == ["row", "id", "importance", "n_documents"]
    back = ImportanceResult.read_parquet(q.to_parquet(tmp_path / "q.parquet"))
    assert back.unit == "query" and back.metadata() == q.metadata()
    np.testing.assert_array_equal(back.ids, groups)
    d = ss.score("loo", m, train, valid=valid)
    assert d.unit == "document" and d.metadata()["unit"] == "document"
    assert list(d.to_pandas().columns) == ["row", "id", "importance", "group"]
    np.testing.assert_array_equal(d.extras["group"], train.group)
    assert "unit='query'" in repr(q)


def test_permuting_whole_groups_permutes_query_values(rank_data):
    train, valid = rank_data
    m = fitted(train, "listnet")
    b = train.group_bounds
    order = [3, 0, 6, 1, 5, 2, 4]
    rows = np.concatenate([group_rows(train, q) for q in order])
    a = ss.score("loo", m, train, valid=valid, unit="query").values
    p = ss.score("loo", m, train.subset(rows), valid=valid, unit="query")
    close(p.values, a[order], {"scale_rtol": 1e-9})
    np.testing.assert_array_equal(p.ids, train.group[b[:-1]][order])


def test_refusals(rank_data, problem):
    train, valid = rank_data
    m = fitted(train, "ranknet")
    flat_train, flat_valid = problem("binary", n=20)
    lm = ss.fit_model("logistic", flat_train)
    with pytest.raises(DataError, match=r"train: unit 'query' needs query groups; expected a group column \('group'"):
        ss.score("influence", lm, flat_train, unit="query")
    with pytest.raises(MethodError, match=r"unit must be one of \['document', 'query'\]; found 'group'"):
        ss.score("influence", m, train, unit="group")
    grouped = ss.from_arrays(flat_train.X, flat_train.y, group=np.repeat(np.arange(4), 5))
    with pytest.raises(MethodError, match=r"method 'knn_shapley' supports units \['document'\]; found unit 'query'"):
        ss.score("knn_shapley", lm, grouped, unit="query")
    with pytest.raises(MethodError, match=r"data_oob: unit 'query' needs a ranking model"):
        ss.score("data_oob", lm, grouped, unit="query")
    with pytest.raises(MethodError, match=r"method 'tracin' gives unit 'query' as the sum of its document values"):
        ss.score("tracin", m, train, unit="query")
    with pytest.raises(MethodError, match=r"method 'knn_shapley' supports tasks"):
        ss.score("knn_shapley", m, train, valid=valid)


def test_registry_declares_units():
    for name, info in REGISTRY.items():
        assert "document" in info.units and set(info.units) <= {"document", "query"}
        assert info.aggregate in ("native", "sum", "mean")
    query = {n for n, i in REGISTRY.items() if "query" in i.units}
    assert {"loo", "influence", "newton_loo", "tracin", "self_loss", "grad_norm", "el2n"} <= query
    ranking = {n for n, i in REGISTRY.items() if "ranking" in i.tasks}
    assert {"loo", "influence", "newton_loo", "tracin", "self_loss", "grad_norm", "el2n"} <= ranking


def test_query_unit_for_a_multiclass_model(problem):
    """Pointwise softmax on grouped rows: the group downdate has rank m·K; loo = refits, newton_loo = one dense step."""
    train, valid = problem("multiclass", n=30, seed=4)
    g = np.repeat(np.arange(7), [5, 3, 4, 6, 2, 6, 4])
    train = ss.from_arrays(train.X, train.y, group=g, weight=np.linspace(0.5, 1.5, 30), name="train")
    m = ss.fit_model("logistic", train, C=2.0).at_optimum(train)
    theta, w = m.theta, m.effective_weights(train)
    base = m.objective.mean_loss(valid.y, m.scores(valid))
    ref_loo, ref_newton = [], []
    for q in range(7):
        ref_loo.append(valid_loss(m, m.solve(train.subset(g != q), theta0=theta), valid) - base)
        wb = w * (g != q)
        H = m.hessian_solver(train, theta, wb)  # softmax's flat directions filled in, as the method does
        step = H.solve(m.objective_gradient(train, theta, wb).ravel()).reshape(theta.shape)
        ref_newton.append(valid_loss(m, theta - step, valid) - base)
    close(ss.score("loo", m, train, valid=valid, unit="query").values, ref_loo, RANKING["loo"])
    close(ss.score("newton_loo", m, train, valid=valid, unit="query").values, ref_newton, RANKING["newton_loo"])
