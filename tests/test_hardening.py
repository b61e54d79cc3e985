"""Hostile and absurd inputs, one class at a time: each ends in exactly one line on stderr
(``error: FILE: FIELD: message``, checked whole) and exit code 2, in bounded time, and
the absurd sizes are refused before anything of their size is allocated.

Classes: distribution parameters; sizes past the limits of :mod:`worldgen.scene.limits`;
files that are not what they claim (binary, not UTF-8, nested thousands deep, alias
bombs, textures and meshes that are not images and meshes); values that validate but
make the simulation non-finite; scene names that would write outside the output folder;
command-line flags (counts, sizes, non-finite numbers); damaged datasets (truncated or
edited shards, manifests that are not JSON or not manifests) in every command that reads
one; OmegaConf interpolation in scene and family files and overrides.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from worldgen.cli import main
from worldgen.scene import SceneError, load_scene
from worldgen.scene.limits import MAX_SCENE_FILE_BYTES

FILE = "scene.yaml"
SECONDS = 60  # every refusal below takes well under a second; the bound allows a heavily loaded machine


@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """Import what a command imports once, outside the timed calls."""
    load_scene("dominoes")


def _limit(what: str, value: str, limit: str, name: str) -> str:
    return (f"{what} is {value}, over the limit of {limit} ({name} in worldgen/scene/limits.py); "
            "make it smaller or raise the limit")


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    start = time.perf_counter()
    try:
        rc = main(argv)
    except SystemExit as done:  # argparse's own mistakes
        rc = done.code
    assert time.perf_counter() - start < SECONDS
    out, err = capsys.readouterr()
    return rc, out, err


def _refused(text: str | bytes, tmp_path, monkeypatch, capsys, command: str = "validate", extra=()) -> str:
    """Write ``text`` to tmp_path/scene.yaml, run ``worldgen COMMAND scene.yaml``, check
    exit 2 and one line, and return the line."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / FILE
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    rc, out, err = _run([command, FILE, *extra], capsys)
    assert "Traceback" not in err
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _refused_in_little_memory(text: str | bytes, tmp_path, monkeypatch, capsys) -> str:
    """:func:`_refused`, and the refusal's peak Python memory stays under 64 MiB."""
    tracemalloc.start()
    try:
        line = _refused(text, tmp_path, monkeypatch, capsys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak / 2**20:.1f} MiB"
    return line


# --- distributions ----------------------------------------------------------------------
DISTRIBUTIONS = [
    ("mass_uniform_to_inf", "objects:\n  - {shape: box, size: [1, 1, 1], physics: {mass: {uniform: [0, .inf]}}}\n",
     "objects[0].physics.mass: expected finite numbers in {uniform: [a, b]}, got [0, inf]"),
    ("velocity_uniform_to_inf",
     "objects:\n  - {shape: box, size: [1, 1, 1], linear_velocity: {uniform: [[0, 0, 0], [.inf, 0, 0]]}}\n",
     "objects[0].linear_velocity: expected finite numbers in {uniform: [a, b]}, got [[0, 0, 0], [inf, 0, 0]]"),
    ("uniform_nan", "fps: {uniform: [.nan, 30]}\n", "fps: expected finite numbers in {uniform: [a, b]}, got [nan, 30]"),
    ("uniform_width_overflows", "gravity: {uniform: [[-1.0e+308, 0, 0], [1.0e+308, 0, 0]]}\n",
     "gravity: expected {uniform: [low, high]} with a finite width high - low, got [[-1e+308, 0, 0], [1e+308, 0, 0]]"),
    ("uniform_string_bound", "fps: {uniform: ['1', 30]}\n",
     "fps: expected numbers (or equal-length lists) in {uniform: [a, b]}, got ['1', 30]"),
    ("normal_inf_std", "fps: {normal: [24, .inf]}\n", "fps: expected finite numbers in {normal: [a, b]}, got [24, inf]"),
    ("normal_draw_overflows", "gravity: {normal: [[0, 0, 0], [1.0e+308, 1.0e+308, 1.0e+308]]}\n",
     None),  # the draw overflows or is past the gravity limit: either way one line on gravity
    ("uniform_int_huge_bound", "objects:\n  - {shape: box, size: [1, 1, 1], count: {uniform_int: [0, 1.0e+300]}}\n",
     "objects[0].count: expected {uniform_int: [low, high]} with integers low <= high (at most 9,007,199,254,740,992 in size), "
     "got [0, 1e+300]"),
    ("choice_not_a_list", "fps: {choice: 24}\n", "fps: expected {choice: [item, ...]} with at least one item, got 24"),
    ("hemisphere_infinite_radius",
     "cameras:\n  - {position: {hemisphere: {radius: [1, .inf], elevation: [0, 90]}}}\n",
     "cameras[0].position.radius: expected finite numbers in {radius: [a, b]}, got [1, inf]"),
    ("hemisphere_bad_center",
     "cameras:\n  - {position: {hemisphere: {radius: [1, 2], elevation: [0, 90], center: [0, .nan, 0]}}}\n",
     "cameras[0].position.center: expected [x, y, z] of finite numbers, got [0, nan, 0]"),
    ("count_inf", "objects:\n  - {shape: box, size: [1, 1, 1], count: {uniform_int: [0, .inf]}}\n",
     "objects[0].count: expected finite numbers in {uniform_int: [a, b]}, got [0, inf]"),
]


@pytest.mark.parametrize("case,text,expected", DISTRIBUTIONS, ids=[c[0] for c in DISTRIBUTIONS])
def test_bad_distribution_parameters(case, text, expected, tmp_path, monkeypatch, capsys):
    line = _refused(text, tmp_path, monkeypatch, capsys)
    if expected is None:
        assert line.startswith(f"error: {FILE}: gravity: ")
    else:
        assert line == f"error: {FILE}: {expected}"


# --- sizes ------------------------------------------------------------------------------
SIZES = [
    ("count_drawn_up_to_1e12", "objects:\n  - {shape: box, size: [1, 1, 1], count: {uniform_int: [999999999999, 1000000000000]}}\n",
     "objects[0].count: " + _limit("the number of objects with these copies", "999,999,999,999", "1,000",
                                   "MAX_ENTITIES['objects']")),
    ("count_100000", "objects:\n  - {shape: box, size: [1, 1, 1], count: 100000}\n",
     "objects[0].count: " + _limit("the number of objects with these copies", "100,000", "1,000", "MAX_ENTITIES['objects']")),
    ("billions_of_frames", "num_frames: 5000000000\n",
     "num_frames: " + _limit("the number of frames", "5,000,000,000", "100,000", "MAX_FRAMES")),
    ("duration_of_ages", "duration: 1.0e+300\n",
     "duration: " + _limit("the number of frames", "2.4e+301", "100,000", "MAX_FRAMES")),
    ("frame_rate_past_floats", f"fps: {10**400}\n",
     "fps: " + _limit("the frame rate (frames per second)", "more than 1e308", "1,000", "MAX_VIDEO_FPS")),
    ("physics_rate", "fps: 1\nphysics_hz: 1000000\nnum_frames: 2\n",
     "physics_hz: " + _limit("the physics rate (steps per second)", "1,000,000", "10,000", "MAX_PHYSICS_HZ")),
    ("physics_steps", "fps: 10\nphysics_hz: 10000\nnum_frames: 20000\n",
     "num_frames: " + _limit("the number of physics steps (frames x physics_hz / fps)", "20,000,000", "10,000,000",
                             "MAX_PHYSICS_STEPS")),
    ("state_size", "num_frames: 100000\nobjects:\n  - {shape: box, size: [1, 1, 1], count: 1000}\n",
     "num_frames: " + _limit("the recorded state (frames x numbers per frame for the bodies, lights and humanoids)",
                             "1,300,000,000", "200,000,000", "MAX_STATE_VALUES")),
    ("flicker_frequency", "lights:\n  - {type: point, position: [0, 0, 2], flicker: {frequency: 1.0e+300}}\n",
     "lights[0].flicker.frequency: " + _limit("the flicker changes over the clip (frequency x seconds)", "4e+300",
                                              "10,000,000", "MAX_FLICKER_KNOTS")),
    ("camera_resolution", "cameras:\n  - {position: [1, 1, 1], resolution: [100000, 100000]}\n",
     "cameras[0].resolution: " + _limit("the image side", "100,000", "8,192", "MAX_IMAGE_SIDE")),
    ("camera_pixels", "cameras:\n  - {position: [1, 1, 1], resolution: [8000, 8000]}\n",
     "cameras[0].resolution: " + _limit("the pixels per frame", "64,000,000", "16,777,216", "MAX_IMAGE_PIXELS")),
    ("many_lights", "lights:\n" + "  - {type: point, position: [0, 0, 1]}\n" * 65,
     "lights: " + _limit("the number of lights", "65", "64", "MAX_ENTITIES['lights']")),
    ("position_past_magnitude", "objects:\n  - {shape: box, size: [1, 1, 1], linear_velocity: [1.0e+308, 0, 0]}\n",
     "objects[0].linear_velocity[0]: expected a number <= 1000000000.0, got 1e+308"),
]


@pytest.mark.parametrize("case,text,expected", SIZES, ids=[c[0] for c in SIZES])
def test_absurd_sizes_are_refused(case, text, expected, tmp_path, monkeypatch, capsys):
    assert _refused(text, tmp_path, monkeypatch, capsys) == f"error: {FILE}: {expected}"


@pytest.mark.parametrize("case,text,expected", SIZES[:7], ids=[c[0] for c in SIZES[:7]])
def test_absurd_sizes_are_refused_before_allocating(case, text, expected, tmp_path):
    """Peak Python memory of loading a scene that describes a huge run stays a few MB:
    the refusal comes before any array, copy or frame of that size."""
    path = tmp_path / FILE
    path.write_text(text)
    load_scene("dominoes")  # imports and caches warmed up outside the measurement
    tracemalloc.start()
    try:
        with pytest.raises(SceneError):
            load_scene(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_command_line_sizes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, _, err = _run(["render", "dominoes", "--resolution", "100000x100000", "-o", "r"], capsys)
    assert rc == 2 and err == "error: command line: --resolution: " + _limit(
        "the image side", "100,000", "8,192", "MAX_IMAGE_SIDE") + "\n"
    rc, _, err = _run(["render", "dominoes", "--spp", "100000", "-o", "r"], capsys)
    assert rc == 2 and err == "error: config: render.spp: " + _limit(
        "the samples per pixel", "100,000", "4,096", "MAX_SPP") + "\n"
    rc, _, err = _run(["render", "dominoes", "scene.duration=1000", "--resolution", "1024x1024", "-o", "r"], capsys)
    source = str(Path(__file__).resolve().parents[1] / "configs" / "scene" / "dominoes.yaml")
    assert rc == 2 and err == f"error: {source}: render.resolution: " + _limit(
        "the pixels of the whole clip (frames x width x height)", "25,165,824,000", "100,000,000", "MAX_VIDEO_PIXELS") + "\n"
    rc, _, err = _run(["dataset", "generate", "objects_drop", "resolution=[4096,4096]", "num_frames=100", "-o", "d",
                       "--episodes", "1"], capsys)
    assert rc == 2 and err.endswith("resolution: " + _limit("the pixels of the whole clip (frames x width x height)",
                                                            "1,677,721,600", "100,000,000", "MAX_VIDEO_PIXELS") + "\n")
    rc, _, err = _run(["eval", "dynamics", "-o", "e", "--episodes", "10000000"], capsys)
    assert rc == 2 and err == "error: command line: --episodes: expected a whole number from 1 to 1,000,000, got '10000000'\n"
    rc, _, err = _run(["render", "dominoes", "--spp", "many"], capsys)
    assert rc == 2 and err == ("error: command line: worldgen render: argument --spp: invalid int value: 'many' "
                               "(see worldgen render -h)\n")
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()


def test_override_nested_thousands_deep(capsys):
    rc, _, err = _run(["validate", "dominoes", "scene.description=" + "[" * 3000 + "]" * 3000], capsys)
    assert rc == 2 and err == ("error: command line: scene.description: override nested deeper than 64 levels "
                               "(MAX_YAML_DEPTH in worldgen/scene/limits.py)\n")


# --- files that are not what they claim -------------------------------------------------
def _laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


FILES = [
    ("binary", b"\x00\xff\xfe\x01binary", "not a UTF-8 text file (byte 0xff at offset 1); expected a YAML text file"),
    ("latin1", "name: caf\u00e9\n".encode("latin-1"),
     "not a UTF-8 text file (byte 0xe9 at offset 9); expected a YAML text file"),
    ("nul_character", b"name: \x00\n", "malformed YAML: unacceptable character #x0000: special characters are not allowed"),
    ("nested_5000_deep", "a: " + "[" * 5000 + "]" * 5000 + "\n",
     "YAML nested deeper than 64 levels at line 1, column 67 (MAX_YAML_DEPTH in worldgen/scene/limits.py)"),
    ("nested_mappings", "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n",
     "YAML nested deeper than 64 levels at line 65, column 129 (MAX_YAML_DEPTH in worldgen/scene/limits.py)"),
    ("billion_laughs", _laughs(),
     "the YAML holds more than 10,000 values with its aliases expanded, at line 5, column 15 "
     "(MAX_YAML_NODES in worldgen/scene/limits.py)"),
    ("recursive_alias", "a: &a [*a]\n",
     "alias *a at line 1, column 8 refers to no complete anchor before it (undefined, or the value that contains it)"),
    ("oversized_file", "description: '" + "x" * MAX_SCENE_FILE_BYTES + "'\n",
     "the file is over the limit of 1,048,576 bytes (MAX_SCENE_FILE_BYTES in worldgen/scene/limits.py); "
     "expected a YAML text file"),
]


@pytest.mark.parametrize("case,content,expected", FILES, ids=[c[0] for c in FILES])
def test_files_that_are_not_scenes(case, content, expected, tmp_path, monkeypatch, capsys):
    assert _refused_in_little_memory(content, tmp_path, monkeypatch, capsys) == f"error: {FILE}: {expected}"


def _png(path: Path) -> bytes:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 100, 50)).save(path)
    return path.read_bytes()


ASSETS = [
    ("texture_text", "texture", "tex.png", lambda p: p.write_text("not an image"),
     "objects[0].material.texture: tex.png is not a readable PNG or JPEG image "
     "(cannot identify image file '{path}')"),
    ("texture_truncated", "texture", "tex.png", lambda p: p.write_bytes(_png(p)[:-30]),
     "objects[0].material.texture: tex.png is not a readable PNG or JPEG image (Truncated File Read)"),
    ("texture_gif", "texture", "tex.png", lambda p: __import__("PIL.Image").Image.new("RGB", (4, 4)).save(p, "GIF"),
     "objects[0].material.texture: tex.png is a GIF image; expected PNG or JPEG"),
    ("mesh_random_bytes", "mesh", "m.stl", lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)),
     "objects[0].mesh: m.stl holds no triangles; expected a mesh"),
    ("mesh_no_faces", "mesh", "m.obj", lambda p: p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n"),
     "objects[0].mesh: m.obj holds no triangles; expected a mesh"),
    ("mesh_nan_vertices", "mesh", "m.obj", lambda p: p.write_text("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
     "objects[0].mesh: m.obj holds no triangles; expected a mesh"),  # the reader drops them
]


@pytest.mark.parametrize("case,kind,name,make,expected", ASSETS, ids=[c[0] for c in ASSETS])
def test_textures_and_meshes_that_are_not(case, kind, name, make, expected, tmp_path, monkeypatch, capsys):
    make(tmp_path / name)
    obj = (f"{{shape: box, size: [1, 1, 1], material: {{texture: {name}}}}}" if kind == "texture"
           else f"{{shape: mesh, mesh: {name}}}")
    line = _refused(f"objects:\n  - {obj}\n", tmp_path, monkeypatch, capsys)
    assert line == f"error: {FILE}: " + expected.format(path=tmp_path / name)


# --- values that validate but break the run ---------------------------------------------
@pytest.mark.parametrize("dynamics", ["pybullet", "learned"])
def test_non_finite_simulation_stops_with_one_line(dynamics, tmp_path, monkeypatch, capsys):
    """A box 1e300 m long validates, and pybullet's state is NaN from frame 1; the learned
    engine's float32 inputs overflow at once. Either way one line naming the body and
    frame, and no trajectory written."""
    text = "name: huge\nduration: 0.5\nobjects:\n  - {name: slab, shape: box, size: [1.0e+300, 1, 1], position: [0, 0, 2]}\n"
    line = _refused(text, tmp_path, monkeypatch, capsys, "simulate", [f"dynamics={dynamics}", "-o", "out", "-q"])
    frame = {"pybullet": 1, "learned": 0}[dynamics]
    assert line == (f"error: {FILE}: simulation: body 'slab' is no longer finite (NaN or infinite state) at "
                    f"frame {frame} (t = {frame / 24:.3f} s); nothing was written. Check the scene: its initial position, "
                    "velocity, mass or the forces on it are out of range")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind,array", [("body", "body_linear_velocity"), ("light", "light_intensity")])
def test_non_finite_trajectory_is_never_saved(kind, array, tmp_path):
    from simulation.engines import make_engine

    trajectory = make_engine("pybullet").rollout(load_scene("pendulum_lamp"), num_frames=3)
    getattr(trajectory.states, array)[2, 0] = np.inf
    name = (trajectory.bodies if kind == "body" else trajectory.lights)[0].name
    with pytest.raises(SceneError, match=rf"^simulation: {kind} '{name}' is no longer finite .* at frame 2 "):
        trajectory.save(tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_camera_looking_at_itself_is_refused(tmp_path, monkeypatch, capsys):
    """A static camera at its own look_at point validated and gave NaN extrinsics."""
    line = _refused("cameras:\n  - {position: [1, 2, 3], look_at: [1, 2, 3]}\n", tmp_path, monkeypatch, capsys)
    assert line == f"error: {FILE}: cameras[0].look_at: expected a point other than the camera's position [1.0, 2.0, 3.0]"


def test_orbit_period_zero_is_refused(tmp_path, monkeypatch, capsys):
    """An orbit of period 0 validated and wrote NaN light positions."""
    text = "lights:\n  - {type: point, orbit: {radius: 1, period: 0}}\n"
    line = _refused(text, tmp_path, monkeypatch, capsys, "simulate", ["-q"])
    assert line == f"error: {FILE}: lights[0].orbit.period: expected seconds per turn of at least 1e-6 in size, got 0.0"


# --- output paths -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../..", "..", "a/../../b", "/etc", ".hidden", "a\\b", "x" * 101, ""])
def test_scene_name_cannot_leave_the_output_folder(name, tmp_path, monkeypatch, capsys):
    line = _refused(f"name: {json.dumps(name)}\n", tmp_path, monkeypatch, capsys, "simulate", ["-q"])
    assert line == (f"error: {FILE}: name: expected a plain folder name (letters, digits, '_', '-', '.' and '+', starting "
                    "with a letter, digit or '_', at most 100 characters; it names the output folder), "
                    f"got {name!r}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]


def test_simulate_writes_only_inside_out(tmp_path, monkeypatch, capsys):
    """A scene in a sub-folder whose mesh lies above it: simulate without -o writes
    out/NAME/trajectory.* and nothing else anywhere under the working folder."""
    work = tmp_path / "work"
    (work / "scenes").mkdir(parents=True)
    (tmp_path / "tet.obj").write_text("v 0 0 0\nv 0.2 0 0\nv 0 0.2 0\nv 0 0 0.2\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    (work / "scenes" / FILE).write_text("name: tet\nduration: 0.25\nobjects:\n"
                                        "  - {shape: mesh, mesh: ../../tet.obj, position: [0, 0, 0.5]}\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = {p for p in tmp_path.rglob("*")}
    rc, _, err = _run(["simulate", f"scenes/{FILE}", "-q"], capsys)
    assert rc == 0, err
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file() and p not in before}
    assert {p for p in written if p.parts[0] != "cache"} == {
        Path("work/out/tet/trajectory.npz"), Path("work/out/tet/trajectory.json")}


# --- damaged datasets -------------------------------------------------------------------
SHARD = "shard-000000.tar"
CHANGED = "sample 000001: its bytes do not match its sha256 in the manifest (corrupt or modified shard)"


@pytest.fixture(scope="module")
def states_dataset(tmp_path_factory) -> Path:
    """A --states-only objects_drop dataset of 2 episodes of 4 frames (one shard)."""
    root = tmp_path_factory.mktemp("states") / "data"
    assert main(["dataset", "generate", "objects_drop", "num_frames=4", "--states-only", "--episodes", "2",
                 "--workers", "1", "-q", "-o", str(root)]) == 0
    return root


def _damaged(source: Path, tmp_path: Path, damage) -> Path:
    """A copy of the dataset ``source`` with ``damage(copy)`` done to it."""
    import shutil

    root = tmp_path / "damaged"
    shutil.copytree(source, root)
    damage(root)
    return root


def _truncate(root: Path) -> None:
    shard = root / SHARD
    shard.write_bytes(shard.read_bytes()[:shard.stat().st_size // 2])


def _change_member(root: Path) -> None:
    """Flip one byte inside the data of episode 1's trajectory.npz (the shard's size stays)."""
    import tarfile

    shard = root / SHARD
    with tarfile.open(shard) as archive:
        member = archive.getmember("000001.trajectory.npz")
    data = bytearray(shard.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0x01
    shard.write_bytes(bytes(data))


def _edit_manifest(edit):
    def damage(root: Path) -> None:
        manifest = json.loads((root / "manifest.json").read_text())
        edit(manifest)
        (root / "manifest.json").write_text(json.dumps(manifest))
    return damage


def _shard_size(root: Path) -> int:
    return json.loads((root / "manifest.json").read_text())["shards"][0]["bytes"]


DAMAGES = [
    ("shard_truncated", _truncate,
     lambda n: f"{SHARD}: the shard is {n // 2:,} bytes; the manifest says {n:,} (truncated or modified shard)"),
    ("member_bytes_changed", _change_member, lambda n: f"{SHARD}: {CHANGED}"),
    ("shard_missing", lambda root: (root / SHARD).unlink(), lambda n: f"{SHARD}: missing shard (the manifest lists it)"),
    ("shard_not_a_tar", lambda root: (root / SHARD).write_bytes(np.random.default_rng(0).bytes(_shard_size(root))),
     lambda n: f"{SHARD}: not a readable tar shard (file could not be opened successfully); expected the shard the "
               "manifest describes"),
    ("manifest_not_json", lambda root: (root / "manifest.json").write_text("{shards: []}"),
     lambda n: "manifest.json: unreadable manifest (Expecting property name enclosed in double quotes at line 1, "
               "column 2); expected the JSON manifest of a worldgen dataset"),
    ("manifest_not_utf8", lambda root: (root / "manifest.json").write_bytes(b"\xff\xfe{}"),
     lambda n: "manifest.json: unreadable manifest (not UTF-8: byte 0xff at offset 0); expected the JSON manifest "
               "of a worldgen dataset"),
    ("manifest_nested_deep", lambda root: (root / "manifest.json").write_text("[" * 100_000),
     lambda n: "manifest.json: unreadable manifest (maximum recursion depth exceeded while decoding a JSON array from "
               "a unicode string); expected the JSON manifest of a worldgen dataset"),
    ("manifest_a_list", lambda root: (root / "manifest.json").write_text("[]"),
     lambda n: "manifest.json: expected a JSON object (the manifest of a worldgen dataset), got []"),
    ("manifest_without_shards", _edit_manifest(lambda m: m.pop("shards")),
     lambda n: "manifest.json: shards: expected a list; the field is missing"),
    ("manifest_negative_size", _edit_manifest(lambda m: m["shards"][0].update(bytes=-1)),
     lambda n: "manifest.json: shards[0].bytes: expected a whole number >= 0, got -1"),
    ("manifest_shard_outside", _edit_manifest(lambda m: m["shards"][0].update(name="../../etc/passwd")),
     lambda n: "manifest.json: shards[0].name: expected 'shard-000000.tar', got '../../etc/passwd'"),
    ("manifest_bad_digest", _edit_manifest(lambda m: m["shards"][0]["samples"][1].update(sha256="0" * 63)),
     lambda n: "manifest.json: shards[0].samples[1].sha256: expected a sha256 (64 hexadecimal digits), got '"
               + "0" * 63 + "'"),
]


@pytest.mark.parametrize("case,damage,expected", DAMAGES, ids=[c[0] for c in DAMAGES])
def test_damaged_dataset_is_one_line(case, damage, expected, tiny_renderer_data, tmp_path, capsys):
    """``dataset inspect`` and ``dataset export`` of a damaged dataset: one line naming the
    manifest or shard (and the field or sample) and what is wrong; nothing written."""
    source = tiny_renderer_data / "validation"
    root = _damaged(source, tmp_path, damage)
    for argv in (["dataset", "inspect", str(root)], ["dataset", "export", str(root), "--episode", "1", "-o",
                                                        str(tmp_path / "episode")]):
        rc, out, err = _run(argv, capsys)
        assert (rc, out, err) == (2, "", f"error: {root}/{expected(_shard_size(source))}\n"), argv
    assert not (root / "inspect.json").exists() and not (tmp_path / "episode").exists()


READERS = [  # command, dataset, what the line starts with before the shard's path (None: another engineer's prefix)
    ("inspect", "full", lambda root, out: ["dataset", "inspect", str(root)], ""),
    ("export", "full", lambda root, out: ["dataset", "export", str(root), "--episode", "1", "-o", str(out)], ""),
    ("eval_error_origin", "states", lambda root, out: ["eval", "error-origin", "--data", str(root), "--episodes", "2",
                                                      "--frames", "3", "-o", str(out / "e.json")], "command line: data: "),
    ("train_dynamics", "states", lambda root, out: ["train", "dynamics", f"data={root}", "validation=[]",
                                                   f"run_dir={out}/run", f"output={out}/model", "-q"],
     "command line: data: "),
    ("train_renderer", "full", lambda root, out: ["train", "renderer", f"data=[{root}]", "validation=[]", "model=tiny",
                                                 "device=cpu", f"run_dir={out}/run", f"output={out}/model", "-q"], None),
    ("eval_renderer", "full", lambda root, out: ["eval", "renderer", "--data", str(root), "--episodes", "2", "--frames",
                                                "2", "--steps", "1", "-o", str(out)], None),
]


@pytest.mark.parametrize("case,kind,argv,prefix", READERS, ids=[c[0] for c in READERS])
def test_every_dataset_reader_refuses_a_damaged_shard(case, kind, argv, prefix, tiny_renderer_data, states_dataset,
                                                      tmp_path, capsys):
    """Every command that reads a dataset, on a truncated shard and on one whose member
    bytes were changed (same size): exit 2, one line ending with the shard, the sample and
    what is wrong, and no output."""
    source = tiny_renderer_data / "validation" if kind == "full" else states_dataset
    for name, damage, expected in DAMAGES[:2]:
        root = _damaged(source, tmp_path / name, damage)
        out = tmp_path / name / "out"
        rc, _, err = _run(argv(root, out), capsys)
        tail = f"{root}/{expected(_shard_size(source))}\n"
        assert rc == 2 and err.count("\n") == 1, (name, err)
        if prefix is None:  # their own prefix (field, folder), then the reader's line
            assert err.startswith("error: ") and err.endswith(tail) and "Traceback" not in err, (name, err)
        else:
            assert err == f"error: {prefix}{tail}", name
        assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), name


def test_python_readers_raise_one_line_dataset_errors(tiny_renderer_data, tmp_path):
    """EpisodeDataset and ShardStream raise DatasetFormatError (a SceneError), whose text
    is the line the commands print."""
    from worldgen.dataset import DatasetFormatError, EpisodeDataset, ShardStream

    source = tiny_renderer_data / "validation"
    changed = _damaged(source, tmp_path / "changed", _change_member)
    data = EpisodeDataset(changed, modalities=("rgb",))
    assert data[0]["rgb"].shape == (6, 3, 16, 16)  # the intact sample reads
    for read in (lambda: data[1], lambda: data.trajectory(1), lambda: data.raw_members(1),
                 lambda: list(ShardStream(changed, shuffle=False))):
        with pytest.raises(DatasetFormatError) as caught:
            read()
        assert isinstance(caught.value, SceneError) and str(caught.value) == f"{changed}/{SHARD}: {CHANGED}"
    truncated = _damaged(source, tmp_path / "truncated", _truncate)
    for reader in (EpisodeDataset, lambda root: list(ShardStream(root))):
        with pytest.raises(DatasetFormatError, match=r"shard-000000\.tar: the shard is [\d,]+ bytes; the manifest says"):
            reader(truncated)


def test_dataset_manifest_size_is_bounded(tiny_renderer_data, tmp_path, monkeypatch, capsys):
    """A manifest past MAX_MANIFEST_BYTES is refused before it is read whole."""
    monkeypatch.setattr("worldgen.dataset.store.MAX_MANIFEST_BYTES", 1000)
    root = _damaged(tiny_renderer_data / "validation", tmp_path, lambda root: None)
    rc, _, err = _run(["dataset", "inspect", str(root)], capsys)
    assert rc == 2 and err == (f"error: {root}/manifest.json: the manifest is over the limit of 1,000 bytes "
                               "(MAX_MANIFEST_BYTES in worldgen/scene/limits.py); expected the JSON manifest of a "
                               "worldgen dataset\n")


def test_resuming_into_a_damaged_manifest_is_one_line(tmp_path, capsys):
    """``dataset generate`` into a folder whose manifest is JSON but not a manifest."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text('{"format": "worldgen.dataset/1", "shards": 3}')
    rc, _, err = _run(["dataset", "generate", "objects_drop", "-o", str(tmp_path / "d"), "--episodes", "1",
                       "--workers", "1", "-q"], capsys)
    assert rc == 2 and err == f"error: {tmp_path}/d/manifest.json: family: expected a string; the field is missing\n"


# --- OmegaConf interpolation ------------------------------------------------------------
def _not_plain(value: str) -> str:
    return (f"expected a plain value, got {value!r}: OmegaConf interpolation (${{...}}) is not supported here; "
            "write the value itself")


_DOUBLING = "x0: ab\n" + "".join(f"x{i}: ${{.x{i - 1}}}${{.x{i - 1}}}\n" for i in range(1, 60)) + "description: ${.x59}\n"
INTERPOLATIONS = [
    ("environment", "name: ${oc.env:HOME}\n", "name", "${oc.env:HOME}"),
    ("self_reference", "description: ${.description}\n", "description", "${.description}"),
    ("doubling_60_levels", _DOUBLING, "x1", "${.x0}${.x0}"),  # 2^60 characters if resolved
    ("unknown_resolver", "description: ${no_such_resolver:1}\n", "description", "${no_such_resolver:1}"),
    ("decoding_resolver", "objects:\n  - {shape: box, size: '${oc.decode:[1,1,1]}'}\n", "objects[0].size",
     "${oc.decode:[1,1,1]}"),
    ("escaped", "description: \\${not_resolved}\n", "description", "\\${not_resolved}"),
]


@pytest.mark.parametrize("case,text,field,value", INTERPOLATIONS, ids=[c[0] for c in INTERPOLATIONS])
def test_interpolation_in_a_scene_file_is_refused(case, text, field, value, tmp_path, monkeypatch, capsys):
    """A scene is plain data: ``${...}`` is refused before OmegaConf sees it (it would read
    the environment, recurse, or double a string per level: unbounded time and memory)."""
    line = _refused_in_little_memory(text, tmp_path, monkeypatch, capsys)
    assert line == f"error: {FILE}: {field}: {_not_plain(value)}"


@pytest.mark.parametrize("argv,field,value", [
    (["validate", "dominoes", "scene.name=${oc.env:HOME}"], "scene.name", "${oc.env:HOME}"),
    (["validate", "dominoes", "scene.description=${scene.description}"], "scene.description", "${scene.description}"),
    (["validate", "dominoes", "scene.gravity=[0,0,${dynamics}]"], "scene.gravity[2]", "${dynamics}"),
    (["validate", "scene=${oc.env:HOME}"], "scene", "${oc.env:HOME}"),
    (["dataset", "generate", "objects_drop", "spp=${oc.env:HOME}", "-o", "d", "--episodes", "1"], "spp",
     "${oc.env:HOME}"),
    (["train", "dynamics", "train.steps=${oc.env:HOME}"], "train.steps", "${oc.env:HOME}"),
], ids=["scene_field", "self_reference", "in_a_list", "scene_group", "family_field", "training_config"])
def test_interpolation_in_an_override_is_refused(argv, field, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, _, err = _run(argv, capsys)
    assert rc == 2 and err == f"error: command line: {field}: {_not_plain(value)}\n"
    assert not any(tmp_path.iterdir())


def test_interpolation_in_a_family_file_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    family = (Path(__file__).resolve().parents[1] / "configs" / "dataset" / "objects_drop.yaml").read_text()
    (tmp_path / "family.yaml").write_text(family.replace("\nspp: 8\n", "\nspp: ${oc.env:SPP}\n"))
    rc, _, err = _run(["dataset", "generate", "family.yaml", "-o", "d", "--episodes", "1"], capsys)
    assert rc == 2 and err == f"error: family.yaml: spp: {_not_plain('${oc.env:SPP}')}\n"


# --- command-line numbers ---------------------------------------------------------------
GENERATE = ["dataset", "generate", "objects_drop", "-o", "d", "--episodes", "2"]
FLAGS = [
    ("workers_huge", GENERATE + ["--workers", "100000"],
     "--workers: " + _limit("the number of worker processes", "100,000", "1,024", "MAX_WORKERS")),
    ("workers_10e30", GENERATE + ["--workers", str(10**30)],
     "--workers: " + _limit("the number of worker processes", "1e+30", "1,024", "MAX_WORKERS")),
    ("workers_zero", GENERATE + ["--workers", "0"], "--workers: expected a whole number >= 1, got '0'"),
    ("workers_negative", GENERATE + ["--workers=-4"], "--workers: expected a whole number >= 1, got '-4'"),
    ("workers_inf", GENERATE + ["--workers", "inf"], "--workers: expected a whole number >= 1, got 'inf'"),
    ("shard_size_zero", GENERATE + ["--shard-size", "0"], "--shard-size: expected a whole number >= 1, got '0'"),
    ("shard_size_huge", GENERATE + ["--shard-size", "10000000"],
     "--shard-size: expected a whole number from 1 to 1,000,000, got '10000000'"),
    ("inspect_sample_negative", ["dataset", "inspect", "d", "--sample=-1"], "--sample: expected a whole number >= 0, got '-1'"),
    ("error_origin_threshold_inf", ["eval", "error-origin", "--data", "d", "--threshold", "inf"],
     "--threshold: expected a number of m/s in (0, 1,000,000,000], got inf"),
    ("error_origin_threshold_nan", ["eval", "error-origin", "--data", "d", "--threshold", "nan"],
     "--threshold: expected a number of m/s in (0, 1,000,000,000], got nan"),
    ("error_origin_threshold_zero", ["eval", "error-origin", "--data", "d", "--threshold", "0"],
     "--threshold: expected a number of m/s in (0, 1,000,000,000], got 0.0"),
] + [(f"pose_fps_{value.strip('-')}{'_negative' if value.startswith('-') else ''}",
      ["pose", "extract", "image.png", "-o", "p", f"--fps={value}"],
      f"--fps: expected a number of frames per second from 0.001 to 1,000, got {float(value)}")
     for value in ("inf", "nan", "0", "-2", "-inf", "1e-9", "4000", "1e400")]


@pytest.mark.parametrize("case,argv,expected", FLAGS, ids=[c[0] for c in FLAGS])
def test_command_line_numbers(case, argv, expected, tmp_path, monkeypatch, capsys):
    """Counts below 1, absurd sizes and non-finite numbers in flags: one line before any work."""
    monkeypatch.chdir(tmp_path)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "image.png")
    rc, out, err = _run(argv, capsys)
    assert (rc, out, err) == (2, "", f"error: command line: {expected}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.png"]
