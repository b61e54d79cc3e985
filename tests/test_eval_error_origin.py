"""The restart oracle (`worldgen eval error-origin`): first contacts found in
pybullet trajectories, released rollouts, and the command's one-line errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from simulation.dynamics import DEFAULT_CHECKPOINT, DynamicsModel, rotations
from simulation.dynamics.entities import BODY
from simulation.dynamics.rollout import batch_tables, rollout
from simulation.pybullet_engine import PybulletEngine
from worldgen.cli import main as worldgen
from worldgen.dataset.family import episode_scene, load_family
from worldgen.eval.error_origin import NEVER, error_origin, first_contact_frames
from worldgen.scene import scene_from_dict


def _drop(frames: int = 9, seeds=(0, 1)):
    family, _, _ = load_family("objects_drop", [f"num_frames={frames}"])
    return batch_tables([PybulletEngine(contacts=False).rollout(episode_scene(family, s)) for s in seeds])


def test_first_contact_is_the_frame_whose_step_holds_the_impact():
    """A ball dropped from rest 0.9 m above the floor hits it 0.428 s later, inside the
    step from frame 5 to 6 at 12 fps; one dropped from 9.9 m is still in free fall after
    11 frames, so it has no contact."""
    scene = scene_from_dict({"fps": 12, "num_frames": 12, "objects": [
        {"shape": "sphere", "radius": 0.1, "position": [0, 0, 1.0], "physics": {"restitution": 0.0}},
        {"shape": "sphere", "radius": 0.1, "position": [2, 0, 10.0], "physics": {"restitution": 0.0}}]})
    table, states = batch_tables([PybulletEngine(contacts=False).rollout(scene)])
    impact = math.sqrt(2 * 0.9 / 9.81) * 12
    first = first_contact_frames(table, states, 12, threshold=0.3)
    assert int(first[0, 0]) == math.floor(impact) == 5
    assert int(first[0, 1]) == NEVER


def test_held_entities_follow_the_given_states_then_step_from_them():
    """Teacher forcing in ``rollout``: through frame 3 the bodies are pybullet's, and
    frame 4 is one network step from pybullet's frame 3."""
    table, states = _drop()
    model = DynamicsModel.from_pretrained(DEFAULT_CHECKPOINT).eval()
    held = rollout(model, table, states, 5, held_until=torch.full(table.kind.shape, 3))
    assert torch.equal(held.position[:, :4], states.position[:, :4])
    one_step = rollout(model, table, states.map(lambda x: x[:, 3:]), 2)
    body = table.kind == BODY
    assert torch.allclose(held.position[:, 4][body], one_step.position[:, 1][body], atol=1e-6)
    assert not torch.allclose(held.position[:, 4][body], states.position[:, 4][body], atol=1e-4)


def test_network_alone_is_the_plain_rollout_and_late_release_is_exact():
    table, states = _drop()
    model = DynamicsModel.from_pretrained(DEFAULT_CHECKPOINT).eval()
    report = error_origin(model, table, states, delays=(0, 100))
    plain = rollout(model, table, states, states.position.shape[1])
    body = table.kind == BODY
    moved = (plain.position[:, 1:] - states.position[:, 1:]).norm(dim=-1)
    turned = rotations.angle_between(plain.orientation[:, 1:], states.orientation[:, 1:])
    alone = report["rows"]["network_alone"]
    assert alone["translation_whole_m"] == pytest.approx(float(moved[body.unsqueeze(1).expand_as(moved)].mean()), rel=1e-6)
    assert alone["rotation_last_rad"] == pytest.approx(float(turned[:, -1][body].mean()), rel=1e-6)
    assert alone["translation_whole_m"] > 0
    held = report["rows"]["released_100_after_contact"]  # every body held on pybullet's states to the end
    assert held == {k: 0.0 for k in held}
    assert 0 < report["rows"]["released_0_after_contact"]["translation_whole_m"]
    assert report["bodies"] == int(body.sum()) and report["bodies_with_contact"] <= report["bodies"]


def test_command_reports_and_rejects_bad_input_in_one_line(tmp_path, capsys):
    data = tmp_path / "drop"
    assert worldgen(["dataset", "generate", "objects_drop", "num_frames=6", "--states-only", "--episodes", "2",
                     "--workers", "1", "-q", "-o", str(data)]) == 0
    out = tmp_path / "origin.json"
    assert worldgen(["eval", "error-origin", "--data", str(data), "--frames", "6", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["episodes"] == 2 and "network_alone" in report["rows"]
    capsys.readouterr()
    assert worldgen(["eval", "error-origin", "--data", str(data), "--frames", "25", "-o", str(out)]) == 2
    assert worldgen(["eval", "error-origin", "--data", str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert worldgen(["eval", "error-origin", "--data", str(data), "--checkpoint", str(tmp_path), "-o", str(out)]) == 2
    assert worldgen(["eval", "error-origin", "--data", str(data), "--frames", "2", "-o", str(out)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("error: ") for line in errors)
