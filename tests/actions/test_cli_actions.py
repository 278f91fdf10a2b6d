"""``samplescope reweight | clean | explain``: files written atomically, one ``error:`` line + exit 2 for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from samplescope.cli import app

runner = CliRunner()
N = 60


def _frame(n: int, seed: int, *, imbalance: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + 0.5 * b + rng.normal(scale=0.7, size=n) > imbalance).astype(int)
    y[:2] = [0, 1]
    return pd.DataFrame({"uid": [f"u{seed}-{i}" for i in range(n)], "qid": np.repeat(np.arange(n // 3), 3),
                         "a": a, "b": b, "colour": rng.choice(["red", "green", "blue"], size=n), "y": y})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("actions")
    paths = {"train": d / "train.csv", "valid": d / "valid.parquet", "test": d / "test.parquet",
             "scores": d / "scores.parquet"}
    _frame(N, 0, imbalance=1.0).to_csv(paths["train"], index=False)
    _frame(30, 1).to_parquet(paths["valid"], index=False)
    _frame(30, 2).to_parquet(paths["test"], index=False)
    res = runner.invoke(app, ["score", str(paths["train"]), "--valid", str(paths["valid"]), "--label", "y", "--id",
                              "uid", "--exclude", "qid", "--model", "logistic", "--method", "influence",
                              "--out", str(paths["scores"]), "--top", "0"])
    assert res.exit_code == 0, res.stderr
    return paths


def _ok(res) -> None:
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)


def _one_error(res, *words) -> None:
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    for w in words:
        assert w in res.stderr, (w, res.stderr)


DATA = ["--label", "y", "--id", "uid", "--exclude", "qid"]


# ------------------------------------------------------------------ reweight
def test_reweight_writes_balanced_weights_per_row(files, tmp_path):
    out = tmp_path / "w.parquet"
    res = runner.invoke(app, ["reweight", str(files["scores"]), "--train", str(files["train"]), "--label", "y",
                              "--id", "uid", "--out", str(out)], env={"COLUMNS": "200"})
    _ok(res)
    df = pd.read_parquet(out)
    y = pd.read_csv(files["train"])["y"].to_numpy()
    assert df.columns.tolist() == ["row", "id", "weight"] and len(df) == N
    assert df["id"].tolist() == pd.read_csv(files["train"])["uid"].tolist()
    w = df["weight"].to_numpy()
    assert w[y == 0].sum() == pytest.approx(N / 2) and w[y == 1].sum() == pytest.approx(N / 2)
    assert "logit offset" in res.stdout and "Per class" in res.stdout


def test_reweight_options(files, tmp_path):
    out = tmp_path / "w.parquet"
    _ok(runner.invoke(app, ["reweight", str(files["scores"]), "--train", str(files["train"]), "--label", "y",
                            "--strategy", "importance", "--preserve", "class", "--beta", "2", "--clip-min", "0.5",
                            "--clip-max", "2", "--out", str(out)]))
    df = pd.read_parquet(out)
    y = pd.read_csv(files["train"])["y"].to_numpy()
    assert "id" not in df.columns
    assert df["weight"][y == 1].sum() == pytest.approx((y == 1).sum())


@pytest.mark.parametrize("extra, words", [
    (["--strategy", "magic"], ["magic"]),
    (["--clip-min", "2"], ["clip", "lo <= 1"]),
])
def test_reweight_bad_options(files, tmp_path, extra, words):
    out = tmp_path / "w.parquet"
    res = runner.invoke(app, ["reweight", str(files["scores"]), "--train", str(files["train"]), "--label", "y",
                              "--out", str(out), *extra], env={"COLUMNS": "500"})
    assert res.exit_code == 2 and not out.exists()
    for w in words:
        assert w in res.stderr


def test_reweight_refuses_scores_of_another_file(files, tmp_path):
    other = tmp_path / "other.csv"
    _frame(N + 3, 5).to_csv(other, index=False)
    out = tmp_path / "w.parquet"
    res = runner.invoke(app, ["reweight", str(files["scores"]), "--train", str(other), "--label", "y",
                              "--out", str(out)], env={"COLUMNS": "500"})
    _one_error(res, "scores.parquet", f"{N}", f"{N + 3}")
    res = runner.invoke(app, ["reweight", str(files["scores"]), "--train", str(files["train"]), "--out", str(out)],
                        env={"COLUMNS": "500"})
    _one_error(res, "--label")
    assert not out.exists()


# ------------------------------------------------------------------ clean
def test_clean_drops_at_most_the_fraction_and_reports_before_after(files, tmp_path):
    out = tmp_path / "cleaned.parquet"
    res = runner.invoke(app, ["clean", str(files["train"]), "--valid", str(files["valid"]), "--test",
                              str(files["test"]), *DATA, "--model", "logistic", "--method", "influence",
                              "--fraction", "0.1", "--out", str(out)], env={"COLUMNS": "200"})
    _ok(res)
    df = pd.read_parquet(out)
    assert df.columns.tolist() == ["row", "id", "importance", "flagged", "weight"]
    assert int(df["flagged"].sum()) == 6 and (df.loc[df["flagged"], "weight"] == 0).all()
    assert df.loc[df["flagged"], "importance"].max() <= df.loc[~df["flagged"], "importance"].min()
    assert "Validation on test.parquet" in res.stdout and "roc_auc" in res.stdout


def test_clean_downweight_from_a_scores_file_with_a_threshold(files, tmp_path):
    out = tmp_path / "cleaned.parquet"
    _ok(runner.invoke(app, ["clean", str(files["train"]), "--valid", str(files["valid"]), *DATA, "--model",
                            "logistic", "--scores", str(files["scores"]), "--threshold", "0", "--top-k", "4",
                            "--action", "downweight", "--factor", "0.5", "--out", str(out)]))
    df = pd.read_parquet(out)
    assert 0 < df["flagged"].sum() <= 4
    assert (df.loc[df["flagged"], "weight"] == 0.5).all() and (df.loc[df["flagged"], "importance"] < 0).all()


@pytest.mark.parametrize("extra, words", [
    (["--method", "influence"], ["--fraction", "--top-k", "--threshold"]),
    (["--method", "influence", "--fraction", "0.1", "--top-k", "3"], ["not both"]),
    (["--fraction", "0.1"], ["--method", "--scores"]),
    (["--method", "influence", "--fraction", "1.5"], ["--fraction", "[0, 1]", "1.5"]),
    (["--method", "influence", "--fraction", "0.1", "--factor", "3"], ["--factor"]),
    (["--method", "influence", "--top-k", "2", "--C", "-1"], ["--C", "> 0"]),
    (["--method", "nope", "--top-k", "2"], ["unknown method 'nope'"]),
])
def test_clean_bad_input(files, tmp_path, extra, words):
    out = tmp_path / "cleaned.parquet"
    res = runner.invoke(app, ["clean", str(files["train"]), "--valid", str(files["valid"]), *DATA, "--model",
                              "logistic", "--out", str(out), *extra], env={"COLUMNS": "500"})
    _one_error(res, *words)
    assert not out.exists()


# ------------------------------------------------------------------ explain
def test_explain_a_target_row_and_write_both_tables(files, tmp_path):
    out = tmp_path / "ex.parquet"
    res = runner.invoke(app, ["explain", str(files["train"]), "--target", str(files["valid"]), *DATA, "--model",
                              "logistic", "--row", "3", "--top", "4", "--out", str(out)], env={"COLUMNS": "250"})
    _ok(res)
    assert "Supports the prediction" in res.stdout and "Opposes the prediction" in res.stdout
    df = pd.read_parquet(out)
    assert set(df["side"]) <= {"support", "oppose"} and len(df) <= 8
    assert {"row", "id", "label", "support", "loss_effect", "features"} <= set(df.columns)
    assert (df.loc[df["side"] == "support", "support"] > 0).all()


def test_explain_by_query_and_item(files):
    res = runner.invoke(app, ["explain", str(files["train"]), "--label", "y", "--id", "uid", "--group", "qid",
                              "--exclude", "qid", "--model", "logistic", "--query", "2", "--item", "u0-7",
                              "--method", "tracin", "--param", "learning_rate=0.1"], env={"COLUMNS": "250"})
    _ok(res)
    assert "row 7 of train.csv (id u0-7" in res.stdout


@pytest.mark.parametrize("extra, words", [
    ([], ["--row", "--query"]),
    (["--row", "999"], ["--row", "0..59", "999"]),
    (["--row", "1", "--query", "2"], ["not both"]),
    (["--query", "2"], ["--group"]),
    (["--row", "1", "--method", "margin"], ["margin", "pairwise"]),
    (["--row", "1", "--param", "damping=0.1"], ["--param", "--method"]),
    (["--item", "nobody"], ["exactly one row", "nobody"]),
])
def test_explain_bad_input(files, extra, words):
    res = runner.invoke(app, ["explain", str(files["train"]), *DATA, "--model", "logistic", *extra],
                        env={"COLUMNS": "500"})
    _one_error(res, *words)


def test_help_lists_the_action_commands():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    for cmd in ("reweight", "clean", "explain"):
        assert cmd in res.stdout
    for cmd in ("reweight", "clean", "explain"):
        _ok(runner.invoke(app, [cmd, "--help"]))
