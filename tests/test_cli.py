"""The ``samplescope`` command line: successful runs, and one clean ``error:`` line + exit 2 for bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import samplescope.cli as cli
from samplescope.cli import app
from samplescope.methods import REGISTRY
from samplescope.result import ImportanceResult

runner = CliRunner()
N_TRAIN, N_VALID = 40, 20


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + 0.5 * b + rng.normal(scale=0.7, size=n) > 0).astype(int)
    y[:2] = [0, 1]  # both classes, whatever the seed
    return pd.DataFrame({"uid": [f"u{seed}-{i}" for i in range(n)], "a": a, "b": b,
                         "colour": rng.choice(["red", "green", "blue"], size=n), "y": y})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    train, valid = _frame(N_TRAIN, 0), _frame(N_VALID, 1)
    paths = {"dir": d, "train_df": train, "train": d / "train.csv", "valid": d / "valid.parquet"}
    train.to_csv(paths["train"], index=False)
    valid.to_parquet(paths["valid"], index=False)

    def bad(name: str, df: pd.DataFrame) -> None:
        paths[name] = d / f"{name}.csv"
        df.to_csv(paths[name], index=False)

    bad("nan_feature", train.assign(a=train["a"].where(train.index != 3)))
    bad("nan_label", train.assign(y=train["y"].astype(float).where(train.index != 5)))
    bad("label_half", train.assign(y=np.where(train.index == 4, 0.5, train["y"])))
    bad("label_seven", train.assign(y=np.where(train.index == 4, 7, train["y"])))
    bad("single_class", train.assign(y=0))
    bad("valid_no_b", _frame(N_VALID, 1).drop(columns="b"))
    paths["empty"] = d / "empty.csv"
    paths["empty"].write_text("uid,a,b,colour,y\n")
    paths["garbage"] = d / "garbage.parquet"
    paths["garbage"].write_bytes(b"this is not parquet")
    return paths


@pytest.fixture(scope="module")
def obd(tmp_path_factory):
    from samplescope.datasets.obd import write_obd_files

    return write_obd_files(tmp_path_factory.mktemp("obd"))


def _score(files, out, *extra: str) -> list[str]:
    return ["score", str(files["train"]), "--label", "y", "--id", "uid", "--model", "logistic",
            "--out", str(out), *extra]


def _ok(result) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)


# ------------------------------------------------------------------ successful runs
@pytest.mark.parametrize("method", ["influence", "grad_norm", "margin"])  # loss, gradient, boundary family
@pytest.mark.parametrize("with_valid", [False, True])
def test_score_writes_one_finite_value_per_row(files, tmp_path, method, with_valid):
    out = tmp_path / "scores.parquet"
    extra = ["--valid", str(files["valid"])] if with_valid else []
    res = runner.invoke(app, _score(files, out, "--method", method, *extra))
    _ok(res)
    df = pd.read_parquet(out)
    assert list(df.columns[:3]) == ["row", "id", "importance"]
    np.testing.assert_array_equal(df["row"], np.arange(N_TRAIN))
    assert df["id"].tolist() == files["train_df"]["uid"].tolist()
    assert np.all(np.isfinite(df["importance"]))
    assert REGISTRY[method].family in res.stdout and method in res.stdout
    assert "Most helpful" in res.stdout and "Most harmful" in res.stdout
    if method == "influence":
        assert ("validation" if with_valid else "self") in res.stdout
    assert res.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]  # no temporary file left


def test_score_obd_split_with_knn_shapley_param(obd, tmp_path):
    train, valid = obd
    out = tmp_path / "knn.parquet"
    res = runner.invoke(app, ["score", str(train), "--valid", str(valid), "--label", "click", "--id",
                              "impression_id", "--model", "logistic", "--method", "knn_shapley",
                              "--param", "k=3", "--out", str(out), "--top", "3", "--jobs", "-1"])
    _ok(res)
    result = ImportanceResult.read_parquet(out)
    assert result.params["k"] == 3 and result.method == "knn_shapley" and result.target == "knn-utility"
    ids = pd.read_parquet(train, columns=["impression_id"])["impression_id"].to_numpy()
    np.testing.assert_array_equal(result.ids, ids)
    assert np.all(np.isfinite(result.values))


def test_score_without_id_and_with_model_options(files, tmp_path):
    out = tmp_path / "s.parquet"
    res = runner.invoke(app, ["score", str(files["train"]), "--label", "y", "--exclude", "uid", "--model", "ridge",
                              "--alpha", "0.5", "--no-intercept", "--method", "influence", "--out", str(out),
                              "--top", "0"])
    _ok(res)
    df = pd.read_parquet(out)
    assert list(df.columns) == ["row", "importance"]
    result = ImportanceResult.read_parquet(out)
    assert result.params["model.alpha"] == 0.5 and result.params["model.fit_intercept"] is False
    assert "Most helpful" not in res.stdout


def test_libsvm_files(tmp_path):
    train, valid, out = tmp_path / "t.svm", tmp_path / "v.svm", tmp_path / "s.parquet"
    train.write_text("0 qid:1 1:0.5 2:1\n1 qid:1 1:1.5 3:1\n0 qid:2 2:0.3\n1 qid:2 1:2 2:1\n1 qid:3 1:1\n0 qid:3 3:2\n")
    valid.write_text("0 1:0.5 2:1\n1 1:1.5 3:1\n")
    _ok(runner.invoke(app, ["score", str(train), "--valid", str(valid), "--model", "logistic", "--method",
                            "influence", "--out", str(out)]))
    assert len(pd.read_parquet(out)) == 6


def test_checkpoint_resume_gives_the_same_values(files, tmp_path):
    ck, outs = tmp_path / "ck", [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for out in outs:
        _ok(runner.invoke(app, _score(files, out, "--method", "loo", "--valid", str(files["valid"]),
                                      "--checkpoint", str(ck))))
    assert list(ck.iterdir())
    a, b = (pd.read_parquet(o)["importance"].to_numpy() for o in outs)
    np.testing.assert_array_equal(a, b)


def test_features_option(files, tmp_path):
    out = tmp_path / "s.parquet"
    _ok(runner.invoke(app, _score(files, out, "--features", "a, b", "--method", "grad_norm",
                                  "--valid", str(files["valid"]))))
    _ok(runner.invoke(app, ["show", str(out)]))


@pytest.mark.parametrize("text, value", [("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("true", True),
                                         ("False", False), ("none", None), ("auto", "auto"), ("", "")])
def test_param_values_are_typed(text, value):
    parsed = cli._parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_params_are_checked_against_the_signature():
    assert cli._parse_params(["k=3"], "knn_shapley") == {"k": 3}
    assert cli._parse_params(["learning_rate=1"], "tracin") == {"learning_rate": 1.0}
    assert cli._parse_params(["learning_rate=auto"], "tracin") == {"learning_rate": "auto"}
    assert cli._parse_params(["damping=0"], "influence") == {"damping": 0.0}
    assert type(cli._parse_params(["damping=0"], "influence")["damping"]) is float
    assert cli._parse_params(["chunk_size=none"], "loo") == {"chunk_size": None}
    assert cli._parse_params(["metric=accuracy", "n_estimators=5"], "data_oob") == {"metric": "accuracy",
                                                                                   "n_estimators": 5}
    assert cli._parse_params(["metric=1"], "data_oob") == {"metric": "1"}  # text parameter keeps its text


def test_methods_lists_every_registered_method():
    res = runner.invoke(app, ["methods"], env={"COLUMNS": "200"})
    _ok(res)
    for name in REGISTRY:
        assert name in res.stdout
    res = runner.invoke(app, ["methods", "--json"])
    _ok(res)
    rows = json.loads(res.stdout)
    assert {r["name"] for r in rows} == set(REGISTRY)
    knn = next(r for r in rows if r["name"] == "knn_shapley")
    assert knn["needs_valid"] is True and knn["params"] == {"k": 10} and knn["family"] == "loss"


def test_show(files, tmp_path):
    out = tmp_path / "s.parquet"
    _ok(runner.invoke(app, _score(files, out, "--method", "influence", "--valid", str(files["valid"]))))
    res = runner.invoke(app, ["show", str(out), "--top", "2"], env={"COLUMNS": "200"})
    _ok(res)
    assert "influence" in res.stdout and "validation" in res.stdout and "Most harmful 2" in res.stdout
    values = pd.read_parquet(out).set_index("id")["importance"]
    assert values.idxmin() in res.stdout and values.idxmax() in res.stdout


def test_version():
    for args in (["version"], ["--version"]):
        res = runner.invoke(app, args)
        _ok(res)
        assert res.stdout.strip() == f"samplescope {cli.__version__}"


def test_help_documents_every_score_option():
    res = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    _ok(res)
    for opt in ("--label", "--valid", "--group", "--weight", "--id", "--features", "--exclude", "--model", "--C",
                "--alpha", "--no-intercept", "--method", "--param", "--out", "--seed", "--jobs", "--checkpoint",
                "--top"):
        assert opt in res.stdout
    _ok(runner.invoke(app, ["--help"]))


# ------------------------------------------------------------------ bad input
def _on(key: str, *extra: str, label: str = "y", model: str = "logistic", method: str = "influence"):
    """Arguments scoring ``files[key]`` (or a path under the fixture folder) into ``o``."""
    def make(f, o):
        train = f[key] if key in f else f["dir"] / key
        lab = ["--label", label] if label else []
        return ["score", str(train), *lab, "--model", model, "--method", method, "--out", str(o), *extra]
    return make


def _valid(key: str = "valid"):
    return lambda f, o: _score(f, o, "--method", "knn_shapley", "--valid", str(f[key]))


BAD = {  # case: (files, OUT -> arguments; words the message must contain)
    "missing train": (_on("nope.csv"), ["nope.csv", "not found"]),
    "missing label column": (_on("train", label="clicked"), ["train.csv", "'clicked'"]),
    "nan feature": (_on("nan_feature"), ["nan_feature.csv", "'a'", "row 3"]),
    "nan label": (_on("nan_label"), ["nan_label.csv", "'y'", "row 5"]),
    "label 0.5 for logistic": (_on("label_half"), ["label_half.csv", "'y'", "0.5"]),
    "label 7 for logistic": (_on("label_seven"), ["label_seven.csv", "'y'", "0..K-1", "7"]),
    "single class": (_on("single_class"), ["single_class.csv", "'y'", "two classes"]),
    "empty table": (_on("empty"), ["empty.csv", "empty"]),
    "unreadable parquet": (_on("garbage"), ["garbage.parquet", "Parquet"]),
    "valid lacks a column": (lambda f, o: _score(f, o, "--valid", str(f["valid_no_b"]), "--method", "influence"),
                             ["valid_no_b.csv", "'b'"]),
    "unsupported model": (_on("train", model="tree"), ["--model", "tree", "logistic"]),
    "unknown method": (_on("train", method="influense"), ["influense", "influence", "margin"]),
    "method needs --valid": (_on("train", method="knn_shapley"), ["knn_shapley", "--valid"]),
    "param without =": (lambda f, o: _valid()(f, o) + ["--param", "k"], ["KEY=VALUE", "'k'"]),
    "unknown param": (lambda f, o: _valid()(f, o) + ["--param", "kk=3"], ["kk", "'k'"]),
    "param of the wrong type": (lambda f, o: _valid()(f, o) + ["--param", "k=three"], ["k", "int", "three"]),
    "param rejected by the method": (lambda f, o: _valid()(f, o) + ["--param", "k=0"], ["k must be >= 1"]),
    "no label for a table": (_on("train", label=""), ["train.csv", "--label"]),
    "--C with ridge": (_on("train", "--C", "2", model="ridge"), ["--C", "ridge"]),
    "--jobs 0": (_on("train", "--jobs", "0"), ["--jobs", "0"]),
    "--checkpoint is a file": (_on("train", "--checkpoint", "{train}"), ["--checkpoint", "folder"]),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("existing_out", [False, True])
def test_bad_input_is_one_error_line_and_exit_2(files, tmp_path, case, existing_out):
    out = tmp_path / "scores.parquet"
    if existing_out:
        pd.DataFrame({"row": [0], "importance": [1.0]}).to_parquet(out)
        before = out.read_bytes()
    make, words = BAD[case]
    args = [a.replace("{train}", str(files["train"])) for a in make(files, out)]
    res = runner.invoke(app, args, env={"COLUMNS": "500"})
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    assert "Traceback" not in res.output
    for w in words:
        assert w in res.stderr, (w, res.stderr)
    if existing_out:
        assert out.read_bytes() == before
    else:
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["scores.parquet"] if existing_out else [])
    if "Usage" not in res.stderr:  # our own errors: exactly one line
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1


@pytest.mark.parametrize("out_name, words", [("scores.csv", [".parquet", "scores.csv"]),
                                             ("missing/scores.parquet", ["missing", "does not exist"])])
def test_bad_output_path(files, tmp_path, out_name, words):
    res = runner.invoke(app, _score(files, tmp_path / out_name, "--method", "influence"), env={"COLUMNS": "500"})
    assert res.exit_code == 2
    for w in words:
        assert w in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_output_must_not_overwrite_the_training_file(files, tmp_path):
    train = tmp_path / "train.parquet"
    files["train_df"].to_parquet(train)
    before = train.read_bytes()
    res = runner.invoke(app, ["score", str(train), "--label", "y", "--model", "logistic", "--method", "influence",
                              "--out", str(train)], env={"COLUMNS": "500"})
    assert res.exit_code == 2 and "overwrite the input" in res.stderr
    assert train.read_bytes() == before


def test_show_errors(files, tmp_path):
    for path, word in ((tmp_path / "none.parquet", "not found"), (files["valid"], "not a samplescope scores file"),
                       (files["garbage"], "garbage.parquet")):
        res = runner.invoke(app, ["show", str(path)], env={"COLUMNS": "500"})
        assert res.exit_code == 2 and word in res.stderr, res.stderr


def test_ctrl_c_exits_130_without_output(files, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "score_samples", interrupted)
    out = tmp_path / "s.parquet"
    res = runner.invoke(app, _score(files, out, "--method", "influence"))
    assert res.exit_code == 130 and "interrupted" in res.stderr
    assert not out.exists()


def test_a_bug_keeps_its_traceback(files, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "score_samples", broken)
    res = runner.invoke(app, _score(files, tmp_path / "s.parquet", "--method", "influence"))
    assert isinstance(res.exception, RuntimeError) and res.exit_code == 1


def test_progress_callback_accepts_ticks_past_the_total():
    bar = cli._Progress(total=4, label="x")
    with bar:
        for k in (0, 2, 2, 3):  # a method may tick per validation row
            bar(k)
    assert bar.done == 7
