"""Property-based hardening: every bundled scene, mutated field by field, is either valid
or refused with exactly one line naming the file and a field path -- never a traceback,
never a hang.

Each case takes a bundled scene (``configs/scene``), applies one to three mutations at
fields drawn from the scene's own tree (wrong types, non-finite numbers, huge and
negative magnitudes, empty and oversized lists, strings that are paths or line breaks,
bad distributions, counts, deleted fields), writes it as YAML and runs ``worldgen
validate`` in-process. It asserts: exit 0, or exit 2 with one stderr line
``error: FILE: FIELD: message``; and the case finishes within :data:`CASE_SECONDS`.

The default run is short for CI (:data:`DEFAULT_EXAMPLES` cases); the ``slow`` test runs
:data:`SLOW_EXAMPLES` (``pytest -m slow tests/test_scene_fuzz.py``). Both are
derandomised, so a run is reproducible.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from worldgen.cli import main
from worldgen.scene import bundled_scenes

DEFAULT_EXAMPLES = 60
SLOW_EXAMPLES = 3000
CASE_SECONDS = 60.0  # one validation takes ~0.2 s (a few s at the size limits); the bound allows a heavily loaded machine
FIELD = r"[A-Za-z_][\w]*(?:\[\d+\]|#\d+|\.\w+)*"  # objects[2].physics.mass, cameras[0].position.radius
WHOLE_FILE = r"(?:the file is over the limit|the YAML holds more than) .*"  # the file-size limits name no field


def _absolute_files(node, base: Path):
    """The scene tree with its texture and mesh file names made absolute (the mutated
    copy is written elsewhere)."""
    if isinstance(node, dict):
        return {k: str(base / v) if k in ("texture", "mesh") and isinstance(v, str) else _absolute_files(v, base)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute_files(v, base) for v in node]
    return node


SCENES = {name: _absolute_files(yaml.safe_load(path.read_text()), path.parent) for name, path in bundled_scenes().items()}


def _paths(node, prefix=()) -> list[tuple]:
    """Every field path of a plain tree (keys and list indices), containers included."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out.extend(_paths(value, prefix + (key,)))
    return out


PATHS = {name: _paths(scene) for name, scene in SCENES.items()}

INF, NAN = math.inf, math.nan
NUMBERS = [INF, -INF, NAN, 1e308, -1e308, 10**30, -(10**30), 2**63, 1e9 + 1, -1, -0.5, 0, 0.0, 1e-300, 3]
WRONG_TYPES = ["text", "", True, False, None, {}, {"x": 1}, [], [1, 2], [[1, 2, 3]], "1.5", "#zzzzzz"]
STRINGS = ["../../..", "/etc/passwd", "a/b", "line\nbreak", "\u2028", "caf\u00e9", "x" * 500, "${nope}", "~", "*"]
DISTRIBUTIONS = [
    {"uniform": [0, INF]}, {"uniform": [1, 0]}, {"uniform": [-1e308, 1e308]}, {"uniform": [[0, 0], [1]]},
    {"uniform": [NAN, 1]}, {"uniform": ["0", 1]}, {"uniform": [0]}, {"uniform": [[0, 0, 0], [1, 1, 1]]},
    {"normal": [0, -1]}, {"normal": [0, INF]}, {"normal": [1e308, 1e308]}, {"normal": [0, 1]},
    {"choice": []}, {"choice": 5}, {"choice": [1, "a", None]}, {"choice": [{"uniform": [0, INF]}]},
    {"uniform_int": [0, 10**12]}, {"uniform_int": [0.5, 2]}, {"uniform_int": [5, 1]}, {"uniform_int": [0, 1e300]},
    {"uniform_int": [1, 3]},
    {"hemisphere": {"radius": [0, 1], "elevation": [0, 90]}}, {"hemisphere": {"radius": [1, INF], "elevation": [0, 90]}},
    {"hemisphere": {"radius": [1, 2], "elevation": [0, 100]}}, {"hemisphere": [1, 2]},
    {"hemisphere": {"radius": [1, 2], "elevation": [0, 90], "center": [NAN, 0, 0]}},
]
COUNTS = [10**12, 100_000, 1001, -1, 2.5, "many", INF, {"uniform_int": [0, 10**12]}, {"uniform_int": [2, 4]}, 0, 3]


def _scaled(value, factor: float):
    return value * factor if isinstance(value, (int, float)) and not isinstance(value, bool) else value


@st.composite
def mutated_scene(draw) -> tuple[str, dict]:
    """A bundled scene (its name and tree) with one to three fields changed."""
    name = draw(st.sampled_from(sorted(SCENES)))
    scene = yaml.safe_load(yaml.safe_dump(SCENES[name]))  # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(scene)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = scene
        for key in path[:-1]:
            parent = parent[key]
        key, old = path[-1], parent[path[-1]]
        kind = draw(st.sampled_from(["number", "type", "string", "distribution", "list", "scale", "delete", "count"]))
        if kind == "delete":
            del parent[key]
            continue
        if kind == "count":
            objects = scene.get("objects")
            entries = [o for o in objects if isinstance(o, dict)] if isinstance(objects, list) else []
            if entries:  # an earlier mutation may have made some entries something else
                draw(st.sampled_from(entries))["count"] = copy.deepcopy(draw(st.sampled_from(COUNTS)))
                continue
            kind = "number"
        if kind == "number":
            new = draw(st.sampled_from(NUMBERS))
        elif kind == "type":
            new = draw(st.sampled_from(WRONG_TYPES))
        elif kind == "string":
            new = draw(st.sampled_from(STRINGS))
        elif kind == "distribution":
            new = draw(st.sampled_from(DISTRIBUTIONS))
        elif kind == "list":
            size = draw(st.sampled_from([0, 1, 2, 4, 65, 1001]))
            item = old[0] if isinstance(old, list) and old else draw(st.sampled_from([1.0, "a", None]))
            new = [item] * size
        else:  # scale a number (or every number of a list) by a large, tiny or negative factor
            factor = draw(st.sampled_from([-1, 1e6, 1e-6, 1e12, -1e12, 0]))
            new = [_scaled(v, factor) for v in old] if isinstance(old, list) else _scaled(old, factor)
        parent[key] = copy.deepcopy(new)  # never the shared constants: a later mutation inside would change them
    return name, scene


class _NoAliases(yaml.SafeDumper):
    """Writes a repeated value out in full each time (the alias limits have their own tests)."""

    def ignore_aliases(self, data) -> bool:
        return True


def _validate(path: Path) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", str(path)])
    return rc, out.getvalue(), err.getvalue(), time.perf_counter() - start


def _check(case: tuple[str, dict], folder: Path) -> None:
    name, scene = case
    path = folder / f"{name}_mutated.yaml"
    path.write_text(yaml.dump(scene, Dumper=_NoAliases, sort_keys=False))
    rc, out, err, seconds = _validate(path)
    assert seconds < CASE_SECONDS, f"{seconds:.1f} s for {scene!r}"
    assert "Traceback" not in err, err
    assert rc in (0, 2), f"exit code {rc}: {err}"
    event(f"exit {rc}")  # the share of valid and refused mutations, with --hypothesis-show-statistics
    if rc == 2:
        lines = err.splitlines()
        assert len(lines) == 1, f"expected one line, got {lines!r}"
        source = re.escape(str(path))
        assert re.fullmatch(rf"error: {source}: (?:{FIELD}: \S.*|{WHOLE_FILE})", lines[0]), lines[0]
    else:
        assert err.startswith(f"# {path}: valid (") and len(err.splitlines()) == 1, err
        assert yaml.safe_load(out)["name"], out


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


FUZZ = dict(derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                                   HealthCheck.data_too_large])


@settings(max_examples=DEFAULT_EXAMPLES, **FUZZ)
@given(case=mutated_scene())
def test_mutated_bundled_scenes_validate_or_give_one_line(case, folder):
    _check(case, folder)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **FUZZ)
@given(case=mutated_scene())
def test_mutated_bundled_scenes_many(case, folder):
    _check(case, folder)


def test_every_bundled_scene_is_mutable():
    assert len(SCENES) >= 7 and all(len(paths) > 10 for paths in PATHS.values())
