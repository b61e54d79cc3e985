"""An optimiser's state on disk without pickle: its tensors in a safetensors file, the rest
(hyper-parameters, tensor names) as JSON-ready data kept by the caller."""

from __future__ import annotations

from pathlib import Path

import torch


def save_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> dict:
    """Optimiser tensors into ``path`` (safetensors); returns the rest as JSON-ready data."""
    from safetensors.torch import save_file

    state = optimizer.state_dict()
    tensors = {f"{index}.{name}": value.contiguous() for index, entry in state["state"].items()
               for name, value in entry.items() if torch.is_tensor(value)}
    save_file(tensors, str(path))
    return {"param_groups": state["param_groups"], "names": sorted(tensors)}


def load_optimizer(optimizer: torch.optim.Optimizer, path: Path, doc: dict) -> None:
    """Restore what :func:`save_optimizer` wrote (``doc``: the data it returned)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    state: dict = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": doc["param_groups"]})
