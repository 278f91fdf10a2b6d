#!/usr/bin/env python
"""Benchmark: agreement of every library's scores with exact refit leave-one-out on a small MLP.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/run_torch_loo.py --n 400 --out docs/benchmarks-torch.md

(``--out`` a page with ``<!-- loo:start -->``/``<!-- loo:end -->`` markers: only that section is replaced.)

(peers run from ``.bench/venv-torchpeers``, set up as in benchmarks/run_torch.py, each library in its own
process with one thread; this script calls itself there with ``--peers``.)

Model: ``nn.Sequential(Linear(30, 8), Tanh(), Linear(8, 1))`` in float64 (p = 257) on ``n`` training rows of
run_torch.make_data (10 % flipped labels) and its 500 validation rows, at the exact optimum of
``J(θ) = Σ_i ℓ_i(θ) + (λ/2)‖θ‖²`` (log-loss, L2 on every parameter): a short full-batch Adam run (its three
snapshots are the TracIn checkpoints), then L-BFGS and Newton with the exact Hessian to ‖∇J‖ < TOL.

Reference: for every row i, Newton on ``J_{-i}`` warm-started at θ* (the Hessian of ``J_{-i}`` is refreshed
only when a step gains less than 4×) to ‖∇J_{-i}‖ < TOL; ``value_i = L_valid(θ_{-i}) − L_valid(θ*)`` (mean
validation log-loss, positive = the row helps, samplescope's convention). Every other column is the
Spearman / Pearson correlation of a method's values with it; peers' pairwise matrices are averaged over the
validation rows and their sign is already "positive = helpful" (each is g_testᵀ · M · g_train with M positive
definite, or a sum of such products). Wall time covers the library's own preprocessing, not loading.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_torch import D, N_VALID, PEER_PY, make_data, timed  # noqa: E402

HIDDEN, TOL, BUDGET_S = 8, 1e-10, 600
ADAM_LR, ADAM_STEPS = 1e-2, (100, 200, 300)


def build():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(D, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1)).double()


def dump(obj, path: Path) -> None:
    """Write JSON (or a str as it is) atomically: a temp file in the same folder, then os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(obj) if isinstance(obj, str) else json.dump(obj, fh)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# ------------------------------------------------------------------ exact optimum and refit-LOO (flat θ)
class Problem:
    """``J_w(θ) = Σ_i w_i ℓ_i(θ) + (λ/2)‖θ‖²`` of the MLP on a flat θ, with exact gradients and Hessians."""

    def __init__(self, net, X, y, lam: float):
        import torch

        self.torch, self.net, self.lam = torch, net, float(lam)
        self.names = [k for k, _ in net.named_parameters()]
        self.shapes = [v.shape for _, v in net.named_parameters()]
        self.sizes = [v.numel() for _, v in net.named_parameters()]
        self.X, self.y = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
        self.ones = torch.ones(len(self.y), dtype=torch.float64)

    def unflat(self, th) -> dict:
        return dict(zip(self.names, (t.reshape(s) for t, s in zip(self.torch.split(th, self.sizes), self.shapes))))

    def losses(self, th, X, y):
        out = self.torch.func.functional_call(self.net, self.unflat(th), (X,)).reshape(-1)
        return self.torch.nn.functional.binary_cross_entropy_with_logits(out, y, reduction="none")

    def J(self, th, w):
        return (w * self.losses(th, self.X, self.y)).sum() + 0.5 * self.lam * th @ th

    def grad(self, th, w):
        return self.torch.func.grad(self.J)(th, w)

    def hess(self, th, w):
        return self.torch.func.hessian(self.J)(th, w)

    def mean_loss(self, th, X, y) -> float:
        return float(self.losses(th, self.torch.as_tensor(X), self.torch.as_tensor(y)).mean())

    def newton(self, th, w, H=None, tol: float = TOL, max_iter: int = 100):
        """Newton on ``J_w`` from θ (optionally starting with the Hessian ``H``) to ‖∇J_w‖ < tol.
        Returns θ, ‖∇J_w‖, iterations, Hessians formed."""
        T = self.torch
        g, hessians, L = self.grad(th, w), 0, None
        for it in range(max_iter):
            gn = float(g.norm())
            if gn < tol:
                return th, gn, it, hessians
            if H is None:
                H, hessians = self.hess(th, w), hessians + 1
            if L is None:  # factorise once per Hessian; not positive definite (far from θ*): shift it
                L, info = T.linalg.cholesky_ex(H)
                if info:
                    L = T.linalg.cholesky(H + (1e-6 - float(T.linalg.eigvalsh(H)[0])) * T.eye(len(H), dtype=H.dtype))
            step = T.cholesky_solve(g[:, None], L)[:, 0]
            J0, t = float(self.J(th, w)), 1.0
            while t > 1e-10 and float(self.J(th - t * step, w)) > J0 + 1e-13 * abs(J0):
                t /= 2
            th = th - t * step
            g = self.grad(th, w)
            if float(g.norm()) > 0.25 * gn:
                H = L = None  # the chord stalled: refresh the Hessian
        return th, float(g.norm()), max_iter, hessians


def train(prob: Problem, net) -> tuple:
    """Adam snapshots (TracIn checkpoints), then L-BFGS + Newton to the exact optimum of J."""
    T = prob.torch
    th = T.cat([v.detach().reshape(-1) for v in net.parameters()]).requires_grad_(True)
    opt, ckpts, n = T.optim.Adam([th], lr=ADAM_LR), [], len(prob.y)
    for step in range(1, ADAM_STEPS[-1] + 1):
        opt.zero_grad()
        (prob.J(th, prob.ones) / n).backward()
        opt.step()
        if step in ADAM_STEPS:
            ckpts.append(th.detach().clone())
    x = th.detach().clone().requires_grad_(True)
    lb = T.optim.LBFGS([x], lr=1.0, max_iter=5000, tolerance_grad=TOL, tolerance_change=1e-15, history_size=50,
                       line_search_fn="strong_wolfe")

    def closure():
        lb.zero_grad()
        (v := prob.J(x, prob.ones)).backward()
        return v
    lb.step(closure)
    th, gn, _, _ = prob.newton(x.detach(), prob.ones)
    return th, gn, ckpts


def refit_loo(prob: Problem, th, Xva, yva) -> tuple:
    """Exact refit-LOO values and convergence statistics (see the module docstring)."""
    base = prob.mean_loss(th, Xva, yva)
    H = prob.hess(th, prob.ones)
    vals, gns, iters, hess = [], [], [], []
    for i in range(len(prob.y)):
        w = prob.ones.clone()
        w[i] = 0.0
        Hi = H - prob.torch.func.hessian(lambda t: prob.losses(t, prob.X[i:i + 1], prob.y[i:i + 1]).sum())(th)
        t_i, gn, it, nh = prob.newton(th, w, H=Hi)
        vals.append(prob.mean_loss(t_i, Xva, yva) - base)
        gns.append(gn), iters.append(it), hess.append(nh)
    return np.array(vals), {"max_grad": max(gns), "mean_iter": float(np.mean(iters)), "max_iter": max(iters),
                            "refreshes": int(sum(hess))}


# ------------------------------------------------------------------ samplescope (project venv)
def ours(folder: Path, meta: dict) -> dict:
    import torch

    import samplescope as ss
    from samplescope.models.torch_adapter import TorchModel

    f = np.load(folder / "data.npz")
    tr, va = ss.from_arrays(f["Xtr"], f["ytr"]), ss.from_arrays(f["Xva"], f["yva"])
    star = torch.load(folder / "mlp.pt", weights_only=True)
    ckpts = [(torch.load(folder / f"ckpt{t}.pt", weights_only=True), ADAM_LR) for t in range(len(ADAM_STEPS))]

    def model(**kw):  # a fresh adapter per run: no cache carried between timings; objective == J (c = 1)
        net = build()
        net.load_state_dict(star)
        return TorchModel(net, "logloss", c=1.0, weight_decay=meta["lam"], batch_size=1024, **kw)

    p = meta["p"]
    runs = [("influence (exact Hessian)", "influence", {}, {}),
            ("influence (cg)", "influence", {}, {"solver": "cg"}),
            ("influence (lissa, depth 1000)", "influence", {}, {"solver": "lissa"}),
            ("influence (lissa, depth 10000)", "influence", {}, {"solver": "lissa", "iterations": 10_000}),
            ("influence (arnoldi, rank 200)", "influence", {}, {"solver": "arnoldi", "rank": 200}),
            ("influence (arnoldi, rank 16)", "influence", {}, {"solver": "arnoldi", "rank": 16}),
            ("influence (Gauss–Newton, exact)", "influence", {"curvature": "ggn"}, {}),
            ("trak (identity)", "trak", {}, {"proj_dim": p}),
            ("trak (k = 64)", "trak", {}, {"proj_dim": 64}),
            ("tracin (optimum)", "tracin", {}, {}),
            ("tracin (3 Adam checkpoints)", "tracin", {"checkpoints": ckpts}, {}),
            ("loo (warm-started L-BFGS refits)", "loo", {}, {}),
            ("grad_norm (self)", "grad_norm", {}, {}),
            ("el2n (self)", "el2n", {}, {})]
    out = {}
    for label, method, mkw, params in runs:
        m = model(**mkw)  # built outside the timing
        timed(out, f"samplescope|{label}", lambda: ss.score(
            method, m, tr, valid=None if method in ("grad_norm", "el2n") else va, **params).values)
    return out


# ------------------------------------------------------------------ peers (.bench/venv-torchpeers)
def peers(folder: Path, lib: str) -> None:
    import warnings

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    f = np.load(folder / "data.npz")
    Xtr, ytr, Xva, yva = (torch.as_tensor(f[k]) for k in ("Xtr", "ytr", "Xva", "yva"))
    meta = json.load(open(folder / "meta.json"))
    n, p, lam = len(Xtr), meta["p"], meta["lam"]
    star = str(folder / "mlp.pt")
    ckpts = [str(folder / f"ckpt{t}.pt") for t in range(len(ADAM_STEPS))]
    net = build()
    net.load_state_dict(torch.load(star, weights_only=True))
    net.eval()
    results = {}

    def run(label, fn):
        timed(results, f"{lib}|{label}", fn)

    if lib == "pydvl":  # 0.10: influences(x_test, y_test, x, y) = ⟨H⁻¹∇ℓ_test, ∇ℓ_i⟩ (n_test, n_train), mean loss
        from pydvl.influence.torch import ArnoldiInfluence, CgInfluence, DirectInfluence, LissaInfluence

        def pydvl(cls, **kw):  # H of the mean loss + λ/n I = H_J / n: the same inverse up to the factor n
            loss = lambda out, y: torch.nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y)  # noqa
            infl = cls(net, loss, regularization=lam / n, **kw).fit(DataLoader(TensorDataset(Xtr, ytr), batch_size=n))
            return infl.influences(Xva, yva, Xtr, ytr).mean(dim=0).detach()
        run("influence (exact Hessian)", lambda: pydvl(DirectInfluence))
        run("influence (cg)", lambda: pydvl(CgInfluence, solve_simultaneously=True))
        run("influence (lissa, maxiter 1000)", lambda: pydvl(LissaInfluence, maxiter=1000))
        run("influence (arnoldi, rank 200)", lambda: pydvl(ArnoldiInfluence, rank=200))
        run("influence (arnoldi, rank 16)", lambda: pydvl(ArnoldiInfluence, rank=16))

    if lib == "dattri":  # 0.3: attribute(train_loader, test_loader) -> (n_train, n_test) of g_trainᵀ M g_test
        from torch.func import functional_call

        from dattri.algorithm.influence_function import (IFAttributorArnoldi, IFAttributorCG, IFAttributorExplicit,
                                                         IFAttributorLiSSA)
        from dattri.algorithm.tracin import TracInAttributor
        from dattri.algorithm.trak import TRAKAttributor
        from dattri.task import AttributionTask

        def task(paths, dtype):
            m = build().to(dtype)
            sds = [{k: v.to(dtype) for k, v in torch.load(q, weights_only=True).items()} for q in paths]

            def loss(params, batch):  # mean log-loss of a batch (one row under dattri's vmap)
                x, y = batch
                out = functional_call(m, params, (x.unsqueeze(0) if x.dim() == 1 else x,)).reshape(-1)
                return torch.nn.functional.binary_cross_entropy_with_logits(out, y.reshape(-1).to(out.dtype))
            return AttributionTask(loss_func=loss, model=m, checkpoints=sds if len(sds) > 1 else sds[0]), m

        def loaders(dtype):  # the cache loader holds the training set as one batch (dattri sums over batches)
            tr = TensorDataset(Xtr.to(dtype), ytr.to(dtype))
            return (DataLoader(tr, batch_size=n), DataLoader(TensorDataset(Xva.to(dtype), yva.to(dtype)),
                                                             batch_size=N_VALID), DataLoader(tr, batch_size=n))

        def dattri_if(cls, dtype=torch.float64, **kw):
            a = cls(task=task([star], dtype)[0], device="cpu", **kw)
            tr, te, full = loaders(dtype)
            a.cache(full)
            return a.attribute(tr, te).mean(dim=1).detach()
        run("influence (exact Hessian)", lambda: dattri_if(IFAttributorExplicit, regularization=lam / n))
        # 0.3's CG has no stopping rule (its tol is unused) and divides 0/0 once a residual underflows: float64,
        # max_iter = 100 (< p = 257, the exact-in-theory count; more gave NaN on run_torch's logistic model)
        run("influence (cg, 100 iterations)", lambda: dattri_if(IFAttributorCG, max_iter=100, regularization=lam / n))
        # Arnoldi and LiSSA build float32 matrices internally: float32 models
        run("influence (arnoldi, rank 200)", lambda: dattri_if(IFAttributorArnoldi, torch.float32, proj_dim=200,
                                                               max_iter=p, regularization=lam / n))
        run("influence (arnoldi, rank 16)", lambda: dattri_if(IFAttributorArnoldi, torch.float32, proj_dim=16,
                                                              max_iter=33, regularization=lam / n))
        run("influence (lissa, depth 1000)", lambda: dattri_if(IFAttributorLiSSA, torch.float32, damping=lam / n,
                                                               recursion_depth=1000))

        def tracin(paths, lrs):
            a = TracInAttributor(task=task(paths, torch.float64)[0], weight_list=torch.tensor(lrs),
                                 normalized_grad=False, device="cpu")
            tr, te, _ = loaders(torch.float64)
            return a.attribute(tr, te).mean(dim=1).detach()
        run("tracin (optimum)", lambda: tracin([star], [1.0]))
        run("tracin (3 Adam checkpoints)", lambda: tracin(ckpts, [ADAM_LR] * len(ckpts)))

        def trak(k):
            t, m = task([star], torch.float64)

            def correct(params, batch):  # probability of the observed label: exp(−ℓ)
                x, y = batch
                out = functional_call(m, params, (x.unsqueeze(0),)).reshape(-1)
                return torch.exp(-torch.nn.functional.binary_cross_entropy_with_logits(out, y.reshape(-1)))
            a = TRAKAttributor(task=t, correct_probability_func=correct, device="cpu", projector_kwargs={
                "proj_dim": k, "proj_max_batch_size": 32, "proj_seed": 0, "device": "cpu"})
            _, te, full = loaders(torch.float64)
            a.cache(full)
            return a.attribute(te).mean(dim=1).detach()  # (test[, train]) order; train = the cached loader
        run(f"trak (square projection, k = p = {p})", lambda: trak(p))
        run("trak (k = 64)", lambda: trak(64))

    if lib == "captum":  # 0.9: influence((x, y)) -> (n_test, n_train) of Σ_t η_t ∇ℓ_testᵀ∇ℓ_train; summed loss
        from captum.influence import TracInCP, TracInCPFast

        def captum(cls, paths, lr):
            def load(mm, path):  # Captum multiplies each checkpoint's scores by what this returns
                mm.load_state_dict(torch.load(path, weights_only=True))
                return lr
            m = build()
            kw = {"final_fc_layer": m[2]} if cls is TracInCPFast else {"sample_wise_grads_per_batch": True}
            t = cls(m, train_dataset=TensorDataset(Xtr, ytr.reshape(-1, 1)), checkpoints=paths,
                    checkpoints_load_func=load, loss_fn=torch.nn.BCEWithLogitsLoss(reduction="sum"), batch_size=n, **kw)
            return t.influence((Xva, yva.reshape(-1, 1))).mean(dim=0).detach()
        run("tracin (optimum)", lambda: captum(TracInCP, [star], 1.0))
        run("tracin (3 Adam checkpoints)", lambda: captum(TracInCP, ckpts, ADAM_LR))
        run("tracin fast (last layer, optimum)", lambda: captum(TracInCPFast, [star], 1.0))
        run("tracin fast (last layer, 3 Adam checkpoints)", lambda: captum(TracInCPFast, ckpts, ADAM_LR))

    if lib == "traker":  # 0.3: TRAKer, binary margin (2y − 1)·logit; scores (n_train, n_test), positive = helpful
        from trak import TRAKer
        from trak.modelout_functions import AbstractModelOutput
        from trak.projectors import BasicProjector, NoOpProjector, ProjectionType

        class Binary(AbstractModelOutput):
            def __init__(self):  # abstract in traker 0.3
                super().__init__()

            def get_output(self, model, weights, buffers, x, y):
                return (2 * y - 1) * torch.func.functional_call(model, (weights, buffers), x.unsqueeze(0)).reshape(())

            def get_out_to_loss_grad(self, model, weights, buffers, batch):
                x, y = batch
                logit = torch.func.functional_call(model, (weights, buffers), x).reshape(-1)
                return torch.sigmoid(-(2 * y - 1) * logit).detach().reshape(-1, 1)

        def traker(k):
            sd = torch.load(star, weights_only=True)
            proj = NoOpProjector(grad_dim=p, proj_dim=p, device="cpu") if k >= p else BasicProjector(
                grad_dim=p, proj_dim=k, seed=0, proj_type=ProjectionType.rademacher, device="cpu", dtype=torch.float64,
                block_size=k // 2)  # one block (k ≤ 100) is freed after featurising and never regenerated
            with tempfile.TemporaryDirectory() as d:
                tr = TRAKer(model=net, task=Binary(), train_set_size=n, save_dir=d, device="cpu", projector=proj,
                            proj_dim=min(k, p), use_half_precision=False, logging_level=40)
                tr.load_checkpoint(sd, model_id=0)
                tr.featurize(batch=(Xtr, ytr), num_samples=n)
                tr.finalize_features()
                tr.start_scoring_checkpoint(exp_name="v", checkpoint=sd, model_id=0, num_targets=len(Xva))
                tr.score(batch=(Xva, yva), num_samples=len(Xva))
                return np.asarray(tr.finalize_scores(exp_name="v")).mean(axis=1)
        run("trak (identity: NoOpProjector)", lambda: traker(p))
        run("trak (k = 64)", lambda: traker(64))

    dump(results, folder / f"peers-{lib}.json")


# ------------------------------------------------------------------ driver
START, END = "<!-- loo:start -->", "<!-- loo:end -->"  # the section's place in docs/benchmarks-torch.md


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="training rows")
    ap.add_argument("--lam", type=float, default=1.0, help="λ of J (L2 on every parameter)")
    ap.add_argument("--out", default="/tmp/torchloo/loo.md")
    ap.add_argument("--libs", nargs="+", default=["pydvl", "dattri", "captum", "traker"])
    ap.add_argument("--peers", help=argparse.SUPPRESS)  # worker mode: --peers LIB --folder DIR
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.peers:
        peers(Path(a.folder), a.peers)
        return 0
    import torch
    from scipy.stats import pearsonr, spearmanr

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        Xtr, ytr, Xva, yva, flipped = make_data(a.n)
        np.savez(folder / "data.npz", Xtr=Xtr, ytr=ytr, Xva=Xva, yva=yva, flipped=flipped)
        net = build()
        prob = Problem(net, Xtr, ytr, a.lam)
        t0 = time.perf_counter()
        th, gn, ckpts = train(prob, net)
        fit_s = time.perf_counter() - t0
        ev = torch.linalg.eigvalsh(prob.hess(th, prob.ones)).numpy()
        torch.save({k: v.clone() for k, v in prob.unflat(th).items()}, folder / "mlp.pt")
        for t, c in enumerate(ckpts):
            torch.save({k: v.clone() for k, v in prob.unflat(c).items()}, folder / f"ckpt{t}.pt")
        meta = {"lam": a.lam, "p": len(th), "n": a.n}
        dump(meta, folder / "meta.json")
        t0 = time.perf_counter()
        ref, conv = refit_loo(prob, th, Xva, yva)
        loo_s = time.perf_counter() - t0
        print(f"fit {fit_s:.1f} s, ‖∇J‖ {gn:.1e}, eig [{ev[0]:.3g}, {ev[-1]:.3g}]; refit-LOO {loo_s:.1f} s {conv}",
              file=sys.stderr, flush=True)
        results = ours(folder, meta)
        if PEER_PY.exists():
            env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
            for lib in a.libs:  # one process per library
                r = subprocess.run([str(PEER_PY), __file__, "--peers", lib, "--folder", d], env=env,
                                   capture_output=True, text=True, timeout=3600)
                sys.stderr.write(r.stderr[-3000:])
                if (folder / f"peers-{lib}.json").exists():
                    results.update(json.load(open(folder / f"peers-{lib}.json")))
                else:
                    results[f"{lib}|(all)"] = {"seconds": 0.0, "error": f"worker exited {r.returncode}: "
                                               f"{r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else ''}"}
    rows = [("refit-LOO (reference: warm-started Newton)", "this script", f"{loo_s:.2f}", "1", "1",
             f"{a.n} refits, mean {conv['mean_iter']:.1f} Newton steps, max ‖∇J₋ᵢ‖ {conv['max_grad']:.1e}")]
    exact = np.asarray(results["samplescope|influence (exact Hessian)"]["values"])
    for key, r in results.items():
        lib, label = key.split("|", 1)
        if "error" in r:
            rows.append((label, lib, f"{r['seconds']:.2f}", "–", "–", f"failed: {r['error']}".replace("|", "/")))
            continue
        v = np.asarray(r["values"])
        if len(v) != a.n or not np.all(np.isfinite(v)):
            rows.append((label, lib, f"{r['seconds']:.2f}", "–", "–", f"{np.sum(~np.isfinite(v))} non-finite values"
                         if len(v) == a.n else f"{len(v)} values"))
            continue
        note = "self value (no validation set)" if "(self)" in label else \
            f"Pearson {pearsonr(v, exact).statistic:.3f} with samplescope's exact influence" if np.std(v) > 0 else ""
        rows.append((label, lib, f"{r['seconds']:.2f}", f"{spearmanr(v, ref).statistic:.3f}",
                     f"{pearsonr(v, ref).statistic:.3f}" if np.std(v) > 0 else "–", note))
    lines = ["| method | library | wall s | Spearman vs refit-LOO | Pearson vs refit-LOO | note |",
             "|---|---|---|---|---|---|"] + ["| " + " | ".join(r) + " |" for r in rows]
    cmd = f"OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/run_torch_loo.py --n {a.n} --lam {a.lam:g}"
    text = "\n".join([
        "## Agreement with exact refit leave-one-out (small MLP)", "",
        f"Model `Linear({D}, {HIDDEN}) → tanh → Linear({HIDDEN}, 1)` in float64 (p = {meta['p']}) on n = {a.n} "
        f"training rows of the benchmark data (10 % flipped labels) and its {N_VALID} validation rows, at the exact "
        f"optimum of J(θ) = Σᵢ ℓᵢ(θ) + (λ/2)‖θ‖² with λ = {a.lam:g} on every parameter ({ADAM_STEPS[-1]} full-batch "
        f"Adam steps, lr {ADAM_LR:g}, whose snapshots at steps {', '.join(map(str, ADAM_STEPS))} are the TracIn "
        f"checkpoints; then L-BFGS and Newton with the exact Hessian to ‖∇J‖ = {gn:.1e}). The Hessian of J there "
        f"is positive definite: eigenvalues {ev[0]:.3g} … {ev[-1]:.3g} (condition {ev[-1] / ev[0]:.3g}). "
        f"Reference: for each training row, Newton on J without the row, warm-started at θ*, to ‖∇J₋ᵢ‖ < {TOL:g} "
        f"(reached: max {conv['max_grad']:.1e}; mean {conv['mean_iter']:.1f}, max {conv['max_iter']} steps), "
        f"value = L_valid(θ₋ᵢ) − L_valid(θ*) (mean validation log-loss; positive = the row helps; values "
        f"{ref.min():.2e} … {ref.max():.2e}). Every library scores the same state_dict and data, in its own process "
        "with one thread; wall time covers its own preprocessing. Peers' (validation × train) matrices are "
        "averaged over the validation rows; all of them already mean \"positive = helpful\" (pyDVL 0.10's "
        "`influences` is +⟨H⁻¹∇ℓ_test, ∇ℓ_i⟩, dattri's and Captum's scores are g_trainᵀ·M·g_test, traker's "
        "are margin-based proponent scores), so no sign is flipped. pyDVL and dattri use the mean loss: their "
        f"regularisation is λ/n = {a.lam / a.n:g}, so their Hessian is H_J / n. The Gauss–Newton and TRAK rows use "
        "the Gauss–Newton matrix, not the Hessian; TracIn rows are gradient dot products (no curvature); "
        "grad_norm and el2n are self values (no validation set), listed for reference. The note gives each row's "
        "Pearson correlation with samplescope's exact-Hessian influence: it separates a method's error as an "
        "approximation of the influence function from the influence function's own first-order error against "
        "removing the row.", "",
        *lines, "", f"Command: `{cmd}` (peers from `.bench/venv-torchpeers`, see run_torch.py).", ""])
    print(text)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.read_text() if out.exists() else ""
    if START in old and END in old:  # a page with the section's markers: replace the section only
        text = old[:old.index(START) + len(START)] + "\n\n" + text.rstrip() + "\n\n" + old[old.index(END):]
    dump(text, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
