"""The bundled Open Bandit Dataset: loaders, integrity checks, and the Parquet train/valid split."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import samplescope.datasets as datasets
from samplescope.data.readers import read_table
from samplescope.datasets import obd
from samplescope.datasets.obd import OBD_CTR_FEATURES, OBD_SHA256, load_obd, obd_frame, obd_pooled, write_obd_files
from samplescope.errors import DataError

FILES = Path(obd.__file__).parent / "files" / "obd"


def test_public_names():
    assert sorted(datasets.__all__) == sorted(
        ["OBD_CAMPAIGNS", "OBD_CTR_FEATURES", "OBD_POLICIES", "load_obd", "obd_frame", "obd_pooled",
         "write_obd_files", "load_lambdarank_example", "load_mslr_5k"]
    )


def test_load_obd_ctr():
    ds = load_obd()
    assert (ds.n, ds.n_features) == (10000, 149)
    assert int(ds.y.sum()) == 38 and 0.003 < ds.y.mean() < 0.005
    assert set(np.unique(ds.y)) == {0.0, 1.0}
    np.testing.assert_array_equal(ds.ids, np.arange(10000))
    assert ds.weight is None and ds.group is None and ds.label_name == "click"
    names = ds.feature_names
    assert names[0] == "item_id=0" and names[79] == "item_id=79" and names[80:83] == ("position=1", "position=2", "position=3")
    assert "item_feature_0" in names and names[-1] == "affinity"
    assert not any(n.startswith(("user-item_affinity", "timestamp", "propensity")) for n in names)
    prefixes = {n.split("=")[0] for n in names}
    assert prefixes == set(OBD_CTR_FEATURES)
    # each one-hot block has exactly one 1 per row
    X = ds.dense()
    cat_cols = [j for j, n in enumerate(names) if n.startswith("user_feature_0=")]
    np.testing.assert_array_equal(X[:, cat_cols].sum(axis=1), 1)


def test_obd_frame_join_and_affinity():
    f = obd_frame("bts", "men")
    assert f.shape[0] == 10000 and int(f["click"].sum()) == 69
    for c in ("timestamp", "propensity_score", "item_feature_0", "item_feature_3", "affinity", "impression_id"):
        assert c in f.columns
    rows = np.arange(0, 10000, 997)
    expected = [f.loc[r, f"user-item_affinity_{f.loc[r, 'item_id']}"] for r in rows]
    np.testing.assert_array_equal(f.loc[rows, "affinity"], expected)
    assert (f["policy"] == "bts").all() and (f["campaign"] == "men").all()
    assert f["propensity_score"].between(0, 1).all()


def test_pooled():
    p = obd_pooled()
    assert p.shape[0] == 60000 and int(p["click"].sum()) == 287
    assert p["impression_id"].is_unique and p["impression_id"].iloc[0] == "random/all/0"
    assert p.groupby(["policy", "campaign"]).size().eq(10000).all()
    assert obd_frame("random", "pooled").shape[0] == 30000
    ds = load_obd("pooled", "pooled")
    assert ds.n == 60000 and int(ds.y.sum()) == 287
    assert "item_id=men:0" in ds.feature_names and "item_id=all:79" in ds.feature_names


@pytest.mark.parametrize("kwargs,pattern", [
    ({"policy": "greedy"}, r"unknown OBD policy 'greedy'; expected one of \['random', 'bts', 'pooled'\]"),
    ({"campaign": "kids"}, r"unknown OBD campaign 'kids'"),
])
def test_bad_choices(kwargs, pattern):
    with pytest.raises(DataError, match=pattern):
        obd_frame(**kwargs)
    with pytest.raises(DataError, match=pattern):
        load_obd(**kwargs)


def test_bad_feature_set():
    with pytest.raises(DataError, match="unknown OBD feature set 'raw'"):
        load_obd(features="raw")
    ds = load_obd("random", "men", features=["item_feature_0", "position"])
    assert ds.feature_names == ("item_feature_0", "position")  # raw columns as they are (numeric)


def test_sha_mismatch_hash_table(monkeypatch):
    monkeypatch.setitem(OBD_SHA256, "random/men/men.csv", "0" * 64)
    with pytest.raises(DataError, match=r"random/men/men.csv: sha256 of the bundled OBD file does not match"):
        obd_frame("random", "men")


def test_sha_mismatch_tampered_copy(tmp_path, monkeypatch):
    root = tmp_path / "obd"
    shutil.copytree(FILES, root)
    target = root / "random" / "women" / "women.csv.gz"
    raw = gzip.decompress(target.read_bytes()).replace(b",0,", b",1,", 1)  # flip one value
    target.write_bytes(gzip.compress(raw))
    monkeypatch.setattr(obd, "_ROOT", root)
    assert obd_frame("random", "men").shape[0] == 10000  # untouched files still verify
    with pytest.raises(DataError, match=r"random/women/women.csv: sha256 .* does not match"):
        load_obd("random", "women")
    target.unlink()
    with pytest.raises(DataError, match=r"random/women/women.csv.gz: bundled OBD file not found"):
        obd_frame("random", "women")


def test_write_obd_files(tmp_path):
    out = tmp_path / "split"
    tr_path, va_path = write_obd_files(out, "random", "all")
    assert sorted(p.name for p in out.iterdir()) == ["obd_random_all_train.parquet", "obd_random_all_valid.parquet"]
    tr_df, va_df = pd.read_parquet(tr_path), pd.read_parquet(va_path)
    assert list(tr_df.columns) == ["impression_id", *OBD_CTR_FEATURES, "click"]
    assert (len(tr_df), len(va_df)) == (8000, 2000)
    ts = pd.to_datetime(obd_frame()["timestamp"], utc=True)
    assert ts[tr_df["impression_id"]].max() <= ts[va_df["impression_id"]].min()
    assert not pd.api.types.is_numeric_dtype(tr_df["item_id"])  # raw categorical text
    train = read_table(tr_path, label="click", id="impression_id")
    valid = read_table(va_path, label="click", id="impression_id", encoder=train.encoder)
    assert valid.feature_names == train.feature_names and valid.n == 2000
    full = load_obd()
    np.testing.assert_array_equal(full.encoder.transform(tr_df), full.X[tr_df["impression_id"].to_numpy()])


def test_write_obd_files_is_atomic(tmp_path, monkeypatch):
    def boom(self, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        write_obd_files(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bundled_files_match_readme():
    readme = (FILES / "README.md").read_text()
    table = dict(re.findall(r"^\| (\S+\.csv) \|.*\| ([0-9a-f]{64}) \|$", readme, flags=re.M))
    assert table == OBD_SHA256
    total = sum(p.stat().st_size for p in FILES.rglob("*") if p.is_file())
    assert total < 3_000_000
    assert sorted(str(p.relative_to(FILES))[:-3] for p in FILES.rglob("*.csv.gz")) == sorted(OBD_SHA256)
