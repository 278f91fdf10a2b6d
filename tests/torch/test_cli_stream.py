"""``samplescope score --stream``: a Parquet training file valued batch by batch equals the in-memory command;
wrong input (not Parquet, a method or model that cannot stream, text features) is one line and exit 2; an
interrupted streamed run resumes from ``--checkpoint-dir`` and writes the values of an uninterrupted one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread, no spin-waiting

from typer.testing import CliRunner  # noqa: E402

from conftest import make_problem  # noqa: E402
from samplescope import streaming  # noqa: E402
from samplescope.cli import app  # noqa: E402
from samplescope.examples.torch_models import MLP  # noqa: E402
from samplescope.result import ImportanceResult  # noqa: E402
from tolerances import TORCH, close  # noqa: E402

N, ROWS = 2000, 500  # four batches
SPEC = "torch:stream_nets:small_mlp"  # a user's module on the path, as --model torch:module:factory reads it


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    train, valid = make_problem("binary", n=N, n_valid=60, seed=3)
    frame = lambda ds: pd.DataFrame(ds.X, columns=["a", "b", "c"]).assign(y=ds.y)  # noqa: E731
    frame(train).assign(rid=[f"r{i}" for i in range(N)]).to_parquet(d / "train.parquet", row_group_size=300)
    frame(valid).to_parquet(d / "valid.parquet")
    torch.save(MLP(3, hidden=(8,), seed=1).state_dict(), d / "mlp.pt")
    (d / "stream_nets.py").write_text("from samplescope.examples.torch_models import MLP\n\n\n"
                                      "def small_mlp(n_features):\n    return MLP(n_features, hidden=(8,))\n")
    return d


@pytest.fixture(autouse=True)
def user_module(files, monkeypatch):
    monkeypatch.syspath_prepend(str(files))


def _args(d, out, method, *extra, train=None):
    return ["score", str(train or d / "train.parquet"), "--label", "y", "--id", "rid", "--model", SPEC,
            "--checkpoint", str(d / "mlp.pt"), "--method", method, "--out", str(out), "--top", "2", *extra]


def _invoke(args):
    return CliRunner().invoke(app, args)


def _text(res):  # stdout with rich's line wrapping undone
    return " ".join(res.stdout.split())


@pytest.mark.parametrize("method,extra", [
    ("grad_norm", []),
    ("tracin", ["--param", "learning_rate=0.5"]),
    ("trak", ["--param", "proj_dim=16", "--seed", "7"]),
])
def test_streamed_cli_equals_the_in_memory_command(files, tmp_path, method, extra):
    extra = extra + ([] if method == "grad_norm" else ["--valid", str(files / "valid.parquet")])
    ref = _invoke(_args(files, tmp_path / "ref.parquet", method, *extra))
    assert ref.exit_code == 0, ref.output
    res = _invoke(_args(files, tmp_path / "s.parquet", method, *extra, "--stream", "--batch-rows", str(ROWS)))
    assert res.exit_code == 0, res.output
    assert "train.parquet (streamed)" in _text(res) and "Most harmful 2" in _text(res)
    want, got = ImportanceResult.read_parquet(tmp_path / "ref.parquet"), ImportanceResult.read_parquet(
        tmp_path / "s.parquet")
    close(got.values, want.values, TORCH["fp32"])
    np.testing.assert_array_equal(got.ids, want.ids)
    assert got.method == method and got.target == want.target and got.params["streamed"]
    assert got.params["seed"] == (7 if method == "trak" else 0)
    shown = _invoke(["show", str(tmp_path / "s.parquet")])
    assert shown.exit_code == 0 and f"{N:,} rows scored by {method}" in _text(shown)


def _one_line_error(res, *needles):
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    for s in needles:
        assert s in err, err


def test_what_cannot_stream_is_one_line_and_exit_2(files, tmp_path):
    out = tmp_path / "s.parquet"
    stream = ["--stream", "--batch-rows", str(ROWS)]
    pd.read_parquet(files / "train.parquet").to_csv(tmp_path / "train.csv", index=False)
    csv = _args(files, out, "grad_norm", *stream, train=tmp_path / "train.csv")
    _one_line_error(_invoke(csv), "train.csv: --stream", "needs a Parquet file", "found a '.csv' file")
    _one_line_error(_invoke(_args(files, out, "loo", *stream)), "--method loo cannot stream", "'grad_norm'")
    args = _args(files, out, "grad_norm", *stream)
    args[args.index("--model") + 1:args.index("--checkpoint") + 2] = ["logistic"]
    _one_line_error(_invoke(args), "--stream needs a trained torch model", "found --model logistic")
    _one_line_error(_invoke(_args(files, out, "grad_norm", "--batch-rows", "10")), "--batch-rows applies with "
                    "--stream")
    df = pd.read_parquet(files / "train.parquet").assign(city="paris")
    df.to_parquet(tmp_path / "text.parquet")
    args = _args(files, out, "grad_norm", *stream, train=tmp_path / "text.parquet")
    _one_line_error(_invoke(args), "text.parquet: --stream needs numeric feature columns", "column 'city'",
                    "--exclude city")
    assert _invoke(args + ["--exclude", "city"]).exit_code == 0
    _one_line_error(_invoke(_args(files, out, "grad_norm", *stream, "--features", "a,zz")),
                    "expected feature column 'zz'")
    for extra in ([], stream):  # a mistyped weights file is an error, never an untrained model nor a new folder
        args = _args(files, out, "grad_norm", *extra)
        args[args.index("--checkpoint") + 1] = str(tmp_path / "nope.pt")
        _one_line_error(_invoke(args), "nope.pt: --checkpoint names the torch model's weights file",
                        "found no such file", "--checkpoint-dir")
        assert not (tmp_path / "nope.pt").exists()
    assert not out.exists() or _invoke(["show", str(out)]).exit_code == 0


def test_an_interrupted_streamed_run_resumes(files, tmp_path, monkeypatch):
    ck, run = tmp_path / "ck", ["--stream", "--batch-rows", str(ROWS), "--valid", str(files / "valid.parquet"),
                                "--param", "proj_dim=16"]
    whole = _invoke(_args(files, tmp_path / "whole.parquet", "trak", *run))
    assert whole.exit_code == 0, whole.output
    write, calls = streaming._Writer.write, []

    def interrupted(self, *a):  # Ctrl-C after the third chunk is checkpointed
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write(self, *a)

    monkeypatch.setattr(streaming._Writer, "write", interrupted)
    out = tmp_path / "s.parquet"
    res = _invoke(_args(files, out, "trak", *run, "--checkpoint-dir", str(ck)))
    assert res.exit_code == 130 and not out.exists()
    (folder,) = ck.iterdir()
    assert len(list(folder.glob("chunk-*.npz"))) == 3 and (folder / "state.npz").is_file()
    monkeypatch.setattr(streaming._Writer, "write", write)
    plan, rows = streaming._plan, []

    def counted_plan(*a, **k):
        fn = plan(*a, **k)
        return lambda d: (rows.append(d.n), fn(d))[1]

    monkeypatch.setattr(streaming, "_plan", counted_plan)
    res = _invoke(_args(files, out, "trak", *run, "--checkpoint-dir", str(ck)))
    assert res.exit_code == 0, res.output
    assert rows == [N - 3 * ROWS] and list(ck.iterdir()) == []  # one chunk valued; the checkpoint removed
    np.testing.assert_array_equal(ImportanceResult.read_parquet(out).values,
                                  ImportanceResult.read_parquet(tmp_path / "whole.parquet").values)
