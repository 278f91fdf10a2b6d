"""The selection harness: support, cost fits, subsamples, the measurements, budgets, errors, JSON."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import samplescope as ss
from samplescope.errors import DataError, MethodError
from samplescope.methods.registry import REGISTRY, register
from samplescope.select import SelectionReport, fit_power_law, measure, select
from samplescope.select.cost import rss_probe_works
from samplescope.select.sampling import corrupt, stratified_order


# ------------------------------------------------------------------ cost
@given(a=st.floats(1e-6, 1e2), b=st.floats(0.2, 2.8), n0=st.integers(50, 500))
@settings(max_examples=40, deadline=None)
def test_power_law_recovers_exact_laws(a, b, n0):
    ns = [n0, 2 * n0, 4 * n0]
    law = fit_power_law(ns, [a * n ** b for n in ns])
    assert law.b == pytest.approx(b, rel=1e-6)
    assert law.predict(16 * n0) == pytest.approx(a * (16 * n0) ** b, rel=1e-6)


def test_power_law_one_size_assumes_the_exponent_and_clips():
    law = fit_power_law([100], [2.0], b_default=2.0)
    assert (law.b, law.points) == (2.0, 1) and law.predict(200) == pytest.approx(8.0)
    assert fit_power_law([10, 20], [1.0, 1e6]).b == 3.0  # clipped
    assert fit_power_law([10, 20], [1.0, 0.5]).b == 0.0


def test_measure_reports_time_and_peak_memory():
    m = measure(lambda: np.ones(4_000_000).sum(), memory="tracemalloc")
    assert m.value == 4_000_000 and m.seconds >= 0 and m.peak_bytes >= 30e6
    if rss_probe_works():
        m = measure(lambda: np.ones(8_000_000).sum(), memory="rss")
        assert m.peak_bytes >= 40e6
    assert measure(lambda: 1).peak_bytes is None


# ------------------------------------------------------------------ subsamples
def test_prefixes_are_stratified_and_keep_every_class(problem):
    train, _ = problem("multiclass", n=600, n_classes=4)
    order = stratified_order(train, "multiclass", seed=3)
    assert sorted(order.rows) == list(range(600))
    full = np.bincount(train.y.astype(int)) / 600
    for size in (40, 150, 300):
        rows = order.prefix(size)
        assert len(rows) == size and np.all(np.diff(rows) > 0)
        share = np.bincount(train.y[rows].astype(int), minlength=4) / size
        assert np.all(share > 0) and np.max(np.abs(share - full)) < 0.05
    assert set(order.prefix(100)) <= set(order.prefix(200))  # nested


def test_grouped_prefixes_take_whole_queries():
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(30), 7)
    train = ss.from_arrays(rng.normal(size=(210, 3)), rng.integers(0, 3, 210).astype(float), group=group)
    order = stratified_order(train, "ranking", seed=0)
    rows = order.prefix(50)
    assert len(rows) == 56  # rounded up to whole groups of 7
    for g in np.unique(group[rows]):
        assert np.sum(group[rows] == g) == 7
    other = order.resample(50, 0.75, seed=1)
    assert len(np.intersect1d(rows, other)) >= 35


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_corrupt_changes_exactly_the_flipped_labels(problem, task):
    train, _ = problem(task, n=200)
    noisy, flipped = corrupt(train, task, 0.1, seed=0, n_classes=3)
    assert flipped.sum() == 20
    assert np.all(noisy.y[flipped] != train.y[flipped]) and np.all(noisy.y[~flipped] == train.y[~flipped])
    protect = np.zeros(200, bool)
    protect[:100] = True
    _, flipped = corrupt(train, task, 0.1, seed=0, n_classes=3, protect=protect)
    assert not flipped[:100].any()


# ------------------------------------------------------------------ the harness
@pytest.fixture(scope="module")
def noisy_binary():
    """A binary problem with 8% of the training labels flipped (the flips are known)."""
    rng = np.random.default_rng(1)
    n, m, d = 500, 300, 6
    X = rng.normal(size=(n + m, d))
    y = (X @ rng.normal(size=d) + 0.3 * rng.normal(size=n + m) > 0).astype(float)
    flips = rng.choice(n, 40, replace=False)
    y[flips] = 1 - y[flips]
    train, valid = ss.from_arrays(X[:n], y[:n], name="train"), ss.from_arrays(X[n:], y[n:], name="valid")
    return train, valid


@pytest.fixture(scope="module")
def selection(noisy_binary):
    train, valid = noisy_binary
    model = ss.fit_model("logistic", train)
    return select(model, train, valid, goal="noise", budget_s=30, max_seconds=20,
                  methods=["influence", "newton_loo", "tracin", "grad_norm"])


def test_table_compares_random_baselines_and_reports_support(selection):
    t = selection.table
    assert set(REGISTRY) | {"random"} == set(t.index)  # every registered method is listed (f)
    for m in ("random", "self_loss", "margin", "el2n", "influence", "newton_loo", "loo"):
        assert t.loc[m, "supported"] and t.loc[m, "status"] == "ok", m
    assert t.loc["self_loss", "candidate"] and not t.loc["loo", "candidate"]  # loo: the reference only
    for m in t.index:
        if not t.loc[m, "supported"]:
            assert t.loc[m, "status"] and not np.isfinite(t.loc[m, "pred_seconds"])


def test_measurements_have_the_expected_values(selection):
    t = selection.table
    # (a) exact LOO agrees with itself; second-order methods nearly; random does not
    assert t.loc["loo", "loo_spearman"] == pytest.approx(1.0)
    assert t.loc["newton_loo", "loo_spearman"] > 0.95 and abs(t.loc["random", "loo_spearman"]) < 0.3
    # (b) planted label errors: self-loss finds them, random is at chance
    assert t.loc["self_loss", "flip_auc"] > 0.8 and abs(t.loc["random", "flip_auc"] - 0.5) < 0.1
    # (d) deterministic methods are stable, random is not
    assert t.loc["self_loss", "stability"] > 0.5 and abs(t.loc["random", "stability"]) < 0.3
    # (c) removing the rows influence calls most helpful hurts more than removing random rows
    assert t.loc["influence", "helpful_drop"] > 0
    c = selection.curves
    assert {"helpful", "harmful", "random"} == set(c.direction)
    assert set(c.fraction) == set(selection.settings["fractions"])
    # (e) costs: a fitted law and a prediction for every method that ran, at two or more sizes
    ran = t[t.status == "ok"]
    assert np.isfinite(ran.drop(index="random").pred_seconds).all()
    sizes = selection.costs.groupby("method").n.nunique()
    assert (sizes[ran.index] >= 2).all()


def test_recommendation_is_a_candidate_within_budget_with_reasons(selection):
    t = selection.table
    rec = selection.recommendation
    assert rec in t.index and t.loc[rec, "candidate"] and t.loc[rec, "pred_seconds"] <= 30
    assert t.loc[rec, "score"] == pytest.approx(t.loc[t.candidate & (t.excluded == "") & (t.index != "random"),
                                                       "score"].max(), abs=0.011)
    text = selection.summary()
    assert rec in text and "ROC-AUC" in text and "budget" in text


def test_json_round_trip(selection, tmp_path):
    path = tmp_path / "sel.json"
    selection.to_json(path)
    back = SelectionReport.from_json(path)
    assert back.recommendation == selection.recommendation and back.reasons == selection.reasons
    assert list(back.table.index) == list(selection.table.index)
    cols = ["loo_spearman", "flip_auc", "pred_seconds"]
    np.testing.assert_allclose(back.table.loc["influence", cols].astype(float),
                               selection.table.loc["influence", cols].astype(float))
    assert len(back.curves) == len(selection.curves)
    with pytest.raises(DataError, match="samplescope-selection/1"):
        SelectionReport.from_json('{"format": "other"}')
    with pytest.raises(DataError, match="not found"):
        SelectionReport.from_json(tmp_path / "missing.json")


def test_methods_over_budget_are_excluded_with_the_reason(problem):
    train, valid = problem("binary", n=300, d=4)
    model = ss.fit_model("logistic", train)
    sel = select(model, train, valid, goal="noise", budget_s=1e-9, max_seconds=10, methods=["influence"])
    assert sel.recommendation is None
    assert "No method fits" in sel.reasons[0]
    assert "over the" in sel.table.loc["influence", "excluded"]


def test_new_registered_methods_are_picked_up(problem):
    @register("zz_test_constant", family="loss", requires=("scores",), cost="O(n)", summary="test", targets=("none",))
    def _constant(ctx):
        return -np.abs(ctx.model.scores(ctx.train))

    try:
        train, valid = problem("binary", n=200, d=3)
        sel = select(ss.fit_model("logistic", train), train, valid, budget_s=10, max_seconds=10)
        assert sel.table.loc["zz_test_constant", "status"] == "ok"
        assert np.isfinite(sel.table.loc["zz_test_constant", "flip_auc"])
    finally:
        REGISTRY.pop("zz_test_constant")


def test_without_validation_a_holdout_measures_the_curves(problem):
    train, _ = problem("regression", n=300, d=3)
    sel = select(ss.fit_model("ridge", train), train, goal="prune", budget_s=10, max_seconds=10,
                 methods=["influence", "self_loss"])
    assert sel.dataset["holdout_rows"] == 60 and sel.dataset["valid_rows"] is None
    assert not sel.table.loc["knn_shapley", "supported"]  # needs a validation set
    assert len(sel.curves) and sel.recommendation is not None


@pytest.mark.parametrize("kwargs, match", [
    ({"goal": "speed"}, "goal must be one of"),
    ({"budget_s": 0}, "budget_s must be"),
    ({"methods": ["nope"]}, "unknown method 'nope'"),
    ({"methods": []}, "at least one method"),
    ({"flip_rate": 0.7}, "flip_rate must be in"),
    ({"loo_rows": 5}, "loo_rows must be an integer >= 20"),
])
def test_bad_arguments_name_the_argument(binary, kwargs, match):
    train, valid = binary
    with pytest.raises(MethodError, match=match):
        select(ss.fit_model("logistic", train), train, valid, **kwargs)


def test_imbalance_goal_needs_classes(regression):
    train, valid = regression
    with pytest.raises(MethodError, match="goal 'imbalance' needs classes"):
        select(ss.fit_model("ridge", train), train, valid, goal="imbalance")


# ------------------------------------------------------------------ command line
def test_cli_select_writes_json_and_html_and_reports_errors(tmp_path, problem):
    import pandas as pd
    from typer.testing import CliRunner

    from samplescope.cli import app

    train, valid = problem("binary", n=240, n_valid=80, d=3)
    for d, name in ((train, "train.csv"), (valid, "valid.csv")):
        df = pd.DataFrame(d.X, columns=["a", "b", "c"])
        df["y"] = d.y.astype(int)
        df.to_csv(tmp_path / name, index=False)
    runner = CliRunner()
    args = ["select", str(tmp_path / "train.csv"), "--valid", str(tmp_path / "valid.csv"), "--label", "y",
            "--model", "logistic", "--budget", "5", "--max-seconds", "10", "--methods", "influence,newton_loo"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "s.json"), "--html", str(tmp_path / "s.html")])
    assert res.exit_code == 0, res.output
    assert "Recommended for 'noise'" in res.output
    sel = SelectionReport.from_json(tmp_path / "s.json")
    assert sel.recommendation in res.output and 'id="comparison"' in (tmp_path / "s.html").read_text()
    for bad, match in ((["--goal", "speed"], "speed"), (["--methods", "nope"], "unknown method 'nope'"),
                       (["--out", str(tmp_path / "s.txt")], "expected a .json file")):
        res = runner.invoke(app, [*args, *bad])
        assert res.exit_code == 2 and match in res.output, res.output


def test_a_tiny_time_limit_still_gives_a_report(problem):
    train, valid = problem("binary", n=300, d=3)
    sel = select(ss.fit_model("logistic", train), train, valid, budget_s=5, max_seconds=0.05,
                 methods=["influence"])
    assert "random" in sel.table.index and sel.notes  # what was skipped is said
    assert sel.table.loc["self_loss", "status"] == "ok"  # the first size always runs
