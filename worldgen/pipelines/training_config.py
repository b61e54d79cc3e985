"""What both training commands do with their config: Hydra-syntax overrides applied, each
block checked against its dataclass, the dataset lists normalised and the device checked;
every mistake a one-line SceneError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from worldgen.scene import SceneError
from worldgen.scene.loading import apply_overrides, parse_overrides


def training_config(cfg: DictConfig, overrides: list[str], schemas: dict[str, type], source: Path) -> dict[str, Any]:
    """``cfg`` (loaded from ``source``) with ``overrides`` applied and the blocks named in
    ``schemas`` merged into their dataclass; ``data`` and ``validation`` as lists of folders
    (``data`` required); ``episodes`` a positive number or None; ``device`` auto or cpu."""
    apply_overrides(cfg, parse_overrides(overrides))
    for key, schema in schemas.items():
        try:
            cfg[key] = OmegaConf.merge(OmegaConf.structured(schema), cfg[key])
        except OmegaConfBaseException as err:
            field = f"{key}.{err.key}" if getattr(err, "key", None) else key
            raise SceneError(field, str(err).splitlines()[0], str(source)) from None
    config = OmegaConf.to_container(cfg, resolve=True)
    for key in ("data", "validation"):
        value = config.get(key) or []
        config[key] = [value] if isinstance(value, str) else list(value)
    if not config["data"]:
        raise SceneError("data", "expected a dataset folder (data=DIR) or a list of them", "command line")
    episodes = config.get("episodes")
    if episodes is not None and (isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1):
        raise SceneError("episodes", f"expected a positive number of episodes or null, got {episodes!r}", "command line")
    if config["device"] not in ("auto", "cpu"):
        raise SceneError("device", f"expected auto or cpu, got {config['device']!r}", "command line")
    return config
