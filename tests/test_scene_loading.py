"""Scene loading as users rely on it: bundled names and YAML paths, relative files, Hydra
overrides, seeded distributions and ``count``, defaults, and the ``validate`` round trip.

Only the bundled scene ``dominoes`` is assumed to exist (with at least one object); every
other scene is a small YAML written into ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh
import yaml

from worldgen.cli import main
from worldgen.scene import compose_config, load_scene, scene_from_dict
from worldgen.scene.checks import resolve_file

SIMPLE = """\
name: simple
seed: 1
objects:
  - {name: crate, shape: box, size: [0.5, 0.5, 0.5], position: [0, 0, 0.25]}
  - {shape: sphere, radius: 0.1, position: [1, 0, 0.1], physics: {mass: 0.3}}
lights:
  - {type: point, position: [0, 0, 3]}
cameras:
  - {position: [2, -2, 1.5], look_at: [0, 0, 0]}
"""

RANDOM = """\
seed: {seed}
objects:
  - name: ball
    shape: sphere
    radius: {{uniform: [0.1, 0.5]}}
    position: {{uniform: [[-1, -1, 0.5], [1, 1, 2]]}}
    physics: {{mass: {{uniform: [1, 3]}}, restitution: {{choice: [0.1, 0.5, 0.9]}}}}
  - shape: box
    size: [1, 1, 1]
    material: {{roughness: {{uniform: [0.2, 0.4]}}}}
fps: {{uniform_int: [10, 12]}}
physics_hz: 660  # a multiple of 10, 11 and 12
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def random_scene(seed: int):
    return scene_from_dict(yaml.safe_load(RANDOM.format(seed=seed)))


# --- naming a scene ------------------------------------------------------------------------


def test_bundled_scene_by_name_and_by_group_override_are_the_same():
    by_name = load_scene("dominoes")
    by_group = load_scene(None, ["scene=dominoes"])
    assert len(by_name.objects) >= 1
    assert by_name.model_dump() == by_group.model_dump()
    assert compose_config("dominoes").source.endswith("dominoes.yaml")


def test_yaml_path_loads(tmp_path):
    path = write(tmp_path / "simple.yaml", SIMPLE)
    config = compose_config(str(path))
    scene = config.scene
    assert scene.name == "simple"
    assert [o.name for o in scene.objects] == ["crate", "sphere_1"]
    assert scene.objects[1].physics.mass == 0.3
    assert config.source.endswith("simple.yaml")
    assert scene.base_dir == tmp_path.resolve()


def test_two_yaml_files_in_a_row_do_not_mix(tmp_path):
    a = load_scene(str(write(tmp_path / "a.yaml", "name: a\nobjects:\n  - {shape: sphere, radius: 1}\n")))
    b = load_scene(str(write(tmp_path / "b.yaml", "name: b\n")))
    assert (a.name, len(a.objects)) == ("a", 1)
    assert (b.name, len(b.objects)) == ("b", 0)


def test_relative_mesh_resolves_against_the_yaml_folder(tmp_path, monkeypatch):
    scene_dir = tmp_path / "scenes"
    mesh = scene_dir / "meshes" / "cube.obj"
    mesh.parent.mkdir(parents=True)
    trimesh.creation.box().export(mesh)
    path = write(scene_dir / "mesh.yaml", "objects:\n  - {shape: mesh, mesh: meshes/cube.obj, scale: 0.5}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the mesh is not reachable from the working directory
    scene = load_scene(str(path))
    assert scene.objects[0].name == "mesh_0"
    assert scene.base_dir == scene_dir.resolve()
    assert resolve_file(scene.base_dir, scene.objects[0].mesh).resolve() == mesh.resolve()


# --- overrides ---------------------------------------------------------------------------------


def test_overrides_change_values(tmp_path):
    path = str(write(tmp_path / "simple.yaml", SIMPLE))
    base = load_scene(path)
    assert base.seed == 1 and base.objects[0].physics.mass is None and len(base.cameras) == 1

    assert load_scene(path, ["scene.seed=3"]).seed == 3
    # crate left physics at its default: the nested key is added without Hydra's '+'
    assert load_scene(path, ["scene.objects.0.physics.mass=2"]).objects[0].physics.mass == 2
    assert load_scene(path, ["scene.gravity=[0,0,-3]"]).gravity == (0.0, 0.0, -3.0)
    assert load_scene(path, ["~scene.cameras"]).cameras == []
    several = load_scene(path, ["scene.seed=5", "scene.objects.1.radius=0.2", "scene.fps=30"])
    assert (several.seed, several.objects[1].radius, several.fps) == (5, 0.2, 30)
    # the file itself is unchanged by the overrides
    assert load_scene(path).model_dump() == base.model_dump()


def test_override_of_bundled_scene():
    scene = load_scene("dominoes", ["scene.objects.0.physics.mass=2.5", "scene.seed=7"])
    assert scene.objects[0].physics.mass == 2.5
    assert scene.seed == 7


# --- distributions -----------------------------------------------------------------------------


def test_same_seed_gives_the_same_scene():
    assert random_scene(4).model_dump() == random_scene(4).model_dump()


def test_same_seed_through_a_file_and_an_override(tmp_path):
    path = str(write(tmp_path / "random.yaml", RANDOM.format(seed=0)))
    assert load_scene(path, ["scene.seed=4"]).model_dump() == random_scene(4).model_dump()


def test_different_seeds_give_different_values():
    a, b = random_scene(1), random_scene(2)
    assert a.objects[0].radius != b.objects[0].radius
    assert a.objects[0].position != b.objects[0].position
    assert a.objects[0].physics.mass != b.objects[0].physics.mass


def test_draws_stay_within_their_ranges():
    radii, fps, restitution, x = set(), set(), set(), []
    for seed in range(150):
        scene = random_scene(seed)
        ball, box = scene.objects
        assert 0.1 <= ball.radius < 0.5
        assert 1 <= ball.physics.mass < 3
        assert 0.2 <= box.material.roughness < 0.4
        px, py, pz = ball.position
        assert -1 <= px < 1 and -1 <= py < 1 and 0.5 <= pz < 2
        assert scene.fps in (10, 11, 12)
        assert ball.physics.restitution in (0.1, 0.5, 0.9)
        radii.add(ball.radius)
        fps.add(scene.fps)
        restitution.add(ball.physics.restitution)
        x.append(px)
    assert len(radii) > 100  # really random, not a constant
    assert fps == {10, 11, 12}  # uniform_int includes both ends
    assert restitution == {0.1, 0.5, 0.9}
    assert min(x) < -0.5 and max(x) > 0.5  # vector bounds are per component


def test_normal_distribution_is_centred():
    values = [
        scene_from_dict({"seed": s, "gravity": [0, 0, {"normal": [-9.81, 0.1]}]}).gravity[2] for s in range(200)
    ]
    mean = sum(values) / len(values)
    assert abs(mean + 9.81) < 0.05
    assert len(set(values)) == len(values)


def test_count_expands_to_named_copies_with_independent_draws():
    raw = {
        "seed": 3,
        "objects": [
            {"name": "ball", "count": 4, "shape": "sphere", "radius": {"uniform": [0.1, 0.5]},
             "position": {"uniform": [[-1, -1, 1], [1, 1, 2]]}},
            {"count": 2, "shape": "box", "size": [0.1, 0.1, 0.1]},
        ],
    }
    scene = scene_from_dict(raw)
    assert [o.name for o in scene.objects] == ["ball_0", "ball_1", "ball_2", "ball_3", "box_0", "box_1"]
    balls = scene.objects[:4]
    assert len({b.radius for b in balls}) == 4
    assert len({b.position for b in balls}) == 4
    assert all(0.1 <= b.radius < 0.5 for b in balls)
    assert scene_from_dict(raw).model_dump() == scene.model_dump()


def test_count_may_be_a_distribution_or_zero():
    for seed in range(20):
        raw = {"seed": seed, "objects": [{"count": {"uniform_int": [2, 4]}, "shape": "sphere", "radius": 0.1}]}
        assert 2 <= len(scene_from_dict(raw).objects) <= 4
    assert scene_from_dict({"objects": [{"count": 0, "shape": "sphere", "radius": 0.1}]}).objects == []


def test_editing_an_unrelated_field_keeps_other_draws():
    base = yaml.safe_load(RANDOM.format(seed=9))
    before = scene_from_dict(base)
    edited = yaml.safe_load(RANDOM.format(seed=9))
    edited["objects"][1]["size"] = [2, 2, 2]
    edited["objects"][1]["material"]["roughness"] = {"uniform": [0.6, 0.8]}
    edited["gravity"] = [0, 0, -5]
    edited["lights"] = [{"type": "point", "position": [0, 0, 2], "intensity": {"uniform": [1, 5]}}]
    edited["objects"].append({"shape": "sphere", "radius": {"uniform": [0.1, 0.5]}})
    after = scene_from_dict(edited)
    assert after.objects[0].model_dump() == before.objects[0].model_dump()
    assert after.fps == before.fps
    assert after.objects[1].material.roughness != before.objects[1].material.roughness


def test_distribution_inside_choice_is_drawn():
    values = set()
    for seed in range(40):
        raw = {"seed": seed, "objects": [{"shape": "sphere", "radius": {"choice": [0.2, {"uniform": [1, 2]}]}}]}
        r = scene_from_dict(raw).objects[0].radius
        assert r == 0.2 or 1 <= r < 2
        values.add(r == 0.2)
    assert values == {True, False}


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_are_filled():
    scene = scene_from_dict({
        "objects": [
            {"shape": "box", "size": [1, 1, 1]},
            {"shape": "sphere", "radius": 0.5},
            {"shape": "asset", "asset": "duck"},
        ],
        "lights": [{"type": "directional", "direction": [0, 0, -1]}],
        "cameras": [{"position": [1, 1, 1]}],
        "humanoids": [{"motion": "walk"}],
    })
    assert [o.name for o in scene.objects] == ["box_0", "sphere_1", "duck_2"]
    assert scene.lights[0].name == "light_0"
    assert scene.cameras[0].name == "camera_0"
    assert scene.humanoids[0].name == "humanoid_0"
    box = scene.objects[0]
    assert box.physics.friction == 0.5 and box.physics.restitution == 0.0 and not box.physics.fixed
    assert box.material.color == (0.8, 0.8, 0.8)
    assert box.position == (0.0, 0.0, 0.0) and box.scale == 1.0
    assert (scene.seed, scene.fps, scene.physics_hz, scene.gravity) == (0, 24, 240, (0.0, 0.0, -9.81))
    assert scene.floor.enabled and scene.cameras[0].resolution == (256, 256)


def test_frame_count():
    assert scene_from_dict({}).frame_count == 96  # 4 s at 24 fps
    assert scene_from_dict({"fps": 30, "physics_hz": 240, "duration": 2}).frame_count == 60
    assert scene_from_dict({"num_frames": 17}).frame_count == 17
    assert scene_from_dict({"fps": 24, "duration": 0.01}).frame_count == 1
    assert scene_from_dict({"fps": 10, "physics_hz": 100}).substeps == 10


def test_hex_colours_parse(tmp_path):
    path = write(tmp_path / "c.yaml", "objects:\n  - {shape: box, size: [1, 1, 1], material: {color: '#ff8000'}}\n")
    r, g, b = load_scene(str(path)).objects[0].material.color
    assert r == 1.0 and g == pytest.approx(128 / 255) and b == 0.0


# --- validate prints a scene that loads back ---------------------------------------------------


def test_validate_output_round_trips(tmp_path, monkeypatch, capsys):
    mesh = tmp_path / "cube.stl"
    trimesh.creation.box().export(mesh)
    text = RANDOM.format(seed=5) + (
        "lights:\n  - {type: spot, position: [0, 0, 3], look_at: [0, 0, 0], color: '#ffeecc'}\n"
        "cameras:\n  - {position: [2, -2, 1.5], orbit: {radius: 2, period: 4}}\n"
        "humanoids:\n  - {motion: walk, heading: 30}\n"
    )
    text = text.replace("objects:\n", "objects:\n  - {shape: mesh, mesh: cube.stl, count: 2}\n", 1)
    path = write(tmp_path / "round.yaml", text)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("# round.yaml: valid")
    printed = yaml.safe_load(out)
    assert all("uniform" not in str(v) for v in printed.values())  # distributions were drawn
    original = load_scene(str(path))
    again = scene_from_dict(printed, tmp_path)
    assert again.model_dump() == original.model_dump()
    assert [o.name for o in again.objects][:2] == ["mesh_0", "mesh_1"]


def test_validate_prints_overridden_scene(tmp_path, capsys):
    path = write(tmp_path / "simple.yaml", SIMPLE)
    assert main(["validate", str(path), "scene.seed=11", "scene.objects.0.physics.mass=4"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["seed"] == 11
    assert printed["objects"][0]["physics"]["mass"] == 4
