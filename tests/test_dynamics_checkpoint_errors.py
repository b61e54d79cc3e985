"""A damaged checkpoint of the learned engine is one line naming --checkpoint, exit 2,
before any work: wrong shapes, truncated or pickled weights, a config that is not JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from worldgen.cli import main

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "dynamics"


def _spoil(folder, how: str) -> None:
    weights = folder / "model.safetensors"
    if how == "wrong shapes":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "latent": config["latent"] + 8}))
    elif how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:5000])
    elif how == "pickle":
        torch.save({"w": torch.zeros(1)}, folder / "model.bin")
        weights.unlink()
    elif how == "config not JSON":
        (folder / "config.json").write_text("{not json")


@pytest.mark.parametrize("how, message", [
    ("wrong shapes", "size mismatch for node_encoder"),
    ("truncated weights", "Error while deserializing header"),
    ("pickle", "expected a checkpoint folder with config.json and model.safetensors"),
    ("config not JSON", "Expecting property name"),
])
def test_a_damaged_dynamics_checkpoint_is_a_one_line_error(tmp_path, capsys, how, message):
    folder = tmp_path / "dynamics"
    shutil.copytree(SHIPPED, folder)
    _spoil(folder, how)
    out = tmp_path / "out"
    code = main(["eval", "dynamics", "-o", str(out), "--checkpoint", str(folder), "--episodes", "1", "--videos", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: command line: --checkpoint: cannot load"), err
    assert message in err[0], err
    assert not out.exists()
