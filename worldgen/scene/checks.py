"""Scene rules beyond types and ranges: what each shape needs, files and names that must
exist, references between entities, timing. Each rule raises a :class:`SceneError` with
the field path of the value at fault."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path

from pydantic import ValidationError

from worldgen.scene.assets import mocap_clips, resolve_asset, urdf_link_count
from worldgen.scene.errors import SceneError
from worldgen.scene.files import check_image_file, check_mesh_file
from worldgen.scene.limits import check_scene_size
from worldgen.scene.schema import Scene

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf", ".off")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_SHAPE_FIELDS = {
    "box": ("size",),
    "sphere": ("radius",),
    "cylinder": ("radius", "height"),
    "capsule": ("radius", "height"),
    "mesh": ("mesh",),
    "asset": ("asset",),
}
_SIZE_FIELDS = ("size", "radius", "height", "mesh", "asset")
SAFE_NAME = re.compile(r"[\w][\w.+-]{0,99}")  # a scene name: one folder name, never a path


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def spec_error(error: ValidationError, model: type, prefix: str, source: str) -> SceneError:
    """A one-line :class:`SceneError` for the first error of validating a flat settings
    block ``model`` (render options, dataset families) whose fields sit under ``prefix``."""
    first = error.errors()[0]
    field = prefix + ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(first["loc"][-1]), list(model.model_fields), n=1)
        return SceneError(field, "unknown field" + (f"; did you mean '{close[0]}'?" if close else ""), source)
    return SceneError(field, first["msg"].replace("Input should be", "expected", 1) + f", got {first.get('input')!r}", source)


def format_validation_error(error: ValidationError, origins: list[str]) -> SceneError:
    """Turn pydantic's first error into a one-line :class:`SceneError`.

    ``origins[i]`` names the YAML entry that concrete object ``i`` came from (objects
    written with ``count`` expand to several)."""
    first = error.errors()[0]
    loc = list(first["loc"])
    parts: list[str] = []
    for i, key in enumerate(loc):
        if isinstance(key, int):
            if parts == ["objects"] and key < len(origins):
                parts = [origins[key]]
            else:
                parts[-1] = f"{parts[-1]}[{key}]" if parts else f"[{key}]"
        else:
            parts.append(str(key))
    kind, ctx, value = first["type"], first.get("ctx", {}), first.get("input")
    if kind == "extra_forbidden":
        field = parts.pop()
        model = _model_at(loc[:-1])
        hint = _nested_hint(field, model) or (_suggest(field, model.model_fields) if model else "")
        return SceneError(".".join(parts) + f".{field}" if parts else field, f"unknown field{hint}")
    path = ".".join(parts)
    if kind == "missing":
        return SceneError(path, "required field is missing")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        return SceneError(path, f"expected a number {op} {bound}, got {value!r}")
    if kind == "literal_error":
        return SceneError(path, f"expected one of {ctx.get('expected')}, got {value!r}")
    if kind == "value_error":
        return SceneError(path, str(ctx.get("error", first["msg"])))
    message = first["msg"].replace("Input should be", "expected", 1)
    if isinstance(value, dict) and len(value) == 1:
        message += " (a distribution is one of: uniform, uniform_int, normal, choice)"
    return SceneError(path, message if "got" in message else f"{message}, got {value!r}")


def _model_in(annotation):
    """The schema model class inside a type annotation (``list[X] | None`` -> X), or None."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        model = _model_in(arg)
        if model is not None:
            return model
    return None


def _model_at(loc: list):
    """The schema model class that a pydantic location points into, or None."""
    model = Scene
    for key in loc:
        if isinstance(key, int):
            continue
        field = model.model_fields.get(key)
        model = _model_in(field.annotation) if field is not None else None
        if model is None:
            return None
    return model


def _nested_hint(field: str, model) -> str:
    """Point at a sub-model holding ``field`` or a close spelling of it ('mass' on an
    object -> 'physics.mass', 'colour' on the floor -> 'material.color')."""
    if model is None:
        return ""
    for exact in (True, False):
        for name, info in model.model_fields.items():
            sub = getattr(info.annotation, "model_fields", None)
            if not sub:
                continue
            match = [field] if exact and field in sub else [] if exact else difflib.get_close_matches(field, list(sub), n=1)
            if match:
                return f"; did you mean '{name}.{match[0]}'?"
    return ""


def name_entities(scene: Scene) -> None:
    """Give unnamed objects, lights, cameras and humanoids their default names."""
    for i, obj in enumerate(scene.objects):
        if obj.name is None:
            stem = obj.asset.replace("/", "_") if obj.asset else obj.shape
            obj.name = f"{stem}_{i}"
    for group, stem in ((scene.lights, "light"), (scene.cameras, "camera"), (scene.humanoids, "humanoid")):
        for i, item in enumerate(group):
            if item.name is None:
                item.name = f"{stem}_{i}"


def resolve_file(base_dir: Path, value: str) -> Path:
    """A file named in a scene: absolute, or relative to the scene file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def check_scene(scene: Scene, base_dir: Path, origins: list[str]) -> None:
    """Apply every cross-field rule; raises :class:`SceneError` on the first broken one."""
    check_scene_size(scene)
    if not SAFE_NAME.fullmatch(scene.name):
        raise SceneError("name", "expected a plain folder name (letters, digits, '_', '-', '.' and '+', starting "
                         f"with a letter, digit or '_', at most 100 characters; it names the output folder), got {scene.name!r}")
    if scene.physics_hz % scene.fps:
        raise SceneError("physics_hz", f"expected a whole multiple of fps ({scene.fps}), got {scene.physics_hz}")
    if scene.duration is not None and scene.num_frames is not None:
        raise SceneError("duration", "give either duration or num_frames, not both")
    if math.dist(scene.gravity, (0, 0, 0)) > 100:
        raise SceneError("gravity", f"expected a magnitude below 100 m/s^2, got {list(scene.gravity)}")

    if scene.floor.material.texture is not None:
        _check_image(scene.floor.material.texture, "floor.material.texture", base_dir)
    names: dict[str, str] = {}
    for i, obj in enumerate(scene.objects):
        where = origins[i] if i < len(origins) else f"objects[{i}]"
        _check_object(obj, where, base_dir)
        _check_unique(names, obj.name, f"{where}.name")
    for i, human in enumerate(scene.humanoids):
        where = f"humanoids[{i}]"
        if human.motion not in mocap_clips():
            raise SceneError(
                f"{where}.motion",
                f"unknown mocap clip {human.motion!r}; expected one of {', '.join(mocap_clips())}",
            )
        _check_unique(names, human.name, f"{where}.name")
    object_names = {obj.name for obj in scene.objects}
    for i, light in enumerate(scene.lights):
        _check_light(light, f"lights[{i}]", object_names, base_dir)
    for i, cam in enumerate(scene.cameras):
        _check_camera(cam, f"cameras[{i}]")
    for i, joint in enumerate(scene.constraints):
        where = f"constraints[{i}]"
        for field in ("child", "parent"):
            ref = getattr(joint, field)
            if ref is not None and ref not in object_names:
                raise SceneError(f"{where}.{field}", f"no object named {ref!r}{_suggest(ref, object_names)}")
        if joint.parent == joint.child:
            raise SceneError(f"{where}.parent", "expected a different object than child (or none for the world)")
        if joint.type == "hinge" and math.dist(joint.axis, (0, 0, 0)) < 1e-9:
            raise SceneError(f"{where}.axis", "expected a non-zero direction")
    _check_unique_group(scene.lights, "lights")
    _check_unique_group(scene.cameras, "cameras")


def _check_unique(seen: dict[str, str], name: str, where: str) -> None:
    if name in seen:
        raise SceneError(where, f"name {name!r} is already used by {seen[name]}; names must be unique")
    seen[name] = where


def _check_unique_group(items, group: str) -> None:
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        _check_unique(seen, item.name, f"{group}[{i}].name")


def _check_object(obj, where: str, base_dir: Path) -> None:
    needed = _SHAPE_FIELDS[obj.shape]
    for field in needed:
        if getattr(obj, field) is None:
            raise SceneError(f"{where}.{field}", f"required for shape '{obj.shape}'")
    for field in _SIZE_FIELDS:
        if field not in needed and getattr(obj, field) is not None:
            raise SceneError(
                f"{where}.{field}",
                f"not used by shape '{obj.shape}' (it takes {', '.join(needed)})",
            )
    if obj.shape == "mesh":
        path = resolve_file(base_dir, obj.mesh)
        if path.suffix.lower() not in MESH_SUFFIXES:
            raise SceneError(f"{where}.mesh", f"expected a mesh file ({', '.join(MESH_SUFFIXES)}), got {obj.mesh!r}")
        if not path.is_file():
            raise SceneError(f"{where}.mesh", f"mesh file not found: {path}")
        check_mesh_file(path, f"{where}.mesh")
    if obj.shape == "asset":
        urdf = resolve_asset(obj.asset)
        if urdf is None:
            raise SceneError(
                f"{where}.asset",
                f"unknown pybullet_data asset {obj.asset!r}; expected a name such as duck, teddy, "
                "soccerball or random_urdfs/123 (see `worldgen scenes`)",
            )
        if urdf_link_count(urdf) != 1:
            raise SceneError(f"{where}.asset", f"asset {obj.asset!r} has several links; expected a single rigid body")
    if obj.euler is not None and obj.quaternion is not None:
        raise SceneError(f"{where}.quaternion", "give either euler or quaternion, not both")
    if obj.quaternion is not None and math.dist(obj.quaternion, (0, 0, 0, 0)) < 1e-9:
        raise SceneError(f"{where}.quaternion", "expected a non-zero quaternion (x, y, z, w)")
    if obj.material.texture is not None:
        _check_image(obj.material.texture, f"{where}.material.texture", base_dir)


def _check_image(value: str, where: str, base_dir: Path) -> None:
    path = resolve_file(base_dir, value)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise SceneError(where, f"expected an image file ({', '.join(IMAGE_SUFFIXES)}), got {value!r}")
    if not path.is_file():
        raise SceneError(where, f"texture file not found: {path}")
    check_image_file(path, where)


def _check_light(light, where: str, object_names: set[str], base_dir: Path) -> None:
    sources = [f for f in ("position", "attach_to", "orbit", "keyframes") if getattr(light, f) is not None]
    if light.keyframes is not None and all(k.position is None for k in light.keyframes):
        sources.remove("keyframes")  # keyframes that only animate colour/intensity
    if len(sources) > 1:
        raise SceneError(f"{where}.{sources[1]}", f"the light's position is already given by {sources[0]}")
    if light.type != "directional" and not sources:
        raise SceneError(f"{where}.position", f"required for a {light.type} light (or attach_to, orbit, keyframes)")
    if light.attach_to is not None and light.attach_to not in object_names:
        raise SceneError(
            f"{where}.attach_to", f"no object named {light.attach_to!r}{_suggest(light.attach_to, object_names)}"
        )
    if light.type != "point":
        if light.direction is not None and light.look_at is not None:
            raise SceneError(f"{where}.look_at", "give either direction or look_at, not both")
        if light.direction is None and light.look_at is None:
            raise SceneError(f"{where}.direction", f"required for a {light.type} light (or look_at)")
        if light.direction is not None and math.dist(light.direction, (0, 0, 0)) < 1e-9:
            raise SceneError(f"{where}.direction", "expected a non-zero direction")
    _check_keyframes(light.keyframes, where)
    _check_orbit(light.orbit, where)


def _check_camera(cam, where: str) -> None:
    motions = [f for f in ("orbit", "dolly", "keyframes") if getattr(cam, f) is not None]
    if len(motions) > 1:
        raise SceneError(f"{where}.{motions[1]}", f"the camera already moves by {motions[0]}; give one motion")
    if cam.position is None and cam.orbit is None and not (cam.keyframes and cam.keyframes[0].position is not None):
        raise SceneError(f"{where}.position", "required (or an orbit, or keyframes with positions)")
    if cam.quaternion is not None and motions:
        raise SceneError(f"{where}.quaternion", "a full pose (quaternion) is for static cameras; use look_at to move")
    if cam.dolly is not None and cam.position is None:
        raise SceneError(f"{where}.position", "required as the start of the dolly")
    if not motions and cam.quaternion is None and cam.position is not None and math.dist(cam.position, cam.look_at) < 1e-9:
        raise SceneError(f"{where}.look_at", f"expected a point other than the camera's position {list(cam.position)}")
    _check_keyframes(cam.keyframes, where)
    _check_orbit(cam.orbit, where)


def _check_orbit(orbit, where: str) -> None:
    if orbit is not None and abs(orbit.period) < 1e-6:  # the angle is 360 * t / period
        raise SceneError(f"{where}.orbit.period", f"expected seconds per turn of at least 1e-6 in size, got {orbit.period}")


def _check_keyframes(keys, where: str) -> None:
    if keys is None:
        return
    if not keys:
        raise SceneError(f"{where}.keyframes", "expected at least one keyframe")
    for i in range(1, len(keys)):
        if keys[i].time <= keys[i - 1].time:
            raise SceneError(f"{where}.keyframes[{i}].time", f"expected times in increasing order, got {keys[i].time} after {keys[i - 1].time}")
