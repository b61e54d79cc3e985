"""Loading a scene: Hydra composition, command-line overrides, distributions, validation.

A scene is named either by a bundled config (``scene=dominoes`` or just ``dominoes``,
from ``configs/scene/``) or by a YAML path. Overrides use Hydra's grammar:
``scene.seed=3``, ``scene.objects.0.physics.mass=2``, ``scene.gravity=[0,0,-3]``,
``~scene.cameras`` (delete). A scene is plain data: an OmegaConf interpolation
(``${...}``) in a file or an override is refused. Config groups (``scene=NAME``) go through Hydra's
``compose``; value overrides are then applied to the composed config, so that a field the
YAML left at its default can be set without Hydra's ``+`` prefix.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ValidationError

from worldgen.scene.checks import check_scene, format_validation_error, name_entities
from worldgen.scene.distributions import expand_counts, resolve
from worldgen.scene.errors import SceneError
from worldgen.scene.limits import MAX_YAML_DEPTH
from worldgen.scene.schema import Scene
from worldgen.scene.yaml_file import check_plain, read_yaml

CONFIG_DIR = Path(os.environ.get("WORLDGEN_CONFIGS", Path(__file__).resolve().parents[2] / "configs"))
_USER_FILE = "_file_"


@dataclass
class RunConfig:
    """A composed top-level config: the concrete scene plus the other top-level keys
    (for example ``dynamics``)."""

    scene: Scene
    source: str
    options: dict[str, Any] = field(default_factory=dict)


def bundled_scenes() -> dict[str, Path]:
    """Scene configs shipped in ``configs/scene``, by name."""
    return {p.stem: p for p in sorted((CONFIG_DIR / "scene").glob("*.yaml"))}


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def compose_config(spec: str | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Compose the run config for ``spec`` (bundled name, YAML path or None for the
    default scene) and ``overrides``, and return it with its validated scene."""
    parsed = parse_overrides(overrides)
    groups = [o for o in parsed if o.key_or_group in ("scene",) and not o.is_delete()]
    values = [o for o in parsed if o not in groups]

    group_overrides = [f"scene={o.value()}" for o in groups]
    if spec is not None and (spec.endswith((".yaml", ".yml")) or os.sep in spec or Path(spec).is_file()):
        path = Path(spec)
        source = _display(path)
        if not path.is_file():
            raise SceneError("", "scene file not found", source)
        node = read_yaml(path, source)
        if not isinstance(node, dict):
            raise SceneError("", "expected a mapping of scene fields at the top of the file", source)
        ConfigStore.instance().store(group="scene", name=_USER_FILE, node=node)
        group_overrides = [f"scene={_USER_FILE}"]
        base_dir = path.resolve().parent
    else:
        name = str(groups[-1].value()) if groups else spec
        if spec is not None and groups:
            raise SceneError("", f"scene given twice: {spec!r} and scene={name}", "command line")
        if name is None:
            name = "dominoes"
        scenes = bundled_scenes()
        if name not in scenes:
            raise SceneError("scene", f"no bundled scene {name!r} and no such file; bundled: {', '.join(scenes)}", "command line")
        source = _display(scenes[name])
        read_yaml(scenes[name], source)
        group_overrides = [f"scene={name}"]
        base_dir = scenes[name].parent

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=group_overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise SceneError("", str(err).splitlines()[0], source) from None
    finally:
        GlobalHydra.instance().clear()

    apply_overrides(cfg, values)

    try:
        raw = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        field = str(getattr(err, "full_key", "") or "").removeprefix("scene.")
        raise SceneError(field, f"cannot resolve interpolation: {str(err).splitlines()[0]}", source) from None
    scene_raw = raw.pop("scene")
    try:
        scene = scene_from_dict(scene_raw, base_dir)
    except SceneError as err:
        err.source = err.source or source
        raise
    return RunConfig(scene=scene, source=source, options=raw)


def parse_overrides(items: Sequence[str]) -> list:
    """Hydra override objects for ``items`` (``key=value``, ``~key``); a malformed one is a
    one-line :class:`SceneError`."""
    parser = OverridesParser.create()
    parsed = []
    for item in items:
        if _bracket_depth(item) > MAX_YAML_DEPTH:  # Hydra's parser recurses once per level
            raise SceneError(item.split("=")[0], f"override nested deeper than {MAX_YAML_DEPTH} levels "
                             "(MAX_YAML_DEPTH in worldgen/scene/limits.py)", "command line")
        try:
            override = parser.parse_overrides([item])
        except HydraException as err:
            reason = str(err).splitlines()[0]
            raise SceneError(item.split("=")[0], f"cannot parse override {item!r}: {reason}", "command line") from None
        for o in override:
            if not o.is_delete():
                check_plain(o.value(), "command line", o.key_or_group)
        parsed.extend(override)
    return parsed


def _bracket_depth(text: str) -> int:
    """Deepest nesting of [ ] and { } in ``text``."""
    depth = deepest = 0
    for char in text:
        depth += (char in "[{") - (char in "]}")
        deepest = max(deepest, depth)
    return deepest


def apply_overrides(cfg, overrides: Sequence) -> None:
    """Apply parsed value overrides (set or delete a field) to the OmegaConf ``cfg`` in place;
    an unknown top-level field or an impossible change is a one-line :class:`SceneError`."""
    OmegaConf.set_struct(cfg, False)
    for o in overrides:
        key = o.key_or_group
        try:
            if o.is_delete():
                parent_key, _, leaf = key.rpartition(".")
                parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
                if parent is None or leaf not in parent:
                    raise SceneError(key, "cannot delete: no such field", "command line")
                del parent[leaf]
            else:
                root = key.split(".")[0]
                if root not in cfg:
                    hint = difflib.get_close_matches(root, list(cfg), n=1)
                    raise SceneError(root, "unknown field" + (f"; did you mean '{hint[0]}'?" if hint else ""), "command line")
                OmegaConf.update(cfg, key, o.value(), merge=True, force_add=True)
        except SceneError:
            raise
        except (OmegaConfBaseException, ValueError, IndexError) as err:
            raise SceneError(key, f"cannot apply override: {str(err).splitlines()[0]}", "command line") from None


def load_scene(spec: str | None = None, overrides: Sequence[str] = ()) -> Scene:
    """The validated, concrete :class:`Scene` for ``spec`` and ``overrides``."""
    return compose_config(spec, overrides).scene


def scene_from_dict(raw: Any, base_dir: Path = Path(".")) -> Scene:
    """Resolve distributions in a plain scene mapping and validate it.

    ``base_dir``: folder that relative file names (meshes, textures) are taken from."""
    if not isinstance(raw, dict):
        raise SceneError("", f"expected a mapping of scene fields, got {type(raw).__name__}")
    _check_keys(raw, "")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SceneError("seed", f"expected a whole number >= 0, got {seed!r}")
    objects = raw.get("objects") or []
    if not isinstance(objects, list):
        raise SceneError("objects", f"expected a list of objects, got {type(objects).__name__}")
    concrete = resolve({k: v for k, v in raw.items() if k != "objects"}, seed)
    concrete["objects"], origins = expand_counts(objects, seed)
    try:
        scene = Scene.model_validate(concrete)
    except ValidationError as err:
        raise format_validation_error(err, origins) from None
    name_entities(scene)
    check_scene(scene, Path(base_dir), origins)
    scene._base_dir = Path(base_dir).resolve()
    return scene


def _check_keys(node: Any, path: str) -> None:
    """Field names must be text (YAML also allows numbers and booleans as keys)."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                raise SceneError(where, f"unknown field: field names are words, got {key!r}")
            _check_keys(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_keys(value, f"{path}[{i}]")


def scene_to_yaml(scene: Scene) -> str:
    """The concrete scene as YAML (defaults filled in, distributions resolved)."""
    return yaml.safe_dump(scene.model_dump(mode="json", exclude_none=True), sort_keys=False)
