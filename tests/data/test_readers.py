"""Readers and the feature encoder: every format, one-hot encoding, encoder reuse, and every bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from samplescope.data import readers
from samplescope.data.encoding import NA_CATEGORY, FeatureEncoder, LibSVMLayout
from samplescope.data.readers import from_arrays, from_frame, read_any, read_libsvm, read_table
from samplescope.errors import DataError


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "qid": [1, 1, 2, 2, 2, 3],
        "x": [0.5, 1.0, -2.0, 3.0, 0.0, 4.5],
        "cat": ["b", "a", "b", None, "c", "a"],
        "flag": [True, False, True, True, False, False],
        "w": [1.0, 2.0, 1.0, 1.0, 0.5, 1.0],
        "rid": [10, 11, 12, 13, 14, 15],
        "click": [0, 1, 0, 0, 1, 0],
    })


EXPECTED_NAMES = ("x", "cat=a", "cat=b", "cat=c", f"cat={NA_CATEGORY}", "flag=False", "flag=True")


def check_frame_dataset(ds, name):
    assert ds.name == name
    assert ds.feature_names == EXPECTED_NAMES
    assert ds.label_name == "click" and ds.group_name == "qid" and ds.weight_name == "w"
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(ds.weight, [1, 2, 1, 1, 0.5, 1])
    np.testing.assert_array_equal(ds.group, [1, 1, 2, 2, 2, 3])
    np.testing.assert_array_equal(ds.ids, [10, 11, 12, 13, 14, 15])
    X = ds.dense()
    np.testing.assert_array_equal(X[:, 0], [0.5, 1.0, -2.0, 3.0, 0.0, 4.5])
    np.testing.assert_array_equal(X[1], [1.0, 1, 0, 0, 0, 1, 0])  # cat=a, flag=False
    np.testing.assert_array_equal(X[3], [3.0, 0, 0, 0, 1, 0, 1])  # missing cat -> <NA>
    assert isinstance(ds.encoder, FeatureEncoder)


# ----------------------------------------------------------------- formats
@pytest.mark.parametrize("fname", ["train.csv", "train.csv.gz", "train.tsv", "train.parquet", "train.pq"])
def test_read_table_formats(tmp_path, fname):
    df = frame()
    path = tmp_path / fname
    if fname.endswith((".parquet", ".pq")):
        df.to_parquet(path)
    else:
        df.to_csv(path, sep="\t" if ".tsv" in fname else ",", index=True)  # leading unnamed index column
    ds = read_table(path, label="click", group="qid", weight="w", id="rid")
    check_frame_dataset(ds, fname)


def test_from_frame_pandas_polars_and_lazy():
    pl = pytest.importorskip("polars")
    for obj in (frame(), pl.from_pandas(frame()), pl.from_pandas(frame()).lazy()):
        ds = from_frame(obj, label="click", group="qid", weight="w", id="rid", name="f")
        check_frame_dataset(ds, "f")


def test_features_and_exclude():
    df = frame()
    ds = from_frame(df, label="click", features=["cat", "x"])
    assert ds.feature_names == ("cat=a", "cat=b", "cat=c", f"cat={NA_CATEGORY}", "x")
    ds = from_frame(df, label="click", exclude=["qid", "w", "rid", "flag"])
    assert ds.feature_names == EXPECTED_NAMES[:5]
    assert ds.group is None and ds.weight is None and ds.ids is None


def test_categories_sorted_numerically_and_bool_label():
    df = pd.DataFrame({"pos": ["10", "2", "1", "2"], "y": [True, False, False, True]})
    ds = from_frame(df, label="y")
    assert ds.feature_names == ("pos=1", "pos=2", "pos=10")
    np.testing.assert_array_equal(ds.y, [1, 0, 0, 1])
    np.testing.assert_array_equal(ds.X.argmax(axis=1), [2, 1, 0, 1])


def test_encoder_reuse_for_validation(tmp_path):
    train = read_table(_csv(tmp_path / "train.csv", frame()), label="click", group="qid", weight="w", id="rid")
    valid_df = frame().iloc[::-1][["click", "flag", "cat", "x"]].copy()  # other column and row order
    valid_df["extra"] = 7.0  # ignored: not a training column
    valid = read_table(_csv(tmp_path / "valid.csv", valid_df), label="click", encoder=train.encoder)
    assert valid.feature_names == train.feature_names == EXPECTED_NAMES
    assert valid.encoder is train.encoder
    np.testing.assert_array_equal(valid.dense(), train.dense()[::-1])


def test_unseen_category_encodes_to_zeros():
    enc = FeatureEncoder().fit(pd.DataFrame({"c": ["a", "b"], "x": [1, 2]}))
    X = enc.transform(pd.DataFrame({"c": ["zzz", "b", None], "x": [3, 4, 5]}))
    np.testing.assert_array_equal(X, [[0, 0, 3], [0, 1, 4], [0, 0, 5]])  # no <NA> seen in training


def test_sparse_rule():
    n = 3000
    df = pd.DataFrame({"u": [f"user{i}" for i in range(n)], "x": np.arange(n, dtype=float)})
    enc = FeatureEncoder().fit(df)
    assert enc.sparse_ and enc.n_features_ == n + 1  # width > 1000 and density 2/3001 < 10 %
    X = enc.transform(df)
    assert sp.isspmatrix_csr(X) and X.nnz == 2 * n - 1  # x=0 in row 0 is not stored
    np.testing.assert_array_equal(X[:, -1].toarray().ravel(), df["x"])
    ds = from_frame(df.assign(y=0.0), label="y")
    assert sp.issparse(ds.X) and ds.n_features == n + 1
    small = FeatureEncoder().fit(frame())
    assert not small.sparse_
    forced = FeatureEncoder(sparse=True).fit(frame())
    np.testing.assert_array_equal(forced.transform(frame()).toarray(), small.transform(frame()))
    wide_dense = pd.DataFrame(np.ones((2, 1200)), columns=[f"f{j}" for j in range(1200)])
    assert not FeatureEncoder().fit(wide_dense).sparse_  # wide but all numeric: dense


def test_from_arrays_dense_sparse():
    X = np.arange(12.0).reshape(6, 2)
    ds = from_arrays(X, np.zeros(6), group=[0, 0, 1, 1, 2, 2], weight=np.ones(6), ids=list("abcdef"),
                     feature_names=["a", "b"])
    assert ds.n == 6 and ds.feature_names == ("a", "b") and ds.ids[0] == "a" and ds.name == "arrays"
    sds = from_arrays(sp.coo_matrix(X), pd.Series(np.ones(6)), name="sp")
    assert sp.isspmatrix_csr(sds.X) and sds.name == "sp"
    with pytest.raises(DataError, match="arrays: label"):
        from_arrays(X, np.zeros(5))


# ----------------------------------------------------------------- libsvm
LIBSVM_QID = """2 qid:1 1:0.5 3:1.0
1 qid:1 2:2.0
0 qid:2 1:1.5 # a comment
1 qid:2 3:-1
0 qid:3 2:1
"""


def test_read_libsvm_qid_one_based(tmp_path):
    p = tmp_path / "rank.svm"
    p.write_text(LIBSVM_QID)
    ds = read_libsvm(p)
    assert sp.isspmatrix_csr(ds.X) and ds.X.shape == (5, 3) and ds.name == "rank.svm"
    np.testing.assert_array_equal(ds.group, [1, 1, 2, 2, 3])
    np.testing.assert_array_equal(ds.y, [2, 1, 0, 1, 0])
    np.testing.assert_array_equal(ds.dense()[0], [0.5, 0, 1.0])  # index 1 -> column 0
    assert isinstance(ds.encoder, LibSVMLayout) and not ds.encoder.zero_based
    wide = read_libsvm(p, n_features=10, zero_based=True, name="w")
    assert wide.X.shape == (5, 10) and wide.dense()[0, 1] == 0.5 and wide.name == "w"
    with pytest.raises(DataError, match=r"rank.svm: expected at most 2 features"):
        read_libsvm(p, n_features=2)


def test_read_libsvm_zero_based_no_groups(tmp_path):
    p = tmp_path / "a.libsvm"
    p.write_text("1 0:1 2:3\n0 1:2\n")
    ds = read_libsvm(p)
    assert ds.group is None and ds.X.shape == (2, 3) and ds.encoder.zero_based
    with pytest.raises(DataError, match="a.libsvm: one-based"):
        read_libsvm(p, zero_based=False)


def test_read_libsvm_query_side_file_and_read_any(tmp_path):
    train, valid = tmp_path / "rank.train", tmp_path / "rank.test"
    train.write_text("1 1:1 2:1\n0 1:2\n2 2:3\n0 1:1\n1 3:1\n")
    (tmp_path / "rank.train.query").write_text("2\n3\n")
    valid.write_text("1 1:1\n0 2:1\n")
    tr = read_any(train, label="ignored-for-libsvm")
    np.testing.assert_array_equal(tr.group, [0, 0, 1, 1, 1])
    assert tr.group_name == "rank.train.query" and tr.X.shape == (5, 3)
    va = read_any(valid, encoder=tr.encoder)
    assert va.X.shape == (2, 3) and va.group is None
    (tmp_path / "rank.train.query").write_text("2\n2\n")
    with pytest.raises(DataError, match=r"rank.train.query: group sizes must sum to the 5 rows of rank.train"):
        read_libsvm(train)
    (tmp_path / "rank.train.query").write_text("2\nthree\n")
    with pytest.raises(DataError, match="rank.train.query: expected one integer"):
        read_libsvm(train)


def test_read_any_dispatch_and_mismatch(tmp_path):
    csv = _csv(tmp_path / "t.csv", frame())
    svm = tmp_path / "t.svm"
    svm.write_text("1 1:1\n")
    assert read_any(csv, label="click").feature_names == read_table(csv, label="click").feature_names
    with pytest.raises(DataError, match=r"t.svm: .*found \['group'\]"):
        read_any(svm, group="qid")
    with pytest.raises(DataError, match="t.svm: is a LibSVM file but the training data was a table"):
        read_any(svm, encoder=FeatureEncoder().fit(frame()))
    with pytest.raises(DataError, match="t.csv: is a table but the training data was a LibSVM"):
        read_any(csv, label="click", encoder=LibSVMLayout(3, True))
    with pytest.raises(DataError, match="t.csv: a table needs the name of its label column"):
        read_any(csv)


# ----------------------------------------------------------------- bad input
def _csv(path, df):
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kwargs,pattern", [
    ({"label": "clik"}, r"train.csv: expected label column 'clik'; .*close matches: \['click'\]"),
    ({"label": "click", "group": "qdi"}, r"train.csv: expected group column 'qdi'.*\['qid'\]"),
    ({"label": "click", "weight": "weight"}, r"train.csv: expected weight column 'weight'"),
    ({"label": "click", "id": "rowid"}, r"train.csv: expected id column 'rowid'.*\['rid'\]"),
    ({"label": "click", "features": ["x", "kat"]}, r"train.csv: expected feature column 'kat'.*\['cat'\]"),
    ({"label": "click", "exclude": ["nope"]}, r"train.csv: expected excluded column 'nope'"),
    ({"label": "click", "features": ["x", "click"]}, r"train.csv: feature column\(s\) \['click'\] are also"),
    ({"label": "click", "features": []}, r"train.csv: expected at least one feature column"),
    ({"label": "cat"}, r"train.csv: label column 'cat' must have a value in every row; .* first at row 3"),
    ({"label": "click", "group": "cat"}, r"train.csv: group column 'cat' must have a value in every row"),
])
def test_bad_columns(tmp_path, kwargs, pattern):
    path = _csv(tmp_path / "train.csv", frame())
    with pytest.raises(DataError, match=pattern):
        read_table(path, **kwargs)


def test_bad_label_values(tmp_path):
    df = frame().assign(lab=["yes", "no", "yes", "no", "no", "no"])
    with pytest.raises(DataError, match=r"train.csv: label column 'lab' must be numeric; .*\['yes', 'no'\]"):
        read_table(_csv(tmp_path / "train.csv", df), label="lab")
    df = frame().assign(click=[0, 1, np.nan, 0, 1, 0])
    with pytest.raises(DataError, match=r"train.csv: label column 'click' .* first at row 2"):
        read_table(_csv(tmp_path / "train.csv", df), label="click")


def test_bad_values_checked_by_dataset(tmp_path):
    df = frame().assign(w=[1.0, -1.0, 1, 1, 1, 1], qid=[1, 2, 1, 3, 3, 3])
    path = _csv(tmp_path / "train.csv", df)
    with pytest.raises(DataError, match=r"train.csv: weight column 'w' must be >= 0"):
        read_table(path, label="click", weight="w")
    with pytest.raises(DataError, match=r"train.csv: rows of each query group in 'qid' must be contiguous"):
        read_table(path, label="click", group="qid")
    with pytest.raises(DataError, match=r"train.csv: ids must be unique"):
        read_table(path, label="click", id="qid")


def test_bad_feature_values(tmp_path):
    df = frame().assign(x=[0.5, np.nan, 1, 1, 1, 1])
    with pytest.raises(DataError, match=r"train.csv: feature column 'x' must be finite.* first at row 1"):
        read_table(_csv(tmp_path / "train.csv", df), label="click")
    train = from_frame(frame(), label="click")
    bad = frame().assign(x=["1", "oops", "2", "3", "4", "5"])
    with pytest.raises(DataError, match=r"valid.csv: feature column 'x' must be numeric.*\['oops'\]"):
        read_table(_csv(tmp_path / "valid.csv", bad), label="click", encoder=train.encoder)
    ts = frame().assign(ts=pd.to_datetime(["2020-01-01"] * 6))
    with pytest.raises(DataError, match=r"frame: feature column 'ts' has dtype datetime64"):
        from_frame(ts, label="click")


def test_missing_column_in_validation(tmp_path):
    train = from_frame(frame().assign(x3=1.0), label="click", name="train.csv")
    path = _csv(tmp_path / "valid.csv", frame())
    with pytest.raises(DataError, match=r"valid.csv: missing feature column\(s\) \['x3'\] that the training data has"):
        read_table(path, label="click", encoder=train.encoder)
    with pytest.raises(DataError, match=r"valid.csv: feature columns \['x'\] differ from the encoder's"):
        read_table(path, label="click", features=["x"], encoder=train.encoder)


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv: data file not found"):
        read_table(tmp_path / "nope.csv", label="y")
    with pytest.raises(DataError, match=r"nope.svm: LibSVM file not found"):
        read_libsvm(tmp_path / "nope.svm")
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"data.xlsx: unknown table file extension; expected one of"):
        read_table(tmp_path / "data.xlsx", label="y")
    (tmp_path / "bad.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match=r"bad.parquet: could not read the file as Parquet"):
        read_table(tmp_path / "bad.parquet", label="y")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"bad.csv.gz: could not read the file as CSV"):
        read_table(tmp_path / "bad.csv.gz", label="y")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv: expected a header row .* found an empty file"):
        read_table(tmp_path / "empty.csv", label="y")
    (tmp_path / "header.csv").write_text("x,y\n")
    with pytest.raises(DataError, match=r"header.csv: expected at least one row; found an empty table"):
        read_table(tmp_path / "header.csv", label="y")
    (tmp_path / "bad.svm").write_text("1 a:b:c\n")
    with pytest.raises(DataError, match=r"bad.svm: could not read the file as LibSVM"):
        read_libsvm(tmp_path / "bad.svm")
    with gzip.open(tmp_path / "ok.csv.gz", "wt") as f:
        f.write("x,y\n1,0\n")
    assert read_table(tmp_path / "ok.csv.gz", label="y").n == 1


def test_public_names():
    assert set(readers.__all__) >= {"from_arrays", "from_frame", "read_any", "read_libsvm", "read_table"}
    with pytest.raises(DataError, match="expected a pandas or polars DataFrame; found list"):
        from_frame([[1, 2]], label="y")
