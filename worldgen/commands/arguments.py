"""Option parsing shared by the command modules: the scene argument with its overrides,
whole numbers, WxH sizes and engine options. A bad value is a one-line
:class:`~worldgen.scene.SceneError` naming the flag (exit 2); nothing here runs a job."""

from __future__ import annotations

import argparse
from pathlib import Path

from worldgen.scene import RunConfig, SceneError, compose_config
from worldgen.scene.limits import check_image_size

MAX_INT64 = 2**63 - 1  # the default upper bound of a whole-number option

SCENE_HELP = (
    "a bundled scene name (see `worldgen scenes`) or a path to a scene YAML, followed by any "
    "overrides in Hydra syntax: scene=NAME, scene.seed=3, scene.objects.0.physics.mass=2, "
    "scene.gravity=[0,0,-3], ~scene.cameras"
)
CHECKPOINT_HELP = "a checkpoint folder (config.json + *.safetensors)"
FLOW_HELP = (
    "flow file: a worldgen render folder, its buffers.npz, or an .npz with forward_flow (T, 2, H, W) pixels "
    "(frame t to t+1) and optionally forward_occluded (T, H, W) bool, backward_flow / backward_occluded "
    "(frame t to t-1) and instance (T, H, W) ids (default: the buffers.npz of the render folder VIDEO is in)"
)


def add_scene_arguments(p: argparse.ArgumentParser, output: str | None = "out/SCENE_NAME") -> None:
    """SCENE [OVERRIDE ...] and, unless ``output`` (the default output folder, as the help
    shows it) is None, -o OUT and -q: the commands that run a scene."""
    p.add_argument("scene", nargs="*", metavar="SCENE [OVERRIDE ...]", help=SCENE_HELP)
    if output:
        p.add_argument("-o", "--output", metavar="OUT", help=f"output folder (default: {output})")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def split_scene_args(items: list[str]) -> tuple[str | None, list[str]]:
    """First item without '=' (and not a deletion '~key') is the scene; the rest are overrides."""
    if items and "=" not in items[0] and not items[0].startswith("~"):
        return items[0], items[1:]
    return None, items


def load_run_config(items: list[str]) -> RunConfig:
    """The run config of ``SCENE [OVERRIDE ...]``, with its ``dynamics=`` engine checked."""
    from simulation.engines import make_engine

    spec, overrides = split_scene_args(items)
    for item in overrides:
        if "=" not in item and not item.startswith("~"):
            raise SceneError("", f"expected an override KEY=VALUE after the scene, got {item!r}", "command line")
    config = compose_config(spec, overrides)
    try:
        make_engine(str(config.options.get("dynamics", "pybullet")))
    except (KeyError, ValueError) as err:
        raise SceneError("dynamics", err.args[0], "command line") from None
    return config


def parse_count(text: str | None, field: str, low: int, high: int | None = MAX_INT64) -> int | None:
    """A whole-number option in [low, high] (high None: no upper bound, for a value that a
    limit of :mod:`worldgen.scene.limits` then checks; None passes through); a SceneError otherwise."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:  # not a number, or more digits than Python converts
        value = None
    if value is None or value < low:
        raise SceneError(field, f"expected a whole number >= {low}, got {text!r}", "command line")
    if high is not None and value > high:
        raise SceneError(field, f"expected a whole number from {low} to {high:,}, got {text!r}", "command line")
    return value


def parse_resolution(text: str | None, field: str = "--resolution") -> tuple[int, int] | None:
    """(width, height) of ``WxH``, both >= 1 (None passes through); a SceneError otherwise."""
    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        if width < 1 or height < 1:
            raise ValueError
    except ValueError:
        raise SceneError(field, f"expected WIDTHxHEIGHT such as 128x128, got {text!r}", "command line") from None
    check_image_size((width, height), field, "command line")
    return width, height


def load_engine(name: str, checkpoint: str | None, sleep: bool = True, floor: bool = True, contacts: bool = True):
    """(engine, resolved checkpoint path or None) for ``--engine`` / ``--checkpoint``
    (``sleep``: the learned engine deactivates bodies at rest, off with --no-sleep;
    ``floor``: it lifts bodies out of the floor, off with --no-floor-projection); a
    SceneError naming the flag for a name, option or checkpoint that cannot be used."""
    from simulation.engines import ENGINES, make_engine

    if name not in ENGINES:
        raise SceneError("--engine", f"expected one of {', '.join(sorted(ENGINES))}, got {name!r}", "command line")
    if name == "pybullet":
        for flag, given, what in (("--checkpoint", checkpoint is not None, "loads a checkpoint"),
                                  ("--no-sleep", not sleep, "deactivates bodies"),
                                  ("--no-floor-projection", not floor, "projects bodies out of the floor")):
            if given:
                raise SceneError(flag, f"only --engine learned {what}", "command line")
    elif checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_dir():
            raise SceneError("--checkpoint", f"no such folder; expected {CHECKPOINT_HELP}", checkpoint)
        if not (path / "config.json").is_file():
            raise SceneError("--checkpoint", f"the folder has no config.json; expected {CHECKPOINT_HELP}", checkpoint)
    from safetensors import SafetensorError

    try:
        engine = make_engine(name, checkpoint, contacts=contacts, sleep=sleep, floor=floor)
    except ImportError as err:
        raise SceneError("--engine", f"the {name} engine is not available here ({_first_line(err)}); "
                         "try --engine pybullet", "command line") from None
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:  # missing, unreadable or truncated files, shapes
        reason = _first_line(err)
        expected = "" if "expected a checkpoint folder" in reason else f"; expected {CHECKPOINT_HELP}"
        raise SceneError("--checkpoint", f"cannot load {checkpoint or 'the shipped checkpoint'}: {reason}{expected}",
                         "command line") from None
    if name == "pybullet":
        return engine, None
    from simulation.dynamics import DEFAULT_CHECKPOINT

    return engine, str(Path(checkpoint or DEFAULT_CHECKPOINT).resolve())


def _first_line(err: BaseException) -> str:
    """The error's first line; with the next one when it only announces them (torch's
    "Error(s) in loading state_dict for X:" before the mismatch)."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
