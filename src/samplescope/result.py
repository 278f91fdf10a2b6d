"""The one result object every method returns.

Values are aligned to the training rows (``row`` 0..n-1, and the dataset's ``id`` when it has one);
they are never re-sorted. Positive = the sample helps (lowers the target loss); negative = harmful.
With ``unit="query"`` there is one value per query group instead, in the groups' order of appearance
(``row`` = group index, ``id`` = the group id).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samplescope.errors import DataError

__all__ = ["ImportanceResult", "atomic_write"]

_META_KEY = b"samplescope"


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``, so an interrupted run never leaves a partial file."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise DataError(f"{path}: cannot write here; directory '{path.parent}' does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the mode a plain open() would
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


@dataclass(frozen=True, eq=False)
class ImportanceResult:
    """Importance of every training sample, from one method.

    Attributes:
        values: ``(n,)`` importance, positive = helpful, aligned to the training rows.
        ids: ``(n,)`` the training dataset's ids (``0..n-1`` without ids).
        method: registered method name.
        family: ``loss``, ``gradient`` or ``boundary``.
        target: what the values refer to: ``validation`` (change of the mean validation loss when the
            sample is removed), ``self`` (the sample's own loss), ``out-of-bag`` or ``none``
            (a unitless score, higher = more useful to keep).
        params: the method's parameters (and model hyper-parameters).
        model_fingerprint, data_fingerprint: hashes of the model and the training data.
        seconds: wall time of the estimate.
        has_ids: whether ``ids`` came from the data (written as column ``id``).
        extras: optional per-sample columns (e.g. the raw, unoriented score; ``group`` for grouped data).
        unit: what one value is about: ``document`` (a training row) or ``query`` (a whole query group;
            ``ids`` are then the group ids).
    """

    values: np.ndarray
    ids: np.ndarray
    method: str
    family: str
    target: str
    params: dict = field(default_factory=dict)
    model_fingerprint: str = ""
    data_fingerprint: str = ""
    seconds: float = 0.0
    has_ids: bool = False
    extras: dict = field(default_factory=dict)
    unit: str = "document"

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        unit = "" if self.unit == "document" else f", unit={self.unit!r}"
        return (f"ImportanceResult(method={self.method!r}, target={self.target!r}{unit}, n={len(self)}, "
                f"mean={np.mean(self.values):.4g}, seconds={self.seconds:.3g})")

    def metadata(self) -> dict:
        """Everything but the arrays, JSON-serialisable."""
        return {"method": self.method, "family": self.family, "target": self.target,
                "params": _jsonable(self.params), "model_fingerprint": self.model_fingerprint,
                "data_fingerprint": self.data_fingerprint, "seconds": self.seconds,
                "positive_means": "helpful", "unit": self.unit}

    def to_pandas(self):
        """A DataFrame with columns ``row``, [``id``], ``importance`` and any extras, in row order."""
        import pandas as pd

        cols = {"row": np.arange(len(self.values), dtype=np.int64)}
        if self.has_ids:
            cols["id"] = self.ids
        cols["importance"] = self.values
        for k, v in self.extras.items():
            cols[k] = v
        df = pd.DataFrame(cols)
        df.attrs["samplescope"] = self.metadata()
        return df

    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Write the table with the metadata (JSON under key ``samplescope``), atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.to_pandas(), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta.pop(b"pandas", None)
        meta[_META_KEY] = json.dumps(self.metadata()).encode()
        table = table.replace_schema_metadata(meta)
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    @classmethod
    def read_parquet(cls, path: str | os.PathLike) -> "ImportanceResult":
        """Read a file written by :meth:`to_parquet`."""
        import pyarrow.parquet as pq

        if not Path(path).exists():
            raise DataError(f"{path}: file not found; expected a scores file written by samplescope")
        table = pq.read_table(path)
        meta = (table.schema.metadata or {}).get(_META_KEY)
        if meta is None:
            raise DataError(f"{path}: not a samplescope scores file (no 'samplescope' metadata)")
        m = json.loads(meta)
        df = table.to_pandas()
        has_ids = "id" in df.columns
        extras = {c: df[c].to_numpy() for c in df.columns if c not in ("row", "id", "importance")}
        return cls(values=df["importance"].to_numpy(), ids=df["id"].to_numpy() if has_ids else df["row"].to_numpy(),
                   method=m["method"], family=m["family"], target=m["target"], params=m["params"],
                   model_fingerprint=m["model_fingerprint"], data_fingerprint=m["data_fingerprint"],
                   seconds=m["seconds"], has_ids=has_ids, extras=extras, unit=m.get("unit", "document"))

    def top(self, k: int = 10):
        """The ``k`` most helpful samples (highest values), as a DataFrame."""
        df = self.to_pandas()
        order = np.argsort(-self.values, kind="stable")[:k]
        return df.iloc[order]

    def bottom(self, k: int = 10):
        """The ``k`` most harmful / suspicious samples (lowest values), as a DataFrame."""
        df = self.to_pandas()
        order = np.argsort(self.values, kind="stable")[:k]
        return df.iloc[order]


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)
