#!/usr/bin/env python
"""Benchmark: samplescope's torch adapter vs Captum, dattri, traker and pyDVL (influence) on the same models.

    bash: python3 -m venv .bench/venv-torchpeers && .bench/venv-torchpeers/bin/pip install torch==2.13.0 \\
          && .bench/venv-torchpeers/bin/pip install -c <(echo torch==2.13.0) captum dattri traker \\
             "pydvl[influence]==0.10.0"
    .venv/bin/python benchmarks/run_torch.py --sizes 2000 --out docs/benchmarks-torch.md

Data: synthetic imbalanced binary classification (30 Gaussian features, logistic ground truth, ~6 %
positives), 10 % of the training labels flipped, 500 clean validation rows. Two models, built from the
same code in both venvs and shared as ``state_dict`` files:

* ``logistic`` — ``nn.Linear(30, 1)`` at the exact optimum of ``J = Σ ℓ_i + ½‖θ‖²`` (L2 on the bias too,
  as torch peers damp every parameter): the reference is samplescope's exact influence, which equals the
  linear adapter's to 1e-15 (tests/torch/test_torch_linear.py);
* ``mlp`` — 30 → 32 → 16 → 1 ReLU, Adam on the mean log-loss + weight decay 1e-3 (c = 1/n), three
  checkpoints for TracIn.

Every library scores the change of the mean validation loss (peers' pairwise matrices are averaged over the
validation rows); quality = Spearman with the exact influence (logistic) and ROC-AUC of finding the flipped
labels from the lowest values. Each library runs in its own process with one thread; wall time includes
the library's own preprocessing (caching, fitting the inverse Hessian) but not loading data or models.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER_PY = ROOT / ".bench/venv-torchpeers/bin/python"
D, N_VALID, LAMBDA = 30, 500, 1.0
BUDGET_S = 300  # per peer run; a run over it is reported as timed out


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=D) / np.sqrt(D) * 2.5
    X = rng.normal(size=(n + N_VALID, D))
    y = (rng.random(n + N_VALID) < 1 / (1 + np.exp(-(X @ w - 3.5)))).astype(np.float64)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, n // 10, replace=False)] = True
    ytr = y[:n].copy()
    ytr[flipped] = 1 - ytr[flipped]
    return X[:n], ytr, X[n:], y[n:], flipped


def build(kind: str):
    import torch

    torch.manual_seed(0)
    if kind == "logistic":
        return torch.nn.Linear(D, 1).double()
    return torch.nn.Sequential(torch.nn.Linear(D, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 1)).double()


# ------------------------------------------------------------------ samplescope (project venv)
def selected(model: str, label: str, only) -> bool:
    """Whether a row is among ``--only`` (substrings of ``"model method"``; everything without it)."""
    return not only or any(o in f"{model} {label}" for o in only)


def prepare(n: int, folder: Path, only=None) -> dict:
    """Train both models, save data and state dicts; return samplescope's results (the exact influence on the
    logistic model always: it is the reference)."""
    import torch

    import samplescope as ss
    from samplescope.examples.torch_models import train_module
    from samplescope.models.torch_adapter import TorchModel

    torch.set_num_threads(1)
    Xtr, ytr, Xva, yva, flipped = make_data(n)
    np.savez(folder / "data.npz", Xtr=Xtr, ytr=ytr, Xva=Xva, yva=yva, flipped=flipped)
    train, valid = ss.from_arrays(Xtr, ytr), ss.from_arrays(Xva, yva)
    logistic = TorchModel(build("logistic"), "logloss", weight_decay=LAMBDA).refit(train)
    torch.save(logistic.state_dict(), folder / "logistic.pt")
    mlp = TorchModel(build("mlp"), "logloss", c=1.0 / n, weight_decay=1e-3, curvature="ggn", batch_size=1024)
    mlp = train_module(mlp, train, epochs=30, lr=1e-2, batch_size=128, snapshots=3)
    torch.save(mlp.state_dict(), folder / "mlp.pt")
    for t, (sd, lr) in enumerate(mlp.checkpoints):
        torch.save(sd, folder / f"mlp_ckpt{t}.pt")
    json.dump({"lrs": [lr for _, lr in mlp.checkpoints]}, open(folder / "mlp_ckpts.json", "w"))
    runs = {
        ("logistic", "influence (exact)"): (logistic, "influence", {}),
        ("logistic", "influence (cg)"): (logistic, "influence", {"solver": "cg"}),
        ("logistic", "influence (arnoldi, rank 10)"): (logistic, "influence", {"solver": "arnoldi", "rank": 10}),
        ("logistic", "influence (lissa)"): (logistic, "influence", {"solver": "lissa", "iterations": 1000}),
        ("logistic", "tracin (η = 1)"): (logistic, "tracin", {"learning_rate": 1.0}),
        ("logistic", "trak (identity)"): (logistic, "trak", {"proj_dim": 10_000}),
        ("logistic", "trak (k = 16)"): (logistic, "trak", {"proj_dim": 16}),
        ("mlp", "influence (ggn, cg 100, δ = 1e-3)"): (mlp, "influence", {"solver": "cg", "damping": 1e-3,
                                                                           "iterations": 100}),
        ("mlp", "influence (ggn, arnoldi, rank 50)"): (mlp, "influence", {"solver": "arnoldi", "rank": 50,
                                                                           "damping": 1e-3}),
        ("mlp", "tracin (3 checkpoints)"): (mlp, "tracin", {}),
        ("mlp", "trak (k = 512, 3 checkpoints)"): (mlp, "trak", {"proj_dim": 512, "damping": 1e-3}),
        ("mlp", "grad_norm (self)"): (mlp, "grad_norm", {}),
    }
    out = {}
    for (model, label), (m, method, params) in runs.items():
        if not (selected(model, label, only) or label == "influence (exact)"):
            continue
        t0 = time.perf_counter()
        v = ss.score(method, m, train, valid=None if method == "grad_norm" else valid, **params).values
        out[("samplescope", model, label)] = (time.perf_counter() - t0, v)
    return out


def timed(results: dict, key: str, fn) -> None:
    """``results[key]`` = wall seconds and the values of ``fn()``, or its error (a peer's failure is a result);
    a run over ``BUDGET_S`` is stopped by SIGALRM."""
    import signal

    def timeout(*_):
        raise TimeoutError(f"over {BUDGET_S} s")

    signal.signal(signal.SIGALRM, timeout)
    signal.alarm(BUDGET_S)
    t0 = time.perf_counter()
    try:
        v = np.asarray(fn(), dtype=np.float64).reshape(-1)
        results[key] = {"seconds": time.perf_counter() - t0, "values": v.tolist()}
    except Exception as exc:  # noqa: BLE001 - a peer's failure is a result
        results[key] = {"seconds": time.perf_counter() - t0, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        signal.alarm(0)
    print(f"{key}: {results[key]['seconds']:.2f} s {results[key].get('error', '')}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ peers (.bench/venv-torchpeers)
def peers(folder: Path, only: list[str], rows=None) -> None:
    import warnings

    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    f = np.load(folder / "data.npz")
    Xtr, ytr, Xva, yva = (torch.as_tensor(f[k]) for k in ("Xtr", "ytr", "Xva", "yva"))
    n = len(Xtr)
    models = {k: build(k) for k in ("logistic", "mlp")}
    for k, m in models.items():
        m.load_state_dict(torch.load(folder / f"{k}.pt", weights_only=True))
        m.eval()
    ckpts = [str(folder / f"mlp_ckpt{t}.pt") for t in range(3)]
    lrs = json.load(open(folder / "mlp_ckpts.json"))["lrs"]
    results = {}
    # torch.func's first call imports torch._dynamo (~2 s): pay it here, not in whichever row runs first
    torch.func.vmap(torch.func.grad(lambda t: (t**2).sum()))(torch.ones(2, 2, dtype=torch.float64))
    torch.func.jvp(lambda t: t.sin(), (torch.ones(2),), (torch.ones(2),))

    def run(lib, model, label, fn):
        if lib in only and selected(model, label, rows):
            timed(results, f"{lib}|{model}|{label}", fn)

    mean_bce = torch.nn.BCEWithLogitsLoss()

    # pyDVL 0.10: influences(x_test, y_test, x, y) -> (n_test, n_train); mean loss + regularisation λ/n
    def pydvl(cls, model, reg, **kw):
        from torch.utils.data import DataLoader, TensorDataset

        from pydvl.influence.torch import DirectInfluence  # noqa: F401

        m = models[model]
        loss = lambda out, y: mean_bce(out.reshape(-1), y)  # noqa: E731
        infl = cls(m, loss, regularization=reg, **kw).fit(DataLoader(TensorDataset(Xtr, ytr), batch_size=1000))
        return infl.influences(Xva, yva, Xtr, ytr).mean(dim=0).detach()

    if "pydvl" in only:
        from pydvl.influence.torch import (ArnoldiInfluence, CgInfluence, DirectInfluence, LissaInfluence,
                                           SecondOrderMode)

        run("pydvl", "logistic", "influence (exact)", lambda: pydvl(DirectInfluence, "logistic", LAMBDA / n))
        run("pydvl", "logistic", "influence (cg)", lambda: pydvl(CgInfluence, "logistic", LAMBDA / n,
                                                                  solve_simultaneously=True))
        run("pydvl", "logistic", "influence (arnoldi, rank 10)", lambda: pydvl(ArnoldiInfluence, "logistic",
                                                                                LAMBDA / n, rank=10))
        run("pydvl", "logistic", "influence (lissa)", lambda: pydvl(LissaInfluence, "logistic", LAMBDA / n,
                                                                     maxiter=1000))
        gn = {"second_order_mode": SecondOrderMode.GAUSS_NEWTON}
        run("pydvl", "mlp", "influence (ggn, cg 100, δ = 1e-3)", lambda: pydvl(CgInfluence, "mlp", 2e-3, maxiter=100,
                                                                            solve_simultaneously=True, **gn))
        run("pydvl", "mlp", "influence (ggn, arnoldi, rank 50)", lambda: pydvl(ArnoldiInfluence, "mlp", 2e-3, rank=50,
                                                                          **gn))

    # dattri 0.3: attribute(train_loader, test_loader) -> (n_train, n_test)
    def dattri_task(model, ckpt):
        from torch.func import functional_call

        from dattri.task import AttributionTask

        m = build(model).float()  # dattri's Arnoldi and LiSSA build float32 matrices: run it in float32
        ckpt = [{k: v.float() for k, v in c.items()} for c in ckpt] if isinstance(ckpt, list) else \
            {k: v.float() for k, v in ckpt.items()}

        def loss(params, batch):
            x, y = batch
            out = functional_call(m, params, (x.unsqueeze(0) if x.dim() == 1 else x,)).reshape(-1)
            return torch.nn.functional.binary_cross_entropy_with_logits(out, y.reshape(-1).to(out.dtype))
        return AttributionTask(loss_func=loss, model=m, checkpoints=ckpt)

    def loaders():
        from torch.utils.data import DataLoader, TensorDataset

        return (DataLoader(TensorDataset(Xtr.float(), ytr.float()), batch_size=500),
                DataLoader(TensorDataset(Xva.float(), yva.float()), batch_size=500))

    def dattri_if(cls, model, **kw):
        task = dattri_task(model, models[model].state_dict())
        a = cls(task=task, device="cpu", **kw)
        tr, te = loaders()
        a.cache(tr)
        return a.attribute(tr, te).mean(dim=1).detach()

    if "dattri" in only:
        from dattri.algorithm.influence_function import (IFAttributorArnoldi, IFAttributorCG, IFAttributorExplicit,
                                                         IFAttributorLiSSA)
        from dattri.algorithm.tracin import TracInAttributor

        run("dattri", "logistic", "influence (exact)", lambda: dattri_if(IFAttributorExplicit, "logistic",
                                                                          regularization=LAMBDA / n))
        # dattri 0.3's CG has no stopping rule (its `tol` is unused) and divides 0/0 once the float32 residual
        # underflows: max_iter = 50 on this 31-parameter model gave NaN; its default max_iter = 10 does not (and
        # reaches ρ > 0.998). It solves with each cache batch's Hessian and sums the solutions.
        run("dattri", "logistic", "influence (cg)", lambda: dattri_if(IFAttributorCG, "logistic", max_iter=10,
                                                                       regularization=LAMBDA / n))
        run("dattri", "logistic", "influence (arnoldi, rank 10)", lambda: dattri_if(
            IFAttributorArnoldi, "logistic", proj_dim=10, max_iter=21, regularization=LAMBDA / n))
        run("dattri", "logistic", "influence (lissa)", lambda: dattri_if(IFAttributorLiSSA, "logistic",
                                                                          damping=LAMBDA / n, recursion_depth=1000))

        def dattri_tracin():
            task = dattri_task("mlp", [torch.load(c, weights_only=True) for c in ckpts])
            a = TracInAttributor(task=task, weight_list=torch.tensor(lrs), normalized_grad=False, device="cpu")
            tr, te = loaders()
            return a.attribute(tr, te).mean(dim=1).detach()
        run("dattri", "mlp", "tracin (3 checkpoints)", dattri_tracin)

    # Captum 0.9: TracInCPFast (last layer only) -> (n_test, n_train); loss summed, as Captum requires
    if "captum" in only:
        from captum.influence import TracInCPFast
        from torch.utils.data import TensorDataset

        def captum(model, layer, paths, lr):
            m = models[model]
            def load(mm, path):  # Captum multiplies each checkpoint's scores by what this returns
                mm.load_state_dict(torch.load(path, weights_only=True))
                return lr

            t = TracInCPFast(m, layer(m), TensorDataset(Xtr, ytr.reshape(-1, 1)), paths, checkpoints_load_func=load,
                             loss_fn=torch.nn.BCEWithLogitsLoss(reduction="sum"), batch_size=500)
            return t.influence((Xva, yva.reshape(-1, 1))).mean(dim=0).detach()
        run("captum", "logistic", "tracin (η = 1)", lambda: captum("logistic", lambda m: m,
                                                                    [str(folder / "logistic.pt")], 1.0))
        run("captum", "mlp", "tracin (last layer, 3 checkpoints)", lambda: captum("mlp", lambda m: m[4], ckpts,
                                                                                   lrs[0]))

    # traker 0.3: TRAKer with the CPU BasicProjector and a binary margin output (2y − 1)·logit
    if "traker" in only:
        def traker(model, k, paths):
            from trak import TRAKer
            from trak.modelout_functions import AbstractModelOutput
            from trak.projectors import BasicProjector, NoOpProjector, ProjectionType

            class Binary(AbstractModelOutput):
                def __init__(self):
                    super().__init__()

                def get_output(self, model, weights, buffers, x, y):
                    logit = torch.func.functional_call(model, (weights, buffers), x.unsqueeze(0)).reshape(())
                    return (2 * y - 1) * logit

                def get_out_to_loss_grad(self, model, weights, buffers, batch):
                    x, y = batch
                    logit = torch.func.functional_call(model, (weights, buffers), x).reshape(-1)
                    return torch.sigmoid(-(2 * y - 1) * logit).detach().reshape(-1, 1)

            m = models[model]
            p = sum(t.numel() for t in m.parameters())
            proj = NoOpProjector(grad_dim=p, proj_dim=p, device="cpu") if k >= p else BasicProjector(
                grad_dim=p, proj_dim=k, seed=0, proj_type=ProjectionType.rademacher, device="cpu", dtype=torch.float64)
            k = min(k, p)
            with tempfile.TemporaryDirectory() as d:
                tr = TRAKer(model=m, task=Binary(), train_set_size=n, save_dir=d, device="cpu", projector=proj,
                            proj_dim=k, use_half_precision=False, logging_level=40)
                for i, path in enumerate(paths):
                    tr.load_checkpoint(torch.load(path, weights_only=True), model_id=i)
                    for s in range(0, n, 500):
                        tr.featurize(batch=(Xtr[s:s + 500], ytr[s:s + 500]), num_samples=len(Xtr[s:s + 500]))
                tr.finalize_features()
                for i, path in enumerate(paths):
                    tr.start_scoring_checkpoint(exp_name="v", checkpoint=torch.load(path, weights_only=True),
                                                model_id=i, num_targets=len(Xva))
                    tr.score(batch=(Xva, yva), num_samples=len(Xva))
                return np.asarray(tr.finalize_scores(exp_name="v")).mean(axis=1)
        run("traker", "logistic", "trak (identity)", lambda: traker("logistic", 10_000, [str(folder / "logistic.pt")]))
        run("traker", "mlp", "trak (k = 512, 3 checkpoints)", lambda: traker("mlp", 512, ckpts))

    json.dump(results, open(folder / f"peers-{'-'.join(only)}.json", "w"))


# ------------------------------------------------------------------ driver
def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC-AUC of finding ``positive`` rows from the lowest scores."""
    from scipy.stats import rankdata

    r = rankdata(-scores)
    npos = positive.sum()
    return float((r[positive].sum() - npos * (npos + 1) / 2) / (npos * (len(r) - npos)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000])
    ap.add_argument("--out", default="docs/benchmarks-torch.md")
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--libs", nargs="+", default=["pydvl", "dattri", "captum", "traker"])
    ap.add_argument("--only", nargs="+", metavar="ROW",
                    help="run only the rows whose 'model method' contains one of these (e.g. 'mlp trak' "
                         "'logistic influence (cg)'); their lines replace the same lines of the existing table")
    a = ap.parse_args()
    if a.peer:
        return peers(Path(a.folder), a.libs, a.only)
    from scipy.stats import spearmanr

    rows = []
    for n in a.sizes:
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d)
            ours = prepare(n, folder, a.only)
            flipped = np.load(folder / "data.npz")["flipped"]
            results = {k: v for k, v in ours.items()}
            if PEER_PY.exists():
                for lib in a.libs:  # one process per library
                    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
                    subprocess.run([str(PEER_PY), __file__, "--peer", "--folder", d, "--libs", lib]
                                   + (["--only", *a.only] if a.only else []), check=True, env=env, timeout=3600)
                    for key, r in json.load(open(folder / f"peers-{lib}.json")).items():
                        lib_, model, label = key.split("|")
                        results[(lib_, model, label)] = (r["seconds"], np.array(r["values"]) if "values" in r
                                                         else r["error"])
            ref = ours[("samplescope", "logistic", "influence (exact)")][1]
            for (lib, model, label), (sec, v) in results.items():
                if not selected(model, label, a.only):
                    continue
                if isinstance(v, str):
                    rows.append((n, model, label, lib, f"{sec:.2f}", "–", "–", f"failed: {v}"))
                    continue
                if not np.all(np.isfinite(v)):
                    rows.append((n, model, label, lib, f"{sec:.2f}", "–", "–", "non-finite values"))
                    continue
                rho = spearmanr(v, ref).statistic if model == "logistic" else float("nan")
                rows.append((n, model, label, lib, f"{sec:.2f}", "–" if np.isnan(rho) else f"{rho:.3f}",
                             f"{auc(v, flipped):.3f}", ""))
    out = Path(a.out)
    text = out.read_text() if out.exists() else ""
    marker = "<!-- run_torch.py table -->"
    if a.only and text.count(marker) >= 2:  # keep the other lines of the existing table
        new = {r[:4] for r in rows}
        for line in text.split(marker)[1].splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 8 and cells[0].isdigit():
                old = (int(cells[0]), *cells[1:])
                if old[:4] not in new:
                    rows.append(old)
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3] != "samplescope", r[3]))
    lines = ["| N | model | method | library | wall s | Spearman vs exact influence | flipped-label AUC | note |",
             "|---|---|---|---|---|---|---|---|"] + ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if marker in text:
        head, _, rest = text.partition(marker)
        tail = rest.split(marker, 1)[1] if marker in rest else ""
        text = f"{head}{marker}\n{table}\n{marker}{tail}"
    else:
        text = f"{text}\n{marker}\n{table}\n{marker}\n"
    out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
