"""``stream_score(checkpoint_dir=...)``: an interrupted streamed run leaves no output, and a rerun skips the passes
and chunks already done and writes exactly the values of an uninterrupted run; other runs' checkpoints are
ignored with a warning; a source that changed under a checkpoint is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread, no spin-waiting

import samplescope as ss  # noqa: E402
from conftest import make_problem  # noqa: E402
from samplescope import streaming  # noqa: E402
from samplescope.examples.torch_models import MLP  # noqa: E402
from samplescope.methods import trak  # noqa: E402
from samplescope.models.torch_adapter import TorchModel  # noqa: E402
from samplescope.result import ImportanceResult  # noqa: E402
from samplescope.streaming import ParquetSource, stream_score  # noqa: E402
from tolerances import TORCH, close  # noqa: E402

CASES = [("grad_norm", {}, False), ("tracin", {"learning_rate": 0.5}, True), ("trak", {"proj_dim": 5}, True),
         ("trak", {"proj_dim": 5}, False), ("influence", {"damping": 0.1}, True),
         ("influence", {"damping": 0.1, "solver": "arnoldi"}, False)]
N, ROWS = 50, 13  # chunks of 13, 13, 13, 11 rows


@pytest.fixture(scope="module")
def problem():
    train, valid = make_problem("binary", n=N, n_valid=12, ids=True, seed=1)
    m = TorchModel(MLP(3, hidden=(4,)).double(), "logloss", weight_decay=0.1, batch_size=16, curvature="ggn")
    return m, train, valid


@pytest.fixture
def counts(monkeypatch):
    """Rows valued by the per-chunk function, and global passes (trak kernels, influence solves)."""
    seen = {"rows": [], "passes": 0}
    plan, kernel, solve = streaming._plan, trak.kernel, streaming._influence

    def counted_plan(*a, **k):
        fn = plan(*a, **k)
        return lambda d: (seen["rows"].append(d.n), fn(d))[1]

    def counted(f):
        return lambda *a, **k: (seen.__setitem__("passes", seen["passes"] + 1), f(*a, **k))[1]

    monkeypatch.setattr(streaming, "_plan", counted_plan)
    monkeypatch.setattr(trak, "kernel", counted(kernel))
    monkeypatch.setattr(streaming, "_influence", counted(solve))
    return seen


def _stop_after(k):
    done = []

    def progress(n):
        done.append(n)
        if len(done) == k:
            raise KeyboardInterrupt
    return progress


def _runs(ck):
    return sorted(p.name for p in ck.iterdir()) if ck.exists() else []


@pytest.mark.parametrize("method,params,with_valid", CASES)
def test_an_interrupted_run_resumes_exactly(problem, tmp_path, counts, method, params, with_valid):
    m, train, valid = problem
    v, ck, out = (valid if with_valid else None), tmp_path / "ck", tmp_path / "s.parquet"
    run = dict(valid=v, batch_rows=ROWS, **params)
    out.write_bytes(b"previous good file")
    with pytest.raises(KeyboardInterrupt):
        stream_score(method, m, train, out=out, checkpoint_dir=ck, progress=_stop_after(2), **run)
    assert out.read_bytes() == b"previous good file" and _runs(tmp_path) == ["ck", "s.parquet"]
    (folder,) = ck.iterdir()
    assert sorted(p.name for p in folder.glob("chunk-*")) == ["chunk-000000.npz", "chunk-000001.npz"]
    multi = method in ("trak", "influence")
    assert (folder / "state.npz").is_file() == multi and counts["passes"] == multi

    counts["rows"].clear()
    counts["passes"] = 0
    ticks = []
    stream_score(method, m, train, out=out, checkpoint_dir=ck, progress=ticks.append, **run)
    assert counts["rows"] == [13, 11] and counts["passes"] == 0  # chunks 0, 1 and the passes were not redone
    assert sum(ticks) == N and _runs(ck) == []  # the run's checkpoint is removed at the end
    got = ImportanceResult.read_parquet(out)
    np.testing.assert_array_equal(got.ids, train.ids)
    assert got.method == method and got.params["streamed"]

    ref = ImportanceResult.read_parquet(stream_score(method, m, train, out=tmp_path / "ref.parquet", **run))
    if (method, with_valid) == ("trak", False):  # a checkpoint stores M⁻¹: equal to the closure up to rounding
        close(got.values, ref.values, TORCH["autograd"])
        ref = ImportanceResult.read_parquet(
            stream_score(method, m, train, out=tmp_path / "ref.parquet", checkpoint_dir=tmp_path / "ck2", **run))
    np.testing.assert_array_equal(got.values, ref.values)
    assert got.data_fingerprint == ref.data_fingerprint and got.model_fingerprint == ref.model_fingerprint


def test_another_runs_checkpoint_is_ignored_with_a_warning(problem, tmp_path, counts):
    m, train, valid = problem
    ck, out = tmp_path / "ck", tmp_path / "s.parquet"
    with pytest.raises(KeyboardInterrupt):
        stream_score("tracin", m, train, out=out, valid=valid, batch_rows=ROWS, checkpoint_dir=ck,
                     progress=_stop_after(3), learning_rate=0.5)
    (other,) = _runs(ck)
    counts["rows"].clear()
    with pytest.warns(UserWarning, match=rf"{other} \(differs in params\) belong to another run.*starts from scratch"):
        stream_score("tracin", m, train, out=out, valid=valid, batch_rows=ROWS, checkpoint_dir=ck, learning_rate=0.25)
    assert counts["rows"] == [13, 13, 13, 11] and _runs(ck) == [other]  # all recomputed; the other left alone
    ref = stream_score("tracin", m, train, out=tmp_path / "r.parquet", valid=valid, batch_rows=ROWS,
                       learning_rate=0.25)
    np.testing.assert_array_equal(ImportanceResult.read_parquet(out).values,
                                  ImportanceResult.read_parquet(ref).values)

    m2 = TorchModel(MLP(3, hidden=(4,)).double(), "logloss", weight_decay=0.2, batch_size=16, curvature="ggn")
    with pytest.warns(UserWarning, match=r"differs in model\)"):
        stream_score("tracin", m2, train, out=out, valid=valid, batch_rows=ROWS, checkpoint_dir=ck, learning_rate=0.5)
    with pytest.warns(UserWarning, match=r"differs in batch_rows\)"):
        stream_score("tracin", m, train, out=out, valid=valid, batch_rows=7, checkpoint_dir=ck, learning_rate=0.5)


def test_a_source_that_changed_under_its_checkpoint_is_refused(problem, tmp_path, counts):
    m, train, _ = problem
    chunks = [train.subset(np.arange(s, min(s + ROWS, N))) for s in range(0, N, ROWS)]
    ck = tmp_path / "ck"
    with pytest.raises(KeyboardInterrupt):  # a plain list of chunks: keyed by its first chunk
        stream_score("grad_norm", m, chunks, out=tmp_path / "s.parquet", checkpoint_dir=ck, progress=_stop_after(2))
    changed = chunks[:1] + [ss.Dataset(X=chunks[1].X + 1, y=chunks[1].y, ids=chunks[1].ids)] + chunks[2:]
    with pytest.raises(ss.DataError, match=r"chunk 1 of the source differs from the one checkpointed in .*"
                                           r"the checkpoint was removed, run again"):
        stream_score("grad_norm", m, changed, out=tmp_path / "s.parquet", checkpoint_dir=ck)
    assert _runs(ck) == [] and not (tmp_path / "s.parquet").exists()
    counts["rows"].clear()  # a one-shot iterator works too (its first chunk is put back)
    stream_score("grad_norm", m, iter(changed), out=tmp_path / "s.parquet", checkpoint_dir=ck)
    assert counts["rows"] == [13, 13, 13, 11] and _runs(ck) == []


def test_parquet_sources_resume_and_a_rewritten_file_is_another_source(problem, tmp_path, counts):
    m, train, valid = problem
    df = pd.DataFrame(train.X, columns=["a", "b", "c"]).assign(y=train.y, rid=train.ids)
    df.to_parquet(tmp_path / "t.parquet", row_group_size=7)
    src = ParquetSource(tmp_path / "t.parquet", label="y", features=["a", "b", "c"], id="rid", batch_rows=ROWS)
    ck, out = tmp_path / "ck", tmp_path / "s.parquet"
    with pytest.raises(KeyboardInterrupt):
        stream_score("tracin", m, src, out=out, valid=valid, checkpoint_dir=ck, progress=_stop_after(3),
                     learning_rate=0.5)
    counts["rows"].clear()
    stream_score("tracin", m, src, out=out, valid=valid, checkpoint_dir=ck, learning_rate=0.5)
    assert counts["rows"] == [11]
    ref = ss.score("tracin", m, train, valid=valid, learning_rate=0.5)
    close(ImportanceResult.read_parquet(out).values, ref.values, TORCH["autograd"])
    with pytest.raises(KeyboardInterrupt):
        stream_score("grad_norm", m, src, out=out, checkpoint_dir=ck, progress=_stop_after(1))
    df.assign(a=df.a * 2).to_parquet(tmp_path / "t.parquet", row_group_size=7)
    with pytest.warns(UserWarning, match=r"differs in source\)"):
        stream_score("grad_norm", m, src, out=out, checkpoint_dir=ck)
    (tmp_path / "f").write_text("")
    with pytest.raises(ss.DataError, match="checkpoint_dir must be a folder; found a file"):
        stream_score("grad_norm", m, src, out=out, checkpoint_dir=tmp_path / "f")


def test_training_checkpoints_are_part_of_the_key(problem, tmp_path, counts):
    _, train, valid = problem
    net = MLP(3, hidden=(4,)).double()
    states = [{k: v + 0.1 * t for k, v in net.state_dict().items()} for t in range(2)]
    m = TorchModel(net, "logloss", weight_decay=0.1, batch_size=16, checkpoints=[(s, 0.5) for s in states])
    ck, out = tmp_path / "ck", tmp_path / "s.parquet"
    with pytest.raises(KeyboardInterrupt):
        stream_score("trak", m, train, out=out, valid=valid, batch_rows=ROWS, checkpoint_dir=ck,
                     progress=_stop_after(1), proj_dim=5)
    assert counts["passes"] == 2  # one kernel per training checkpoint
    m.checkpoints = [(states[0], 0.5), (states[0], 0.5)]
    with pytest.warns(UserWarning, match=r"differs in checkpoints\)"):
        stream_score("trak", m, train, out=out, valid=valid, batch_rows=ROWS, checkpoint_dir=ck, proj_dim=5)
    m.checkpoints = [(s, 0.5) for s in states]
    counts["rows"].clear()
    counts["passes"] = 0
    stream_score("trak", m, train, out=out, valid=valid, batch_rows=ROWS, checkpoint_dir=ck, proj_dim=5)
    assert counts["rows"] == [13, 13, 11] and counts["passes"] == 0
    ref = stream_score("trak", m, train, out=tmp_path / "r.parquet", valid=valid, batch_rows=ROWS, proj_dim=5)
    np.testing.assert_array_equal(ImportanceResult.read_parquet(out).values,
                                  ImportanceResult.read_parquet(ref).values)


def test_a_damaged_chunk_is_valued_again_and_a_failed_run_leaves_nothing(problem, tmp_path, counts):
    m, train, _ = problem
    ck, out = tmp_path / "ck", tmp_path / "s.parquet"
    with pytest.raises(KeyboardInterrupt):
        stream_score("grad_norm", m, train, out=out, checkpoint_dir=ck, batch_rows=ROWS, progress=_stop_after(2))
    (folder,) = ck.iterdir()
    (folder / "chunk-000001.npz").write_text("not a checkpoint")  # e.g. a disk that filled up
    counts["rows"].clear()
    with pytest.warns(UserWarning, match="unreadable checkpointed chunk; valuing chunk 1 again"):
        got = stream_score("grad_norm", m, train, out=out, checkpoint_dir=ck, batch_rows=ROWS)
    assert counts["rows"] == [13, 13, 11]  # chunk 0 from the checkpoint, 1 again, 2 and 3 new
    close(ImportanceResult.read_parquet(got).values, ss.score("grad_norm", m, train).values, TORCH["autograd"])
    with pytest.raises(ss.MethodError):  # refused before anything is computed: no folder left behind
        stream_score("tracin", m, train, out=tmp_path / "t.parquet", checkpoint_dir=ck, batch_rows=ROWS)
    assert list(ck.iterdir()) == []
