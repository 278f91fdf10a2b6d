"""Ranking datasets: the bundled LightGBM lambdarank example and MSLR-WEB 5k fetched from a PyPI sdist.

Everything runs offline: the network fetch is replaced by a function that fails (or serves a fake sdist
built here), and the cache lives in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import samplescope.datasets as datasets
from samplescope.data.readers import read_libsvm
from samplescope.datasets import cache, lambdarank, mslr
from samplescope.datasets.lambdarank import load_lambdarank_example
from samplescope.datasets.mslr import load_mslr_5k
from samplescope.errors import DataError

SHARED = Path("/work/shared/data")
LGB_DIR = SHARED / "lightgbm_lambdarank_example"
MSLR_DIR = SHARED / "mslr_web_5k"
BUNDLED = Path(lambdarank.__file__).parent / "files" / "lightgbm_lambdarank"
REAL_FETCH = cache.fetch  # taken before the autouse fixture replaces it; used only on file:// URLs


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test touches the network or the user's cache."""
    calls = []

    def no_network(url, **kw):
        calls.append(url)
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(cache, "fetch", no_network)
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    return calls


def _counts(y):
    return dict(zip(*[a.tolist() for a in np.unique(y, return_counts=True)]))


def _sizes(ds):
    return np.diff(ds.group_bounds)


def test_public_names():
    assert {"load_lambdarank_example", "load_mslr_5k"} <= set(datasets.__all__)
    assert datasets.load_mslr_5k is load_mslr_5k and datasets.load_lambdarank_example is load_lambdarank_example


# ------------------------------------------------------------------ lambdarank (bundled)
@pytest.mark.parametrize("split, n, n_groups, sizes, labels", [
    ("train", 3005, 201, (1, 15, 27), {0: 645, 1: 1211, 2: 858, 3: 222, 4: 69}),
    ("test", 768, 50, (6, 16, 24), {0: 206, 1: 256, 2: 252, 3: 44, 4: 10}),
])
def test_lambdarank_shapes(split, n, n_groups, sizes, labels):
    ds = load_lambdarank_example(split)
    assert (ds.n, ds.n_features) == (n, 300) and sp.issparse(ds.X)
    assert ds.name == f"lambdarank/rank.{split}" and ds.group_name == f"rank.{split}.query"
    assert _counts(ds.y) == labels
    s = _sizes(ds)
    assert len(s) == n_groups and (s.min(), int(np.median(s)), s.max()) == sizes
    np.testing.assert_array_equal(ds.group, np.repeat(np.arange(n_groups), s))
    np.testing.assert_array_equal(ds.ids, np.arange(n))
    assert 0 <= ds.X.data.min() and ds.X.data.max() <= 1
    assert (ds.encoder.n_features, ds.encoder.zero_based) == (300, False)


@pytest.mark.skipif(not LGB_DIR.is_dir(), reason="shared copy of the LightGBM example not present")
def test_lambdarank_matches_read_libsvm_on_the_original_files():
    ds = load_lambdarank_example("test")
    ref = read_libsvm(LGB_DIR / "rank.test", n_features=300, zero_based=False)
    assert (ds.X != ref.X).nnz == 0
    np.testing.assert_array_equal(ds.y, ref.y)
    np.testing.assert_array_equal(ds.group, ref.group)


def test_lambdarank_bundle_has_licence_and_gzipped_files():
    assert "MIT License" in (BUNDLED / "LICENSE").read_text() and "Microsoft" in (BUNDLED / "LICENSE").read_text()
    readme = (BUNDLED / "README.md").read_text()
    for rel, sha in lambdarank.LAMBDARANK_SHA256.items():
        assert (BUNDLED / f"{rel}.gz").is_file() and sha in readme


def test_lambdarank_sha_mismatch(monkeypatch):
    monkeypatch.setitem(lambdarank.LAMBDARANK_SHA256, "rank.test.query", "0" * 64)
    with pytest.raises(DataError, match=r"rank\.test\.query: sha256 .* expected 0{64}, found 36dca82b"):
        load_lambdarank_example("test")


def test_unknown_split():
    with pytest.raises(DataError, match=r"unknown lambdarank split 'valid'; expected one of \['train', 'test'\]"):
        load_lambdarank_example("valid")
    with pytest.raises(DataError, match=r"unknown MSLR split 'valid'"):
        load_mslr_5k("valid")


# ------------------------------------------------------------------ MSLR from a local copy
@pytest.mark.skipif(not MSLR_DIR.is_dir(), reason="shared copy of MSLR-WEB 5k not present")
@pytest.mark.parametrize("split, labels, qids, sizes", [
    ("train", {0: 2792, 1: 1458, 2: 665, 3: 55, 4: 30}, (1, 631), (18, 95, 308)),
    ("test", {0: 2847, 1: 1442, 2: 579, 3: 98, 4: 34}, (13, 643), (26, 119, 229)),
])
def test_mslr_from_source(offline, split, labels, qids, sizes):
    ds = load_mslr_5k(split, source=MSLR_DIR)
    assert (ds.n, ds.n_features) == (5000, 136) and ds.name == f"mslr_web_5k/msn1.fold1.{split}.5k.txt"
    assert _counts(ds.y) == labels
    s = _sizes(ds)
    assert len(s) == 43 and (s.min(), int(np.median(s)), s.max()) == sizes
    assert (ds.group[0], ds.group[-1]) == qids and ds.group_name == "qid"
    np.testing.assert_array_equal(ds.ids, np.arange(5000))
    assert offline == []  # no fetch attempted


def test_mslr_source_is_verified(tmp_path):
    (tmp_path / "msn1.fold1.test.5k.txt").write_text("2 qid:1 1:3\n")
    with pytest.raises(DataError, match=r"msn1\.fold1\.test\.5k\.txt: sha256 of the MSLR file .* expected 13d3c638"):
        load_mslr_5k("test", source=tmp_path)
    with pytest.raises(DataError, match=r"msn1\.fold1\.train\.5k\.txt: the MSLR file .* not found"):
        load_mslr_5k("train", source=tmp_path)
    with pytest.raises(DataError, match=r"source= must be a folder"):
        load_mslr_5k("test", source=tmp_path / "msn1.fold1.test.5k.txt")


def test_mslr_qid_rows_must_be_contiguous(monkeypatch, tmp_path):
    text = b"0 qid:1 1:1\n1 qid:2 1:2\n2 qid:1 1:3\n"
    (tmp_path / "msn1.fold1.test.5k.txt").write_bytes(text)
    monkeypatch.setitem(mslr.MSLR_SHA256, "msn1.fold1.test.5k.txt", hashlib.sha256(text).hexdigest())
    with pytest.raises(DataError, match=r"rows of each qid must be contiguous; found qid 1 again at row 2"):
        load_mslr_5k("test", source=tmp_path)


# ------------------------------------------------------------------ MSLR through the cache (fake sdist)
FAKE = {
    "train": b"2 qid:1 1:3 2:3 136:0.5\n0 qid:1 1:1\n1 qid:7 2:2\n",
    "test": b"0 qid:13 1:1\n4 qid:13 3:1\n3 qid:20 136:1\n1 qid:21 5:2\n",
}


@pytest.fixture
def fake_sdist(monkeypatch, tmp_path):
    """A rankeval-0.8.2.tar.gz with the two members (tiny contents), pinned in the loader's tables."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member in ("rankeval-0.8.2/setup.py", *(f"{mslr.MSLR_MEMBER_DIR}/{f}" for f in mslr.MSLR_FILES.values())):
            split = next((s for s, f in mslr.MSLR_FILES.items() if member.endswith(f)), None)
            data = FAKE[split] if split else b"# not needed\n"
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    path = tmp_path / "rankeval-0.8.2.tar.gz"
    path.write_bytes(raw)
    monkeypatch.setattr(mslr, "MSLR_SDIST", dataclasses.replace(
        mslr.MSLR_SDIST, url=path.as_uri(), sha256=hashlib.sha256(raw).hexdigest()))
    for split, f in mslr.MSLR_FILES.items():
        monkeypatch.setitem(mslr.MSLR_SHA256, f, hashlib.sha256(FAKE[split]).hexdigest())
    return raw


def test_cache_round_trip(monkeypatch, tmp_path, fake_sdist):
    served = []

    def serve(url, **kw):
        served.append(url)
        return fake_sdist

    monkeypatch.setattr(cache, "fetch", serve)
    ds = load_mslr_5k("train")
    assert served == [mslr.MSLR_SDIST.url]
    assert (ds.n, ds.n_features) == (3, 136) and ds.X[0, 135] == 0.5
    np.testing.assert_array_equal(ds.group, [1, 1, 7])
    folder = tmp_path / "cache" / "mslr_web_5k"
    assert sorted(p.name for p in folder.iterdir()) == sorted(mslr.MSLR_FILES.values())  # no temp files left
    assert (folder / "msn1.fold1.test.5k.txt").read_bytes() == FAKE["test"]  # both stored by one download

    def offline(url, **kw):
        raise OSError("offline")

    monkeypatch.setattr(cache, "fetch", offline)  # populated cache: no network needed
    test = load_mslr_5k("test")
    np.testing.assert_array_equal(test.y, [0, 4, 3, 1])
    np.testing.assert_array_equal(test.group, [13, 13, 20, 21])


def test_cache_dir_argument_and_real_file_url(monkeypatch, tmp_path, fake_sdist):
    monkeypatch.setattr(cache, "fetch", REAL_FETCH)
    ds = load_mslr_5k("test", cache_dir=tmp_path / "elsewhere")  # urllib on a file:// URL, no network
    assert ds.n == 4 and (tmp_path / "elsewhere" / "mslr_web_5k" / "msn1.fold1.test.5k.txt").is_file()
    assert not (tmp_path / "cache").exists()


def test_network_failure_gives_the_hint(offline, tmp_path):
    with pytest.raises(DataError) as err:
        load_mslr_5k("train")
    msg = str(err.value)
    assert msg.startswith("could not fetch rankeval-0.8.2 from PyPI: https://files.pythonhosted.org/")
    assert "network disabled in tests" in msg and "https://pypi.org/simple/rankeval/" in msg
    assert "set SAMPLESCOPE_CACHE" in msg and "mslr_web_5k/msn1.fold1.train.5k.txt" in msg
    assert "rankeval-0.8.2/rankeval/test/data" in msg and "source=" in msg
    assert str(tmp_path / "cache" / "mslr_web_5k") in msg
    assert len(offline) == 2 and not (tmp_path / "cache").exists()


def test_index_fallback_when_recorded_url_fails(monkeypatch, fake_sdist):
    moved = "https://files.pythonhosted.org/packages/xx/rankeval-0.8.2.tar.gz"
    index = ('{"files": [{"filename": "rankeval-0.8.2.tar.gz", "url": "%s"}]}' % moved).encode()
    seen = []

    def serve(url, **kw):
        seen.append(url)
        if url == mslr.MSLR_SDIST.index_url:
            assert kw.get("accept") == "application/vnd.pypi.simple.v1+json"
            return index
        if url == moved:
            return fake_sdist
        raise OSError("HTTP Error 404: Not Found")

    monkeypatch.setattr(cache, "fetch", serve)
    assert load_mslr_5k("test").n == 4
    assert seen == [mslr.MSLR_SDIST.url, mslr.MSLR_SDIST.index_url, moved]


def test_sdist_and_member_sha_mismatch(monkeypatch, fake_sdist):
    monkeypatch.setattr(cache, "fetch", lambda url, **kw: fake_sdist)
    good = mslr.MSLR_SDIST
    monkeypatch.setattr(mslr, "MSLR_SDIST", dataclasses.replace(good, sha256="f" * 64))
    with pytest.raises(DataError, match=r"sha256 of the downloaded rankeval-0\.8\.2\.tar\.gz does not match; "
                                        r"expected f{64}, found"):
        load_mslr_5k("test")
    monkeypatch.setattr(mslr, "MSLR_SDIST", good)
    monkeypatch.setitem(mslr.MSLR_SHA256, "msn1.fold1.test.5k.txt", "e" * 64)
    with pytest.raises(DataError, match=r"sha256 of member rankeval-0\.8\.2/rankeval/test/data/"
                                        r"msn1\.fold1\.test\.5k\.txt does not match; expected e{64}"):
        load_mslr_5k("test")


def test_corrupt_cached_file_is_fetched_again(monkeypatch, tmp_path, fake_sdist):
    folder = tmp_path / "cache" / "mslr_web_5k"
    folder.mkdir(parents=True)
    (folder / "msn1.fold1.test.5k.txt").write_bytes(b"garbage\n")
    (folder / "msn1.fold1.train.5k.txt").write_bytes(FAKE["train"])
    monkeypatch.setattr(cache, "fetch", lambda url, **kw: fake_sdist)
    with pytest.warns(UserWarning, match="cached file has the wrong sha256"):
        assert load_mslr_5k("test").n == 4
    assert (folder / "msn1.fold1.test.5k.txt").read_bytes() == FAKE["test"]


def test_cache_root(monkeypatch, tmp_path):
    assert cache.cache_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    monkeypatch.delenv(cache.CACHE_ENV)
    assert cache.cache_root() == Path.home() / ".cache" / "samplescope"
