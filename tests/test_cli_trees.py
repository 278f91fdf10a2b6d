"""``samplescope score`` with boosted trees and ranking: --model lightgbm|xgboost|FILE, --objective,
--model-param, --group / LibSVM qid, --unit document|query; values equal the library API's on the same model."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import samplescope as ss
from samplescope.cli import app
from samplescope.models import load_model
from samplescope.result import ImportanceResult

runner = CliRunner()

G, M, D = 8, 10, 4  # queries, documents per query, features
LGB = {"n_estimators": 4, "num_leaves": 4, "min_data_in_leaf": 3, "min_data_in_bin": 1, "learning_rate": 0.3}
XGB = {"n_estimators": 3, "max_depth": 2, "eta": 0.3, "reg_lambda": 1.0}


def _lgb_flags(params=LGB) -> list[str]:
    return [a for k, v in params.items() for a in ("--model-param", f"{k}={v}")]


def _ranking_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(G * M, D))
    rel = np.clip(np.round(X[:, 0] + rng.normal(scale=0.5, size=G * M) + 1), 0, 3).astype(int)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)])
    df["rel"] = rel
    df["qid"] = np.repeat(np.arange(G) * 10 + seed, M)  # group ids differ from group positions
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_trees")
    train, valid = _ranking_frame(0), _ranking_frame(1)
    train.to_csv(d / "train.csv", index=False)
    valid.to_csv(d / "valid.csv", index=False)
    with open(d / "train.svm", "w") as f:
        for r in train.itertuples(index=False):
            f.write(f"{r.rel} qid:{r.qid} " + " ".join(f"{j + 1}:{getattr(r, f'f{j}'):.17g}" for j in range(D)) + "\n")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, D))
    binary = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)])
    binary["click"] = (X[:, 0] + rng.normal(scale=0.7, size=60) > 0).astype(int)
    binary.to_csv(d / "binary.csv", index=False)
    return {"dir": d, "train": d / "train.csv", "valid": d / "valid.csv", "svm": d / "train.svm",
            "binary": d / "binary.csv"}


def _datasets(files):
    train = ss.read_any(files["train"], label="rel", group="qid")
    valid = ss.read_any(files["valid"], label="rel", group="qid", encoder=train.encoder)
    return train, valid


def _ok(res):
    assert res.exit_code == 0, res.output + (res.stderr if res.stderr_bytes else "")


def _one_error(res, *words):
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.startswith("error:") and "Traceback" not in res.output, err
    flat = " ".join(err.split())
    for w in words:
        assert w in flat, (w, flat)


def _score(files, out, *extra, train="train", label=("--label", "rel", "--group", "qid")):
    return runner.invoke(app, ["score", str(files[train]), *label, "--out", str(out), "--top", "2", *extra],
                         env={"COLUMNS": "300"})


# ------------------------------------------------------------------ values equal the API's
def test_lightgbm_lambdarank_query_unit_matches_the_api(files, tmp_path):
    out = tmp_path / "q.parquet"
    res = _score(files, out, "--valid", str(files["valid"]), "--model", "lightgbm", "--objective", "lambdarank",
                 *_lgb_flags(), "--method", "boostin", "--unit", "query")
    _ok(res)
    assert "scored 8 query groups" in " ".join(res.stdout.split())
    got = ImportanceResult.read_parquet(out)
    train, valid = _datasets(files)
    model = ss.fit_model("lightgbm", train, objective="lambdarank", **LGB)
    want = ss.score("boostin", model, train, valid=valid, unit="query")
    np.testing.assert_allclose(got.values, want.values, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(got.ids).astype(int), np.arange(G) * 10)
    frame = pd.read_parquet(out)
    assert len(frame) == G and (frame["n_documents"] == M).all()


def test_libsvm_qid_document_unit_and_default_objective(files, tmp_path):
    out = tmp_path / "d.parquet"
    res = _score(files, out, "--model", "lightgbm", *_lgb_flags(), "--method", "margin", train="svm", label=())
    _ok(res)
    got = ImportanceResult.read_parquet(out)
    train = ss.read_any(files["svm"])
    model = ss.fit_model("lightgbm", train, **LGB)  # groups present: lambdarank by default
    assert model.objective.name == "lambdarank"
    np.testing.assert_allclose(got.values, ss.score("margin", model, train).values, rtol=1e-12)
    assert "group" in pd.read_parquet(out).columns


def test_xgboost_rank_pairwise_with_el2n_query_unit(files, tmp_path):
    out = tmp_path / "x.parquet"
    flags = [a for k, v in XGB.items() for a in ("--model-param", f"{k}={v}")]
    _ok(_score(files, out, "--model", "XGBoost", "--objective", "rank:pairwise", *flags, "--method", "el2n",
               "--unit", "query", "--seed", "3"))
    train, _ = _datasets(files)
    model = ss.fit_model("xgboost", train, objective="rank:pairwise", seed=3, **XGB)
    want = ss.score("el2n", model, train, unit="query")
    np.testing.assert_allclose(ImportanceResult.read_parquet(out).values, want.values, rtol=1e-12)


def test_binary_booster_score_margin(files, tmp_path):
    out = tmp_path / "b.parquet"
    _ok(_score(files, out, "--model", "xgboost", "--model-param", "n_estimators=3", "--method", "margin",
               train="binary", label=("--label", "click")))
    data = ss.read_any(files["binary"], label="click")
    model = ss.fit_model("xgboost", data, n_estimators=3)
    np.testing.assert_allclose(ImportanceResult.read_parquet(out).values, (2 * data.y - 1) * model.scores(data),
                               rtol=1e-12)


@pytest.mark.filterwarnings("ignore:data_oob:RuntimeWarning")  # 3 bags leave some rows in every bag
def test_native_model_files(files, tmp_path):
    train, valid = _datasets(files)
    lgb_model = ss.fit_model("lightgbm", train, objective="lambdarank", **LGB)
    path = tmp_path / "ranker.txt"
    lgb_model.booster.save_model(str(path))
    out = tmp_path / "f.parquet"
    _ok(_score(files, out, "--valid", str(files["valid"]), "--model", str(path), "--method", "boostin"))
    want = ss.score("boostin", load_model(path, train), train, valid=valid)
    np.testing.assert_allclose(ImportanceResult.read_parquet(out).values, want.values, rtol=1e-12)

    # XGBoost JSON: the file holds no training parameters; --model-param gives them, so refits work
    data = ss.read_any(files["binary"], label="click")
    xgb_model = ss.fit_model("xgboost", data, n_estimators=2, max_depth=2, eta=0.3)
    xpath = tmp_path / "clicks.json"
    xgb_model.booster.save_model(str(xpath))
    out2 = tmp_path / "x.parquet"
    _ok(_score(files, out2, "--model", str(xpath), "--model-param", "eta=0.3", "--model-param", "max_depth=2",
               "--method", "data_oob", "--param", "n_estimators=3", train="binary", label=("--label", "click")))
    want = ss.score("data_oob", load_model(xpath, data, params={"eta": 0.3, "max_depth": 2}), data, n_estimators=3)
    np.testing.assert_allclose(ImportanceResult.read_parquet(out2).values, want.values, rtol=1e-12)


# ------------------------------------------------------------------ one-line errors, exit 2
def test_pickles_are_refused_unopened(files, tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"not": "opened"}))
    _one_error(_score(files, tmp_path / "o.parquet", "--model", str(path), "--method", "margin"),
               "pickled models are never loaded")


@pytest.mark.parametrize("extra, words", [
    (["--model", "logistic", "--objective", "lambdarank"], ["--objective", "lightgbm", "logistic"]),
    (["--model", "ridge", "--model-param", "num_leaves=3"], ["--model-param", "ridge"]),
    (["--model", "lightgbm", "--model-param", "num_leaves"], ["KEY=VALUE", "'num_leaves'"]),
    (["--model", "lightgbm", "--model-param", "a=1", "--model-param", "a=2"], ["twice"]),
    (["--model", "lightgbm", "--model-param", "seed=3"], ["--seed"]),
    (["--model", "lightgbm", "--model-param", "objective=binary"], ["--objective"]),
    (["--model", "lightgbm", "--model-param", "num_leavs=3"], ["num_leavs", "num_leaves"]),
    (["--model", "xgboost", "--model-param", "max_dept=2", "--model-param", "n_estimators=1"], ["max_dept"]),
    (["--model", "lightgbm", "--objective", "multiclass"], ["multiclass", "lambdarank"]),
    (["--model", "lightgbm", "--no-intercept"], ["--no-intercept", "linear"]),
    (["--model", "lightgbm", "--C", "2"], ["--C", "logistic"]),
    (["--model", "lightgbm", "--unit", "group"], ["--unit", "document", "query", "'group'"]),
    (["--model", "lightgbm", "--method", "knn_shapley", "--unit", "query"], ["knn_shapley", "document", "query"]),
    (["--model", "no_such_model.txt"], ["--model must be one of", "lightgbm", "no_such_model.txt"]),
])
def test_bad_tree_options(files, tmp_path, extra, words):
    args = [*extra] + ([] if "--method" in extra else ["--method", "margin"])
    _one_error(_score(files, tmp_path / "o.parquet", *args), *words)
    assert not (tmp_path / "o.parquet").exists()


def test_model_file_errors(files, tmp_path):
    train, _ = _datasets(files)
    path = tmp_path / "ranker.txt"
    ss.fit_model("lightgbm", train, **LGB).booster.save_model(str(path))
    base = ["--model", str(path), "--method", "margin"]
    _one_error(_score(files, tmp_path / "o.parquet", *base, "--objective", "lambdarank"),
               "--objective", "model file")
    _one_error(_score(files, tmp_path / "o.parquet", *base, "--model-param", "eta=0.3"),
               "params= applies to XGBoost")
    _one_error(_score(files, tmp_path / "o.parquet", *base, train="binary", label=("--label", "click")),
               "binary.csv", "needs query groups")  # a ranking model on data without groups
    _one_error(_score(files, tmp_path / "o.parquet", *base, label=("--label", "rel")),  # qid becomes a feature
               "expects 4 feature columns; found 5")
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    _one_error(_score(files, tmp_path / "o.parquet", "--model", str(junk), "--method", "margin"),
               "unrecognised model file")
    _one_error(_score(files, tmp_path / "o.parquet", "--model", str(tmp_path), "--method", "margin"),
               "directory")


def test_query_unit_needs_groups(files, tmp_path):
    _one_error(_score(files, tmp_path / "o.parquet", "--model", "lightgbm", "--model-param", "n_estimators=2",
                      "--method", "margin", "--unit", "query", train="binary", label=("--label", "click")),
               "unit 'query' needs query groups")


def test_help_lists_the_tree_options():
    res = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    _ok(res)
    for opt in ("--objective", "--model-param", "--unit", "lightgbm", "xgboost", "model file"):
        assert opt in res.stdout
