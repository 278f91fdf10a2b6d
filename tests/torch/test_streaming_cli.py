"""Streaming (Dataset chunks, Parquet batches, DataLoader) equals in-memory scoring; the CLI's
``--model torch:module:factory --checkpoint FILE``; checkpoints are never unpickled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread, no spin-waiting

import samplescope as ss  # noqa: E402
from conftest import make_problem  # noqa: E402
from samplescope.examples.torch_models import MLP  # noqa: E402
from samplescope.models.torch_adapter import TorchModel  # noqa: E402
from samplescope.models.torch_io import load_checkpoint  # noqa: E402
from samplescope.result import ImportanceResult  # noqa: E402
from samplescope.streaming import LoaderSource, ParquetSource, stream_score  # noqa: E402
from tolerances import TORCH, close  # noqa: E402

CASES = [("grad_norm", {}, False), ("el2n", {}, False), ("self_loss", {}, False),
         ("tracin", {"learning_rate": 0.5}, True), ("influence", {"damping": 0.1}, True),
         ("influence", {"damping": 0.1, "solver": "arnoldi"}, False), ("trak", {"proj_dim": 5}, True)]


@pytest.fixture(scope="module")
def problem():
    train, valid = make_problem("binary", n=50, n_valid=12, ids=True, seed=1)
    m = TorchModel(MLP(3, hidden=(4,)).double(), "logloss", weight_decay=0.1, batch_size=16, curvature="ggn")
    return m, train, valid


@pytest.mark.parametrize("method,params,with_valid", CASES)
def test_streamed_chunks_equal_in_memory_scores(problem, tmp_path, method, params, with_valid):
    m, train, valid = problem
    v = valid if with_valid else None
    ticks = []
    out = stream_score(method, m, train, out=tmp_path / "s.parquet", valid=v, batch_rows=13, progress=ticks.append,
                       **params)
    got = ImportanceResult.read_parquet(out)
    ref = ss.score(method, m, train, valid=v, **{k: x for k, x in params.items() if (k, x) != ("solver", "cg")})
    close(got.values, ref.values, TORCH["ihvp"] if method == "influence" else TORCH["autograd"])
    np.testing.assert_array_equal(got.ids, train.ids)
    assert got.method == method and got.target == ref.target and got.params["streamed"] and sum(ticks) == train.n
    assert [p.name for p in tmp_path.iterdir()] == ["s.parquet"]  # atomic: no temporary file left


def test_parquet_batches_and_dataloaders(problem, tmp_path):
    m, train, valid = problem
    df = pd.DataFrame(train.X, columns=["a", "b", "c"]).assign(y=train.y, rid=train.ids)
    df.to_parquet(tmp_path / "t.parquet", row_group_size=7)
    src = ParquetSource(tmp_path / "t.parquet", label="y", features=["a", "b", "c"], id="rid", batch_rows=9)
    out = stream_score("tracin", m, src, out=tmp_path / "a.parquet", valid=valid, learning_rate=0.5)
    close(ImportanceResult.read_parquet(out).values,
          ss.score("tracin", m, train, valid=valid, learning_rate=0.5).values, TORCH["autograd"])
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(train.X), torch.tensor(train.y)),
                                     batch_size=11)
    out = stream_score("grad_norm", m, LoaderSource(dl), out=tmp_path / "b.parquet")
    close(ImportanceResult.read_parquet(out).values, ss.score("grad_norm", m, train).values, TORCH["autograd"])
    with pytest.raises(ss.DataError, match="without shuffling"):
        LoaderSource(torch.utils.data.DataLoader(dl.dataset, shuffle=True))
    with pytest.raises(ss.MethodError, match=r"method 'loo' cannot stream; expected one of \['grad_norm'"):
        stream_score("loo", m, train, out=tmp_path / "c.parquet")


def test_query_groups_stay_whole_across_parquet_batches(tmp_path):
    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 6, 12)
    n = int(sizes.sum())
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"]).assign(
        y=rng.integers(0, 3, n).astype(float), q=np.repeat(np.arange(12), sizes))
    df.to_parquet(tmp_path / "r.parquet", row_group_size=5)
    train = ss.from_frame(df, label="y", features=["a", "b", "c"], group="q")
    m = TorchModel(MLP(3, hidden=(4,), objective="listnet").double(), "listnet", weight_decay=0.1)
    src = ParquetSource(tmp_path / "r.parquet", label="y", features=["a", "b", "c"], group="q", batch_rows=7)
    assert all(len(np.unique(d.group)) == len(d.group_bounds) - 1 for d in src)
    out = stream_score("grad_norm", m, src, out=tmp_path / "g.parquet")
    close(ImportanceResult.read_parquet(out).values, ss.score("grad_norm", m, train).values, TORCH["autograd"])


def test_cli_scores_a_torch_model_from_a_factory_and_weights(tmp_path):
    from typer.testing import CliRunner

    from samplescope.cli import app

    train, valid = make_problem("binary", n=40, seed=2)
    pd.DataFrame(train.X, columns=["a", "b", "c"]).assign(y=train.y).to_parquet(tmp_path / "train.parquet")
    net = MLP(3)
    torch.save(net.state_dict(), tmp_path / "mlp.pt")
    args = ["score", str(tmp_path / "train.parquet"), "--label", "y", "--model",
            "torch:samplescope.examples.torch_models:mlp", "--checkpoint", str(tmp_path / "mlp.pt"),
            "--method", "grad_norm", "--out", str(tmp_path / "s.parquet")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    ref = ss.score("grad_norm", TorchModel(net, "logloss"), train).values
    close(ImportanceResult.read_parquet(tmp_path / "s.parquet").values, ref, TORCH["fp32"])
    bad = CliRunner().invoke(app, args[:4] + ["--model", "torch:samplescope.examples.torch_models:nope"] + args[6:])
    assert bad.exit_code == 2 and "could not import nope from module samplescope.examples.torch_models" in bad.stderr
    bad = CliRunner().invoke(app, args[:4] + ["--model", "tree"] + args[6:])
    assert bad.exit_code == 2 and "--model must be one of" in bad.stderr


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_checkpoints_are_never_unpickled(tmp_path, capsys):
    torch.save({"w": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ss.DataError, match=r"evil.pt: could not read a torch checkpoint with weights_only=True"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "unpickled!" not in capsys.readouterr().out
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ss.DataError, match=r"expected a state_dict \(parameter name -> tensor\); found list"):
        load_checkpoint(tmp_path / "list.pt")
