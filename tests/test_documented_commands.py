"""The command lines README.md and docs/*.md show, run the documented way (in-process,
``worldgen.cli.main``) at tiny sizes, with their outputs read back the documented way:
`worldgen scenes`, `worldgen simulate` (a bundled scene with -o, the override-only form with
its default output folder, a file with a deleted field), `worldgen render --camera`,
`worldgen dataset generate --split validation` and `worldgen eval dynamics` with the
shipped learned engine."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import yaml

from simulation.dynamics import DEFAULT_CHECKPOINT
from simulation.engines import make_engine
from simulation.state import Trajectory
from worldgen.cli import main
from worldgen.dataset import read_manifest
from worldgen.dataset.family import episode_scene, load_family
from worldgen.scene import bundled_scenes, compose_config, scene_to_yaml
from worldgen.scene.assets import CURATED_ASSETS, mocap_clips
from worldgen.scene.cameras import extrinsics


def test_scenes_lists_bundled_scenes_mocap_clips_and_assets(capsys):
    """`worldgen scenes` (README, scene_format.md): every bundled scene with its
    description, every mocap clip, the curated assets."""
    assert main(["scenes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Bundled scenes (configs/scene):"
    for name, path in bundled_scenes().items():
        description = yaml.safe_load(path.read_text())["description"]
        assert any(line.split(None, 1) == [name, description] for line in lines), name
    for clip in mocap_clips():
        assert any(line.split()[:1] == [clip] and line.split()[2] == "s" for line in lines), clip
    assert all(asset in lines[-1] for asset in CURATED_ASSETS)
    assert len(lines) == 3 + len(bundled_scenes()) + len(mocap_clips()) + 1


def test_simulate_a_bundled_scene_and_load_it_back(tmp_path, capsys):
    """`worldgen simulate dominoes -o out/dominoes` (scene_format.md), read back with
    `simulation.state.Trajectory.load(OUT)`: pybullet's trajectory of the scene, frame 0
    the initial state, the same as simulating it in-process."""
    out = tmp_path / "dominoes"
    assert main(["simulate", "dominoes", "scene.duration=0.5", "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["trajectory.json", "trajectory.npz"]
    loaded = Trajectory.load(out)
    scene = compose_config("dominoes", ["scene.duration=0.5"]).scene
    assert (len(loaded), loaded.fps, loaded.physics_hz, loaded.engine) == (12, 24, 240, "pybullet")
    assert [b.name for b in loaded.bodies] == [o.name for o in scene.objects]
    assert [light.name for light in loaded.lights] == [light.name for light in scene.lights]
    assert loaded.scene["name"] == "dominoes" and loaded.scene["duration"] == 0.5
    np.testing.assert_allclose(loaded.states.body_position[0], [o.position for o in scene.objects], atol=1e-9)
    again = make_engine("pybullet").rollout(scene)
    for key, value in again.states.arrays().items():
        assert np.array_equal(loaded.states.arrays()[key], value), key
    assert loaded.contacts == again.contacts
    assert f"dominoes: 12 frames (0.46 s at 24 fps), {len(scene.objects)} bodies" in printed
    assert f"wrote {out / 'trajectory.npz'}" in printed and "engine pybullet" in printed


def test_simulate_with_overrides_only_writes_to_out_scene_name(tmp_path, monkeypatch, capsys):
    """`worldgen simulate scene=dominoes scene.seed=3 scene.objects.0.physics.mass=2`
    (scene_format.md): no -o, so the trajectory lands in out/dominoes; the overrides are in it."""
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "scene=dominoes", "scene.seed=3", "scene.objects.0.physics.mass=2", "scene.duration=0.25",
                 "-q"]) == 0
    loaded = Trajectory.load(tmp_path / "out" / "dominoes")
    assert loaded.scene["seed"] == 3 and loaded.bodies[0].mass == 2.0 and loaded.bodies[1].mass != 2.0
    assert len(loaded) == 6 and "wrote out/dominoes/trajectory.npz" in capsys.readouterr().out


def test_simulate_a_scene_file_with_a_deleted_field(tmp_path, capsys):
    """`worldgen simulate my_scene.yaml scene.duration=2 ~scene.cameras` (scene_format.md)."""
    path = tmp_path / "my_scene.yaml"
    path.write_text(yaml.safe_dump({
        "name": "my_scene", "fps": 10, "physics_hz": 100, "duration": 5,
        "objects": [{"name": "ball", "shape": "sphere", "radius": 0.2, "position": [0, 0, 1.5]}],
        "cameras": [{"name": "c", "position": [3, 0, 1], "look_at": [0, 0, 0.5]}],
    }))
    out = tmp_path / "out"
    assert main(["simulate", str(path), "scene.duration=2", "~scene.cameras", "-o", str(out), "-q"]) == 0
    loaded = Trajectory.load(out)
    assert len(loaded) == 20 and loaded.scene["duration"] == 2 and loaded.scene["cameras"] == []
    z = loaded.states.body_position[:, 0, 2]
    assert z[0] == pytest.approx(1.5) and z[-1] == pytest.approx(0.2, abs=0.01)  # falls and rests on the floor
    assert loaded.contacts and loaded.contacts[0].a in ("ball", "floor")


def test_render_through_a_named_camera(tmp_path, capsys):
    """`worldgen render humanoid_walk --camera NAME --frames A:B --resolution WxH --spp N`
    (scene_format.md) through the scene's second camera, `wide`: the buffers hold that
    camera's pose, not the first camera's (`follow`)."""
    out = tmp_path / "wide"
    assert main(["render", "humanoid_walk", "--camera", "wide", "--frames", "3:5", "--resolution", "32x24", "--spp", "1",
                 "-o", str(out), "-q"]) == 0, capsys.readouterr().err
    assert "through camera 'wide'" in capsys.readouterr().out
    assert json.loads((out / "instances.json").read_text())["camera"] == "wide"
    cameras = {c.name: c for c in compose_config("humanoid_walk").scene.cameras}
    assert list(cameras) == ["follow", "wide"]
    with np.load(out / "buffers.npz") as buffers:
        world_to_camera, K, times = buffers["world_to_camera"], buffers["K"], buffers["times"]
        assert buffers["depth"].shape == (2, 24, 32)
    clip_end = float(Trajectory.load(out).states.time[-1])
    np.testing.assert_allclose(world_to_camera, extrinsics(cameras["wide"], times, clip_end), atol=1e-9)
    assert np.abs(world_to_camera - extrinsics(cameras["follow"], times, clip_end)).max() > 0.1
    assert K[1, 1] == pytest.approx(0.5 * 24 / np.tan(np.radians(cameras["wide"].fov) / 2))  # wide's fov, not follow's


def _members(root, shard="shard-000000.tar") -> dict[str, bytes]:
    with tarfile.open(root / shard) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}


def test_dataset_generate_validation_split_uses_the_validation_seeds(tmp_path):
    """`worldgen dataset generate objects_drop -o DIR --episodes N --split validation`
    (datasets.md): episode i is the family resolved with seed 1,000,000 + i (the
    validation range, disjoint from train's 0..), recorded in the manifest and the episode."""
    tiny = ["num_frames=3", "resolution=[24,16]", "spp=1"]
    val, train = tmp_path / "val", tmp_path / "train"
    assert main(["dataset", "generate", "objects_drop", *tiny, "-o", str(val), "--episodes", "2", "--split", "validation",
                 "--workers", "1", "-q"]) == 0
    assert main(["dataset", "generate", "objects_drop", *tiny, "-o", str(train), "--episodes", "2", "--workers", "1",
                 "-q"]) == 0
    manifest = read_manifest(val)
    assert manifest["complete"] and manifest["split"] == "validation" and manifest["first_seed"] == 1_000_000
    samples = [s for shard in manifest["shards"] for s in shard["samples"]]
    assert [(s["index"], s["seed"]) for s in samples] == [(0, 1_000_000), (1, 1_000_001)]
    assert read_manifest(train)["first_seed"] == 0
    family, _, _ = load_family("objects_drop", tiny)
    members, train_members = _members(val), _members(train)
    for i in range(2):
        meta = json.loads(members[f"{i:06d}.metadata.json"])
        assert (meta["split"], meta["index"], meta["seed"]) == ("validation", i, 1_000_000 + i)
        assert members[f"{i:06d}.scene.yaml"].decode() == scene_to_yaml(episode_scene(family, 1_000_000 + i))
        assert members[f"{i:06d}.scene.yaml"] != train_members[f"{i:06d}.scene.yaml"]  # other scenes than train's


@pytest.mark.slow
def test_eval_dynamics_of_the_shipped_learned_engine(tmp_path, capsys):
    """`worldgen eval dynamics -o OUT` (world_model.md, README): the learned engine from
    checkpoints/dynamics by default, against pybullet, kept small (one episode, one short
    long rollout, one video). About 30 s: the rest and collision tests are fixed costs."""
    from worldgen.io.video import read_video

    out = tmp_path / "dyn_eval"
    assert main(["eval", "dynamics", "-o", str(out), "--family", "objects_drop", "--episodes", "1", "--long-episodes", "1",
                 "--long-frames", "24", "--videos", "1", "--resolution", "32x32", "--spp", "1"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "dynamics_eval.json").read_text())
    assert report["engine"] == "learned" and report["checkpoint"] == str(DEFAULT_CHECKPOINT)
    family = report["families"]["objects_drop"]
    assert family["split"] == "validation" and family["episodes"] == 1
    error = family["translation_m"]
    assert len(error["engine"]) == 5 and len(error["per_frame"]["engine"]) == 25
    assert 0 < error["engine"]["whole"] < 0.5 and error["chaos_floor"]["whole"] > 0  # learned: close, not exact
    assert family["long"]["engine"]["explosions"] == 0 and family["non_finite_values"] == 0
    assert report["goals"]["family"] == "objects_drop" and "goals on objects_drop" in printed
    frames, fps = read_video(out / "side_by_side_0.mp4")
    assert frames.shape == (25, 32, 64, 3) and fps == 12
    assert (out / "error_vs_horizon.png").is_file() and (out / "energy.png").is_file()
