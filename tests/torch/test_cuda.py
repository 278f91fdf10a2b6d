"""The torch adapter on a CUDA device: the same values as on the CPU (fp64 exactly, fp32 and bf16 within their
precision), sparse embedding rows included. Skipped where no GPU is present (these machines have none); run it
with ``pytest tests/torch/test_cuda.py`` on one."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():  # pragma: no cover - depends on the machine
    pytest.skip("no CUDA device", allow_module_level=True)

import samplescope as ss  # noqa: E402
from samplescope.examples.torch_models import DeepFM  # noqa: E402
from samplescope.models.torch_adapter import TorchModel  # noqa: E402
from test_torch_gradients import TabularNet, tabular  # noqa: E402
from tolerances import TORCH, close  # noqa: E402


@pytest.mark.parametrize("dtype,tol", [(torch.float64, "autograd"), (torch.float32, "fp32"),
                                       (torch.bfloat16, "bf16")])
def test_gradients_on_cuda_equal_the_cpu(dtype, tol):
    data = tabular(n=40)
    cpu = TorchModel(TabularNet().double(), "logloss")
    gpu = TorchModel(TabularNet(), "logloss", device="cuda", dtype=dtype)
    close(gpu.scores(data), cpu.scores(data), TORCH[tol])
    v = np.random.default_rng(0).normal(size=cpu.p)
    close(gpu.gradient_dot(data, v), cpu.gradient_dot(data, v), TORCH[tol])
    close(gpu.gradient_sq_norms(data), cpu.gradient_sq_norms(data), TORCH[tol])


@pytest.mark.parametrize("method,params", [("grad_norm", {}), ("tracin", {"learning_rate": 1.0}),
                                           ("trak", {"proj_dim": 16}), ("influence", {"solver": "cg", "damping": 0.01}),
                                           ("margin", {})])
def test_methods_on_cuda_equal_the_cpu(method, params):
    rng = np.random.default_rng(5)
    n = 60
    X = np.c_[rng.integers(0, 6, n), rng.integers(0, 4, n), rng.normal(size=n)]
    train = ss.from_arrays(X, rng.integers(0, 2, n).astype(float))
    valid = ss.from_arrays(X[:15], 1 - train.y[:15])
    net = DeepFM([6, 4], n_numeric=1, dim=3, hidden=(4,)).double()
    cpu = TorchModel(net, "logloss", weight_decay=0.05, curvature="ggn")  # untrained: the Hessian is indefinite
    twin = DeepFM([6, 4], n_numeric=1, dim=3, hidden=(4,)).double()
    twin.load_state_dict(net.state_dict())  # its own copy: the adapter moves the module to the device
    gpu = TorchModel(twin, "logloss", weight_decay=0.05, device="cuda", curvature="ggn")
    assert gpu._tables  # the embedding tables are scored sparsely on the GPU too
    kw = {"valid": valid} if method in ("tracin", "trak", "influence") else {}
    close(ss.score(method, gpu, train, **kw, **params).values, ss.score(method, cpu, train, **kw, **params).values,
          TORCH["ihvp"] if method == "influence" else TORCH["autograd"])
