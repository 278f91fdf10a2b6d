"""The action commands ``samplescope reweight | clean | explain``, registered on :data:`samplescope.cli.app`.

Thin like the rest of the CLI: parse → call :mod:`samplescope.actions` → write one file atomically.
User errors end as one ``error:`` line and exit status 2 (the shared ``_guard``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer
from rich.table import Table
from rich.text import Text

from samplescope.actions.clean import ACTIONS, clean
from samplescope.actions.explain import explain
from samplescope.actions.reweight import PRESERVE, STRATEGIES, recalibration_offset, reweight, write_weights
from samplescope.cli import (CLIError, ModelKind, _check_out, _columns, _guard, _honour_umask, _out,
                             _parse_params, _read_user_file, app)
from samplescope.data.readers import TABLE_SUFFIXES
from samplescope.methods import get_method, score as score_samples
from samplescope.models import fit_model
from samplescope.result import ImportanceResult, atomic_write

__all__: list[str] = []

Strategy = Enum("Strategy", {k: k for k in STRATEGIES}, type=str)
Preserve = Enum("Preserve", {k: k for k in PRESERVE}, type=str)
Action = Enum("Action", {k: k for k in ACTIONS}, type=str)

# ------------------------------------------------------------------ shared options
_D, _M, _O = "Data", "Model", "Output"
LabelOpt = Annotated[Optional[str], typer.Option("--label", "-l", metavar="COL", rich_help_panel=_D,
                                                 help="Label column (required for tables).")]
GroupOpt = Annotated[Optional[str], typer.Option(metavar="COL", rich_help_panel=_D,
                                                 help="Query-group column (rows of a group contiguous).")]
WeightOpt = Annotated[Optional[str], typer.Option(metavar="COL", rich_help_panel=_D,
                                                  help="Sample-weight column (non-negative).")]
IdOpt = Annotated[Optional[str], typer.Option("--id", metavar="COL", rich_help_panel=_D,
                                              help="Unique row-id column, copied to the output.")]
FeaturesOpt = Annotated[Optional[str], typer.Option(metavar="COLS", rich_help_panel=_D,
                                                    help="Feature columns, comma-separated \\[default: every other "
                                                    "column].")]
ExcludeOpt = Annotated[Optional[str], typer.Option(metavar="COLS", rich_help_panel=_D,
                                                   help="Columns never used as features, comma-separated.")]
ModelOpt = Annotated[ModelKind, typer.Option("--model", metavar="MODEL", show_default=False, case_sensitive=False,
                                             rich_help_panel=_M, help="Model fitted on TRAIN: logistic, ridge, "
                                             "linear or sgd.")]
COpt = Annotated[Optional[float], typer.Option("--C", metavar="FLOAT", rich_help_panel=_M,
                                               help="Inverse L2 strength of logistic \\[default: 1.0].")]
AlphaOpt = Annotated[Optional[float], typer.Option(metavar="FLOAT", min=0.0, rich_help_panel=_M,
                                                   help="L2 strength of ridge \\[default: 1.0] and sgd "
                                                   "\\[default: 1e-4].")]
NoInterceptOpt = Annotated[bool, typer.Option("--no-intercept", rich_help_panel=_M, help="Fit without an intercept.")]
ParamOpt = Annotated[Optional[list[str]], typer.Option("--param", "-p", metavar="KEY=VALUE", show_default=False,
                                                       rich_help_panel="Method",
                                                       help="Method parameter, repeatable (e.g. --param damping=0.1).")]
SeedOpt = Annotated[int, typer.Option(metavar="N", rich_help_panel="Run", help="Seed of the model and method.")]


def _check_model_opts(kind: str, C: float | None, alpha: float | None) -> None:
    if C is not None and not C > 0:
        raise CLIError(f"--C must be > 0; found {C}")
    if C is not None and kind != "logistic":
        raise CLIError(f"--C applies to --model logistic only; found --model {kind} (use --alpha for ridge/sgd)")
    if alpha is not None and kind not in ("ridge", "sgd"):
        raise CLIError(f"--alpha applies to --model ridge or sgd only; found --model {kind}")


def _need_label(path: Path, label: str | None) -> None:
    if label is None and path.name.lower().endswith(TABLE_SUFFIXES):
        raise CLIError(f"{path.name}: a table needs its label column; expected --label COL, found none")


def _fit(kind: str, train, *, C, alpha, no_intercept: bool, seed: int):
    opts: dict[str, Any] = {"fit_intercept": not no_intercept, "seed": seed}
    if C is not None:
        opts["C"] = C
    if alpha is not None:
        opts["alpha"] = alpha
    return fit_model(kind, train, **opts)


def _read_train(train: Path, *, label, group, weight, id, features, exclude):
    return _read_user_file(train, label=label, group=group, weight=weight, id=id, features=_columns(features),
                           exclude=_columns(exclude))


def _read_other(path: Path, train_ds, *, label, group, weight, id=None):
    return _read_user_file(path, label=label, group=group, weight=weight, id=id, encoder=train_ds.encoder)


def _write(out: Path, write) -> None:
    try:
        atomic_write(out, write)
        _honour_umask(out)
    except OSError as exc:
        raise CLIError(f"{out}: could not write the file; found {exc.strerror or exc}") from None


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, (float, np.floating)) else str(v)


# ------------------------------------------------------------------ reweight
_REWEIGHT_HELP = (
    "Turn a scores file into one training weight per row, class-aware (for imbalanced data).\n\n"
    "strategy balance (default): equal class totals (--balance 1), then within each class "
    "weight ∝ exp(beta · z), z = importance / its root-mean-square in the class, clipped to "
    "[--clip-min, --clip-max]: helpful rows up, harmful rows down. importance: the within-class step only; "
    "downweight: only lower harmful rows; class: class balance only. --preserve class keeps each class's "
    "total (after balancing), total keeps only the sum, none skips the normalisation.\n\n"
    "Writes row, id (with --id) and weight: pass weight to LightGBM/XGBoost (weight=), scikit-learn "
    "(sample_weight=) or a torch loss. For binary labels it prints the logit offset that undoes the change "
    "of class mass (subtract it from the model's scores).\n\n"
    "Example:\n\n"
    "  samplescope reweight scores.parquet --train train.parquet --label click --id impression_id "
    "--out weights.parquet"
)


@app.command("reweight", help=_REWEIGHT_HELP, short_help="Training weights from a scores file (class-aware).")
@_guard
def reweight_cmd(
    scores: Annotated[Path, typer.Argument(metavar="SCORES.parquet", show_default=False,
                                           help="Scores file written by samplescope score on TRAIN.")],
    train: Annotated[Path, typer.Option("--train", metavar="FILE", show_default=False, rich_help_panel=_D,
                                        help="The training file the scores were computed on (for labels).")] = ...,
    label: LabelOpt = None,
    group: GroupOpt = None,
    weight: WeightOpt = None,
    id: IdOpt = None,
    strategy: Annotated[Strategy, typer.Option(case_sensitive=False, rich_help_panel="Weights",
                                               help="balance, importance, downweight or class.")] = Strategy.balance,
    beta: Annotated[float, typer.Option(min=0.0, rich_help_panel="Weights",
                                        help="Strength of importance (0 = ignore it).")] = 1.0,
    clip_min: Annotated[float, typer.Option(rich_help_panel="Weights", help="Smallest importance multiplier.")] = 0.1,
    clip_max: Annotated[float, typer.Option(rich_help_panel="Weights", help="Largest importance multiplier.")] = 10.0,
    preserve: Annotated[Preserve, typer.Option(case_sensitive=False, rich_help_panel="Weights",
                                               help="Keep class totals, the total, or none.")] = Preserve["class"],
    balance: Annotated[float, typer.Option(min=0.0, max=1.0, rich_help_panel="Weights",
                                           help="How far to move class totals towards equal (0..1).")] = 1.0,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="OUT.parquet", show_default=False, rich_help_panel=_O,
                                      help="Weights file to write (atomically): row, id, weight.")] = ...,
) -> None:
    _check_out(out, [scores, train])
    if not scores.is_file():
        raise CLIError(f"{scores}: file not found; expected a scores file written by samplescope score")
    _need_label(train, label)
    result = ImportanceResult.read_parquet(scores)
    train_ds = _read_user_file(train, label=label, group=group, weight=weight, id=id)
    if len(result) != train_ds.n:
        raise CLIError(f"{scores.name}: has {len(result):,} rows; the training file {train.name} has {train_ds.n:,} "
                       "(expected the scores of this training file)")
    if result.has_ids and train_ds.ids is not None and not np.array_equal(
            np.asarray(result.ids).astype(str), train_ds.ids.astype(str)):
        raise CLIError(f"{scores.name}: its ids differ from column '{id}' of {train.name}; expected the scores of "
                       "this training file, in file order")
    pres = preserve.value
    w = reweight(result, labels=train_ds.y, sample_weight=train_ds.weight, strategy=strategy.value, beta=beta,
                 clip=(clip_min, clip_max), preserve=pres, balance=balance)
    meta = {"strategy": strategy.value, "beta": beta, "clip": [clip_min, clip_max], "preserve": pres,
            "balance": balance, "scores": scores.name, "method": result.method, "target": result.target}
    ids = train_ds.ids if train_ds.ids is not None else None
    try:
        write_weights(out, w, ids=ids, metadata=meta)
        _honour_umask(out)
    except OSError as exc:
        raise CLIError(f"{out}: could not write the weights file; found {exc.strerror or exc}") from None

    con = _out()
    con.print(Text.assemble(f"{strategy.value} weights for {len(w):,} rows from ", (result.method, "bold"),
                            f" scores; wrote ", (str(out), "bold")))
    base = train_ds.weights
    table = Table(title="Per class", title_justify="left", show_edge=False)
    for col in ("label", "rows", "total before", "total after", "min", "median", "max"):
        table.add_column(col, justify="right")
    for c in np.unique(train_ds.y):
        m = train_ds.y == c
        table.add_row(f"{c:g}", f"{int(m.sum()):,}", f"{base[m].sum():.6g}", f"{w[m].sum():.6g}",
                      f"{w[m].min():.4g}", f"{np.median(w[m]):.4g}", f"{w[m].max():.4g}")
    con.print(table)
    if set(np.unique(train_ds.y).tolist()) == {0.0, 1.0}:
        off = recalibration_offset(w, labels=train_ds.y, sample_weight=train_ds.weight)
        con.print(Text(f"logit offset of a model trained with these weights: {off:+.4f} "
                       "(subtract it from the scores to keep probabilities calibrated)"))


# ------------------------------------------------------------------ clean
_CLEAN_HELP = (
    "Flag the most harmful or suspicious training rows, drop or down-weight them, retrain and report the "
    "validation change.\n\n"
    "Scores TRAIN with --method (or reads --scores), flags the lowest values (--fraction, --top-k and/or "
    "--threshold; never more than asked, ties by row order), retrains --model on the rest (drop) or with "
    "the flagged rows' weights times --factor (downweight), and prints the validation metrics before and "
    "after. Values computed on --valid and judged on it are optimistic: pass --test FILE for an unbiased "
    "comparison.\n\n"
    "Writes row, id, importance, flagged and weight (the retrain's weight: 0 for dropped rows).\n\n"
    "Example:\n\n"
    "  samplescope clean train.parquet --valid valid.parquet --label click --model logistic "
    "--method influence --fraction 0.05 --out cleaned.parquet"
)


@app.command("clean", help=_CLEAN_HELP, short_help="Drop or down-weight harmful rows, retrain, compare.")
@_guard
def clean_cmd(
    train: Annotated[Path, typer.Argument(metavar="TRAIN", show_default=False, help="Training file.")],
    valid: Annotated[Optional[Path], typer.Option("--valid", metavar="FILE", rich_help_panel=_D,
                                                  help="Validation file: the methods' target and, without "
                                                  "--test, the before/after comparison.")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", metavar="FILE", rich_help_panel=_D,
                                                 help="Held-out file for the before/after comparison.")] = None,
    label: LabelOpt = None,
    group: GroupOpt = None,
    weight: WeightOpt = None,
    id: IdOpt = None,
    features: FeaturesOpt = None,
    exclude: ExcludeOpt = None,
    model: ModelOpt = ...,
    C: COpt = None,
    alpha: AlphaOpt = None,
    no_intercept: NoInterceptOpt = False,
    method: Annotated[Optional[str], typer.Option("--method", "-m", metavar="NAME", rich_help_panel="Method",
                                                  help="Importance method (see samplescope methods).")] = None,
    param: ParamOpt = None,
    scores: Annotated[Optional[Path], typer.Option("--scores", metavar="SCORES.parquet", rich_help_panel="Method",
                                                   help="Use this scores file of TRAIN instead of --method.")] = None,
    fraction: Annotated[Optional[float], typer.Option(metavar="F", rich_help_panel="Flag",
                                                      help="Flag at most this share of the rows (0..1).")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", metavar="K", rich_help_panel="Flag",
                                                 help="Flag at most K rows.")] = None,
    threshold: Annotated[Optional[float], typer.Option(metavar="T", rich_help_panel="Flag",
                                                       help="Flag only rows with importance < T.")] = None,
    action: Annotated[Action, typer.Option(case_sensitive=False, rich_help_panel="Flag",
                                           help="drop or downweight the flagged rows.")] = Action.drop,
    factor: Annotated[float, typer.Option(metavar="F", rich_help_panel="Flag",
                                          help="Weight multiplier of flagged rows for downweight (0..1).")] = 0.0,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="OUT.parquet", show_default=False, rich_help_panel=_O,
                                      help="Decisions file to write (atomically).")] = ...,
    top: Annotated[int, typer.Option(metavar="K", min=0, rich_help_panel=_O,
                                     help="Flagged rows shown (0 = none).")] = 5,
    seed: SeedOpt = 0,
) -> None:
    kind = model.value
    _check_model_opts(kind, C, alpha)
    if (method is None) == (scores is None):
        raise CLIError("clean needs exactly one of --method NAME or --scores FILE; found "
                       f"{'both' if method else 'neither'}")
    params = _parse_params(param or [], method) if method else {}
    if param and not method:
        raise CLIError("--param applies to --method; found --param with --scores")
    if method and get_method(method).needs_valid and valid is None:
        raise CLIError(f"method '{method}' needs a validation set; expected --valid FILE, found none")
    if fraction is None and top_k is None and threshold is None:
        raise CLIError("clean needs --fraction F, --top-k K or --threshold T; found none")
    if fraction is not None and top_k is not None:
        raise CLIError(f"give --fraction or --top-k, not both; found --fraction {fraction} and --top-k {top_k}")
    if fraction is not None and not 0 <= fraction <= 1:
        raise CLIError(f"--fraction must be in [0, 1]; found {fraction}")
    if top_k is not None and top_k < 0:
        raise CLIError(f"--top-k must be >= 0; found {top_k}")
    if not 0 <= factor <= 1:
        raise CLIError(f"--factor must be in [0, 1]; found {factor}")
    inputs = [p for p in (train, valid, test, scores) if p is not None]
    _check_out(out, inputs)
    _need_label(train, label)

    train_ds = _read_train(train, label=label, group=group, weight=weight, id=id, features=features, exclude=exclude)
    valid_ds = None if valid is None else _read_other(valid, train_ds, label=label, group=group, weight=weight)
    test_ds = None if test is None else _read_other(test, train_ds, label=label, group=group, weight=weight)
    fitted = _fit(kind, train_ds, C=C, alpha=alpha, no_intercept=no_intercept, seed=seed)
    if scores is not None:
        if not scores.is_file():
            raise CLIError(f"{scores}: file not found; expected a scores file written by samplescope score")
        result = ImportanceResult.read_parquet(scores)
        if len(result) != train_ds.n:
            raise CLIError(f"{scores.name}: has {len(result):,} rows; {train.name} has {train_ds.n:,} "
                           "(expected the scores of this training file)")
    else:
        result = score_samples(method, fitted, train_ds, valid=valid_ds, seed=seed, **params)
    rep = clean(result, train_ds, fitted, fraction=fraction, top_k=top_k, threshold=threshold,
                action=action.value, factor=factor, valid=test_ds if test_ds is not None else valid_ds)
    df = rep.to_frame()
    if train_ds.ids is None:
        df = df.drop(columns="id")
    _write(out, lambda tmp: df.to_parquet(tmp, index=False))

    con = _out()
    con.print(Text.assemble(f"flagged {len(rep.flagged):,} of {train_ds.n:,} rows by ", (result.method, "bold"),
                            f"; {action.value} and retrained {kind}; wrote ", (str(out), "bold")))
    if rep.before is not None:
        where = (test or valid).name
        table = Table(title=f"Validation on {where}", title_justify="left", show_edge=False)
        for col in ("metric", "before", "after", "change"):
            table.add_column(col, justify="right")
        for k, b in rep.before.items():
            a = rep.after[k]
            table.add_row(k, f"{b:.6g}", f"{a:.6g}", f"{a - b:+.4g}")
        con.print(table)
        con.print(Text("loss: mean validation loss, lower is better; the others: higher is better", style="dim"))
    if top and len(rep.flagged):
        t = Table(title=f"Most suspicious {min(top, len(rep.flagged))}", title_justify="left", show_edge=False)
        for col in ("row", "id", "label", "importance"):
            t.add_column(col, justify="right")
        for r in rep.flagged[:top]:
            t.add_row(str(int(r)), str(train_ds.row_ids[r]), f"{train_ds.y[r]:g}", f"{rep.values[r]:.6g}")
        con.print(t)


# ------------------------------------------------------------------ explain
_EXPLAIN_HELP = (
    "Explain one prediction: the training rows that support it and those that oppose it.\n\n"
    "Fits --model on TRAIN and explains the prediction for --row N of --target FILE (default: of TRAIN), or "
    "the row found by --query Q (group column) and --item I (id column). support = how much the training row "
    "pushes the target's score towards the predicted label (the score change if it were removed); "
    "loss effect = how much it lowers the target's loss. For linear models each row shows the features "
    "that carry its support.\n\n"
    "Example:\n\n"
    "  samplescope explain train.parquet --label click --id impression_id --model logistic "
    "--target valid.parquet --row 12 --top 10"
)


@app.command("explain", help=_EXPLAIN_HELP, short_help="Training rows that support and oppose one prediction.")
@_guard
def explain_cmd(
    train: Annotated[Path, typer.Argument(metavar="TRAIN", show_default=False, help="Training file.")],
    target: Annotated[Optional[Path], typer.Option("--target", metavar="FILE", rich_help_panel=_D,
                                                   help="File holding the row to explain \\[default: TRAIN].")] = None,
    label: LabelOpt = None,
    group: GroupOpt = None,
    weight: WeightOpt = None,
    id: IdOpt = None,
    features: FeaturesOpt = None,
    exclude: ExcludeOpt = None,
    row: Annotated[Optional[int], typer.Option(metavar="N", rich_help_panel="Target",
                                               help="Row (0-based, file order) to explain.")] = None,
    query: Annotated[Optional[str], typer.Option(metavar="Q", rich_help_panel="Target",
                                                 help="Find the target by its group value (needs --group).")] = None,
    item: Annotated[Optional[str], typer.Option(metavar="I", rich_help_panel="Target",
                                                help="Find the target by its id (needs --id).")] = None,
    model: ModelOpt = ...,
    C: COpt = None,
    alpha: AlphaOpt = None,
    no_intercept: NoInterceptOpt = False,
    method: Annotated[str, typer.Option("--method", "-m", metavar="NAME", rich_help_panel="Method",
                                        help="Method with pairwise attributions: influence, tracin, or "
                                        "auto.")] = "auto",
    param: ParamOpt = None,
    top: Annotated[int, typer.Option(metavar="K", min=0, rich_help_panel=_O, help="Rows per table.")] = 10,
    n_features: Annotated[int, typer.Option(metavar="K", min=0, rich_help_panel=_O,
                                            help="Features shown per row (linear models).")] = 3,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="OUT.parquet", rich_help_panel=_O,
                                                help="Also write both tables (column side).")] = None,
    seed: SeedOpt = 0,
) -> None:
    kind = model.value
    _check_model_opts(kind, C, alpha)
    if row is None and query is None and item is None:
        raise CLIError("explain needs --row N, or --query Q and/or --item I; found none")
    if row is not None and (query is not None or item is not None):
        raise CLIError("give --row or --query/--item, not both")
    if query is not None and group is None:
        raise CLIError("--query needs the group column; expected --group COL, found none")
    if item is not None and id is None:
        raise CLIError("--item needs the id column; expected --id COL, found none")
    params = _parse_params(param or [], method) if method != "auto" else {}
    if param and method == "auto":
        raise CLIError("--param needs an explicit --method (influence or tracin); found --method auto")
    if method != "auto" and get_method(method).pairwise is None:
        raise CLIError(f"method '{method}' has no pairwise attributions; expected influence, tracin or auto")
    if out is not None:
        _check_out(out, [p for p in (train, target) if p is not None])
    _need_label(train, label)

    train_ds = _read_train(train, label=label, group=group, weight=weight, id=id, features=features, exclude=exclude)
    tgt_ds = None if target is None else _read_other(target, train_ds, label=label, group=group, weight=weight, id=id)
    fitted = _fit(kind, train_ds, C=C, alpha=alpha, no_intercept=no_intercept, seed=seed)
    data = train_ds if tgt_ds is None else tgt_ds
    if row is not None and not 0 <= row < data.n:
        raise CLIError(f"--row must be in 0..{data.n - 1} for {data.name}; found {row}")
    ex = explain(fitted, train_ds, row=row, targets=tgt_ds, query=query, item=item, top=top, method=method,
                 n_features=n_features, **params)
    if out is not None:
        df = ex.to_frame()
        _write(out, lambda tmp: df.to_parquet(tmp, index=False))

    con = _out()
    where = (target or train).name
    pred = "" if ex.predicted is None else f"predicted {ex.predicted:g} (p = {ex.prediction:.4g})"
    if ex.predicted is None:
        pred = f"prediction {ex.prediction:.6g}"
    con.print(Text.assemble("row ", (str(ex.row), "bold"), f" of {where} (id {ex.id}, label {ex.label:g}): ",
                            pred, f"; explained by {ex.method} over {train_ds.n:,} training rows"))
    for title, df in (("Supports the prediction", ex.support), ("Opposes the prediction", ex.oppose)):
        t = Table(title=f"{title} ({len(df)})", title_justify="left", show_edge=False)
        for col in ("#", "row", "id", "label", "support", "loss effect", "features that matter"):
            t.add_column(col, justify="left" if col.startswith("features") else "right",
                         overflow="fold")
        for r in df.itertuples(index=False):
            t.add_row(str(r.rank), str(r.row), str(r.id), f"{r.label:g}", f"{r.support:.4g}", f"{r.loss_effect:.4g}",
                      r.features)
        con.print(t)
    con.print(Text("support: change of the target's score towards its prediction if the row were removed (sign "
                   "flipped); loss effect: positive = the row lowers the target's loss", style="dim"))
    if ex.note:
        con.print(Text(ex.note, style="dim"))
    if out is not None:
        con.print(Text.assemble("wrote ", (str(out), "bold")))

