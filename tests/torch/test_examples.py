"""The reference models on their data: DeepFM on OBD clicks, a cross-encoder on product search, matrix
factorisation on MovieLens-100k (fetched from PyPI; skipped offline); and the MovieLens loader's checks."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread, no spin-waiting

import samplescope as ss  # noqa: E402
from samplescope.datasets import cache, movielens  # noqa: E402
from samplescope.examples.data import obd_ctr_codes, synthetic_search  # noqa: E402
from samplescope.examples.torch_models import CrossEncoder, DeepFM, MatrixFactorization, train_module  # noqa: E402
from samplescope.models.torch_adapter import TorchModel  # noqa: E402


def _sane(result, n):
    assert result.values.shape == (n,) and np.all(np.isfinite(result.values)) and np.ptp(result.values) > 0


def test_deepfm_on_obd_clicks_every_method():
    train, valid, cards = obd_ctr_codes("random", "all")
    train, valid = train.subset(np.arange(1500)), valid.subset(np.arange(300))
    m = TorchModel(DeepFM(cards, 2, dim=4, hidden=(8,)), "logloss", c=1 / train.n, weight_decay=1e-3,
                   curvature="ggn", batch_size=512)
    m = train_module(m, train, epochs=2, lr=2e-2, batch_size=256, snapshots=2)
    assert len(m.checkpoints) == 2 and set(m._tables) == {"first.weight", "embed.weight"}
    for name, kw in (("grad_norm", {}), ("tracin", {}), ("trak", {"proj_dim": 64}), ("el2n", {}),
                     ("influence", {"solver": "arnoldi", "iterations": 10, "damping": 1e-3})):
        _sane(ss.score(name, m, train, valid=None if name in ("grad_norm", "el2n") else valid, **kw), train.n)


def test_cross_encoder_on_product_search_with_ranking_objectives():
    data, vocab = synthetic_search(n_queries=12, items_per_query=6)
    assert data.group is not None and data.X.max() < len(vocab) + 4
    m = TorchModel(CrossEncoder(len(vocab) + 4, 16, dim=8, heads=2), "listnet", weight_decay=1e-3, batch_size=36,
                   curvature="ggn")
    m = train_module(m, data, epochs=3, lr=1e-2, batch_size=36, snapshots=1)
    valid = data.subset(np.arange(data.n - 12, data.n))
    for name, kw in (("grad_norm", {}), ("tracin", {}), ("trak", {"proj_dim": 32}),
                     ("influence", {"solver": "cg", "damping": 0.1, "iterations": 20})):
        _sane(ss.score(name, m, data, valid=None if name == "grad_norm" else valid, **kw), data.n)
    q = ss.score("tracin", m, data, valid=valid, unit="query")
    assert q.values.shape == (12,)


def _fake_wheel(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(f"recbole/dataset_example/ml-100k/{name}", data)
    return buf.getvalue()


def test_movielens_loader_verifies_and_caches(tmp_path, monkeypatch):
    files = {"ml-100k.inter": b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t5\t10\n2\t1\t4\t20\n"
                              b"1\t1\t2\t30\n",
             "ml-100k.user": b"user_id:token\tage:token\n1\t20\n2\t30\n",
             "ml-100k.item": b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                             b"1\tToy Story\t1995\tAnimation Comedy\n2\tHeat\t1995\tAction\n"}
    wheel = _fake_wheel(files)
    monkeypatch.setitem(movielens.MOVIELENS_WHEEL, "sha256", hashlib.sha256(wheel).hexdigest())
    monkeypatch.setattr(movielens, "MOVIELENS_SHA256", {k: hashlib.sha256(v).hexdigest() for k, v in files.items()})
    calls = []
    monkeypatch.setattr(cache, "fetch", lambda url, **kw: calls.append(url) or (
        b'{"files": []}' if "simple" in url else wheel))
    paths = movielens.movielens_files(cache_dir=tmp_path)
    assert paths["ml-100k.inter"].read_bytes() == files["ml-100k.inter"]
    n = len(calls)
    assert movielens.movielens_frame("item", cache_dir=tmp_path).movie_title.tolist() == ["Toy Story", "Heat"]
    assert len(calls) == n  # the second read needs no network
    monkeypatch.setattr(cache, "fetch", lambda url, **kw: b"not the wheel")
    (tmp_path / "movielens-100k" / "ml-100k.inter").write_bytes(b"changed")
    with pytest.raises(ss.DataError, match="sha256 of the downloaded recbole-1.2.1-py3-none-any.whl does not match"):
        movielens.movielens_files(cache_dir=tmp_path)


@pytest.fixture(scope="module")
def movielens_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    try:
        return movielens.load_movielens_implicit(cache_dir=folder), folder
    except ss.DataError as exc:  # no network and no cached copy
        pytest.skip(f"MovieLens-100k unavailable: {exc}")


def test_matrix_factorisation_on_movielens(movielens_data):
    (train, valid), folder = movielens_data
    assert train.n + valid.n == 110750 and train.X.max(axis=0).tolist() <= [942, 1681]
    rows = np.flatnonzero(train.X[:, 0] < 60)  # the first 60 users, to stay fast
    small = train.subset(rows)
    m = TorchModel(MatrixFactorization(943, 1682, dim=8), "logloss", c=1 / small.n, weight_decay=1e-4,
                   batch_size=1024)
    m = train_module(m, small, epochs=3, lr=5e-2, batch_size=512, snapshots=1)
    assert m.p == 943 * 8 + 1682 * 8 + 943 + 1682 + 1 and len(m._tables) == 4
    vrows = np.flatnonzero(valid.X[:, 0] < 60)[:200]
    for name, kw in (("grad_norm", {}), ("tracin", {}), ("trak", {"proj_dim": 64})):
        _sane(ss.score(name, m, small, valid=None if name == "grad_norm" else valid.subset(vrows), **kw), small.n)


def test_genre_search_over_movielens_titles(movielens_data):
    from samplescope.examples.data import movielens_genre_search

    data, vocab = movielens_genre_search(n_queries=6, items_per_query=8, cache_dir=movielens_data[1])
    assert data.n == 48 and len(np.unique(data.group)) == 6 and set(np.unique(data.y)) <= {0.0, 1.0}
    m = TorchModel(CrossEncoder(len(vocab) + 4, 24, dim=8), "ranknet", weight_decay=1e-3, batch_size=48)
    _sane(ss.score("grad_norm", m, data), data.n)
