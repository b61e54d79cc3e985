"""Training the learned world model on pybullet trajectories (``worldgen train dynamics``).

The config is ``configs/train/dynamics.yaml`` with Hydra-syntax overrides (``data=DIR``,
``train.steps=2000``, ``model.latent=64``; ``init=CHECKPOINT`` fine-tunes a trained model). Every dataset folder becomes one training group
(its episodes padded together); validation folders are held-out splits checked during
training. The final model goes to ``output`` (``config.json`` + ``model.safetensors``, plus
``training.json``: data, settings, time and the last validation)."""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from worldgen.pipelines.training_config import training_config
from worldgen.scene import SceneError
from worldgen.scene.loading import CONFIG_DIR

CONFIG = CONFIG_DIR / "train" / "dynamics.yaml"


def load_config(overrides: list[str]) -> dict[str, Any]:
    """The training config with overrides applied and checked against the dataclasses."""
    from simulation.dynamics.model import DynamicsConfig
    from simulation.dynamics.training import LOSSES, TrainConfig

    config = training_config(OmegaConf.load(CONFIG), overrides, {"model": DynamicsConfig, "train": TrainConfig}, CONFIG)
    if config["train"]["loss"] not in LOSSES:
        raise SceneError("train.loss", f"expected one of {', '.join(LOSSES)}, got {config['train']['loss']!r}", "command line")
    return config


def dataset_trajectories(root: str | Path, episodes: int | None = None) -> list:
    """The Trajectory of every stored episode in a dataset folder, or of its first
    ``episodes`` (reads only the trajectory members)."""
    from worldgen.dataset.reader import DatasetFormatError, EpisodeDataset

    try:
        dataset = EpisodeDataset(root, modalities=("state",))
        return [dataset.trajectory(index) for index in range(len(dataset.samples[:episodes]))]
    except DatasetFormatError as err:
        raise SceneError("data", str(err), "command line") from None


def load_group(root: str | Path, fps: int, episodes: int | None = None):
    """A training group of the episodes of a dataset folder (recorded at ``fps``): all, or
    the first ``episodes``."""
    from simulation.dynamics.rollout import batch_tables
    from simulation.dynamics.training import Group

    trajectories = dataset_trajectories(root, episodes)
    if not trajectories:
        raise SceneError("data", f"{root}: no episodes", "command line")
    rates = {t.fps for t in trajectories}
    if rates != {fps}:
        raise SceneError("data", f"{root}: episodes at {sorted(rates)} fps; the model steps at model.fps={fps}", "command line")
    lengths = {len(t) for t in trajectories}
    if len(lengths) > 1:
        raise SceneError("data", f"{root}: episodes of different lengths {sorted(lengths)}", "command line")
    table, states = batch_tables(trajectories)
    return Group(Path(root).name, table, states)


def run_training(config: dict, progress: bool = True) -> Path:
    """Train as ``config`` says; returns the output folder."""
    from simulation.dynamics.model import DynamicsConfig
    from simulation.dynamics.trainer import train
    from simulation.dynamics.training import TrainConfig

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    init = None
    if config.get("init"):
        from simulation.dynamics.model import DynamicsModel

        try:
            init = DynamicsModel.from_pretrained(config["init"])
        except ValueError as err:
            raise SceneError("init", str(err), "command line") from None
        config["model"] = dataclasses.asdict(init.config)  # the architecture is the checkpoint's
    started = time.perf_counter()
    fps = config["model"]["fps"]
    groups = [load_group(root, fps, config.get("episodes")) for root in config["data"]]
    validation = [load_group(root, fps) for root in config["validation"]]
    loaded = time.perf_counter() - started
    model_config, train_config = DynamicsConfig(**config["model"]), TrainConfig(**config["train"])
    model = train(model_config, train_config, groups, validation, config["run_dir"], cpu=config["device"] == "cpu",
                  progress=progress, init=init)
    output = Path(config["output"])
    model.save_pretrained(output)
    history = json.loads((Path(config["run_dir"]) / "history.json").read_text())
    last = next((h["validation"] for h in reversed(history) if "validation" in h), None)
    record = {
        "config": config,
        "episodes": {g.name: g.episodes for g in groups},
        "validation_episodes": {g.name: g.episodes for g in validation},
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_loading": loaded,
        "seconds_training": next((h["seconds"] for h in reversed(history) if "seconds" in h), None),
        "device": "cuda" if torch.cuda.is_available() and config["device"] == "auto" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "last_validation": last,
    }
    (output / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return output
