"""The result object: Parquet round trip with metadata, ordering helpers, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import samplescope as ss
from samplescope.errors import DataError
from samplescope.result import ImportanceResult, atomic_write


def make_result(has_ids=True, extras=True) -> ImportanceResult:
    values = np.array([0.3, -1.2, 0.0, 2.5, -0.7, 0.3])
    ids = np.array(["u6", "u5", "u4", "u3", "u2", "u1"]) if has_ids else np.arange(6)
    return ImportanceResult(
        values=values, ids=ids, method="influence", family="loss", target="validation",
        params={"damping": 0.0, "seed": np.int64(3), "model.c": 1.0, "shape": (2, 3), "obj": object},
        model_fingerprint="abcd1234abcd1234", data_fingerprint="0123456789abcdef", seconds=0.25,
        has_ids=has_ids, extras={"raw": values * 2} if extras else {},
    )


@pytest.mark.parametrize("has_ids", [True, False])
def test_parquet_round_trip(tmp_path, has_ids):
    r = make_result(has_ids=has_ids)
    path = r.to_parquet(tmp_path / "scores.parquet")
    assert path == tmp_path / "scores.parquet" and path.exists()
    back = ImportanceResult.read_parquet(path)
    np.testing.assert_array_equal(back.values, r.values)
    np.testing.assert_array_equal(back.ids, r.ids)
    np.testing.assert_array_equal(back.extras["raw"], r.extras["raw"])
    assert back.has_ids == has_ids
    assert back.metadata() == r.metadata()
    assert back.params == {"damping": 0.0, "seed": 3, "model.c": 1.0, "shape": [2, 3], "obj": repr(object)}
    assert (back.method, back.family, back.target, back.seconds) == ("influence", "loss", "validation", 0.25)
    # the file is a plain table: row, [id], importance, extras; metadata as JSON under 'samplescope'
    table = pq.read_table(path)
    assert table.column_names == (["row", "id"] if has_ids else ["row"]) + ["importance", "raw"]
    meta = json.loads(table.schema.metadata[b"samplescope"])
    assert meta["method"] == "influence" and meta["positive_means"] == "helpful"
    assert b"pandas" not in table.schema.metadata


def test_round_trip_of_a_real_score(tmp_path, binary):
    train, valid = binary
    r = ss.score("newton_loo", ss.fit_model("logistic", train), train, valid=valid)
    back = ImportanceResult.read_parquet(r.to_parquet(tmp_path / "s.parquet"))
    np.testing.assert_array_equal(back.values, r.values)
    assert back.metadata() == json.loads(json.dumps(r.metadata()))
    assert back.params["model.model"] == "logistic" and back.params["seed"] == 0


def test_to_pandas_columns_and_row_order():
    r = make_result()
    df = r.to_pandas()
    assert list(df.columns) == ["row", "id", "importance", "raw"]
    np.testing.assert_array_equal(df["row"], np.arange(6))
    np.testing.assert_array_equal(df["id"], r.ids)
    assert df.attrs["samplescope"]["method"] == "influence"
    assert "id" not in make_result(has_ids=False).to_pandas().columns
    assert len(r) == 6 and "influence" in repr(r)


def test_top_and_bottom_order():
    r = make_result()
    top = r.top(3)
    assert list(top["importance"]) == [2.5, 0.3, 0.3]
    assert list(top["row"]) == [3, 0, 5]  # ties keep row order (stable)
    bottom = r.bottom(2)
    assert list(bottom["importance"]) == [-1.2, -0.7] and list(bottom["id"]) == ["u5", "u2"]
    assert len(r.top(100)) == 6
    # never re-sorts the result itself
    np.testing.assert_array_equal(r.values, [0.3, -1.2, 0.0, 2.5, -0.7, 0.3])


def test_read_parquet_errors(tmp_path):
    with pytest.raises(DataError, match="missing.parquet: file not found"):
        ImportanceResult.read_parquet(tmp_path / "missing.parquet")
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), plain)
    with pytest.raises(DataError, match="not a samplescope scores file"):
        ImportanceResult.read_parquet(plain)


def test_write_into_missing_directory(tmp_path):
    with pytest.raises(DataError, match="directory .* does not exist"):
        make_result().to_parquet(tmp_path / "nope" / "s.parquet")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "scores.parquet"
    make_result().to_parquet(path)
    before = path.read_bytes()
    seen = []

    def broken(table, where, *args, **kwargs):
        seen.append(where)
        with open(where, "wb") as fh:  # a partial file at the temporary path...
            fh.write(b"PAR1 partial")
        raise OSError("disk full")  # ...then the write fails

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        make_result(extras=False).to_parquet(path)
    assert seen and os.path.dirname(seen[0]) == str(tmp_path) and seen[0] != str(path)
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(os.listdir(tmp_path)) == ["scores.parquet"]  # and no temporary file remains
    monkeypatch.undo()
    assert "raw" in ImportanceResult.read_parquet(path).extras


def test_atomic_write_on_interrupt_and_success(tmp_path):
    path = tmp_path / "f.bin"

    def interrupted(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert os.listdir(tmp_path) == []
    assert atomic_write(path, lambda tmp: Path(tmp).write_bytes(b"done")) == path
    assert path.read_bytes() == b"done" and os.listdir(tmp_path) == ["f.bin"]


def test_result_is_frozen():
    r = make_result()
    with pytest.raises(AttributeError):
        r.method = "loo"  # type: ignore[misc]
    assert isinstance(r.to_pandas(), pd.DataFrame)
