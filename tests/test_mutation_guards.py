"""Guards written from mutation testing (mutmut; pyproject.toml [tool.mutmut], scores in
docs/benchmarks.md): each test kills mutants of an exactness claim that the rest of the
suite let survive."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from control.depth_map import ONE_DEPTH, depth_map
from control.flow import exact_flow
from simulation.state import BodyInfo, SceneState, Trajectory
from worldgen.dataset.family import SplitSpec, load_family
from worldgen.dataset.shards import read_tar
from worldgen.dataset.store import FORMAT, DatasetWriter, Episode, sample_digest, sha256_file, shard_name
from worldgen.io.flow_file import FlowFile
from worldgen.metrics import composed_drift, instance_color_drift, seam_score, ssim
from worldgen.metrics.flicker_injection import brightness_flicker, instance_flicker
from worldgen.metrics.report import evaluate
from worldgen.scene import SceneError
from worldgen.scene.distributions import sample

# --- depth map (control/depth_map.py) ----------------------------------------------------


def test_depth_map_formula_with_a_nearest_depth_other_than_one_metre():
    """v = (1/d - 1/far) / (1/near - 1/far) with near = 2 m, far = 8 m: every other test had
    near = 1 m, where 1/near and near are the same number."""
    depth = np.array([[[2.0, 4.0, 8.0, 0.0]]], np.float32)
    out = depth_map(depth)[0, 0, 0]
    assert out.tolist() == pytest.approx([1.0, (1 / 4 - 1 / 8) / (1 / 2 - 1 / 8), 0.0, 0.0])
    given = depth_map(np.array([[[3.0]]], np.float32), near=2.0, far=6.0)[0, 0, 0, 0]
    assert given == pytest.approx((1 / 3 - 1 / 6) / (1 / 2 - 1 / 6))


def test_depth_map_one_depth_is_a_spread_relative_to_the_farthest_hit():
    """"One depth" is a spread of at most ONE_DEPTH x far, boundary included: at 10 m a
    spread of 0.5 ONE_DEPTH x far is one depth (all 1), a spread of 2 ONE_DEPTH x far is not
    (min-max normalised); at the exact boundary (far - near == ONE_DEPTH x far) it is one depth."""
    far = 10.0
    inside = np.array([[[far, far * (1 - 0.5 * ONE_DEPTH)]]], np.float32)
    assert np.all(depth_map(inside) == 1.0)
    outside = np.array([[[far, far * (1 - 2 * ONE_DEPTH)]]], np.float32)
    assert depth_map(outside)[0, 0, 0].tolist() == pytest.approx([0.0, 1.0])
    boundary = np.array([[[99999.0, 100000.0]]], np.float32)  # float32-exact: 100000 - 99999 == 1e-5 * 100000
    assert 100000.0 - 99999.0 == ONE_DEPTH * 100000.0
    assert np.all(depth_map(boundary) == 1.0)


@pytest.mark.parametrize("near, far", [(0.0, 5.0), (-1.0, 5.0), (6.0, 5.0)])
def test_depth_map_refuses_a_near_that_is_not_positive_or_beyond_far(near, far):
    with pytest.raises(ValueError, match="0 < near <= far"):
        depth_map(np.full((1, 2, 2), 3.0, np.float32), near=near, far=far)


# --- trajectory save / load (simulation/state.py) ----------------------------------------


def _trajectory(frames: int = 3) -> Trajectory:
    """A one-box trajectory built by hand (no engine): every array distinct."""
    rng = np.random.default_rng(3)
    arrays = {f.name: rng.uniform(-1, 1, (frames, 1, 3)) for f in dataclasses.fields(SceneState)}
    arrays.update(time=np.arange(frames) / 10, body_orientation=np.tile([0.0, 0.0, 0.0, 1.0], (frames, 1, 1)),
                  light_position=np.zeros((frames, 0, 3)), light_direction=np.zeros((frames, 0, 3)),
                  light_color=np.zeros((frames, 0, 3)), light_intensity=np.zeros((frames, 0)),
                  humanoid_keypoints=np.zeros((frames, 0, 18, 3)), humanoid_link_position=np.zeros((frames, 0, 0, 3)),
                  humanoid_link_orientation=np.zeros((frames, 0, 0, 4)))
    box = BodyInfo(name="box", shape="box", size=[0.1, 0.2, 0.3], mass=1.5, friction=0.4, rolling_friction=0.0,
                   spinning_friction=0.0, restitution=0.2, fixed=False, material={"color": [1, 0, 0]})
    return Trajectory(fps=10, physics_hz=100, states=SceneState(**arrays), bodies=[box], lights=[], humanoids=[],
                      contacts=[], scene={"fps": 10})


def test_trajectory_save_makes_missing_parent_folders(tmp_path):
    trajectory = _trajectory()
    npz, meta = trajectory.save(tmp_path / "a" / "b" / "episode")
    assert npz.is_file() and meta.is_file()
    document = json.loads(meta.read_text())
    assert (document["format"], document["num_frames"], document["fps"], document["physics_hz"]) == \
        ("worldgen.trajectory/1", 3, 10, 100)
    loaded = Trajectory.load(tmp_path / "a" / "b" / "episode")
    np.testing.assert_array_equal(loaded.states.body_position, trajectory.states.body_position)


def test_trajectory_load_never_unpickles(tmp_path):
    """"No pickle anywhere": an npz whose array is a pickled object array is refused."""
    folder = tmp_path / "episode"
    trajectory = _trajectory()
    trajectory.save(folder)
    arrays = trajectory.states.arrays()
    arrays["time"] = np.array([{"not": "an array"}] * 3, dtype=object)
    np.savez_compressed(folder / "trajectory.npz", **arrays)
    with pytest.raises(ValueError, match="allow_pickle"):
        Trajectory.load(folder)


# --- metrics (worldgen/metrics/) -----------------------------------------------------------


def test_seam_score_is_computed_in_float64_whatever_the_input():
    """A list (torch makes float32 of it) and a float32 array give the float64 ratio."""
    values = [0.1, 0.7, 0.1, 0.3, 0.9, 0.2]
    exact = np.mean([0.7, 0.3, 0.2]) / np.mean([0.1, 0.1, 0.9])  # boundaries t = 1, 3, 5 (chunks of 2)
    assert seam_score(values, 2) == pytest.approx(exact, rel=1e-12)
    as_float32 = np.array(values, np.float32).astype(np.float64)
    exact32 = np.mean(as_float32[[1, 3, 5]]) / np.mean(as_float32[[0, 2, 4]])
    assert seam_score(np.array(values, np.float32), 2) == pytest.approx(exact32, rel=1e-12)


def test_instance_colour_drift_with_narrow_id_types_and_ids_that_leave():
    """uint8 ids (as a segmentation PNG holds them) over many frames, where id x frame
    offsets pass 255; the largest id is absent from the last frames."""
    T = 40
    instance = np.zeros((T, 8, 8), np.uint8)
    instance[:, :4, :4] = 2
    instance[:5, 4:, 4:] = 9  # id 9 only in the first five frames
    instance[7, 7, 0] = 4  # id 4: one pixel of one frame, still listed
    frames = np.zeros((T, 3, 8, 8), np.float32)
    frames[:, :, :4, :4] = (np.arange(T) / 255)[:, None, None, None]
    frames[:, :, 4:, 4:] = 0.5
    colors = instance_color_drift(frames, instance)
    assert colors.ids.tolist() == [2, 4, 9]
    assert colors.counts[:, 0].tolist() == [16] * T and colors.counts[:, 1].sum() == 1
    assert colors.counts[:, 2].tolist() == [16] * 5 + [0] * (T - 5)
    np.testing.assert_allclose(colors.colors[:, 0], np.repeat(np.arange(T)[:, None] / 255, 3, axis=1), atol=1e-7)
    np.testing.assert_allclose(colors.colors[:5, 2], 0.5)
    assert np.isnan(colors.colors[5:, 2]).all()
    np.testing.assert_allclose(colors.drift[:, 0], np.arange(T), atol=1e-4)
    assert np.isnan(colors.drift[5:, 2]).all() and (colors.drift[:5, 2] == 0).all()


def test_report_instances_named_sorted_by_largest_drift_with_their_final_drift():
    """The `instances` records of `eval video`: named from the flow file or "instance K",
    largest drift first (never-measured ones last), final_drift the last measured frame."""
    T, size = 4, 16
    levels = [100, 110, 130, 120]  # id 2: drift 0, 10, 30, 20 levels
    frames = np.zeros((T, size, size, 3), np.uint8)
    instance = np.zeros((T, size, size), np.int64)
    instance[:, :8, :8], instance[:, 8:, 8:], instance[:, 0, 15] = 2, 5, 7  # id 7: one pixel, never measured
    for t, level in enumerate(levels):
        frames[t, :8, :8] = level
    frames[:, 8:, 8:] = 60
    flow = FlowFile(source="clip", forward=np.zeros((T, 2, size, size), np.float32),
                    forward_occluded=np.zeros((T, size, size), bool), backward=None, backward_occluded=None,
                    instance=instance, instance_names={2: "ball"})
    records = evaluate(frames, flow)["instances"]
    assert [(r["id"], r["name"]) for r in records] == [(2, "ball"), (5, "instance 5"), (7, "instance 7")]
    assert records[0]["max_drift"] == pytest.approx(30.0, abs=1e-4)
    assert records[0]["final_drift"] == pytest.approx(20.0, abs=1e-4)
    assert records[1]["max_drift"] == 0.0 and records[1]["final_drift"] == 0.0
    assert records[2]["max_drift"] is None and records[2]["final_drift"] is None and records[2]["frames_seen"] == 0


def test_ssim_uses_the_population_covariance_of_wang_et_al():
    """Wang et al.'s settings as documented: Gaussian window sigma 1.5 and population (not
    sample) covariance, data range 1, averaged over channels."""
    rng = np.random.default_rng(4)
    # low contrast (std ~ 0.03, near SSIM's constant C2 = 0.03^2), where the covariance estimator shows
    reference = rng.uniform(0.45, 0.55, (2, 3, 24, 24)).astype(np.float32)
    frames = (reference + rng.normal(0, 0.02, reference.shape)).astype(np.float32)
    ours = ssim(frames, reference)

    def skimage_ssim(sample_covariance: bool) -> np.ndarray:
        return np.array([structural_similarity(r, f, data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=sample_covariance)
                         for f, r in zip(frames, reference)])

    np.testing.assert_array_equal(ours, skimage_ssim(False))
    assert np.abs(ours - skimage_ssim(True)).min() > 1e-4  # the test tells the two apart


def test_composed_drift_follows_points_through_occlusion_and_off_the_image():
    """Points of a 4 x 8 frame move +0.25 px a frame. Frame 1's column 4 is occluded: the
    point there (nearest pixel, never a bilinear blend of visibilities) stops being tracked;
    the right-most column leaves the image at x = 8 = W; frame 2 is all occluded, so
    nothing is tracked from frame 3 on and the drift is NaN there."""
    T, height, width = 4, 4, 8
    flow = np.zeros((T, 2, height, width), np.float32)
    flow[:, 0] = 0.25
    occluded = np.zeros((T, height, width), bool)
    occluded[1, :, 4] = True
    occluded[2] = True
    frames = np.full((T, 3, height, width), 0.5, np.float32)
    result = composed_drift(frames, flow, occluded)
    assert result.tracked.tolist() == [1.0, 1.0, 6 / 8, 0.0]
    assert result.drift[:3].tolist() == [0.0, 0.0, 0.0] and np.isnan(result.drift[3])


def test_report_summary_honours_occlusion_and_reports_the_last_frame():
    """`eval video`'s summary on a static 4 x 8 clip (zero flow) whose occluded pixels change:
    column 4 is occluded in pairs 0 and 1 (it flashes to 200), column 6 in pair 2; frame 3
    is 10 levels brighter elsewhere. Occlusion keeps the flash out of the warping error and
    ends the tracking of those points; the final drift and tracked fraction are frame 3's."""
    T, height, width = 4, 4, 8
    frames = np.full((T, height, width, 3), 100, np.uint8)
    frames[1, :, 4] = 200
    frames[3] = 110
    frames[3, :, 6] = 50
    occluded = np.zeros((T, height, width), bool)
    occluded[0:2, :, 4] = True
    occluded[2, :, 6] = True
    flow = FlowFile(source="clip", forward=np.zeros((T, 2, height, width), np.float32), forward_occluded=occluded,
                    backward=None, backward_occluded=None, instance=None, instance_names={})
    report = evaluate(frames, flow, chunk=2)
    summary, per_frame = report["summary"], report["per_frame"]
    step = (10 / 255) ** 2
    np.testing.assert_allclose(per_frame["warp_error"], [0.0, 0.0, step], atol=1e-12)
    assert summary["warp_error"] == pytest.approx(step / 3, rel=1e-6)
    assert summary["visible_fraction"] == pytest.approx(0.875)
    assert per_frame["tracked"] == [1.0, 0.875, 0.875, 0.75] and summary["tracked_final"] == 0.75
    np.testing.assert_allclose(per_frame["drift_percent"], [0.0, 0.0, 0.0, 1000 / 255], atol=1e-5)
    assert summary["drift_final_percent"] == pytest.approx(1000 / 255, abs=1e-5)
    assert summary["drift_max_percent"] == pytest.approx(1000 / 255, abs=1e-5)
    assert summary["seam_score"] == 0.0 and summary["seam_measure"] == "warp_error, chunks of 2"  # boundary pair t = 1

    flow_free = evaluate(frames, chunk=2)["summary"]  # frame differences 12.5, 12.5, 15 levels
    assert flow_free["seam_score"] == pytest.approx(12.5 / ((12.5 + 15) / 2))
    assert flow_free["seam_measure"] == "frame_difference, chunks of 2"
    with pytest.raises(SceneError, match="^command line: --chunk: chunk length must be at least 2"):
        evaluate(frames, chunk=1)


# --- dataset store: staging, sealing, resume (worldgen/dataset/store.py) -------------------

HEADER = {"family": "toy", "config": {"a": 1}, "split": "train", "first_seed": 1000, "dynamics": "pybullet",
          "content": "all"}


def _episode(index: int, rejected: str | None = None) -> Episode:
    """A finished (or rejected) episode of two members, seed 1000 + index."""
    seed = 1000 + index
    if rejected:
        return Episode(index, seed, {}, rejected=rejected)
    return Episode(index, seed, {"metadata.json": json.dumps({"seed": seed}).encode(), "value.txt": b"episode %d" % index})


def test_writer_seals_each_shard_as_soon_as_its_episodes_are_staged_in_any_order(tmp_path):
    writer = DatasetWriter(tmp_path, HEADER, episodes=5, shard_size=2)
    assert writer.num_shards == 3 and writer.pending() == [0, 1, 2, 3, 4] and writer.done_count() == 0
    writer.stage(_episode(4, rejected="exploded"))  # shard 2 holds episode 4 alone: sealed at once
    assert [s["shard"] for s in writer.manifest["shards"]] == [2]
    writer.stage(_episode(1))
    assert (tmp_path / ".staging" / "000001.tar").is_file() and writer.pending() == [0, 2, 3] and writer.done_count() == 2
    writer.stage(_episode(3, rejected="too fast"))
    writer.stage(_episode(0))  # completes shard 0
    assert not (tmp_path / ".staging" / "000001.tar").exists() and not writer.manifest["complete"]
    assert (tmp_path / ".staging").is_dir()
    writer.stage(_episode(2))  # completes shard 1, and the dataset
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest == writer.manifest and manifest["complete"] and not (tmp_path / ".staging").exists()
    assert {k: manifest[k] for k in [*HEADER, "format", "episodes", "shard_size"]} == \
        {**HEADER, "format": FORMAT, "episodes": 5, "shard_size": 2}
    assert [(s["shard"], s["episodes"]) for s in manifest["shards"]] == [(0, [0, 2]), (1, [2, 4]), (2, [4, 5])]
    assert manifest["rejected"] == [{"key": "000003", "index": 3, "seed": 1003, "reason": "too fast"},
                                    {"key": "000004", "index": 4, "seed": 1004, "reason": "exploded"}]
    stored = {0: [0, 1], 1: [2], 2: []}
    for entry in manifest["shards"]:
        path = tmp_path / shard_name(entry["shard"])
        assert entry["name"] == path.name and entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
        with open(path, "rb") as f:
            members = list(read_tar(f))
        indices = stored[entry["shard"]]
        assert [name for name, _ in members] == [f"{i:06d}.{field}" for i in indices for field in ("metadata.json", "value.txt")]
        assert entry["samples"] == [{"key": f"{i:06d}", "index": i, "seed": 1000 + i,
                                     "sha256": sample_digest([m for m in members if m[0].startswith(f"{i:06d}.")])}
                                    for i in indices]


def test_sha256_file_reads_files_larger_than_its_block(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(np.random.default_rng(5).bytes(5 * (1 << 19) + 7))  # 2.5 MiB + 7: three 1 MiB blocks
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_reopened_writer_keeps_finished_work_drops_debris_and_ends_as_an_uninterrupted_run(tmp_path, monkeypatch):
    root = tmp_path / "resumed"
    writer = DatasetWriter(root, HEADER, 5, 2)
    for i in (0, 1, 2):
        writer.stage(_episode(i))
    sealed = (root / "shard-000000.tar").read_bytes()
    monkeypatch.setattr(DatasetWriter, "seal_ready", lambda self: None)
    writer.stage(_episode(3))  # killed after staging episode 3, before sealing shard 1
    monkeypatch.undo()
    (root / ".shard-000002.tar.tmp").write_bytes(b"torn")  # debris of a killed run
    (root / ".staging" / ".000004.tar.tmp").write_bytes(b"torn")
    (root / "shard-000002.tar").write_bytes(b"not in the manifest")
    again = DatasetWriter(root, HEADER, 5, 2)
    assert again.pending() == [4] and again.done_count() == 4
    assert [s["shard"] for s in again.manifest["shards"]] == [0, 1]  # shard 1 sealed on reopening
    assert not list(root.glob(".*.tmp")) and not list((root / ".staging").glob(".*.tmp"))
    assert not (root / "shard-000002.tar").exists() and (root / "shard-000000.tar").read_bytes() == sealed
    again.stage(_episode(4))
    straight = DatasetWriter(tmp_path / "straight", HEADER, 5, 2)
    for i in range(5):
        straight.stage(_episode(i))
    for name in ("manifest.json", "shard-000000.tar", "shard-000001.tar", "shard-000002.tar"):
        assert (root / name).read_bytes() == (tmp_path / "straight" / name).read_bytes(), name
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in (tmp_path / "straight").iterdir())


def test_reopening_with_another_definition_is_refused_and_changes_nothing(tmp_path):
    DatasetWriter(tmp_path, HEADER, 5, 2).stage(_episode(0))
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(SceneError, match=r"holds another dataset \(its config, episodes differ\)"):
        DatasetWriter(tmp_path, {**HEADER, "config": {"a": 2}}, 6, 2)
    with pytest.raises(SceneError, match=r"holds another dataset \(its shard_size differ\)"):
        DatasetWriter(tmp_path, HEADER, 5, 3)
    with pytest.raises(SceneError, match=r"holds a full dataset \(its content differ\)"):
        DatasetWriter(tmp_path, {**HEADER, "content": "state"}, 5, 2)
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["content"]  # written before content was recorded: a full dataset
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert DatasetWriter(tmp_path, HEADER, 5, 2).pending() == [1, 2, 3, 4]
    with pytest.raises(SceneError, match=r"holds a full dataset"):
        DatasetWriter(tmp_path, {**HEADER, "content": "state"}, 5, 2)


# --- dataset generation: what a run produces and what a re-run skips ------------------------


def _small_family(monkeypatch, calls: list):
    """objects_drop with a 3-episode validation split, its episodes made by a stand-in for
    the simulator (episode 1 rejected) that records what it was asked for."""
    import worldgen.pipelines.dataset_generation as generation

    spec, config, _ = load_family("objects_drop", ["num_frames=4"])
    spec = spec.model_copy(update={"splits": {**spec.splits, "validation": SplitSpec(first_seed=500, size=3)}})

    def episode(family, split, index, dynamics, states_only=False):
        calls.append((split, index, dynamics, states_only))
        return _episode(index, rejected="exploded" if index == 1 else None)

    monkeypatch.setattr(generation, "generate_episode", episode)
    return generation, spec, config


def test_generate_produces_only_the_missing_episodes_and_records_its_definition(tmp_path, monkeypatch, capsys):
    calls = []
    generation, spec, config = _small_family(monkeypatch, calls)
    run = dict(split="validation", shard_size=2, progress=False, dynamics="learned", states_only=True)
    report = generation.generate(spec, config, tmp_path, 3, **run)
    assert calls == [("validation", i, "learned", True) for i in range(3)]
    assert (report.root, report.episodes, report.produced, report.rejected, report.workers) == (tmp_path, 3, 3, 1, 1)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {k: manifest[k] for k in ("family", "config", "split", "first_seed", "dynamics", "content", "episodes",
                                     "shard_size", "complete")} == \
        {"family": "objects_drop", "config": config, "split": "validation", "first_seed": 500, "dynamics": "learned",
         "content": "state", "episodes": 3, "shard_size": 2, "complete": True}
    calls.clear()
    again = generation.generate(spec, config, tmp_path, 3, **run)
    assert calls == [] and (again.produced, again.rejected) == (0, 1)
    assert capsys.readouterr().err == ""  # progress=False: no progress bar
    with pytest.raises(SceneError, match="content differ"):
        generation.generate(spec, config, tmp_path, 3, **{**run, "states_only": False})


def test_generate_checks_its_numbers_at_their_bounds(tmp_path, monkeypatch):
    calls = []
    generation, spec, config = _small_family(monkeypatch, calls)
    ok = generation.generate(spec, config, tmp_path / "full", 3, split="validation", shard_size=1, progress=False)
    assert ok.produced == 3 and json.loads((tmp_path / "full" / "manifest.json").read_text())["content"] == "all"
    for kwargs, message in [(dict(episodes=4), "--episodes: expected 1 to 3"), (dict(episodes=0), "--episodes: expected 1 to 3"),
                            (dict(workers=0), "--workers: expected a whole number >= 1"),
                            (dict(shard_size=0), "--shard-size: expected a whole number >= 1"),
                            (dict(split="dev"), "--split: family 'objects_drop' has splits")]:
        args = {"episodes": 1, "split": "validation", "progress": False, **kwargs}
        with pytest.raises(SceneError, match=f"^command line: {message}"):
            generation.generate(spec, config, tmp_path / "refused", args.pop("episodes"), **args)
    assert not (tmp_path / "refused").exists()


def test_generate_with_several_workers_streams_the_pending_episodes_from_the_worker_pool(tmp_path, monkeypatch):
    """More than one worker (or a cluster address): the pending episodes go to the Ray pool
    with the worker arguments; here a stand-in pool yields them in completion order."""
    calls = []
    generation, spec, config = _small_family(monkeypatch, calls)
    seen = []

    def pool(worker_args, indices, workers, address):
        seen.append((worker_args[1:], indices, workers, address))
        for index in reversed(indices):
            yield generation._LocalWorker(*worker_args).run(index)

    monkeypatch.setattr(generation, "_episodes_ray", pool)
    report = generation.generate(spec, config, tmp_path, 3, split="validation", workers=2, progress=False, states_only=True)
    assert seen == [(("validation", "pybullet", True), [0, 1, 2], 2, None)] and report.workers == 2
    assert json.loads((tmp_path / "manifest.json").read_text())["complete"]


# --- exact flow and occlusion (control/flow.py), without rendering ------------------------


def _translated_clip(depth: np.ndarray, step: np.ndarray, K: np.ndarray, frames: int = 2):
    """A surface seen at ``depth`` (H, W) by a fixed camera at the world origin (world =
    camera frame), instance 1 everywhere, translated by ``step`` (3,) m every frame."""
    poses = np.tile(np.eye(4), (frames, 2, 1, 1))
    poses[:, 1, :3, 3] = np.arange(frames)[:, None] * step
    return exact_flow(np.stack([depth] * frames).astype(np.float32), np.ones((frames, *depth.shape), np.int64),
                      poses, K, np.tile(np.eye(4), (frames, 1, 1)))


def test_flow_occludes_points_that_land_on_the_far_image_edges_only():
    """A wall at 2 m sliding (0.125, 0.125) m a frame moves every pixel by exactly (0.5, 0.5)
    px: the last column lands on x = W and the last row on y = H, outside [0, W) x [0, H);
    going back, the first column and row land on x = 0 and y = 0, inside."""
    height, width = 6, 16
    K = np.array([[8.0, 0, 8], [0, 8, 3], [0, 0, 1]])
    flow = _translated_clip(np.full((height, width), 2.0), np.array([0.125, 0.125, 0.0]), K)
    assert np.all(flow.forward[0] == 0.5) and np.all(flow.backward[1] == -0.5)
    v, u = np.mgrid[0:height, 0:width]
    np.testing.assert_array_equal(flow.forward_occluded[0], (u == width - 1) | (v == height - 1))
    assert not flow.backward_occluded[1].any()
    assert flow.forward_occluded[1].all() and flow.backward_occluded[0].all()


def test_flow_on_a_near_slanted_plane_is_visible_between_pixel_centres():
    """A plane 0.36-0.8 m away (nearer than 1 m), slanted so its inverse depth changes by
    4-8 % of its value a pixel, slides within itself: every point lands between pixel
    centres, most where the nearest pixel's depth is off by more than the 1 % tolerance,
    while inverse depth interpolated bilinearly is exact on a plane. Every point that stays
    in the image is visible; the flow is the projection of the moved point."""
    height, width, f, cx, cy = 4, 16, 10.0, 8.0, 2.0
    K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    A, B = 2.0, 1.0  # the plane A z + B x = 1: 1/z = A + B (u - cx) / f
    x_n = (np.arange(width) + 0.5 - cx) / f
    depth = np.tile(1.0 / (A + B * x_n), (height, 1))
    direction = np.array([A, 0.0, -B]) / np.hypot(A, B)  # within the plane
    flow = _translated_clip(depth, 0.03 * direction, K)
    z = depth
    X = x_n * z + 0.03 * direction[0]
    Z = z + 0.03 * direction[2]
    expected_u = f * X / Z + cx
    np.testing.assert_allclose(flow.forward[0, 0], expected_u - (np.arange(width) + 0.5), atol=1e-4)
    assert 0.05 < np.abs(flow.forward[0, 0] % 1 - 0.5).max() and np.abs(flow.forward[0, 0]).min() > 0.2
    inside = expected_u < width
    np.testing.assert_array_equal(flow.forward_occluded[0], ~inside)
    assert inside.sum() >= 13 * height


# --- distributions (worldgen/scene/distributions.py) -------------------------------------


def test_hemisphere_with_one_elevation_and_a_center_that_is_not_a_point():
    point = np.array(sample({"hemisphere": {"radius": [2.0, 2.0], "elevation": [30.0, 30.0], "center": [1, 2, 3]}},
                            7, "camera.position")) - [1, 2, 3]
    assert np.linalg.norm(point) == pytest.approx(2.0) and point[2] == pytest.approx(1.0)  # 2 sin 30
    for center in ([1.0, 2.0], [5.0]):
        with pytest.raises(SceneError, match=r"camera\.position\.center: expected \[x, y, z\]"):
            sample({"hemisphere": {"radius": [1.0, 2.0], "elevation": [0.0, 45.0], "center": center}}, 7, "camera.position")


def test_impossible_uniform_and_normal_parameters_are_scene_errors():
    with pytest.raises(SceneError, match="with std >= 0"):
        sample({"normal": [0.0, -1.0]}, 1, "x")
    with pytest.raises(SceneError, match="a finite width high - low"):
        sample({"uniform": [-1e308, 1e308]}, 1, "x")


def test_brightness_flicker_gains_are_seeded_one_plus_a_u_and_clipped_to_one():
    frames = np.full((6, 3, 4, 4), 0.9, np.float32)
    flickering, gains = brightness_flicker(frames, 0.2, seed=11)
    expected = 1.0 + 0.2 * np.random.default_rng(11).uniform(-1, 1, 6)
    np.testing.assert_allclose(gains.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(flickering.numpy()[:, 0, 0, 0], np.minimum(0.9 * expected, 1.0), rtol=1e-6)
    assert (expected > 1 / 0.9).any() and flickering.max() == 1.0


def test_instance_flicker_gains_per_frame_instance_and_channel_on_its_pixels_only():
    T, ids = 3, [2, 5]
    frames = np.full((T, 3, 4, 4), 0.5, np.float32)
    instance = np.zeros((T, 4, 4), np.int64)
    instance[:, :2], instance[:, 2:, :2], instance[:, 3, 3] = 2, 5, 9  # id 9 is not flickered
    flickering = instance_flicker(frames, instance, ids, 0.3, seed=4).numpy()
    draws = np.random.default_rng(4).uniform(-1, 1, (len(ids), T, 3))
    for k, draw in zip(ids, draws):
        mask = instance == k
        for t in range(T):
            for c in range(3):
                np.testing.assert_allclose(flickering[t, c][mask[t]], 0.5 * (1 + 0.3 * draw[t, c]), rtol=1e-6)
    untouched = (instance != 2) & (instance != 5)
    assert (flickering.transpose(1, 0, 2, 3)[:, untouched] == 0.5).all()
