"""The Open Bandit Dataset (small version), bundled: real ZOZOTOWN fashion-recommendation click logs.

Saito, Aihara, Matsutani, Narita, "Open Bandit Dataset and Pipeline: Towards Realistic and Reproducible
Off-Policy Evaluation", NeurIPS 2021 Datasets and Benchmarks (arXiv:2008.07146). Apache-2.0, from the
``obp`` 0.4.1 package; see ``files/obd/README.md`` for the source and the sha256 of each file.

Two logging policies (``random``, ``bts``) × three campaigns (``all``, ``men``, ``women``), 10,000
impressions each, about 0.4 % clicked. ``"pooled"`` for either argument means every value of it:
``obd_frame("pooled", "pooled")`` (= :func:`obd_pooled`) is all 60,000 rows.

* :func:`obd_frame` — the raw impressions joined with the item features, plus ``affinity`` (the
  user-item affinity of the item shown), ``impression_id``, ``policy`` and ``campaign``;
* :func:`load_obd` — a click-model :class:`~samplescope.data.dataset.Dataset` (label ``click``);
* :func:`write_obd_files` — a chronological train/valid split as Parquet files, for the CLI and demos.

Every read checks the sha256 of the decompressed bytes against :data:`OBD_SHA256`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tempfile
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from samplescope.data.dataset import Dataset
from samplescope.data.readers import from_frame
from samplescope.errors import DataError

__all__ = ["OBD_CAMPAIGNS", "OBD_CTR_FEATURES", "OBD_POLICIES", "OBD_SHA256",
           "load_obd", "obd_frame", "obd_pooled", "write_obd_files"]

OBD_POLICIES = ("random", "bts")
OBD_CAMPAIGNS = ("all", "men", "women")
#: The click-model features: one-hot for the first ten, numeric ``item_feature_0`` and ``affinity``.
OBD_CTR_FEATURES = (
    "item_id", "position", "user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3",
    "item_feature_0", "item_feature_1", "item_feature_2", "item_feature_3", "affinity",
)
_CTR_NUMERIC = ("item_feature_0", "affinity")

#: sha256 of each uncompressed CSV, as published with the data (files/obd/README.md).
OBD_SHA256 = {
    "random/all/all.csv": "7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1",
    "random/men/men.csv": "ede6d08c6877f99cd3770f7d09e26c738e6aa6de4445ccccfb1356ba5d06b1eb",
    "random/women/women.csv": "e65f3bd3beb17664fa69cc129bf7bf852a775f8ffa630506e505fc905315bb34",
    "bts/all/all.csv": "0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106",
    "bts/men/men.csv": "db6d1f7ed2d591ba521533e45286d4c1fba7fe57a8ad2e80342210335f43c527",
    "bts/women/women.csv": "e5d1b49a39b608585a2f3014a3f54970430cd37a495c1b73fceb85cdf428a5b8",
    "random/all/item_context.csv": "eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358",
    "random/men/item_context.csv": "6d855c2b7e917d0448d71bbe62c023147495882c0fdc8c41e86fef86abf9fe09",
    "random/women/item_context.csv": "b1ca4905f97703d196004f2ad4552c1e90c2afad8b50688d333b0d2dc0b33147",
    "bts/all/item_context.csv": "5d4359ba1cfa3ae88f0f1bae66bd633859fe6323817183632ee57b83539d9153",
    "bts/men/item_context.csv": "3b411ed6b0471316321a6b93f4f756bb25888eac6218cd71d0b603d41d85732d",
    "bts/women/item_context.csv": "a56295bad066a558eb783055afd9279f5f4e209a4776eafc22151c53f0ac89d4",
}

_ROOT = files("samplescope.datasets") / "files" / "obd"


# ------------------------------------------------------------------ reading
@lru_cache(maxsize=32)
def _read_verified(root, rel: str, sha: str | None) -> pd.DataFrame:
    path = root / (rel + ".gz")
    try:
        raw = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{rel}.gz: bundled OBD file not found under {root}; expected it in the "
                        f"installed package (reinstall samplescope)") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{rel}.gz: could not decompress the bundled OBD file; found {exc}") from None
    found = hashlib.sha256(raw).hexdigest()
    if found != sha:
        raise DataError(f"{rel}: sha256 of the bundled OBD file does not match; expected {sha}, "
                        f"found {found} (the file is corrupt or was modified)")
    return pd.read_csv(io.BytesIO(raw), index_col=0)


def _read(rel: str) -> pd.DataFrame:
    return _read_verified(_ROOT, rel, OBD_SHA256.get(rel)).copy()


def _choices(value: str, valid: Sequence[str], what: str) -> tuple[str, ...]:
    if value == "pooled":
        return tuple(valid)
    if value not in valid:
        raise DataError(f"unknown OBD {what} {value!r}; expected one of {list(valid) + ['pooled']}")
    return (value,)


def _one_file(policy: str, campaign: str) -> pd.DataFrame:
    rel = f"{policy}/{campaign}"
    df = _read(f"{rel}/{campaign}.csv")
    items = _read(f"{rel}/item_context.csv")
    ids = df.index.to_numpy()
    out = df.reset_index(drop=True).merge(items, on="item_id", how="left", validate="many_to_one")
    if out["item_feature_0"].isna().any():
        bad = sorted(set(df["item_id"]) - set(items["item_id"]))
        raise DataError(f"{rel}: every item_id must be in item_context.csv; found unknown item(s) {bad[:5]}")
    k = len(items)
    aff = out[[f"user-item_affinity_{j}" for j in range(k)]].to_numpy(dtype=np.float64)
    item = out["item_id"].to_numpy()
    if item.min() < 0 or item.max() >= k:
        raise DataError(f"{rel}: item_id must be in 0..{k - 1}; found {item.min()}..{item.max()}")
    out["affinity"] = aff[np.arange(len(out)), item]
    out.insert(0, "impression_id", ids)
    out["policy"] = policy
    out["campaign"] = campaign
    out.index = pd.Index(ids)
    return out


def obd_frame(policy: str = "random", campaign: str = "all") -> pd.DataFrame:
    """The raw OBD impressions of one logging policy and campaign, joined with the item features.

    Args:
        policy: ``"random"``, ``"bts"`` or ``"pooled"`` (both).
        campaign: ``"all"``, ``"men"``, ``"women"`` or ``"pooled"`` (all three).

    Returns:
        One row per impression, in file order: ``impression_id`` (the row index in the file; for more
        than one file the text ``"policy/campaign/row"``), the file's columns (``timestamp``,
        ``item_id``, ``position``, ``click``, ``propensity_score``, ``user_feature_0..3``,
        ``user-item_affinity_0..K-1``), ``item_feature_0..3``, ``affinity`` (the affinity of the user to
        the item shown), ``policy`` and ``campaign``. Pooled frames concatenate files in the order
        random/bts × all/men/women; affinity columns a campaign lacks are NaN there.

    Raises:
        DataError: an unknown policy or campaign, or a bundled file whose sha256 does not match.
    """
    pairs = [(p, c) for p in _choices(policy, OBD_POLICIES, "policy")
             for c in _choices(campaign, OBD_CAMPAIGNS, "campaign")]
    if len(pairs) == 1:
        return _one_file(*pairs[0])
    frames = [_one_file(p, c) for p, c in pairs]
    for f in frames:
        f["impression_id"] = f["policy"] + "/" + f["campaign"] + "/" + f["impression_id"].astype(str)
    out = pd.concat(frames, ignore_index=True)
    aff_cols = [c for c in out.columns if c.startswith("user-item_affinity_")]
    first = [c for c in out.columns if c not in aff_cols and c not in ("policy", "campaign")
             and not c.startswith("item_feature_") and c != "affinity"]
    rest = [c for c in out.columns if c.startswith("item_feature_")] + ["affinity", "policy", "campaign"]
    aff_cols.sort(key=lambda c: int(c.rsplit("_", 1)[1]))
    return out[first + aff_cols + rest]


def obd_pooled() -> pd.DataFrame:
    """All six OBD files in one frame (60,000 rows); same as ``obd_frame("pooled", "pooled")``."""
    return obd_frame("pooled", "pooled")


def _ctr_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``impression_id``, the CTR features as raw values (categoricals as text) and ``click``."""
    out = pd.DataFrame({"impression_id": frame["impression_id"].to_numpy()})
    item = frame["item_id"].astype(str)
    if frame["campaign"].nunique() > 1:  # item ids are per campaign: qualify them
        item = frame["campaign"] + ":" + item
    for c in OBD_CTR_FEATURES:
        if c == "item_id":
            out[c] = item.to_numpy()
        elif c in _CTR_NUMERIC:
            out[c] = frame[c].to_numpy(dtype=np.float64)
        else:
            out[c] = frame[c].astype(str).to_numpy()
    out["click"] = frame["click"].to_numpy(dtype=np.int64)
    return out


def load_obd(policy: str = "random", campaign: str = "all", *,
             features: str | Sequence[str] = "ctr") -> Dataset:
    """The OBD impressions as a click-model dataset: label ``click``, one row per impression.

    Args:
        policy: ``"random"``, ``"bts"`` or ``"pooled"``.
        campaign: ``"all"``, ``"men"``, ``"women"`` or ``"pooled"``.
        features: ``"ctr"``: one-hot ``item_id`` (``campaign:item_id`` when pooling campaigns),
            ``position``, ``user_feature_0..3``, ``item_feature_1..3`` and numeric ``item_feature_0``,
            ``affinity`` (not the raw affinity columns, timestamp or propensity). Or a list of
            :func:`obd_frame` columns, encoded as they are.

    Returns:
        A dense dataset, ``ids`` = ``impression_id``, no weights, ``encoder`` fitted on these rows.
        ``propensity_score`` stays available through :func:`obd_frame`.

    Example:
        >>> ds = load_obd("random", "men")
        >>> ds.n, int(ds.y.sum())
        (10000, 46)
    """
    frame = obd_frame(policy, campaign)
    name = f"obd/{policy}/{campaign}"
    if isinstance(features, str):
        if features != "ctr":
            raise DataError(f"unknown OBD feature set {features!r}; expected 'ctr' or a list of columns")
        return from_frame(_ctr_table(frame), label="click", id="impression_id",
                          features=list(OBD_CTR_FEATURES), name=name)
    return from_frame(frame, label="click", id="impression_id", features=list(features), name=name)


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    from samplescope.result import atomic_write

    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_obd_files(dir, policy: str = "random", campaign: str = "all", *,
                    train_fraction: float = 0.8) -> tuple[Path, Path]:
    """Write a chronological train/valid split of the OBD click data as two Parquet files.

    The first ``train_fraction`` of the rows by timestamp (ties kept in file order) are the training
    file, the rest the validation file. Columns: ``impression_id``, the CTR features with categoricals as
    raw text (not one-hot) and ``click``; read them back with
    ``read_table(path, label="click", id="impression_id")`` (validation: add ``encoder=train.encoder``).
    Each file is written to a temporary file in ``dir`` and renamed, so readers never see half a file.

    Args:
        dir: output directory (created if missing).
        policy, campaign: as in :func:`obd_frame`.
        train_fraction: share of the rows in the training file, in ``(0, 1)``.

    Returns:
        ``(train_path, valid_path)``: ``dir/obd_{policy}_{campaign}_{train,valid}.parquet``.
    """
    if not 0 < train_fraction < 1:
        raise DataError(f"train_fraction must be in (0, 1); found {train_fraction}")
    frame = obd_frame(policy, campaign)
    order = np.argsort(pd.to_datetime(frame["timestamp"], utc=True).to_numpy(), kind="stable")
    table = _ctr_table(frame).iloc[order].reset_index(drop=True)
    n_train = int(np.floor(train_fraction * len(table)))
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / f"obd_{policy}_{campaign}_train.parquet", out / f"obd_{policy}_{campaign}_valid.parquet")
    _write_atomic(table.iloc[:n_train], paths[0])
    _write_atomic(table.iloc[n_train:].reset_index(drop=True), paths[1])
    return paths
