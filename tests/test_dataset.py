"""Dataset generation: families, byte-identical episodes whatever the worker count,
resume after SIGKILL, rejected episodes, full disk, readers, inspect and export."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from control.depth_map import depth_map
from control.flow import warp
from control.normal_map import normal_map
from control.segmentation_map import segmentation_map
from control.skeleton_map import skeleton_maps
from control.stack import CONTROL_CHANNELS, stack_controls
from worldgen.cli import main
from worldgen.dataset import EpisodeDataset, ShardStream, read_manifest
from worldgen.dataset.family import bounding_radius, bundled_families, episode_scene, load_family
from worldgen.dataset.shards import split_member
from worldgen.dataset.store import sha256_file
from worldgen.pipelines.dataset_generation import generate
from worldgen.scene import SceneError

TINY = ["resolution=[32,24]", "num_frames=4", "spp=1"]  # a few seconds for a handful of episodes
EPISODES, SHARD = 5, 2


STATE_MEMBERS = {"trajectory.npz", "trajectory.json", "events.json", "metadata.json", "scene.yaml"}


def _generate(root: Path, workers: int, overrides=TINY, episodes=EPISODES, family="objects_drop", states_only=False):
    spec, config, _ = load_family(family, overrides)
    return generate(spec, config, root, episodes, workers=workers, shard_size=SHARD, progress=False,
                    states_only=states_only)


def _generate_argv(root: Path, *extra: str) -> list[str]:
    """``worldgen dataset generate`` of the tiny objects_drop dataset into ``root``."""
    return ["dataset", "generate", "objects_drop", *TINY, "-o", str(root), "--episodes", str(EPISODES),
            "--shard-size", str(SHARD), "--workers", "1", "-q", *extra]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A tiny objects_drop dataset made by one worker, without interruption."""
    root = tmp_path_factory.mktemp("reference")
    _generate(root, workers=1)
    return root


@pytest.fixture(scope="module")
def states_reference(tmp_path_factory) -> Path:
    """The same dataset made with ``--states-only`` by the CLI in a fresh process, which
    must not import the renderer."""
    root = tmp_path_factory.mktemp("states")
    script = ("import sys; from worldgen.cli import main; code = main(sys.argv[1:]); "
              "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('renderer', 'mitsuba', 'drjit')); "
              "sys.exit(f'imported {loaded}' if loaded else code)")
    result = subprocess.run([sys.executable, "-c", script, *_generate_argv(root, "--states-only")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file() and p.name != "inspect.json"}


def test_every_bundled_family_resolves_to_valid_scenes():
    assert {"objects_drop", "objects_assets", "humanoid_actions", "moving_lights", "dominoes"} <= set(bundled_families())
    for name in bundled_families():
        family, _, _ = load_family(name)
        assert (family.resolution, family.num_frames, family.fps) == ((128, 128), 24, 12)
        scenes = [episode_scene(family, family.seed("train", i)) for i in range(3)]
        assert all(s.frame_count == 24 and s.cameras[0].resolution == (128, 128) for s in scenes)
        assert len({str(s.cameras[0].position) for s in scenes}) == 3  # the camera is drawn per episode
        held_out = [family.seed(split, 0) for split in ("validation", "test")]
        assert all(seed >= family.splits["train"].size for seed in held_out)


def test_families_match_their_descriptions():
    counts = [len(episode_scene(load_family("objects_drop")[0], seed).objects) for seed in range(40)]
    assert min(counts) >= 3 and max(counts) <= 10 and len(set(counts)) > 4
    humans = {len(episode_scene(load_family("humanoid_actions")[0], seed).humanoids) for seed in range(12)}
    assert humans == {1, 2}
    lights = episode_scene(load_family("moving_lights")[0], 0).lights
    assert {"attach_to", "orbit", "keyframes"} <= {k for light in lights for k, v in light if v is not None}
    dominoes = episode_scene(load_family("dominoes")[0], 3).objects
    assert len(dominoes) >= 10 and all(o.shape == "box" for o in dominoes)
    assert np.linalg.norm(dominoes[0].angular_velocity) > 0  # the first one is flicked


def test_objects_never_start_interpenetrating():
    family, _, _ = load_family("objects_drop", ["scene.objects.0.count=10"])
    for seed in range(5):
        objects = episode_scene(family, seed).objects
        centres = np.array([o.position for o in objects])
        radii = np.array([bounding_radius(o) for o in objects])
        gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) - (radii[:, None] + radii[None])
        assert gaps[~np.eye(len(objects), dtype=bool)].min() >= family.layout.gap - 1e-6


def _differing_members(ours: Path, theirs: Path) -> list[str]:
    """``shard/member`` names whose bytes differ between two shard tars."""
    with tarfile.open(ours) as a, tarfile.open(theirs) as b:
        left = {m.name: a.extractfile(m).read() for m in a.getmembers()}
        right = {m.name: b.extractfile(m).read() for m in b.getmembers()}
    return [f"{ours.name}/{name}" for name in sorted(set(left) | set(right)) if left.get(name) != right.get(name)]


def test_one_and_two_workers_write_byte_identical_datasets(reference, tmp_path):
    _generate(tmp_path, workers=2)
    ours, theirs = _files(reference), _files(tmp_path)
    assert sorted(ours) == ["manifest.json"] + [f"shard-{s:06d}.tar" for s in range(3)]
    differing = [m for name in ours if name.endswith(".tar") and ours[name] != theirs[name]
                 for m in _differing_members(reference / name, tmp_path / name)]
    assert not differing, f"members that differ between 1 and 2 workers: {differing}"
    assert ours == theirs


def test_killed_generator_resumes_to_the_same_dataset(reference, tmp_path):
    command = [sys.executable, "-m", "worldgen.cli", "dataset", "generate", "objects_drop", *TINY, "-o", str(tmp_path),
               "--episodes", str(EPISODES), "--workers", "1", "--shard-size", str(SHARD), "-q"]
    for delay in (0.3, 1.0):  # kill -9 at two different moments, resume each time
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600  # a loaded machine can take minutes to import and stage the first episode
        while time.time() < deadline and process.poll() is None and \
                not any((tmp_path / ".staging").glob("*.tar")) and not any(tmp_path.glob("shard-*.tar")):
            time.sleep(0.05)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
    manifest = read_manifest(tmp_path)
    assert not manifest["complete"]  # the kills did interrupt it
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = read_manifest(tmp_path)
    keys = [s["index"] for shard in manifest["shards"] for s in shard["samples"]]
    assert manifest["complete"] and keys == list(range(EPISODES))  # every episode once, in order
    for shard in manifest["shards"]:
        assert sha256_file(tmp_path / shard["name"]) == shard["sha256"]
    assert len(EpisodeDataset(tmp_path, verify=True)) == EPISODES
    assert _files(tmp_path) == _files(reference)
    assert not (tmp_path / ".staging").exists() and not list(tmp_path.glob(".*.tmp"))
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # nothing left to do
    assert _files(tmp_path) == _files(reference) and not (tmp_path / ".staging").exists()


def test_exploding_episodes_are_recorded_as_rejected(tmp_path):
    report = _generate(tmp_path, workers=1, overrides=TINY + ["reject.max_speed=1.5"], episodes=4)
    manifest = read_manifest(tmp_path)
    stored = [s["index"] for shard in manifest["shards"] for s in shard["samples"]]
    rejected = [r["index"] for r in manifest["rejected"]]
    assert manifest["complete"] and rejected and report.rejected == len(rejected)
    assert sorted(stored + rejected) == [0, 1, 2, 3]  # nothing silently dropped
    assert all("max_speed 1.5" in r["reason"] and r["seed"] == r["index"] for r in manifest["rejected"])


def test_full_disk_is_a_clear_error_and_resumable(tmp_path, monkeypatch):
    import worldgen.dataset.store as store

    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 4:  # manifest, two staged episodes, then the first shard: no space
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", fsync)
    with pytest.raises(SceneError, match="disk full while writing shard-000000.tar; 2 of 3 episodes are safely"):
        _generate(tmp_path, workers=1, episodes=3)
    assert not list(tmp_path.glob("shard-*")) and not list(tmp_path.glob(".*.tmp"))
    monkeypatch.setattr(store.os, "fsync", real_fsync)
    _generate(tmp_path, workers=1, episodes=3)
    assert read_manifest(tmp_path)["complete"]


def test_reader_yields_documented_shapes_and_ranges(reference):
    data = EpisodeDataset(reference, modalities=("rgb", "depth", "segmentation", "normal", "flow", "object_coords",
                                                 "depth_map", "skeleton", "camera", "state"), verify=True)
    assert len(data) == EPISODES
    item = data[1]
    T, H, W = 4, 24, 32
    assert item["rgb"].shape == (T, 3, H, W) and item["rgb"].dtype == torch.float32
    assert 0 <= item["rgb"].min() and item["rgb"].max() <= 1 and item["rgb"].std() > 0.01
    assert item["depth"].shape == (T, 1, H, W) and item["depth"].min() >= 0 and item["depth"].max() > 1
    assert item["segmentation"].shape == (T, H, W) and item["segmentation"].dtype == torch.int64
    assert len(item["segmentation"].unique()) >= 3  # background or floor plus objects
    hit = item["segmentation"] > 0
    norms = item["normal"].norm(dim=1)
    assert item["normal"].shape == (T, 3, H, W) and torch.allclose(norms[hit], torch.ones(()), atol=2e-3)
    for name in ("forward_flow", "backward_flow"):
        assert item[name].shape == (T, 2, H, W) and item[name].dtype == torch.float32
    assert item["forward_occluded"].shape == (T, H, W) and item["forward_occluded"][-1].all()
    assert item["object_coordinates"].shape == (T, 3, H, W)
    assert (item["object_coordinates"].abs().sum(1)[item["segmentation"] < 2] == 0).all()
    assert item["depth_map"].shape == (T, 1, H, W) and 0 <= item["depth_map"].min() and item["depth_map"].max() <= 1
    assert item["keypoints_3d"].shape == (T, 0, 18, 3) and item["skeleton_map"].shape == (T, 3, H, W)
    assert item["K"].shape == (T, 3, 3) and item["world_to_camera"].shape == (T, 4, 4)
    assert item["body_position"].shape[:1] == (T,) and item["body_orientation"].shape[-1] == 4
    assert item["key"] == "000001" and item["seed"] == 1 and item["start"] == 0


def test_controls_modality_is_the_control_stack_of_the_episode_maps(reference):
    """What the diffusion renderer trains on: the stored controls equal ``stack_controls``
    of the maps rebuilt from the episode's own depth, ids, normals, keypoints, camera and
    flow, up to the storage precision (uint8 maps, float16 normals and flow)."""
    item = EpisodeDataset(reference, modalities=("controls", "depth", "segmentation", "normal", "flow", "skeleton",
                                                  "camera"))[1]
    T, _, H, W = item["depth"].shape
    extrinsics = item["world_to_camera"].double().numpy()
    expected = stack_controls(
        depth_map(item["depth"][:, 0].numpy()),
        skeleton_maps(item["keypoints_3d"].numpy(), item["K"].double().numpy(), extrinsics, W, H),
        segmentation_map(item["segmentation"].numpy()), normal_map(item["normal"].numpy(), extrinsics),
        item["forward_flow"].numpy(), item["forward_occluded"].numpy())
    controls = item["controls"].numpy()
    assert item["control_channels"] == CONTROL_CHANNELS and controls.shape == (T, 13, H, W)
    assert controls.dtype == np.float32 and controls[:, 4:10].max() > 0.5  # segmentation and normals are drawn
    np.testing.assert_allclose(controls[:, :10], expected[:, :10], atol=0.5 / 255 + 1e-3)
    np.testing.assert_allclose(controls[:, 10:12], expected[:, 10:12], atol=1e-3)
    np.testing.assert_array_equal(controls[:, 12], expected[:, 12])


def test_shard_stream_covers_every_episode_once_across_loader_workers(reference):
    stream = ShardStream(reference, modalities=("rgb", "depth"), clip_length=2, shuffle_buffer=3, seed=1, verify=True)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
    items = list(loader)
    assert sorted(i["key"] for i in items) == [f"{k:06d}" for k in range(EPISODES)]
    assert all(i["rgb"].shape == (2, 3, 24, 32) and i["depth"].shape == (2, 1, 24, 32) for i in items)
    assert all(0 <= i["start"] <= 2 for i in items)
    again = [i["key"] for i in torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)]
    assert again == [i["key"] for i in items]  # seeded: same order and windows


def test_corrupt_shard_is_caught_on_request(reference, tmp_path):
    for path in reference.iterdir():
        if path.is_file():
            (tmp_path / path.name).write_bytes(path.read_bytes())
    shard = tmp_path / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[2000] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="shard-000001.tar: sha256 mismatch"):
        list(ShardStream(tmp_path, verify=True, shuffle=False))
    assert main(["dataset", "inspect", str(tmp_path), "--verify"]) == 2


def test_loaded_flow_is_warp_consistent(tmp_path):
    """The flow of a loaded sample carries frame t+1 back onto frame t (rendering issue's check)."""
    _generate(tmp_path, workers=1, overrides=["resolution=[64,64]", "num_frames=6", "spp=16"], episodes=1)
    item = EpisodeDataset(tmp_path, modalities=("rgb", "segmentation", "flow"))[0]
    rgb, ids = item["rgb"].numpy(), item["segmentation"].numpy().astype(float)
    agree, errors = [], []
    for t in range(5):
        flow, valid = item["forward_flow"][t].numpy(), ~item["forward_occluded"][t].numpy()
        agree.append((warp(ids[t + 1][None], flow, order=0)[0] == ids[t])[valid].mean())
        errors.append(np.abs(warp(rgb[t + 1], flow) - rgb[t])[:, valid].mean())
    assert min(agree) >= 0.995 and max(errors) < 3 / 255


def test_inspect_and_export(reference, tmp_path, capsys):
    assert main(["dataset", "inspect", str(reference), "--sample", "3"]) == 0
    out = capsys.readouterr().out
    assert "5 of 5 episodes stored in 3 shards" in out and "visible_objects_per_frame" in out
    assert (reference / "inspect.png").stat().st_size > 1000
    stats = json.loads((reference / "inspect.json").read_text())
    assert stats["depth_min_m"]["min"] > 0 and stats["visible_objects_per_frame"]["mean"] >= 1
    assert main(["dataset", "export", str(reference), "--episode", "2", "-o", str(tmp_path / "ep")]) == 0
    names = {p.relative_to(tmp_path / "ep").as_posix() for p in (tmp_path / "ep").rglob("*") if p.is_file()}
    assert {"rgb/000.png", "rgb/003.png", "rgb.mp4", "flow.mp4", "segmentation.mp4", "metadata.json",
            "events.json", "trajectory.json", "scene.yaml", "depth.npz"} <= names
    meta = json.loads((tmp_path / "ep" / "metadata.json").read_text())
    body = next(i for i in meta["instances"] if i["kind"] == "body")
    assert len(body["position"]) == 4 and len(body["visibility"]) == 4 and body["mass"] > 0


@pytest.mark.parametrize("argv, message", [
    (["generate", "no_such_family", "-o", "X", "--episodes", "2"], "no bundled family 'no_such_family'"),
    (["generate", "objects_drop", "spp=-1", "-o", "X", "--episodes", "2"], "spp: expected"),
    (["generate", "objects_drop", "resolutoin=[8,8]", "-o", "X", "--episodes", "2"], "did you mean 'resolution'"),
    (["generate", "objects_drop", "-o", "X", "--episodes", "0"], "--episodes: expected 1 to"),
    (["generate", "objects_drop", "-o", "X", "--episodes", "2", "--split", "dev"], "has splits train, validation, test"),
    (["inspect", "NOWHERE"], "no manifest"),
])
def test_dataset_mistakes_are_one_line_errors(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_export_of_a_missing_episode_and_a_foreign_folder(reference, tmp_path, capsys):
    assert main(["dataset", "export", str(reference), "--episode", "9", "-o", str(tmp_path / "x")]) == 2
    assert "no episode 9" in capsys.readouterr().err
    assert main(["dataset", "generate", "dominoes", *TINY, "-o", str(reference), "--episodes", "5"]) == 2
    assert "holds another dataset" in capsys.readouterr().err


def test_states_only_episodes_hold_the_state_members_only(states_reference, tmp_path):
    manifest = read_manifest(states_reference)
    assert manifest["content"] == "state" and manifest["complete"]
    fields: dict[str, list[str]] = {}
    for shard in manifest["shards"]:
        with tarfile.open(states_reference / shard["name"]) as archive:
            for name in archive.getnames():
                key, field = split_member(name)
                fields.setdefault(key, []).append(field)
    assert sorted(fields) == [f"{k:06d}" for k in range(EPISODES)]
    assert all(sorted(f) == sorted(STATE_MEMBERS) for f in fields.values())
    _generate(tmp_path, workers=1, states_only=True)  # in-process this time: the same bytes
    assert _files(tmp_path) == _files(states_reference)


def test_states_only_datasets_read_state_and_refuse_other_modalities(states_reference):
    data = EpisodeDataset(states_reference, modalities=("state",), verify=True)
    item = data[1]
    meta = item["metadata"]
    assert meta["content"] == "state" and meta["num_frames"] == 4 and meta["seed"] == 1
    assert item["body_position"].shape == (4, meta["num_bodies"], 3) == (4, len(meta["bodies"]), 3)
    assert {"name", "shape", "size", "mass", "friction", "restitution"} <= set(meta["bodies"][0])
    assert meta["bodies"][0]["id"] == 2 and meta["bodies"][0]["mass"] > 0
    stream = ShardStream(states_reference, modalities=("state",), clip_length=2, seed=0)
    items = list(stream)
    assert sorted(i["key"] for i in items) == [f"{k:06d}" for k in range(EPISODES)]
    assert all(i["body_linear_velocity"].shape[0] == 2 for i in items)
    for reader in (EpisodeDataset, ShardStream):
        with pytest.raises(ValueError, match=rf"^{re.escape(str(states_reference))}: no rgb modality: a states-only"):
            reader(states_reference, modalities=("state", "rgb"))
        with pytest.raises(ValueError, match="no depth, flow modality"):
            reader(states_reference, modalities=("depth", "flow"))


def test_inspect_and_export_of_a_states_only_dataset(states_reference, tmp_path, capsys):
    assert main(["dataset", "inspect", str(states_reference)]) == 0
    out = capsys.readouterr().out
    assert "5 of 5 episodes stored in 3 shards" in out and "no image statistics" in out and "depth_min_m" not in out
    stats = json.loads((states_reference / "inspect.json").read_text())
    assert stats["content"] == "state" and stats["body_speed_m_per_s"]["max"] > 0
    assert stats["bodies_per_episode"]["min"] >= 3 and not (states_reference / "inspect.png").exists()
    assert main(["dataset", "export", str(states_reference), "--episode", "2", "-o", str(tmp_path / "ep")]) == 0
    assert {p.name for p in (tmp_path / "ep").iterdir()} == STATE_MEMBERS


def test_full_and_states_only_datasets_do_not_mix(reference, states_reference, capsys):
    before = _files(reference)
    assert main(_generate_argv(reference, "--states-only")) == 2
    err = capsys.readouterr().err
    assert "holds a full dataset (its content differ)" in err and len(err.strip().splitlines()) == 1
    assert _files(reference) == before and not (reference / ".staging").exists()  # refused, untouched
    assert main(_generate_argv(states_reference)) == 2
    assert "holds a states-only (--states-only) dataset (its content differ)" in capsys.readouterr().err


def test_manifests_from_before_content_was_recorded_hold_everything(reference, tmp_path):
    for path in reference.glob("shard-*.tar"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    manifest = read_manifest(reference)
    del manifest["content"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert EpisodeDataset(tmp_path, modalities=("rgb", "state"))[0]["rgb"].shape[0] == 4
    assert _generate(tmp_path, workers=1).produced == 0  # resumes as the full dataset it is
