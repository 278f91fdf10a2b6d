"""The ``samplescope`` command line: score training samples, list methods, inspect a scores file.

Every user error (a :class:`~samplescope.errors.SamplescopeError`, or an unreadable file) ends as one red
line ``error: <message>`` on stderr with exit status 2; Ctrl-C exits with 130. Anything else is a bug and
keeps its traceback. The scores file is only ever written by :meth:`ImportanceResult.to_parquet`, atomically.
"""

from __future__ import annotations

import inspect
import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer
from rich.table import Table
from rich.text import Text

from samplescope import __version__
from samplescope.data.readers import TABLE_SUFFIXES
from samplescope.errors import SamplescopeError
from samplescope.methods import get_method, list_methods, score as score_samples
from samplescope.models import MODEL_FAMILIES, SKLEARN_MODELS, TREE_MODELS, fit_model
from samplescope.result import ImportanceResult
# the shared CLI pieces live in cli_common / cli_models; re-exported here for cli_actions, cli_select and tests
from samplescope.cli_common import (CLIError, _check_out, _check_type, _columns, _err, _fail, _guard,  # noqa: F401
                                    _honour_umask, _out, _parse_params, _parse_value, _Progress, _read_user_file)
from samplescope.cli_models import (_UNITS, _model_file, _parse_model_params, _tree_model,  # noqa: F401
                                    _tree_options)

__all__ = ["app"]

app = typer.Typer(
    name="samplescope",
    help="How much each training sample matters to a search or recommendation model.\n\n"
    "Fit a model on a training file, value every training row with one method, and write the values "
    "to a Parquet file (positive = the row helps, negative = it hurts). "
    "Start with [bold]samplescope methods[/bold], then [bold]samplescope score --help[/bold].",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,  # a bug keeps the plain traceback, easy to paste into an issue
    context_settings={"help_option_names": ["-h", "--help"]},
)

ModelKind = Enum("ModelKind", {k: k for k in SKLEARN_MODELS}, type=str)

_LOSS_NAMES = {"logloss": "log-loss", "softmax": "cross-entropy", "squared_error": "squared error",
               "lambdarank": "LambdaRank loss", "ranknet": "RankNet loss", "listnet": "ListNet loss",
               "xendcg": "XE-NDCG loss", "xgb_ndcg": "LambdaRank (NDCG) loss", "xgb_pairwise": "pairwise ranking loss"}


# ------------------------------------------------------------------ descriptions
def _meaning(target: str, loss: str | None = None, method: str = "") -> str:
    loss = _LOSS_NAMES.get(loss or "", loss or "loss")
    return {
        "validation": f"change of the mean validation {loss} when the sample is removed; positive = helpful",
        "self": f"minus the rise of the sample's own {loss} when it is removed from training; "
                "most negative = the model leans on it most (often mislabeled or atypical)",
        "out-of-bag": "mean score of the sample under bootstrap models that never saw it; "
                      "higher = it agrees with the rest of the data",
        "knn-utility": "Shapley value of the sample in a K-nearest-neighbour classifier's validation utility "
                       "(share of the K neighbours with the right label); positive = helpful",
        "none": "unitless score; higher = more useful to keep, lowest = most suspicious",
    }.get(target, "positive = helpful")


def _rows_table(title: str, result: ImportanceResult, rows: np.ndarray, labels: np.ndarray | None) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("row", justify="right")
    if result.has_ids:
        table.add_column("id")
    if labels is not None:
        table.add_column("label", justify="right")
    table.add_column("importance", justify="right")
    for r in rows:
        cells = [str(int(r))]
        if result.has_ids:
            cells.append(str(result.ids[r]))
        if labels is not None:
            cells.append(f"{labels[r]:g}")
        cells.append(f"{result.values[r]:.6g}")
        table.add_row(*cells)
    return table


def _print_rows(result: ImportanceResult, top: int, labels: np.ndarray | None = None) -> None:
    if top <= 0:
        return
    con = _out()
    k = min(top, len(result))
    order = np.argsort(-result.values, kind="stable")  # same order as ImportanceResult.top / .bottom
    con.print(_rows_table(f"Most helpful {k}", result, order[:k], labels))
    con.print(_rows_table(f"Most harmful {k}", result, np.argsort(result.values, kind="stable")[:k], labels))


# ------------------------------------------------------------------ commands
def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"samplescope {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """How much each training sample matters to a search or recommendation model."""


_SCORE_HELP = (
    "Value every training row with one method and write the scores to a Parquet file.\n\n"
    "Fits --model on TRAIN, values each row with --method and writes one value per row, in file order "
    "(positive = the row helps the model, negative = it hurts). With --valid the values refer to the "
    "validation loss; without it, to each row's own loss or a unitless score (see samplescope methods).\n\n"
    "Examples:\n\n"
    "  samplescope score train.parquet --valid valid.parquet --label click --id impression_id "
    "--model logistic --method influence --out scores.parquet\n\n"
    "  samplescope score train.svm --valid test.svm --model lightgbm --objective lambdarank "
    "--model-param num_leaves=31 --model-param n_estimators=100 --method boostin --unit query --out q.parquet\n\n"
    "  samplescope score big.parquet --label click --model torch:mypkg.nets:mlp --checkpoint mlp.pt "
    "--method grad_norm --stream --batch-rows 100000 --checkpoint-dir ck --out s.parquet"
)


@app.command("score", help=_SCORE_HELP, short_help="Value every training row and write the scores to .parquet.")
@_guard
def score_cmd(
    train: Annotated[Path, typer.Argument(metavar="TRAIN", show_default=False,
                                          help="Training file: CSV/TSV/Parquet (.gz ok), or LibSVM "
                                          "(.svm/.libsvm/.txt; label and qid come from the file).")],
    label: Annotated[Optional[str], typer.Option("--label", "-l", metavar="COL", rich_help_panel="Data",
                                                 help="Label column (required for tables).")] = None,
    valid: Annotated[Optional[Path], typer.Option("--valid", metavar="FILE", rich_help_panel="Data",
                                                  help="Validation file with the same columns, encoded like "
                                                  "TRAIN; values then refer to the validation loss.")] = None,
    group: Annotated[Optional[str], typer.Option(metavar="COL", rich_help_panel="Data",
                                                 help="Query-group column (rows of a group contiguous).")] = None,
    weight: Annotated[Optional[str], typer.Option(metavar="COL", rich_help_panel="Data",
                                                  help="Sample-weight column (non-negative).")] = None,
    id: Annotated[Optional[str], typer.Option("--id", metavar="COL", rich_help_panel="Data",
                                              help="Unique row-id column, copied to the output.")] = None,
    features: Annotated[Optional[str], typer.Option(metavar="COLS", rich_help_panel="Data",
                                                    help="Feature columns, comma-separated \\[default: every "
                                                    "other column; text columns are one-hot encoded].")] = None,
    exclude: Annotated[Optional[str], typer.Option(metavar="COLS", rich_help_panel="Data",
                                                   help="Columns never used as features, comma-separated.")] = None,
    model: Annotated[str, typer.Option("--model", metavar="MODEL", show_default=False, rich_help_panel="Model",
                                       help="Model fitted on TRAIN: logistic, ridge, linear or sgd (log-loss SGD); "
                                       "lightgbm or xgboost (boosted trees, see --objective and --model-param); "
                                       "a LightGBM text or XGBoost JSON/UBJ model file trained on TRAIN (never a "
                                       "pickle); "
                                       "or a torch model torch:module.path:factory, with --checkpoint FILE its "
                                       "weights (a torch.save'd state_dict, read with weights_only=True).")] = ...,
    C: Annotated[Optional[float], typer.Option("--C", metavar="FLOAT", rich_help_panel="Model",
                                               help="Inverse L2 strength of logistic \\[default: 1.0].")] = None,
    alpha: Annotated[Optional[float], typer.Option(metavar="FLOAT", min=0.0, rich_help_panel="Model",
                                                   help="L2 strength of ridge \\[default: 1.0] and sgd "
                                                   "\\[default: 1e-4].")] = None,
    no_intercept: Annotated[bool, typer.Option("--no-intercept", rich_help_panel="Model",
                                               help="Fit without an intercept.")] = False,
    objective: Annotated[Optional[str], typer.Option("--objective", metavar="NAME", rich_help_panel="Model",
                                                     help="Booster objective: lightgbm binary, regression, "
                                                     "lambdarank, rank_xendcg; xgboost binary:logistic, "
                                                     "reg:squarederror, rank:ndcg, rank:pairwise \\[default: "
                                                     "lambdarank / rank:ndcg with query groups, binary for 0/1 "
                                                     "labels, else "
                                                     "regression].")] = None,
    model_param: Annotated[Optional[list[str]], typer.Option("--model-param", metavar="KEY=VALUE",
                                                             show_default=False, rich_help_panel="Model",
                                                             help="Booster parameter, repeatable (e.g. "
                                                             "--model-param num_leaves=31 --model-param "
                                                             "learning_rate=0.1 --model-param n_estimators=100); "
                                                             "the library's own names. With an XGBoost model "
                                                             "file: its training parameters (for refits).")] = None,
    method: Annotated[str, typer.Option("--method", "-m", metavar="NAME", show_default=False,
                                        rich_help_panel="Method",
                                        help="Importance method; list them with: samplescope methods.")] = ...,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", metavar="KEY=VALUE", show_default=False,
                                                       rich_help_panel="Method",
                                                       help="Method parameter, repeatable (e.g. --param k=3); "
                                                       "values are read as int, float, true/false, none or "
                                                       "text.")] = None,
    unit: Annotated[str, typer.Option("--unit", metavar="document|query", rich_help_panel="Method",
                                      help="What one value is about: a row (document) or a whole query group "
                                      "(query: needs --group COL or qid in LibSVM input; see samplescope "
                                      "methods for which methods have it).")] = "document",
    out: Annotated[Path, typer.Option("--out", "-o", metavar="OUT.parquet", show_default=False,
                                      rich_help_panel="Output",
                                      help="Scores file to write (atomically): columns row, id (with --id), "
                                      "importance, and method extras.")] = ...,
    top: Annotated[int, typer.Option(metavar="K", min=0, rich_help_panel="Output",
                                     help="Rows in each summary table (0 = none).")] = 5,
    seed: Annotated[int, typer.Option(metavar="N", rich_help_panel="Run",
                                      help="Seed of the model (sgd, boosters) and of stochastic methods.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", rich_help_panel="Run",
                                      help="Threads; -1 = all cores.")] = 1,
    checkpoint: Annotated[Optional[Path], typer.Option(metavar="DIR", rich_help_panel="Run",
                                                       help="Folder where long runs save finished chunks "
                                                       "and resume from; with --model torch:..., a FILE: the "
                                                       "model's weights.")] = None,
    checkpoint_dir: Annotated[Optional[Path], typer.Option(metavar="DIR", rich_help_panel="Run",
                                                           help="Folder an interrupted run resumes from, as "
                                                           "--checkpoint DIR; use it when --checkpoint names a "
                                                           "torch model's weights (e.g. with --stream).")] = None,
    stream: Annotated[bool, typer.Option("--stream", rich_help_panel="Streaming",
                                         help="Read TRAIN (Parquet) in batches and write the values as they come, "
                                         "for files larger than memory: a trained torch model, methods "
                                         "grad_norm, el2n, self_loss, tracin, influence, trak; feature columns "
                                         "must be numeric (text is one-hot encoded over the whole file, which a "
                                         "stream never reads); --valid is read whole.")] = False,
    batch_rows: Annotated[Optional[int], typer.Option(metavar="N", min=1, rich_help_panel="Streaming",
                                                      help="Rows read at a time with --stream \\[default: "
                                                      "65536].")] = None,
) -> None:
    # 1. everything that needs no data: fail before reading or fitting anything
    t0 = time.perf_counter()
    info = get_method(method)
    params = _parse_params(param or [], method)
    if jobs < 1 and jobs != -1:
        raise CLIError(f"--jobs must be >= 1, or -1 for all cores; found {jobs}")
    kind = model if model.startswith("torch:") else model.lower()
    model_file = _model_file(model, kind)
    kind = "file" if model_file is not None else kind
    if kind not in SKLEARN_MODELS and kind not in TREE_MODELS and kind != "file" and not kind.startswith("torch:"):
        raise CLIError(f"--model must be one of {list(SKLEARN_MODELS) + list(TREE_MODELS)}, a LightGBM/XGBoost "
                       f"model file or torch:module.path:factory; found {model!r} (no such file)")
    if unit not in _UNITS:
        raise CLIError(f"--unit must be one of {list(_UNITS)}; found {unit!r}")
    if unit not in info.units:
        raise CLIError(f"method '{method}' supports --unit {' or '.join(info.units)}; found --unit {unit}")
    if stream:
        from samplescope.cli_stream import check_stream_options

        check_stream_options(train, method, unit, model, jobs)
    elif batch_rows is not None:
        raise CLIError(f"--batch-rows applies with --stream; found --batch-rows {batch_rows} without it")
    model_params = _parse_model_params(model_param or [])
    _tree_options(kind, objective, model_params, no_intercept)
    if kind.startswith("torch:") and (C is not None or alpha is not None or no_intercept):
        raise CLIError(f"--C, --alpha and --no-intercept apply to linear models; found --model {kind}")
    if kind.startswith("torch:") and checkpoint is not None and not checkpoint.exists():
        raise CLIError(f"{checkpoint}: --checkpoint names the torch model's weights file; found no such file "
                       "(a folder to resume a long run from: --checkpoint-dir DIR)")
    weights_file = checkpoint if kind.startswith("torch:") and checkpoint is not None and checkpoint.is_file() else None
    checkpoint = None if weights_file is not None else checkpoint
    if C is not None and not C > 0:
        raise CLIError(f"--C must be > 0; found {C}")
    if C is not None and kind != "logistic":
        raise CLIError(f"--C applies to --model logistic only; found --model {kind} (use --alpha for ridge/sgd)")
    if alpha is not None and kind not in ("ridge", "sgd"):
        raise CLIError(f"--alpha applies to --model ridge or sgd only; found --model {kind}")
    if info.needs_valid and valid is None:
        raise CLIError(f"method '{method}' needs a validation set; expected --valid FILE, found none")
    _check_out(out, [train] + ([valid] if valid is not None else []))
    for flag, ck in (("--checkpoint", checkpoint), ("--checkpoint-dir", checkpoint_dir)):
        if ck is not None and ck.exists() and not ck.is_dir():
            raise CLIError(f"{ck}: {flag} must be a folder; found a file")
    if checkpoint is not None and checkpoint_dir is not None:
        raise CLIError(f"--checkpoint {checkpoint} and --checkpoint-dir {checkpoint_dir} both name a resume "
                       "folder; expected one")
    checkpoint = checkpoint_dir if checkpoint_dir is not None else checkpoint
    if label is None and train.name.lower().endswith(TABLE_SUFFIXES):
        raise CLIError(f"{train.name}: a table needs its label column; expected --label COL, found none")

    if stream:  # 2-3. a torch model and the values, TRAIN read batch by batch
        from samplescope.cli_stream import stream_scores

        result, fitted = stream_scores(train, valid, label=label, group=group, weight=weight, id=id,
                                       features=_columns(features), exclude=_columns(exclude), model=kind,
                                       weights_file=weights_file, method=method, params=params, seed=seed,
                                       batch_rows=batch_rows or 65536, out=out, checkpoint_dir=checkpoint)
        _summary(result, fitted, method, f"{train.name} (streamed)", t0, out, top, None)
        return

    # 2. data and model
    opts = dict(label=label, group=group, weight=weight)
    train_ds = _read_user_file(train, **opts, id=id, features=_columns(features), exclude=_columns(exclude))
    valid_ds = None if valid is None else _read_user_file(valid, **opts, encoder=train_ds.encoder)
    fit_opts: dict[str, Any] = {"fit_intercept": not no_intercept, "seed": seed}
    if C is not None:
        fit_opts["C"] = C
    if alpha is not None:
        fit_opts["alpha"] = alpha
    if kind.startswith("torch:"):  # a trained torch model: no fitting, weights from --checkpoint FILE
        from samplescope.models.torch_io import from_spec

        fitted = from_spec(kind, train_ds, weights_file)
    elif kind in TREE_MODELS or kind == "file":
        fitted = _tree_model(kind, model_file, train_ds, objective, model_params, seed)
    else:
        fitted = fit_model(kind, train_ds, **fit_opts)

    # 3. scores, then the one write
    with _Progress(train_ds.n, f"{method} on {train_ds.n:,} rows") as bar:
        result = score_samples(method, fitted, train_ds, valid=valid_ds, seed=seed, n_jobs=jobs, progress=bar,
                               checkpoint_dir=None if checkpoint is None else str(checkpoint), unit=unit, **params)
    try:
        result.to_parquet(out)  # atomic: a temporary file renamed over OUT
        _honour_umask(out)
    except OSError as exc:
        raise CLIError(f"{out}: could not write the scores file; found {exc.strerror or exc}") from None
    _summary(result, fitted, method, train_ds.name, t0, out, top, train_ds.y if unit == "document" else None)


def _summary(result: ImportanceResult, fitted, method: str, name: str, t0: float, out: Path, top: int,
             labels: np.ndarray | None) -> None:
    con = _out()
    what = "query groups" if result.unit == "query" else "rows"
    con.print(Text.assemble((method, "bold"), f" ({result.family} family) scored {len(result):,} {what} of ",
                            (name, "bold"), f" in {result.seconds:.2f} s ({time.perf_counter() - t0:.2f} s "
                            "with reading and fitting); wrote ", (str(out), "bold")))
    meaning = _meaning(result.target, fitted.objective.name, method)
    con.print(Text.assemble(("target ", "dim"), (result.target, "bold"), ": ", meaning))
    _print_rows(result, top, labels)


_METHODS_HELP = (
    "List every importance method: what it measures, what it needs and what it costs.\n\n"
    "models: the model families that provide what it requires. requires: what the model must provide. targets: what the values refer to (validation = change of the "
    "validation loss, self = the row's own loss, out-of-bag = bootstrap models that never saw the row, "
    "none = a unitless score). params: the method's --param names and defaults. "
    "Costs: n training rows, m validation rows, p parameters."
)


@app.command("methods", help=_METHODS_HELP, short_help="List every importance method.")
@_guard
def methods_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    rows = []
    for m in list_methods():
        sig = list(inspect.signature(m.fn).parameters.values())[1:]
        rows.append({"name": m.name, "family": m.family, "requires": sorted(m.requires), "targets": list(m.targets),
                     "needs_valid": m.needs_valid, "tasks": sorted(m.tasks), "stochastic": m.stochastic,
                     "weights": m.weights, "cost": m.cost, "summary": m.summary, "paper": m.paper,
                     "models": [k for k, caps in MODEL_FAMILIES.items() if m.requires <= caps],
                     "units": list(getattr(m, "units", ("document",))),
                     "query_aggregate": getattr(m, "aggregate", None),
                     "params": {p.name: _json_default(p.default) for p in sig}})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} importance methods (use with: samplescope score --method NAME)",
                  title_justify="left", show_lines=True, expand=False)
    table.add_column("method", no_wrap=True)
    table.add_column("what it measures", ratio=1, overflow="fold")
    table.add_column("needs and costs", ratio=1, overflow="fold")
    for r in rows:
        targets = ", ".join(r["targets"]) + (" (needs --valid)" if r["needs_valid"] else "")
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "-"
        what = Text.assemble(r["summary"], "\n", ("targets: ", "dim"), targets)
        needs = Text.assemble(("models: ", "dim"), ", ".join(r["models"]) or "-", "\n",
                              ("requires: ", "dim"), ", ".join(r["requires"]) or "-", "\n",
                              ("tasks: ", "dim"), ", ".join(r["tasks"]), "\n",
                              ("units: ", "dim"), ", ".join(r["units"])
                              + (f" (query: {r['query_aggregate']})" if "query" in r["units"] and r["query_aggregate"]
                                 else ""), "\n", ("cost: ", "dim"), r["cost"], "\n",
                              ("params: ", "dim"), params, "\n", ("paper: ", "dim"), r["paper"] or "-")
        table.add_row(Text.assemble((r["name"], "bold"), "\n", (r["family"], "dim")), what, needs)
    _out().print(table)


def _json_default(v: Any) -> Any:
    if v is inspect.Parameter.empty:
        return None
    return v if isinstance(v, (int, float, str, bool)) or v is None else repr(v)


@app.command("show", short_help="Print a scores file's metadata and its top and bottom rows.")
@_guard
def show_cmd(
    scores: Annotated[Path, typer.Argument(metavar="SCORES.parquet", show_default=False,
                                           help="A scores file written by samplescope score.")],
    top: Annotated[int, typer.Option(help="Rows shown in each table (0 = none).", min=0)] = 5,
) -> None:
    """Print a scores file's metadata and its most helpful and most harmful rows."""
    if not scores.exists():
        raise CLIError(f"{scores}: file not found; expected a scores file written by samplescope")
    if not scores.is_file():
        raise CLIError(f"{scores}: expected a file; found a directory or special file")
    try:
        result = ImportanceResult.read_parquet(scores)
    except SamplescopeError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise CLIError(f"{scores}: could not read it as a samplescope scores file; found {type(exc).__name__}: "
                       f"{exc}") from None
    meta = result.metadata()
    v = result.values
    con = _out()
    con.print(Text.assemble((str(scores), "bold"), f": {len(result):,} rows scored by ", (meta["method"], "bold"),
                            f" ({meta['family']} family) in {meta['seconds']:.2f} s"))
    meaning = _meaning(meta["target"], meta["params"].get("model.objective"), meta["method"])
    con.print(Text.assemble(("target ", "dim"), (meta["target"], "bold"), ": ", meaning))
    if len(v):
        con.print(Text(f"importance: min {v.min():.6g}, median {np.median(v):.6g}, max {v.max():.6g}; "
                       f"{int((v > 0).sum()):,} positive, {int((v < 0).sum()):,} negative"))
    params = ", ".join(f"{k}={val}" for k, val in meta["params"].items())
    con.print(Text(f"params: {params or '-'}"))
    con.print(Text(f"model {meta['model_fingerprint']}, data {meta['data_fingerprint']}", style="dim"))
    _print_rows(result, top)


@app.command("demo", short_help="Run the main job on bundled real data (Open Bandit Dataset clicks).")
@_guard
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created).")] = Path("out/demo"),
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Threads.", min=1)] = 1,
) -> None:
    """Fit a logistic click model on bundled Open Bandit Dataset impressions (ZOZOTOWN, Apache-2.0), score every
    training impression with a method of each family, write one scores file per method and an HTML report."""
    from samplescope.demo import run_demo

    err = _err()
    res = run_demo(out, n_jobs=jobs, on_step=lambda msg: err.print(Text.assemble(("· ", "dim"), msg)))
    con = _out()
    table = Table(title="Open Bandit Dataset click model", show_header=False)
    for k, v in res["summary"].items():
        table.add_row(k, v)
    con.print(table)
    meth = Table(title="Methods (positive = helpful)")
    for col in ("method", "family", "target", "seconds", "most harmful row", "most helpful row"):
        meth.add_column(col)
    for r in res["results"]:
        meth.add_row(r.method, r.family, r.target, f"{r.seconds:.2f}", str(int(np.argmin(r.values))),
                     str(int(np.argmax(r.values))))
    con.print(meth)
    rho = res["agreement"].get(("newton_loo", "influence"))
    if rho is not None:
        con.print(Text(f"Spearman(newton_loo, influence) = {rho:.4f}: the first-order influence ranks samples like "
                       "the Newton-step leave-one-out on this model."))
    for name, path in res["paths"].items():
        con.print(Text.assemble((f"{name:>12} ", "dim"), str(path)))


@app.command("version")
def version_cmd() -> None:
    """Print the samplescope version."""
    typer.echo(f"samplescope {__version__}")


from samplescope import cli_actions  # noqa: E402,F401
from samplescope import cli_select  # noqa: E402,F401
