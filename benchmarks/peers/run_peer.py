#!/usr/bin/env python
"""Run one peer library's data-valuation method on a dataset and save the values.

Run with a peer venv's python (created by ``benchmarks/setup_peers.sh``)::

    .bench/venv-pydvl/bin/python benchmarks/peers/run_peer.py \
        --lib pydvl --method loo --data IN.npz --out OUT.npz [--threads 1]
    .bench/venv-odv/bin/python benchmarks/peers/run_peer.py \
        --lib opendataval --method knn_shapley --data IN.npz --out OUT.npz

IN.npz: ``X_train (n,d) float64, y_train (n,) int 0/1, X_valid, y_valid, C, k,
n_estimators, seed`` (scalars as 0-d arrays).

OUT.npz:
  values        (n,) float64, oriented "higher = more helpful", converted to the common
                units described in benchmarks/peers/README.md
  values_raw    (n,) float64, exactly what the library returned (its own sign and scale)
  seconds       wall time of the valuation only (model fitting that the method needs
                included; imports and data loading excluded), time.perf_counter
  fit_seconds   part of `seconds` spent fitting the base model (influence only, else 0)
  peak_rss_mb   peak resident set size of the process (getrusage ru_maxrss) after the run
  rss_before_mb resident set size just before the valuation started (/proc/self/status)
  peak_rss_before_mb  ru_maxrss just before the valuation (imports etc.)
  note          string: exactly what was computed
  lib, method, lib_version   strings

Methods: loo, influence, knn_shapley, data_oob (for both libraries). See README.md in this
folder for the definitions, conversions and caveats. Nothing here copies peer code: the
script only calls their public APIs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "BLIS_NUM_THREADS",
)

METHODS = ("loo", "influence", "knn_shapley", "data_oob")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lib", required=True, choices=("pydvl", "opendataval"))
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--data", required=True, help="input .npz")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch threads")
    p.add_argument(
        "--tol",
        type=float,
        default=1e-10,
        help="LogisticRegression tol for loo/influence (default 1e-10: exact enough "
        "for LOO differences; sklearn's default 1e-4 makes LOO silently inexact)",
    )
    p.add_argument(
        "--oob-tol",
        type=float,
        default=1e-4,
        help="LogisticRegression tol of the bagged models for data_oob (default: "
        "sklearn's 1e-4; the value only depends on 0/1 predictions)",
    )
    p.add_argument("--max-iter", type=int, default=10_000)
    p.add_argument(
        "--solver",
        default="lbfgs",
        help="LogisticRegression solver for loo/influence (default lbfgs, sklearn's "
        "default). NB: with scikit-learn 1.3 (OpenDataVal venv) lbfgs stops ~1e-5 "
        "from the optimum even at tol=1e-10; 'newton-cholesky' is exact in both venvs",
    )
    p.add_argument(
        "--influence-damp-intercept",
        action="store_true",
        help="pydvl influence: plain nn.Linear, damping 1/(C N) on ALL parameters "
        "(pyDVL's default behaviour). Default: intercept effectively undamped, as in "
        "scikit-learn, via a rescaled-bias parametrisation (see README).",
    )
    p.add_argument(
        "--bias-scale",
        type=float,
        default=1e5,
        help="pydvl influence: scale s of the rescaled bias b = s*beta (default 1e5: "
        "residual intercept damping lambda/s^2; values change by O(1/s^2))",
    )
    p.add_argument(
        "--odv-precision",
        choices=("float32", "float64"),
        default="float32",
        help="opendataval: float32 = stock pipeline (DataFetcher tensors are float32, "
        "ClassifierSkLearnWrapper.predict returns float32); float64 = same evaluators "
        "fed float64 tensors and a wrapper returning float64 probabilities",
    )
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the untimed warm-up run on a tiny balanced subset (it moves lazy "
        "imports and first-call set-up, e.g. torch.func's ~2 s import of torch._dynamo, "
        "out of the timed region)",
    )
    p.add_argument("--quiet", action="store_true", help="no JSON summary on stdout")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------
# helpers (numpy etc. are imported in main(), after the thread variables are set)


def _rss_now_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _peak_rss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def _silence():
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("pydvl").setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")


def _disable_tqdm():
    """OpenDataVal calls ``tqdm.tqdm(...)`` in its loops; make those bars silent. Call it
    after importing opendataval (transformers/huggingface_hub subclass tqdm at import)."""
    try:
        import tqdm
    except ImportError:
        return
    orig = tqdm.tqdm
    if getattr(orig, "_samplescope_quiet", False):
        return

    class QuietTqdm(orig):  # type: ignore[misc,valid-type]
        _samplescope_quiet = True

        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    tqdm.tqdm = QuietTqdm  # type: ignore[misc]


def load_data(path):
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    out = {
        "X_train": np.ascontiguousarray(d["X_train"], dtype=np.float64),
        "y_train": np.asarray(d["y_train"]).astype(np.int64).ravel(),
        "X_valid": np.ascontiguousarray(d["X_valid"], dtype=np.float64),
        "y_valid": np.asarray(d["y_valid"]).astype(np.int64).ravel(),
        "C": float(d["C"]) if "C" in d else 1.0,
        "k": int(d["k"]) if "k" in d else 10,
        "n_estimators": int(d["n_estimators"]) if "n_estimators" in d else 200,
        "seed": int(d["seed"]) if "seed" in d else 0,
    }
    n = out["X_train"].shape[0]
    if out["y_train"].shape[0] != n:
        raise ValueError("X_train and y_train lengths differ")
    for y in (out["y_train"], out["y_valid"]):
        if not set(np.unique(y)).issubset({0, 1}):
            raise ValueError("labels must be 0/1")
    return out


def small_subset(D, per_class=20):
    """A tiny balanced copy of the data for the untimed warm-up run."""
    import numpy as np

    def pick(y, m):
        idx = [np.flatnonzero(y == c)[:m] for c in (0, 1)]
        return np.sort(np.concatenate(idx))

    it, iv = pick(D["y_train"], per_class), pick(D["y_valid"], per_class // 2)
    S = dict(D)
    S.update(
        X_train=D["X_train"][it], y_train=D["y_train"][it],
        X_valid=D["X_valid"][iv], y_valid=D["y_valid"][iv],
        k=min(D["k"], max(1, len(it) - 1)), n_estimators=min(D["n_estimators"], 10),
    )
    return S


def _lr(C, tol, max_iter, solver="lbfgs"):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, tol=tol, max_iter=max_iter, solver=solver)


# ----------------------------------------------------------------------------------------
# pyDVL 0.10.0


def pydvl_prepare(method, D, args):
    """Everything that is set-up (not valuation): returns a zero-arg callable that runs the
    valuation and returns (values, values_raw, note, extra)."""
    import numpy as np
    from pydvl.valuation import Dataset

    Xtr, ytr, Xva, yva = D["X_train"], D["y_train"], D["X_valid"], D["y_valid"]
    n = len(ytr)
    C = D["C"]
    train = Dataset(Xtr, ytr)
    valid = Dataset(Xva, yva)

    def ordered(result):
        v = np.full(n, np.nan)
        v[np.asarray(result.indices, dtype=int)] = np.asarray(result.values, dtype=float)
        return v

    if method == "loo":
        from pydvl.valuation import LOOValuation, ModelUtility, SupervisedScorer

        scorer = SupervisedScorer("neg_log_loss", valid, default=np.nan)
        utility = ModelUtility(
            _lr(C, args.tol, args.max_iter, args.solver), scorer, catch_errors=False, show_warnings=False
        )
        valuation = LOOValuation(utility, progress=False)

        def run():
            valuation.fit(train)
            v = ordered(valuation.result)
            note = (
                "pyDVL LOOValuation; utility u(S) = sklearn 'neg_log_loss' on the validation "
                f"set of LogisticRegression(C={C}, tol={args.tol}, max_iter={args.max_iter}, "
                f"solver={args.solver}) "
                "fitted on S; value_i = u(N) - u(N\\{i}) = mean valid log-loss without i - "
                "mean valid log-loss with all (positive = helpful). values = values_raw."
            )
            return v, v.copy(), note, {}

        return run

    if method == "influence":
        import torch
        import torch.nn.functional as F
        from pydvl.influence import InfluenceMode
        from pydvl.influence.torch import DirectInfluence

        dtype = torch.float64
        lam = 1.0 / (C * n)
        s = float(args.bias_scale)
        damp_all = bool(args.influence_damp_intercept)

        class ScaledBiasLinear(torch.nn.Module):
            # logit = x.w + s*beta; with b = s*beta the damping lam on beta acts as lam/s^2
            # on b, i.e. the intercept is (numerically) unpenalised as in scikit-learn.
            def __init__(self, w, b, scale):
                super().__init__()
                self.scale = scale
                self.weight = torch.nn.Parameter(torch.as_tensor(w, dtype=dtype).reshape(1, -1))
                self.beta = torch.nn.Parameter(
                    torch.as_tensor([b / scale], dtype=dtype).reshape(1)
                )

            def forward(self, x):
                return x @ self.weight.T + self.scale * self.beta

        def loss(out, target):
            return F.binary_cross_entropy_with_logits(out, target)

        Xt = torch.as_tensor(Xtr, dtype=dtype)
        yt = torch.as_tensor(ytr, dtype=dtype).reshape(-1, 1)
        Xv = torch.as_tensor(Xva, dtype=dtype)
        yv = torch.as_tensor(yva, dtype=dtype).reshape(-1, 1)

        def run():
            import time

            from torch.utils.data import DataLoader, TensorDataset

            t0 = time.perf_counter()
            lr = _lr(C, args.tol, args.max_iter, args.solver).fit(Xtr, ytr)
            fit_s = time.perf_counter() - t0
            w, b = lr.coef_.ravel(), float(lr.intercept_[0])
            if damp_all:
                model = torch.nn.Linear(Xtr.shape[1], 1).to(dtype)
                with torch.no_grad():
                    model.weight.copy_(torch.as_tensor(w, dtype=dtype).reshape(1, -1))
                    model.bias.fill_(b)
            else:
                model = ScaledBiasLinear(w, b, s)
            model.eval()
            loader = DataLoader(TensorDataset(Xt, yt), batch_size=min(n, 8192), shuffle=False)
            infl = DirectInfluence(model, loss, regularization=lam)
            infl = infl.fit(loader)
            # H^{-1} g_j for every validation point, averaged -> H^{-1} grad(mean valid loss)
            factors = infl.influence_factors(Xv, yv)
            fmean = factors.mean(dim=0, keepdim=True)
            raw = infl.influences_from_factors(fmean, Xt, yt, mode=InfluenceMode.Up)
            raw = raw.detach().cpu().numpy().reshape(-1).astype(np.float64)
            note = (
                "pyDVL DirectInfluence (exact Hessian, torch.linalg.solve) on a 1-logit "
                "linear model carrying the weights of sklearn LogisticRegression("
                f"C={C}, tol={args.tol}, solver={args.solver}); loss = mean BCE-with-logits; regularization = "
                f"1/(C*N) = {lam:.6g} "
                + (
                    "on all parameters incl. the intercept (pyDVL default)"
                    if damp_all
                    else f"on the weights; intercept reparametrised b = {s:g}*beta so its "
                    f"damping is {lam / s**2:.3g} (scikit-learn leaves it unpenalised)"
                )
                + ". values_raw_i = <H^-1 grad mean-valid-loss, grad loss_i> (pyDVL Up mode, "
                "no minus sign) = mean over valid points of pyDVL's influences; values = "
                "values_raw / N ~= L_valid(theta_-i) - L_valid(theta) (first-order LOO, "
                "positive = helpful). Timing includes the sklearn fit "
                f"({fit_s:.3f}s)."
            )
            return raw / n, raw, note, {"fit_seconds": fit_s}

        return run

    if method == "knn_shapley":
        from sklearn.neighbors import KNeighborsClassifier
        from pydvl.valuation import KNNShapleyValuation

        k = D["k"]
        valuation = KNNShapleyValuation(
            KNeighborsClassifier(n_neighbors=k), test_data=valid, progress=False
        )

        def run():
            valuation.fit(train)
            v = ordered(valuation.result)
            note = (
                f"pyDVL KNNShapleyValuation, KNeighborsClassifier(n_neighbors={k}) defaults "
                "(Euclidean/minkowski p=2); exact Jia et al. 2019 recursion for the utility "
                "u(S) = mean over valid points of (#correct labels among the K nearest "
                "points of S)/K; averaged over validation points (positive = helpful). "
                "values = values_raw."
            )
            return v, v.copy(), note, {}

        return run

    if method == "data_oob":
        from sklearn.ensemble import BaggingClassifier
        from pydvl.valuation import DataOOBValuation

        B = D["n_estimators"]
        seed = D["seed"]
        bag = BaggingClassifier(
            estimator=_lr(C, args.oob_tol, args.max_iter),
            n_estimators=B,
            max_samples=1.0,
            bootstrap=True,
            random_state=seed,
            n_jobs=None,
        )
        def run():
            bag.fit(Xtr, ytr)
            valuation = DataOOBValuation(bag)
            valuation.fit(train)
            v = ordered(valuation.result)
            note = (
                f"pyDVL DataOOBValuation on sklearn BaggingClassifier({B} x LogisticRegression"
                f"(C={C}, tol={args.oob_tol}), bootstrap, max_samples=1.0, random_state="
                f"{seed}); value_i = fraction of estimators with i out-of-bag that predict "
                "y_i correctly (point-wise accuracy; positive = helpful). Timing includes "
                "fitting the bagging ensemble. values = values_raw."
            )
            return v, v.copy(), note, {}

        return run

    raise ValueError(method)


# ----------------------------------------------------------------------------------------
# OpenDataVal 1.3.0


def odv_prepare(method, D, args):
    import numpy as np
    import torch

    import opendataval.dataval  # noqa: F401  (imports transformers etc. first)
    from opendataval.model import ClassifierSkLearnWrapper
    from sklearn.linear_model import LogisticRegression

    _disable_tqdm()

    Xtr, ytr, Xva, yva = D["X_train"], D["y_train"], D["X_valid"], D["y_valid"]
    n, d = Xtr.shape
    C = D["C"]
    seed = D["seed"]
    f64 = args.odv_precision == "float64"
    tdtype = torch.float64 if f64 else torch.float32

    def onehot(y):
        return np.eye(2)[y]

    if f64:
        x_trn = torch.as_tensor(Xtr, dtype=tdtype)
        x_val = torch.as_tensor(Xva, dtype=tdtype)
        y_trn = torch.as_tensor(onehot(ytr), dtype=tdtype)
        y_val = torch.as_tensor(onehot(yva), dtype=tdtype)
    else:  # exactly the tensors the stock DataFetcher hands to evaluators (float32)
        from opendataval.dataloader import DataFetcher

        fetcher = DataFetcher.from_data_splits(
            Xtr, onehot(ytr), Xva, onehot(yva), Xva, onehot(yva), one_hot=True
        )
        x_trn, y_trn, x_val, y_val, *_ = fetcher.datapoints

    class Float64Wrapper(ClassifierSkLearnWrapper):
        def predict(self, x):
            if isinstance(x, torch.utils.data.Dataset):
                x = next(iter(torch.utils.data.DataLoader(x, len(x)))).numpy(force=True)
            else:
                x = x.numpy(force=True)
            return torch.from_numpy(self.model.predict_proba(x)).to(dtype=torch.float64)

    Wrapper = Float64Wrapper if f64 else ClassifierSkLearnWrapper

    def neg_log_loss(y, y_hat):
        """Metric (higher = better): minus the mean validation log-loss, computed in
        float64 from the model's class probabilities, clipped like sklearn.log_loss."""
        yy = np.asarray(y.numpy(force=True)).argmax(axis=1)
        p = np.asarray(y_hat.numpy(force=True), dtype=np.float64)
        eps = np.finfo(y_hat.numpy(force=True).dtype).eps
        pt = np.clip(p[np.arange(len(yy)), yy], eps, 1 - eps)
        return float(np.mean(np.log(pt)))

    prec = (
        "float64 tensors, float64 wrapper"
        if f64
        else "stock float32 DataFetcher tensors + ClassifierSkLearnWrapper (float32 probs)"
    )

    if method == "loo":
        from opendataval.dataval import LeaveOneOut

        model = Wrapper(
            LogisticRegression, 2, C=C, tol=args.tol, max_iter=args.max_iter, solver=args.solver
        )
        ev = LeaveOneOut(random_state=np.random.RandomState(seed))

        def run():
            ev.input_data(x_trn, y_trn, x_val, y_val)
            ev.input_model_metric(model, neg_log_loss)
            ev.train_data_values()
            v = np.asarray(ev.evaluate_data_values(), dtype=np.float64)
            note = (
                "OpenDataVal LeaveOneOut with ClassifierSkLearnWrapper(LogisticRegression(C="
                f"{C}, tol={args.tol})) [{prec}], metric = minus mean validation log-loss "
                f"[solver={args.solver}] (float64, clipped at dtype eps); value_i = metric(all) - metric(without i) "
                "= L_valid(-i) - L_valid(all) (positive = helpful). values = values_raw."
            )
            return v, v.copy(), note, {}

        return run

    if method == "influence":
        from opendataval.dataval import InfluenceFunction
        from opendataval.model import LogisticRegression as OdvLogReg

        tol, max_iter, solver = args.tol, args.max_iter, args.solver

        class SklearnFittedLogReg(OdvLogReg):
            """OpenDataVal's torch LogisticRegression (2 sigmoid outputs, BCE on one-hot
            labels) whose fit() solves sklearn's problem and copies the solution in:
            row 1 = (w, b), row 0 = -(w, b), so output = (1-p, p) with the sklearn p."""

            def fit(self, x_train, y_train, *a, **kw):
                X = x_train.numpy(force=True).astype(np.float64)
                y = y_train.numpy(force=True).argmax(axis=1)
                lr = LogisticRegression(C=C, tol=tol, max_iter=max_iter, solver=solver).fit(
                    X, y
                )
                w = torch.as_tensor(lr.coef_.ravel(), dtype=self.linear.weight.dtype)
                b = float(lr.intercept_[0])
                with torch.no_grad():
                    self.linear.weight.copy_(torch.stack([-w, w]))
                    self.linear.bias.copy_(torch.tensor([-b, b], dtype=w.dtype))
                return self

        model = SklearnFittedLogReg(d, 2).to(tdtype)
        ev = InfluenceFunction()
        n_val = len(yva)

        def run():
            ev.input_data(x_trn, y_trn, x_val, y_val)
            ev.input_model(model)
            ev.train_data_values()
            raw = np.asarray(ev.evaluate_data_values(), dtype=np.float64)
            note = (
                "OpenDataVal InfluenceFunction (first order: NO inverse Hessian) on its torch "
                "LogisticRegression(d, 2) [2 sigmoid outputs, mean BCE vs one-hot] with the "
                f"sklearn LogisticRegression(C={C}, tol={tol}, solver={solver}) solution loaded as rows "
                f"+(w,b), -(w,b) [{'float64' if f64 else 'float32'} model]; values_raw_i = "
                "sum over valid j of <grad loss_j, grad loss_i> = n_valid/2 * <g_valid, g_i> "
                "with g the 1-logit gradients (the 2-output head halves the inner product); "
                "values = 2*values_raw/(n_valid*N) = (1/N) <g_valid, g_i> (= the LOO "
                "approximation with H = I; positive = helpful). No L2 term in gradients."
            )
            return 2.0 * raw / (n_val * n), raw, note, {}

        return run

    if method == "knn_shapley":
        from opendataval.dataval import KNNShapley

        k = D["k"]
        ev = KNNShapley(k_neighbors=k, random_state=np.random.RandomState(seed))

        # KNNShapley.match() hard-codes float32 and its score tensor takes the dtype of
        # the distances, so OpenDataVal 1.3.0's KNNShapley only runs on float32 features
        # (float64 raises "Index put requires the source and destination dtypes match").
        x_trn_k, x_val_k = x_trn.float(), x_val.float()
        y_trn_k, y_val_k = y_trn.float(), y_val.float()

        def run():
            ev.input_data(x_trn_k, y_trn_k, x_val_k, y_val_k)
            ev.train_data_values()
            v = np.asarray(ev.evaluate_data_values(), dtype=np.float64)
            note = (
                f"OpenDataVal KNNShapley(k_neighbors={k}) [float32 features, the only dtype "
                "it supports]: torch.cdist Euclidean distances, torch.argsort(stable=True) "
                "(ties -> lower training index first), Jia et al. 2019 recursion with "
                "1/max(K, rank), averaged over validation points (positive = helpful). "
                "values = values_raw."
            )
            return v, v.copy(), note, {}

        return run

    if method == "data_oob":
        from opendataval.dataval import DataOob
        from opendataval.metrics import accuracy

        B = D["n_estimators"]
        model = Wrapper(LogisticRegression, 2, C=C, tol=args.oob_tol, max_iter=args.max_iter)
        ev = DataOob(num_models=B, proportion=1.0, random_state=np.random.RandomState(seed))

        def run():
            ev.input_data(x_trn, y_trn, x_val, y_val)
            ev.input_model_metric(model, accuracy)
            ev.train_data_values()
            v = np.asarray(ev.evaluate_data_values(), dtype=np.float64)
            note = (
                f"OpenDataVal DataOob(num_models={B}, proportion=1.0) with "
                f"ClassifierSkLearnWrapper(LogisticRegression(C={C}, tol={args.oob_tol})) "
                f"[{prec}], metric = accuracy: value_i = fraction of bootstrap models with i "
                "out-of-bag that predict y_i (positive = helpful). values = values_raw."
            )
            return v, v.copy(), note, {}

        return run

    raise ValueError(method)


# ----------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    threads = max(1, int(args.threads))
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    _silence()

    import time

    import numpy as np

    try:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
    except ImportError:
        pass

    D = load_data(args.data)
    if args.lib == "pydvl":
        import pydvl

        version = pydvl.__version__
        prepare = pydvl_prepare
    else:
        import opendataval

        version = opendataval.__version__
        prepare = odv_prepare
    if not args.no_warmup:
        prepare(args.method, small_subset(D), args)()
    run = prepare(args.method, D, args)

    import gc

    gc.collect()
    rss_before = _rss_now_mb()
    peak_before = _peak_rss_mb()
    t0 = time.perf_counter()
    values, raw, note, extra = run()
    seconds = time.perf_counter() - t0
    peak = _peak_rss_mb()

    values = np.asarray(values, dtype=np.float64).reshape(-1)
    raw = np.asarray(raw, dtype=np.float64).reshape(-1)
    n = D["X_train"].shape[0]
    if values.shape != (n,):
        raise RuntimeError(f"expected {n} values, got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise RuntimeError("non-finite values")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
    np.savez(
        args.out,
        values=values,
        values_raw=raw,
        seconds=np.float64(seconds),
        fit_seconds=np.float64(extra.get("fit_seconds", 0.0)),
        peak_rss_mb=np.float64(peak),
        rss_before_mb=np.float64(rss_before),
        peak_rss_before_mb=np.float64(peak_before),
        note=np.array(note),
        lib=np.array(args.lib),
        method=np.array(args.method),
        lib_version=np.array(version),
        threads=np.int64(threads),
    )
    if not args.quiet:
        print(
            json.dumps(
                {
                    "lib": args.lib,
                    "method": args.method,
                    "n": int(n),
                    "seconds": round(seconds, 4),
                    "peak_rss_mb": round(peak, 1),
                    "rss_before_mb": round(rss_before, 1),
                    "out": args.out,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
