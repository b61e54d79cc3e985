"""Random values in scene configs, resolved from the scene seed.

Any value in a scene may be a distribution, written as a mapping with one key:

    {uniform: [low, high]}        float, uniform in [low, high)
    {uniform_int: [low, high]}    integer, uniform in [low, high], both ends included
    {normal: [mean, std]}         float, Gaussian
    {choice: [a, b, ...]}         one of the items (an item may itself hold distributions)
    {hemisphere: {radius: [r0, r1], elevation: [e0, e1], center: [x, y, z]}}
                                  a point [x, y, z] on a spherical shell above ``center``:
                                  azimuth uniform in [0, 360) degrees, elevation uniform in
                                  [e0, e1] degrees above the horizontal, radius uniform in
                                  [r0, r1] m (e.g. a random camera position)

``uniform`` and ``normal`` also take vectors: ``{uniform: [[0, 0, 1], [1, 1, 2]]}``.
An object entry may carry ``count: N`` (an integer or a distribution) to stand for N
copies, named ``NAME_0`` ... ``NAME_{N-1}``, each with its own draws.

Every draw uses a generator seeded by (scene seed, field path), so a value depends only
on the seed and where it stands: resolving the same seed twice gives the same scene, and
editing one field does not reshuffle the others.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from worldgen.scene.errors import SceneError
from worldgen.scene.limits import MAX_COPIED_VALUES, MAX_ENTITIES, check_at_most

DISTRIBUTIONS = ("uniform", "uniform_int", "normal", "choice", "hemisphere")
INT_BOUND = 2**53  # uniform_int bounds: whole numbers a float holds exactly


def is_distribution(node: Any) -> bool:
    """Whether ``node`` is a one-key mapping naming a distribution."""
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)) in DISTRIBUTIONS


def _rng(seed: int, path: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(path.encode())])


def _show(value: Any) -> str:
    """``repr(value)``, cut short so that an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _numbers(value: Any) -> np.ndarray | None:
    """A number or a flat list of numbers as a float array (a Python int too large for a
    float becomes inf); None for anything else (booleans and strings are not numbers)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        return None
    floats = []
    for v in items:
        try:
            floats.append(float(v))
        except OverflowError:
            floats.append(float("inf") if v > 0 else float("-inf"))
    return np.array(floats).reshape(np.shape(value) if isinstance(value, (list, tuple)) else ())


def _finite(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)))


def _pair(args: Any, path: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The two finite parameters of ``{kind: [a, b]}``: numbers or equal-length lists."""
    if not (isinstance(args, (list, tuple)) and len(args) == 2):
        raise SceneError(path, f"expected {{{kind}: [a, b]}} with two values, got {_show(args)}")
    a, b = _numbers(args[0]), _numbers(args[1])
    if a is None or b is None:
        raise SceneError(path, f"expected numbers (or equal-length lists) in {{{kind}: [a, b]}}, got {_show(args)}")
    if a.shape != b.shape:
        raise SceneError(path, f"expected two numbers or two lists of the same length in {{{kind}: ...}}, got {_show(args)}")
    if not (_finite(a) and _finite(b)):
        raise SceneError(path, f"expected finite numbers in {{{kind}: [a, b]}}, got {_show(args)}")
    return a, b


def _plain(x: np.ndarray, path: str) -> Any:
    x = np.asarray(x)
    if not _finite(x):
        raise SceneError(path, f"the draw {_show(x.tolist())} is not a finite number; narrow the distribution")
    return x.item() if x.ndim == 0 else [float(v) for v in x]


def sample(node: dict, seed: int, path: str) -> Any:
    """Draw one value of the distribution ``node`` standing at ``path``; parameters that
    are not finite, not ordered or otherwise impossible are a :class:`SceneError`."""
    kind, args = next(iter(node.items()))
    rng = _rng(seed, path)
    if kind == "choice":
        if not isinstance(args, (list, tuple)) or not args:
            raise SceneError(path, f"expected {{choice: [item, ...]}} with at least one item, got {_show(args)}")
        return args[int(rng.integers(len(args)))]
    if kind == "hemisphere":
        return _hemisphere(args, rng, path)
    a, b = _pair(args, path, kind)
    with np.errstate(over="ignore", invalid="ignore"):
        if kind == "uniform":
            if np.any(b < a):
                raise SceneError(path, f"expected {{uniform: [low, high]}} with low <= high, got {_show(args)}")
            if not _finite(b - a):
                raise SceneError(path, f"expected {{uniform: [low, high]}} with a finite width high - low, got {_show(args)}")
            return _plain(rng.uniform(a, b), path)
        if kind == "normal":
            if np.any(b < 0):
                raise SceneError(path, f"expected {{normal: [mean, std]}} with std >= 0, got {_show(args)}")
            return _plain(rng.normal(a, b), path)
    # uniform_int
    if a.ndim != 0 or a != int(a) or b != int(b) or b < a or max(abs(a), abs(b)) > INT_BOUND:
        raise SceneError(path, "expected {uniform_int: [low, high]} with integers low <= high "
                         f"(at most {INT_BOUND:,} in size), got {_show(args)}")
    return int(rng.integers(int(a), int(b) + 1))


def _hemisphere(args: Any, rng: np.random.Generator, path: str) -> list[float]:
    expected = "expected {hemisphere: {radius: [r0, r1], elevation: [e0, e1], center: [x, y, z]}}"
    if not isinstance(args, dict) or not {"radius", "elevation"} <= set(args) or set(args) - {"radius", "elevation", "center"}:
        raise SceneError(path, f"{expected}, got {_show(args)}")
    r0, r1 = _pair(args["radius"], f"{path}.radius", "radius")
    e0, e1 = _pair(args["elevation"], f"{path}.elevation", "elevation")
    if r0.ndim or e0.ndim or not 0 < r0 <= r1 or not -90 <= e0 <= e1 <= 90:
        raise SceneError(path, f"{expected} with 0 < r0 <= r1 and -90 <= e0 <= e1 <= 90, got {_show(args)}")
    center = _numbers(args.get("center", [0.0, 0.0, 0.0]))
    if center is None or center.shape != (3,) or not _finite(center):
        raise SceneError(f"{path}.center", f"expected [x, y, z] of finite numbers, got {_show(args.get('center'))}")
    azimuth = rng.uniform(0.0, 2 * np.pi)
    elevation = np.radians(rng.uniform(float(e0), float(e1)))
    with np.errstate(over="ignore", invalid="ignore"):
        radius = rng.uniform(float(r0), float(r1))
        direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
        return _plain(center + radius * direction, path)


def resolve(node: Any, seed: int, path: str = "") -> Any:
    """Replace every distribution under ``node`` by a draw; returns a new plain tree."""
    while is_distribution(node):
        node = sample(node, seed, path)
    if isinstance(node, dict):
        return {k: resolve(v, seed, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, seed, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


def _size(node: Any) -> int:
    """Number of values in a plain tree (a mapping or list counts with its items)."""
    if isinstance(node, dict):
        return 1 + sum(_size(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_size(v) for v in node)
    return 1


def expand_counts(objects: list, seed: int) -> tuple[list, list[str]]:
    """Expand object entries that carry ``count`` into copies and resolve their draws.

    Returns the concrete objects and, for each, the field path of the YAML entry it came
    from (``objects[2]``), used in error messages. A count that would make more objects
    than ``MAX_ENTITIES['objects']``, or copies holding more than ``MAX_COPIED_VALUES``
    values, is refused before any copy is made."""
    limit = MAX_ENTITIES["objects"]
    out, origins = [], []
    for i, entry in enumerate(objects):
        path = f"objects[{i}]"
        if not (isinstance(entry, dict) and "count" in entry):
            check_at_most(len(out) + 1, limit, "objects", "the number of objects", "MAX_ENTITIES['objects']")
            out.append(resolve(entry, seed, path))
            origins.append(path)
            continue
        entry = dict(entry)
        count = resolve(entry.pop("count"), seed, f"{path}.count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SceneError(f"{path}.count", f"expected a whole number >= 0, got {_show(count)}")
        check_at_most(len(out) + count, limit, f"{path}.count", "the number of objects with these copies",
                      "MAX_ENTITIES['objects']")
        check_at_most(count * _size(entry), MAX_COPIED_VALUES, f"{path}.count", "the number of values in the copies",
                      "MAX_COPIED_VALUES")
        base = entry.get("name")
        for k in range(count):
            copy = resolve(entry, seed, f"{path}#{k}")
            if isinstance(copy, dict):
                stem = base or copy.get("asset") or copy.get("shape") or "object"
                copy["name"] = f"{str(stem).replace('/', '_')}_{k}"
            out.append(copy)
            origins.append(path)
    return out, origins
