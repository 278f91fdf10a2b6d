"""Exact ``influence`` on a small non-convex MLP against warm-started refit leave-one-out.

The claim benchmarks/run_torch_loo.py measures at scale, pinned on a tiny model: at the exact optimum of
``J(θ) = Σ_i ℓ_i(θ) + (λ/2)‖θ‖²`` with a positive-definite Hessian, samplescope's ``influence`` (exact Hessian,
not Gauss–Newton) is the derivative of the refit validation loss in the row's weight (checked by central
differences of refits at ``w_i = 1 ± ε``), and so agrees with removing the row (``w_i = 0``) to first order.
The references are independent Newton solves with ``torch.func.hessian``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two cores shared by everyone: one intra-op thread

import samplescope as ss  # noqa: E402
from conftest import make_problem  # noqa: E402
from samplescope.models.torch_adapter import TorchModel  # noqa: E402
from tolerances import TORCH, close  # noqa: E402

LAM = 4.0


def _problem():
    from torch.func import functional_call, grad, hessian

    train, valid = make_problem("binary", n=40, n_valid=15, d=5, seed=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    named = list(net.named_parameters())
    X, y = torch.as_tensor(train.X), torch.as_tensor(train.y)

    def unflat(th):
        parts = torch.split(th, [v.numel() for _, v in named])
        return {k: t.reshape(v.shape) for (k, v), t in zip(named, parts)}

    def losses(th, X, y):
        out = functional_call(net, unflat(th), (X,)).reshape(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(out, y, reduction="none")

    def J(th, w):
        return (w * losses(th, X, y)).sum() + 0.5 * LAM * th @ th

    def newton(th, w):
        for _ in range(100):
            g = grad(J)(th, w)
            if float(g.norm()) < 1e-12:
                return th
            H = hessian(J)(th, w)
            shift = max(0.0, 1e-6 - float(torch.linalg.eigvalsh(H)[0]))  # only far from the optimum
            s, t, J0 = torch.linalg.solve(H + shift * torch.eye(len(th), dtype=th.dtype), g), 1.0, float(J(th, w))
            while t > 1e-10 and float(J(th - t * s, w)) > J0 + 1e-13 * abs(J0):
                t /= 2
            th = th - t * s
        raise AssertionError(f"Newton did not converge: ‖∇J‖ = {float(g.norm()):.1e}")

    def valid_loss(th):
        return float(losses(th, torch.as_tensor(valid.X), torch.as_tensor(valid.y)).mean())

    ones = torch.ones(train.n, dtype=torch.float64)
    star = newton(torch.cat([v.detach().reshape(-1) for _, v in named]), ones)
    assert float(torch.linalg.eigvalsh(hessian(J)(star, ones))[0]) > 0.5  # a strict minimum (observed 1.47)
    net.load_state_dict(unflat(star))
    return train, valid, net, star, ones, newton, valid_loss


@pytest.fixture(scope="module")
def problem():
    return _problem()


def test_exact_influence_is_the_derivative_of_refit_validation_loss(problem):
    train, valid, net, star, ones, newton, valid_loss = problem
    infl = ss.score("influence", TorchModel(net, "logloss", weight_decay=LAM), train, valid=valid).values
    eps, rows = 1e-4, np.arange(0, train.n, 5)
    fd = []
    for i in rows:  # d/dε L_valid(θ(w_i = 1 − ε)) by central differences of two refits
        lo, hi = ones.clone(), ones.clone()
        lo[i], hi[i] = 1 - eps, 1 + eps
        fd.append((valid_loss(newton(star, lo)) - valid_loss(newton(star, hi))) / (2 * eps))
    close(infl[rows], np.array(fd), TORCH["mlp_reweight"])


def test_exact_influence_agrees_with_refit_loo_to_first_order(problem):
    train, valid, net, star, ones, newton, valid_loss = problem
    m = TorchModel(net, "logloss", weight_decay=LAM)
    assert m.curvature == "hessian"  # the exact Hessian, not Gauss–Newton
    infl = ss.score("influence", m, train, valid=valid).values
    base, loo = valid_loss(star), np.empty(train.n)
    for i in range(train.n):
        w = ones.clone()
        w[i] = 0.0
        loo[i] = valid_loss(newton(star, w)) - base
    assert np.corrcoef(infl, loo)[0, 1] >= TORCH["mlp_loo_pearson"]["pearson"]
    close(infl, loo, TORCH["mlp_loo"])
