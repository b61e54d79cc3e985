"""Reading a YAML file that a user gave: a one-line :class:`SceneError` for anything that
is not a small, well-formed YAML text, in bounded time and memory.

Before PyYAML builds any object, the file's size, its UTF-8 encoding and the shape of its
event stream are checked against :mod:`worldgen.scene.limits`: nesting depth
(``MAX_YAML_DEPTH``; PyYAML recurses once per level) and the number of values with every
alias expanded (``MAX_YAML_NODES``; a "billion laughs" file of a few lines expands to
billions). An alias to a value that contains it (a recursive structure) is refused too.

A scene is plain data: a string holding ``${`` (an OmegaConf interpolation such as
``${oc.env:HOME}`` or ``${.other_field}``, which OmegaConf would resolve when the config
is composed: reading the environment, recursing, or doubling a string per level) is
refused with the field that holds it, in files and overrides alike (:func:`check_plain`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from worldgen.scene.errors import SceneError
from worldgen.scene.limits import MAX_SCENE_FILE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES

_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key repeated in one mapping (PyYAML keeps the
    last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _where(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"


def _read_text(path: Path, source: str) -> str:
    """The file as text: at most ``MAX_SCENE_FILE_BYTES``, UTF-8."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SCENE_FILE_BYTES + 1)
    except OSError as err:
        raise SceneError("", f"cannot read file: {err.strerror}", source) from None
    if len(data) > MAX_SCENE_FILE_BYTES:
        raise SceneError("", f"the file is over the limit of {MAX_SCENE_FILE_BYTES:,} bytes (MAX_SCENE_FILE_BYTES in "
                         "worldgen/scene/limits.py); expected a YAML text file", source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SceneError("", f"not a UTF-8 text file (byte 0x{data[err.start]:02x} at offset {err.start}); "
                         "expected a YAML text file", source) from None


def check_structure(text: str, source: str) -> None:
    """Walk the YAML event stream (no objects built) and refuse nesting deeper than
    ``MAX_YAML_DEPTH``, more than ``MAX_YAML_NODES`` values with aliases expanded, and
    aliases to an anchor that is undefined or still open (a recursive value)."""
    sizes: dict[str, int] = {}  # anchor -> values under it, aliases expanded
    open_: list[list] = [[None, 0]]  # [anchor, values so far] per open collection; [0] the document
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, _OPEN):
            open_.append([event.anchor, 1])
            if len(open_) - 1 > MAX_YAML_DEPTH:
                raise SceneError("", f"YAML nested deeper than {MAX_YAML_DEPTH} levels at {_where(event.start_mark)} "
                                 "(MAX_YAML_DEPTH in worldgen/scene/limits.py)", source)
            continue
        if isinstance(event, _CLOSE):
            anchor, size = open_.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                raise SceneError("", f"alias *{event.anchor} at {_where(event.start_mark)} refers to no complete "
                                 "anchor before it (undefined, or the value that contains it)", source)
            anchor, size = None, sizes[event.anchor]
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        open_[-1][1] += size
        if open_[-1][1] > MAX_YAML_NODES:
            raise SceneError("", f"the YAML holds more than {MAX_YAML_NODES:,} values with its aliases expanded, at "
                             f"{_where(event.start_mark)} (MAX_YAML_NODES in worldgen/scene/limits.py)", source)


def check_plain(node: Any, source: str, path: str = "") -> None:
    """Refuse an OmegaConf interpolation (a string holding ``${``) anywhere in ``node``
    (a mapping, list or value read from YAML or an override), naming its field."""
    if isinstance(node, dict):
        for key, value in node.items():
            check_plain(value, source, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_plain(value, source, f"{path}[{i}]")
    elif isinstance(node, str) and "${" in node:
        raise SceneError(path, f"expected a plain value, got {node!r}: OmegaConf interpolation (${{...}}) is not "
                         "supported here; write the value itself", source)


def read_yaml(path: Path, source: str) -> Any:
    """Parse a YAML file after :func:`check_structure`, reporting syntax errors with
    their line and column, and refuse interpolations (:func:`check_plain`); every
    failure is a one-line :class:`SceneError`."""
    text = _read_text(path, source)
    try:
        check_structure(text, source)
        node = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as err:
        raise SceneError("", f"malformed YAML at {_where(err.problem_mark)}: {err.problem}", source) from None
    except yaml.YAMLError as err:
        raise SceneError("", f"malformed YAML: {str(err).splitlines()[0]}", source) from None
    check_plain(node, source)
    return node
