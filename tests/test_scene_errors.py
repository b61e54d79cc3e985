"""Every user mistake in a scene ends in ONE line on stderr -- ``error: FILE: FIELD: what was
expected`` -- and exit code 2, never a traceback.

Each case of the table is a malformed scene: (id, YAML text, expected field path, expected
message text). The scene is written to ``tmp_path/bad_scene.yaml`` and checked in-process
with ``worldgen.cli.main(["validate", FILE])``; the working directory is ``tmp_path`` so the
file shows up as ``bad_scene.yaml`` and the whole prefix of the line can be checked exactly.
A field path of ``""`` means the mistake concerns the whole file (malformed YAML, top level
not a mapping): the line is then ``error: FILE: message``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worldgen.cli import main

FILE = "bad_scene.yaml"
BOX = "  - {shape: box, size: [1, 1, 1]}\n"


def _with_ids(cases):
    """Name each parametrized case by its first value (the case id)."""
    return [pytest.param(*case, id=case[0]) for case in cases]


CASES = [
    # --- unknown fields -------------------------------------------------------------------
    ("unknown_top_level_field", "objets: []\n", "objets", "unknown field; did you mean 'objects'?"),
    (
        "unknown_nested_field_colour",
        "objects:\n  - shape: box\n    size: [1, 1, 1]\n    material: {colour: [1, 0, 0]}\n",
        "objects[0].material.colour",
        "unknown field; did you mean 'color'?",
    ),
    (
        "mass_on_object_not_physics",
        "objects:\n" + BOX + "  - {shape: box, size: [1, 1, 1], mass: 2}\n",
        "objects[1].mass",
        "unknown field; did you mean 'physics.mass'?",
    ),
    (
        "unknown_field_in_camera_orbit",
        "cameras:\n  - {look_at: [0, 0, 0], orbit: {radius: 2, period: 5, phse: 10}}\n",
        "cameras[0].orbit.phse",
        "unknown field; did you mean 'phase'?",
    ),
    (
        "scene_wrapped_in_scene_key",
        "scene:\n  fps: 24\n",
        "scene",
        "unknown field",
    ),
    (
        "unknown_field_on_counted_object",
        "objects:\n" + BOX + "  - {shape: box, size: [1, 1, 1], count: 3, frction: 0.2}\n",
        "objects[1].frction",
        "unknown field",
    ),
    # --- wrong types ----------------------------------------------------------------------
    ("string_for_integer", "fps: fast\n", "fps", "expected a valid integer"),
    (
        "string_for_number",
        "objects:\n  - {shape: sphere, radius: 0.1, physics: {mass: heavy}}\n",
        "objects[0].physics.mass",
        "expected a valid number",
    ),
    (
        "number_for_vector",
        "objects:\n  - {shape: box, size: [1, 1, 1], position: 3}\n",
        "objects[0].position",
        "expected a list of 3 numbers [x, y, z], got 3",
    ),
    ("number_for_object_list", "objects: 3\n", "objects", "expected a list of objects"),
    (
        "number_for_object_entry",
        "objects: [3]\n",
        "objects[0]",
        "expected a valid dictionary",
    ),
    (
        "number_for_sub_model",
        "objects:\n  - {shape: box, size: [1, 1, 1], physics: 3}\n",
        "objects[0].physics",
        "expected a valid dictionary",
    ),
    (
        "mapping_for_keyframe_list",
        "cameras:\n  - {position: [1, 1, 1], keyframes: {time: 0}}\n",
        "cameras[0].keyframes",
        "expected a valid list",
    ),
    (
        "word_for_boolean",
        "objects:\n  - {shape: box, size: [1, 1, 1], physics: {fixed: maybe}}\n",
        "objects[0].physics.fixed",
        "expected a valid boolean",
    ),
    (
        "fractional_resolution",
        "cameras:\n  - {position: [1, 1, 1], resolution: [64.5, 64]}\n",
        "cameras[0].resolution[0]",
        "expected a valid integer",
    ),
    (
        "bad_hex_colour",
        "objects:\n  - {shape: box, size: [1, 1, 1], material: {color: '#zzzzzz'}}\n",
        "objects[0].material.color",
        "expected a colour [r, g, b] with values in [0, 1] or '#rrggbb'",
    ),
    (
        "boolean_for_mass",
        "objects:\n  - {shape: sphere, radius: 1, physics: {mass: yes}}\n",
        "objects[0].physics.mass",
        "expected a valid number",
    ),
    # --- vector lengths -------------------------------------------------------------------
    (
        "vector_too_short",
        "objects:\n  - {shape: box, size: [1, 1, 1], position: [1, 2]}\n",
        "objects[0].position",
        "expected a list of 3 numbers [x, y, z], got [1, 2]",
    ),
    ("gravity_wrong_length", "gravity: [0, 0, -9.81, 0]\n", "gravity", "expected a list of 3 numbers"),
    (
        "quaternion_three_numbers",
        "objects:\n  - {shape: box, size: [1, 1, 1], quaternion: [0, 0, 1]}\n",
        "objects[0].quaternion",
        "expected a list of 4 numbers [x, y, z, w]",
    ),
    # --- ranges ---------------------------------------------------------------------------
    (
        "negative_mass",
        "objects:\n" + BOX + BOX + "  - {shape: sphere, radius: 0.1, physics: {mass: -1}}\n",
        "objects[2].physics.mass",
        "expected a number > 0",
    ),
    (
        "zero_size_component",
        "objects:\n  - {shape: box, size: [1, 0, 1]}\n",
        "objects[0].size[1]",
        "expected a number > 0",
    ),
    (
        "negative_size_component",
        "objects:\n  - {shape: box, size: [1, 1, -2]}\n",
        "objects[0].size[2]",
        "expected a number > 0",
    ),
    (
        "negative_radius",
        "objects:\n  - {shape: sphere, radius: -0.5}\n",
        "objects[0].radius",
        "expected a number > 0",
    ),
    (
        "restitution_above_one",
        "objects:\n  - {shape: sphere, radius: 0.5, physics: {restitution: 1.5}}\n",
        "objects[0].physics.restitution",
        "expected a number <= 1",
    ),
    (
        "roughness_out_of_range",
        "objects:\n  - {shape: sphere, radius: 0.5, material: {roughness: 2}}\n",
        "objects[0].material.roughness",
        "expected a number <= 1",
    ),
    (
        "colour_component_above_one",
        "objects:\n  - {shape: box, size: [1, 1, 1], material: {color: [2, 0, 0]}}\n",
        "objects[0].material.color[0]",
        "expected a number <= 1",
    ),
    (
        "nan_mass",
        "objects:\n  - {shape: sphere, radius: 1, physics: {mass: .nan}}\n",
        "objects[0].physics.mass",
        "expected a finite number",
    ),
    (
        "infinite_size",
        "objects:\n  - {shape: box, size: [.inf, 1, 1]}\n",
        "objects[0].size[0]",
        "finite",
    ),
    ("camera_fov_too_wide", "cameras:\n  - {position: [1, 1, 1], fov: 200}\n", "cameras[0].fov", "expected a number < 180"),
    (
        "zero_resolution",
        "cameras:\n  - {position: [1, 1, 1], resolution: [0, 100]}\n",
        "cameras[0].resolution[0]",
        "expected a number > 0",
    ),
    ("physics_hz_zero", "physics_hz: 0\n", "physics_hz", "expected a number > 0"),
    ("huge_gravity", "gravity: [0, 0, -1000]\n", "gravity", "expected a magnitude below 100"),
    ("seed_negative", "seed: -1\n", "seed", "expected a whole number >= 0, got -1"),
    ("seed_not_a_number", "seed: abc\n", "seed", "expected a whole number >= 0"),
    # --- shapes ---------------------------------------------------------------------------
    (
        "unknown_shape",
        "objects:\n  - {shape: cone, radius: 0.5}\n",
        "objects[0].shape",
        "expected one of 'box', 'sphere', 'cylinder', 'capsule', 'mesh' or 'asset', got 'cone'",
    ),
    ("object_without_shape", "objects:\n  - {size: [1, 1, 1]}\n", "objects[0].shape", "required field is missing"),
    ("box_missing_size", "objects:\n  - {shape: box}\n", "objects[0].size", "required for shape 'box'"),
    (
        "cylinder_missing_height",
        "objects:\n  - {shape: cylinder, radius: 0.2}\n",
        "objects[0].height",
        "required for shape 'cylinder'",
    ),
    (
        "sphere_given_size",
        "objects:\n  - {shape: sphere, radius: 0.5, size: [1, 1, 1]}\n",
        "objects[0].size",
        "not used by shape 'sphere' (it takes radius)",
    ),
    # --- names of assets, clips and files -------------------------------------------------
    (
        "unknown_asset",
        "objects:\n  - {shape: asset, asset: unicorn}\n",
        "objects[0].asset",
        "unknown pybullet_data asset 'unicorn'",
    ),
    (
        "multi_link_asset",
        "objects:\n  - {shape: asset, asset: r2d2}\n",
        "objects[0].asset",
        "asset 'r2d2' has several links; expected a single rigid body",
    ),
    (
        "unknown_mocap_clip",
        "humanoids:\n  - {motion: moonwalk}\n",
        "humanoids[0].motion",
        "unknown mocap clip 'moonwalk'; expected one of",
    ),
    ("humanoid_without_motion", "humanoids:\n  - {position: [0, 0, 0]}\n", "humanoids[0].motion", "required field is missing"),
    (
        "missing_mesh_file",
        "objects:\n  - {shape: mesh, mesh: nowhere.obj}\n",
        "objects[0].mesh",
        "mesh file not found",
    ),
    (
        "wrong_mesh_extension",
        "objects:\n  - {shape: mesh, mesh: model.fbx}\n",
        "objects[0].mesh",
        "expected a mesh file (.obj, .stl, .ply, .glb, .gltf, .off), got 'model.fbx'",
    ),
    (
        "missing_texture",
        "objects:\n  - {shape: box, size: [1, 1, 1], material: {texture: wood.png}}\n",
        "objects[0].material.texture",
        "texture file not found",
    ),
    (
        "texture_not_an_image",
        "objects:\n  - {shape: box, size: [1, 1, 1], material: {texture: wood.txt}}\n",
        "objects[0].material.texture",
        "expected an image file",
    ),
    # --- lights ---------------------------------------------------------------------------
    (
        "light_attached_to_missing_object",
        "objects:\n  - {name: ball, shape: sphere, radius: 0.1}\nlights:\n  - {type: point, attach_to: bal}\n",
        "lights[0].attach_to",
        "no object named 'bal'; did you mean 'ball'?",
    ),
    (
        "light_with_two_position_sources",
        "objects:\n  - {name: ball, shape: sphere, radius: 0.1}\n"
        "lights:\n  - {type: point, position: [0, 0, 1], attach_to: ball}\n",
        "lights[0].attach_to",
        "the light's position is already given by position",
    ),
    (
        "spot_light_without_direction",
        "lights:\n  - {type: spot, position: [0, 0, 2]}\n",
        "lights[0].direction",
        "required for a spot light (or look_at)",
    ),
    (
        "point_light_without_position",
        "lights:\n  - {type: point}\n",
        "lights[0].position",
        "required for a point light",
    ),
    (
        "unknown_light_type",
        "lights:\n  - {type: laser, position: [0, 0, 2]}\n",
        "lights[0].type",
        "expected one of 'point', 'spot', 'directional' or 'area', got 'laser'",
    ),
    # --- timing ---------------------------------------------------------------------------
    (
        "physics_hz_not_multiple_of_fps",
        "fps: 24\nphysics_hz: 100\n",
        "physics_hz",
        "expected a whole multiple of fps (24), got 100",
    ),
    ("duration_and_num_frames", "duration: 2\nnum_frames: 10\n", "duration", "give either duration or num_frames, not both"),
    # --- names and references -------------------------------------------------------------
    (
        "duplicate_object_names",
        "objects:\n  - {name: a, shape: box, size: [1, 1, 1]}\n  - {name: a, shape: sphere, radius: 1}\n",
        "objects[1].name",
        "name 'a' is already used by objects[0].name",
    ),
    (
        "humanoid_name_taken_by_object",
        "objects:\n  - {name: bob, shape: box, size: [1, 1, 1]}\nhumanoids:\n  - {name: bob, motion: walk}\n",
        "humanoids[0].name",
        "name 'bob' is already used",
    ),
    (
        "duplicate_camera_names",
        "cameras:\n  - {name: c, position: [1, 1, 1]}\n  - {name: c, position: [1, 1, 2]}\n",
        "cameras[1].name",
        "name 'c' is already used",
    ),
    (
        "constraint_child_missing",
        "objects:\n  - {name: door, shape: box, size: [1, 1, 1]}\n"
        "constraints:\n  - {type: hinge, child: dor, pivot: [0, 0, 0]}\n",
        "constraints[0].child",
        "no object named 'dor'; did you mean 'door'?",
    ),
    (
        "constraint_to_itself",
        "objects:\n  - {name: a, shape: box, size: [1, 1, 1]}\n"
        "constraints:\n  - {type: point, child: a, parent: a, pivot: [0, 0, 0]}\n",
        "constraints[0].parent",
        "expected a different object than child",
    ),
    # --- orientation, cameras, animation --------------------------------------------------
    (
        "euler_and_quaternion",
        "objects:\n  - {shape: box, size: [1, 1, 1], euler: [0, 0, 1], quaternion: [0, 0, 0, 1]}\n",
        "objects[0].quaternion",
        "give either euler or quaternion, not both",
    ),
    (
        "zero_quaternion",
        "objects:\n  - {shape: box, size: [1, 1, 1], quaternion: [0, 0, 0, 0]}\n",
        "objects[0].quaternion",
        "expected a non-zero quaternion",
    ),
    ("camera_without_position", "cameras:\n  - {look_at: [0, 0, 0]}\n", "cameras[0].position", "required"),
    (
        "orbit_without_radius",
        "cameras:\n  - {look_at: [0, 0, 0], orbit: {period: 3}}\n",
        "cameras[0].orbit.radius",
        "required field is missing",
    ),
    (
        "keyframes_out_of_order",
        "cameras:\n  - keyframes:\n      - {time: 0, position: [1, 1, 1]}\n"
        "      - {time: 2, position: [2, 2, 2]}\n      - {time: 1, position: [3, 3, 3]}\n",
        "cameras[0].keyframes[2].time",
        "expected times in increasing order, got 1.0 after 2.0",
    ),
    (
        "light_keyframes_same_time",
        "lights:\n  - {type: point, keyframes: [{time: 0, position: [0, 0, 1]}, {time: 0, position: [0, 0, 2]}]}\n",
        "lights[0].keyframes[1].time",
        "expected times in increasing order",
    ),
    # --- file-level mistakes --------------------------------------------------------------
    (
        "malformed_yaml_unclosed_flow_mapping",
        "objects:\n  - {shape: box, size: [1, 1, 1]\n  - {shape: box}\n",
        "",
        "malformed YAML at line 3",
    ),
    ("malformed_yaml_bad_indent", "fps: 24\n  physics_hz: 240\n", "", "malformed YAML at line 2"),
    ("malformed_yaml_tab", "fps: 24\n\tseed: 1\n", "", "malformed YAML at line 2"),
    ("malformed_yaml_unclosed_quote", "name: 'abc\nfps: 3\n", "", "malformed YAML at line 3"),
    ("top_level_list", "- shape: box\n- shape: sphere\n", "", "expected a mapping of scene fields"),
    ("top_level_scalar", "hello\n", "", "expected a mapping of scene fields"),
    ("empty_file", "", "", "expected a mapping of scene fields"),
    (
        "duplicate_yaml_key",
        "fps: 24\nseed: 1\nfps: 30\n",
        "",
        "malformed YAML at line 3",
    ),
    (
        "integer_key_at_top_level",
        "1: 2\n",
        "1",
        "unknown field",
    ),
    (
        "integer_key_in_object",
        "objects:\n  - {shape: box, size: [1, 1, 1], 3: x}\n",
        "objects[0].3",
        "unknown field",
    ),
    (
        "interpolation",  # scenes are plain data: OmegaConf's ${...} is refused, never resolved
        "fps: ${frame_rate}\n",
        "fps",
        "expected a plain value, got '${frame_rate}': OmegaConf interpolation",
    ),
    # --- distributions --------------------------------------------------------------------
    (
        "uniform_with_one_value",
        "objects:\n  - {shape: sphere, radius: {uniform: [1]}}\n",
        "objects[0].radius",
        "expected {uniform: [a, b]} with two values, got [1]",
    ),
    (
        "uniform_low_above_high",
        "objects:\n  - {shape: sphere, radius: {uniform: [2, 1]}}\n",
        "objects[0].radius",
        "expected {uniform: [low, high]} with low <= high, got [2, 1]",
    ),
    (
        "uniform_of_words",
        "objects:\n  - {shape: sphere, radius: {uniform: [a, b]}}\n",
        "objects[0].radius",
        "expected numbers (or equal-length lists) in {uniform: [a, b]}",
    ),
    ("uniform_int_fractional", "fps: {uniform_int: [1.5, 3]}\n", "fps", "with integers low <= high"),
    (
        "normal_negative_std",
        "objects:\n  - {shape: sphere, radius: {normal: [1, -1]}}\n",
        "objects[0].radius",
        "with std >= 0",
    ),
    (
        "choice_empty",
        "objects:\n  - {shape: {choice: []}, radius: 1}\n",
        "objects[0].shape",
        "expected {choice: [item, ...]} with at least one item",
    ),
    (
        "draw_out_of_range_in_counted_object",
        "objects:\n" + BOX + "  - {shape: box, size: [1, 1, 1], count: 3, physics: {mass: {uniform: [-2, -1]}}}\n",
        "objects[1].physics.mass",
        "expected a number > 0",
    ),
    ("count_negative", "objects:\n  - {shape: box, size: [1, 1, 1], count: -2}\n", "objects[0].count", "expected a whole number >= 0, got -2"),
    ("count_not_a_number", "objects:\n  - {shape: box, size: [1, 1, 1], count: many}\n", "objects[0].count", "expected a whole number >= 0"),
]


def _check_one_line(rc: int, out: str, err: str, source: str, field: str, message: str) -> str:
    assert "Traceback" not in err and "Traceback" not in out
    assert rc == 2, f"exit code {rc}, stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    line = lines[0]
    prefix = f"error: {source}: {field}: " if field else f"error: {source}: "
    assert line.startswith(prefix), f"expected the line to start with {prefix!r}, got {line!r}"
    assert message in line[len(prefix):], f"expected {message!r} in {line!r}"
    assert line.count(f"{source}:") == 1, f"file named more than once: {line!r}"
    return line


def test_table_has_enough_distinct_mistakes():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    texts = [c[1] for c in CASES]
    assert len(texts) == len(set(texts))
    assert len(CASES) >= 24


@pytest.mark.parametrize(("case", "text", "field", "message"), _with_ids(CASES))
def test_malformed_scene_gives_one_line_error(case, text, field, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / FILE).write_text(text)
    rc = main(["validate", str(tmp_path / FILE)])
    out, err = capsys.readouterr()
    assert out == "", "nothing goes to stdout when the scene is wrong"
    _check_one_line(rc, out, err, FILE, field, message)


# --- the command line: overrides and scene names, through main() ---------------------------

CLI_CASES = [
    # (id, arguments after "validate", expected source, expected field, expected message)
    ("bad_override_syntax", ["dominoes", "scene.seed=="], "command line", "", "cannot parse override"),
    (
        "override_makes_value_invalid",
        ["dominoes", "scene.objects.0.physics.mass=-1"],
        "configs/scene/dominoes.yaml",
        "objects[0].physics.mass",
        "expected a number > 0",
    ),
    (
        "unknown_bundled_scene",
        ["no_such_scene"],
        "command line",
        "scene",
        "no bundled scene 'no_such_scene'",
    ),
    ("unknown_scene_group", ["scene=no_such_scene"], "command line", "scene", "no bundled scene 'no_such_scene'"),
    ("override_without_value", ["dominoes", "scene.seed"], "command line", "", "expected an override KEY=VALUE"),
    (
        "override_index_out_of_range",
        ["dominoes", "scene.objects.9999.physics.mass=2"],
        "command line",
        "scene.objects.9999.physics.mass",
        "cannot apply override",
    ),
    (
        "override_breaks_timing",
        ["dominoes", "scene.fps=24", "scene.physics_hz=100"],
        "configs/scene/dominoes.yaml",
        "physics_hz",
        "expected a whole multiple of fps (24), got 100",
    ),
    ("scene_file_not_found", ["missing_scene.yaml"], "missing_scene.yaml", "", "scene file not found"),
    (
        "delete_missing_field",
        ["dominoes", "~scene.no_such_field"],
        "command line",
        "scene.no_such_field",
        "cannot delete: no such field",
    ),
    (
        "override_syntax_error_names_no_key",
        ["dominoes", "scene.seed=[1"],
        "command line",
        "scene.seed",
        "cannot parse override",
    ),
    (
        "misspelt_top_level_override",
        ["dominoes", "sene.seed=3"],
        "command line",
        "sene",
        "unknown field",
    ),
]


@pytest.mark.parametrize(("case", "args", "source", "field", "message"), _with_ids(CLI_CASES))
def test_command_line_mistake_gives_one_line_error(case, args, source, field, message, capsys):
    # the bundled scene is shown relative to the working directory: run from the repository
    repo = Path(__file__).resolve().parents[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(repo)
        rc = main(["validate", *args])
    out, err = capsys.readouterr()
    assert out == ""
    _check_one_line(rc, out, err, source, field, message)


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "worldgen"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "worldgen.cli"]


def test_console_script_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("objects:\n" + BOX + BOX + "  - {shape: sphere, radius: 0.1, physics: {mass: -1}}\n")
    proc = subprocess.run(
        [*_console_script(), "validate", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: bad.yaml: objects[2].physics.mass: expected a number > 0"), lines
    assert proc.stdout == ""
