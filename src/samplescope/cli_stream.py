"""``samplescope score --stream``: value a Parquet training file larger than memory with
:func:`samplescope.streaming.stream_score`, batch by batch, writing the values as they come.

Only a trained torch model (``--model torch:module:factory [--checkpoint FILE]``) streams: the other models are
fitted on the whole training file, and boosted trees have no per-row gradients. Feature columns must be
numeric: the in-memory path one-hot encodes text columns with categories from the whole file, which a stream
never reads (a :class:`~samplescope.streaming.ParquetSource` would reuse the first batch's categories).
"""

from __future__ import annotations

from pathlib import Path

from samplescope.cli_common import CLIError, _honour_umask, _Progress, _read_user_file
from samplescope.result import ImportanceResult
from samplescope.streaming import STREAM_METHODS

__all__ = ["check_stream_options", "stream_scores"]

_PARQUET = (".parquet", ".pq")


def check_stream_options(train: Path, method: str, unit: str, model: str, jobs: int) -> None:
    """The ``--stream`` checks that need no data: a Parquet TRAIN, a method and a model that stream."""
    if not train.name.lower().endswith(_PARQUET):
        found = f"a '{train.suffix}' file" if train.suffix else "a file without a suffix"
        raise CLIError(f"{train}: --stream reads TRAIN in batches and needs a Parquet file (.parquet or .pq); "
                       f"found {found}")
    if method not in STREAM_METHODS:
        raise CLIError(f"--method {method} cannot stream; expected one of {list(STREAM_METHODS)} with --stream")
    if not model.startswith("torch:"):
        raise CLIError(f"--stream needs a trained torch model (other models are fitted on the whole file); "
                       f"expected --model torch:module.path:factory, found --model {model}")
    if unit != "document":
        raise CLIError(f"--unit {unit} does not stream; expected --unit document with --stream")
    if jobs != 1:
        raise CLIError(f"--jobs does not apply with --stream (torch sets its own threads); found --jobs {jobs}")


def _schema(train: Path):
    """TRAIN's column types (name → Arrow type) and row count, from the Parquet footer only."""
    import pyarrow.parquet as pq

    if not train.is_file():
        raise CLIError(f"{train}: data file not found; expected an existing Parquet file")
    try:
        f = pq.ParquetFile(train)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid and friends: not a Parquet file
        raise CLIError(f"{train.name}: could not read TRAIN as Parquet; found {type(exc).__name__}: {exc}") from None
    return dict(zip(f.schema_arrow.names, f.schema_arrow.types)), f.metadata.num_rows


def _stream_features(train: Path, types: dict, roles: dict, features, exclude) -> list[str]:
    """The feature columns (as ``from_frame`` chooses them), every one numeric."""
    import pyarrow as pa

    from samplescope.data.readers import _INDEX_COLUMN, _missing_column

    names, exclude = list(types), list(exclude or [])
    wanted = [(role, c) for role, c in roles.items() if c is not None]
    for role, col in wanted + [("excluded", c) for c in exclude] + [("feature", c) for c in features or []]:
        if col not in types:
            raise _missing_column(train.name, role, col, names)
    skip = {c for _, c in wanted} | set(exclude)
    if features:
        clash = [c for c in features if c in skip]
        if clash:
            raise CLIError(f"{train.name}: feature column(s) {clash} are also used as label/group/weight/id or "
                           "excluded; expected them in only one role")
    else:
        features = [c for c in names if c not in skip and not (c == names[0] == _INDEX_COLUMN)]
        if not features:
            raise CLIError(f"{train.name}: expected at least one feature column besides {sorted(skip)}; found none")
    for c in features:
        t = types[c]
        if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raise CLIError(f"{train.name}: --stream needs numeric feature columns (text is one-hot encoded over "
                           f"the whole file, which a stream never reads); found column '{c}' of type {t}; encode "
                           f"it as numbers, or leave it out with --exclude {c}")
    return list(features)


def stream_scores(train: Path, valid: Path | None, *, label: str, group, weight, id, features, exclude,
                  model: str, weights_file: Path | None, method: str, params: dict, seed: int,
                  batch_rows: int, out: Path, checkpoint_dir: Path | None):
    """Stream TRAIN through ``stream_score`` into OUT; returns the result read back and the model."""
    from samplescope.models.torch_io import from_spec
    from samplescope.streaming import ParquetSource, stream_score

    types, n_rows = _schema(train)
    roles = {"label": label, "group": group, "weight": weight, "id": id}
    feats = _stream_features(train, types, roles, features, exclude)
    source = ParquetSource(train, **roles, features=feats, batch_rows=batch_rows)
    first = next(iter(source), None)  # one batch: the model's input width, the encoder of --valid
    if first is None:
        raise CLIError(f"{train.name}: expected at least one row; found an empty table")
    valid_ds = None if valid is None else _read_user_file(valid, label=label, group=group, weight=weight,
                                                           encoder=first.encoder)
    fitted = from_spec(model, first, weights_file)
    with _Progress(n_rows, f"{method} on {n_rows:,} rows, {batch_rows:,} at a time") as bar:
        stream_score(method, fitted, source, out=out, valid=valid_ds, seed=seed, batch_rows=batch_rows,
                     progress=bar, checkpoint_dir=checkpoint_dir, **params)
    _honour_umask(out)
    return ImportanceResult.read_parquet(out), fitted
