"""Getting torch models in: checkpoints read without unpickling, bare modules, the CLI's ``torch:`` specs."""

from __future__ import annotations

import numpy as np

from samplescope.data.dataset import Dataset
from samplescope.errors import DataError, ModelError, require
from samplescope.models.torch_adapter import TorchModel

torch = require("torch", "torch")

__all__ = ["from_spec", "load_checkpoint", "wrap_module"]


def load_checkpoint(path) -> dict:
    """A state dict from a file saved with ``torch.save``, read with ``weights_only=True`` (never unpickled)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - unpickling refused or a corrupt file
        raise DataError(f"{path}: could not read a torch checkpoint with weights_only=True; found "
                        f"{type(exc).__name__}: {exc}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise DataError(f"{path}: expected a state_dict (parameter name -> tensor); found {type(obj).__name__}")
    return obj


def from_spec(spec: str, train: Dataset, checkpoint=None) -> TorchModel:
    """The CLI's ``--model torch:module.path:factory [--checkpoint FILE]``.

    ``factory`` (imported from the user's module) is called with ``n_features=train.n_features`` when it takes
    that argument, else with none, and returns an ``nn.Module`` (objective from its ``objective`` attribute or
    inferred, see :func:`wrap_module`) or a :class:`TorchModel`. ``checkpoint`` is a ``torch.save``'d state
    dict, read with ``weights_only=True`` (never unpickled).
    """
    import importlib
    import inspect

    _, _, rest = spec.partition(":")
    mod_name, _, fn_name = rest.rpartition(":")
    if not mod_name or not fn_name:
        raise ModelError(f"--model {spec}: expected torch:module.path:factory (e.g. "
                         "torch:samplescope.examples.torch_models:mlp)")
    try:
        factory = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"--model {spec}: could not import {fn_name} from module {mod_name}; found "
                         f"{type(exc).__name__}: {exc}") from None
    takes = "n_features" in inspect.signature(factory).parameters
    obj = factory(n_features=train.n_features) if takes else factory()
    model = obj if isinstance(obj, TorchModel) else wrap_module(obj, train) if isinstance(obj, torch.nn.Module) \
        else None
    if model is None:
        raise ModelError(f"--model {spec}: the factory returned {type(obj).__name__}; expected a torch.nn.Module or "
                         "a TorchModel")
    return model if checkpoint is None else model.with_state(load_checkpoint(checkpoint), str(checkpoint))


def wrap_module(module, train: Dataset | None = None) -> TorchModel:
    """A :class:`TorchModel` for a bare module: its ``objective`` attribute if it has one, else inferred from
    the output width and the labels (one output: ``logloss`` for 0/1 labels, else ``squared_error``;
    ``K`` outputs: ``softmax``). Ranking objectives must be given explicitly."""
    obj = getattr(module, "objective", None)
    if obj is not None:
        return TorchModel(module, obj)
    if train is None:
        raise ModelError("a bare torch module needs its objective: wrap it as TorchModel(module, objective=...)")
    if train.group is not None:
        raise ModelError("a torch module on grouped (ranking) data needs its objective: wrap it as "
                         "TorchModel(module, objective='lambdarank' | 'ranknet' | 'listnet' | ...)")
    probe = TorchModel(module, "squared_error")
    with torch.no_grad():
        out = probe._call(probe._theta, probe._x(train, 0, 1))
    K = out.numel()
    if K > 1:
        from samplescope.objectives import SoftmaxCrossEntropy

        return TorchModel(module, SoftmaxCrossEntropy(n_classes=K))
    return TorchModel(module, "logloss" if set(np.unique(train.y)) <= {0.0, 1.0} else "squared_error")
