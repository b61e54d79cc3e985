"""BlazePose on a real photograph (scikit-image's astronaut, 512 x 512, a woman facing the
camera): COCO-18 keypoints land on her body parts, left and right not swapped; and the
``worldgen pose extract`` command end to end."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest
import skimage.data

from control.pose_extract import PoseExtractor
from worldgen.commands.pose import add_pose_parser
from worldgen.scene.errors import SceneError

# Hand-measured boxes (x0, x1, y0, y1) in pixels around each visible body part. She faces
# the camera, so her right side is on the image's left.
BOXES = {
    0: (208, 238, 112, 142),  # nose
    1: (175, 245, 225, 275),  # neck: the collar ring between the shoulders
    2: (75, 150, 210, 275),  # right shoulder
    3: (25, 105, 375, 455),  # right elbow, at the left edge of the photo
    5: (275, 345, 225, 290),  # left shoulder
    14: (190, 220, 90, 118),  # right eye
    15: (232, 265, 97, 125),  # left eye
    16: (175, 205, 92, 125),  # right ear (under the hair)
    17: (255, 285, 105, 140),  # left ear
}
BELOW_THE_FRAME = [8, 9, 10, 11, 12, 13]  # hips, knees, ankles


@pytest.fixture(scope="module")
def astronaut_pose():
    with PoseExtractor(static_image_mode=True) as extractor:
        return extractor.extract(skimage.data.astronaut())


def test_keypoints_land_on_the_person(astronaut_pose):
    keypoints, confidence, valid = astronaut_pose
    assert keypoints.shape == (18, 2) and confidence.shape == (18,) and valid.shape == (18,)
    for index, (x0, x1, y0, y1) in BOXES.items():
        x, y = keypoints[index]
        assert valid[index], index
        assert x0 <= x <= x1 and y0 <= y <= y1, (index, x, y)
    assert not valid[BELOW_THE_FRAME].any()
    np.testing.assert_allclose(keypoints[1], keypoints[[2, 5]].mean(axis=0), atol=1e-4)
    assert confidence[1] == confidence[[2, 5]].min()


def test_left_and_right_are_not_swapped(astronaut_pose):
    keypoints = astronaut_pose[0]
    for right, left in [(2, 5), (14, 15), (16, 17)]:  # shoulders, eyes, ears
        assert keypoints[right, 0] < keypoints[left, 0]


def test_no_person_means_nothing_valid():
    with PoseExtractor(static_image_mode=True) as extractor:
        keypoints, confidence, valid = extractor.extract(np.zeros((256, 256, 3), np.uint8))
    assert not valid.any() and not confidence.any() and not keypoints.any()


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_pose_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pose", "extract", *argv])
    return args.func(args)


def test_command_on_an_image(tmp_path, capsys):
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    assert run_command(str(image), "-o", str(out)) == 0
    document = json.loads((out / "keypoints.json").read_text())
    assert document["format"] == "worldgen.pose/1"
    assert (document["width"], document["height"]) == (512, 512)
    assert document["keypoint_names"][:3] == ["nose", "neck", "right_shoulder"]
    [frame] = document["frames"]
    assert frame["index"] == 0 and frame["file"] == "astronaut.png"
    [person] = frame["people"]
    assert len(person["keypoints"]) == len(person["confidence"]) == len(person["valid"]) == 18
    assert person["valid"][0] and not person["valid"][10]
    skeleton = cv2.cvtColor(cv2.imread(str(out / "skeleton.png")), cv2.COLOR_BGR2RGB)
    x, y = np.floor(person["keypoints"][0]).astype(int)
    assert skeleton.shape == (512, 512, 3) and skeleton[y, x].tolist() == [255, 0, 0]  # the nose joint
    assert (out / "skeleton.mp4").stat().st_size > 0
    assert sorted(p.name for p in out.iterdir()) == ["keypoints.json", "skeleton.mp4", "skeleton.png"]
    assert "a person in 1 of 1 frames" in capsys.readouterr().out


def test_command_on_a_video_and_an_image_folder(tmp_path):
    from worldgen.io.video import write_video

    astronaut = skimage.data.astronaut()
    video = tmp_path / "clip.mp4"
    write_video(video, np.stack([np.zeros_like(astronaut), astronaut, astronaut]), fps=12)
    assert run_command(str(video), "-o", str(tmp_path / "video")) == 0
    document = json.loads((tmp_path / "video" / "keypoints.json").read_text())
    assert document["fps"] == 12 and [f["file"] for f in document["frames"]] == [None] * 3
    assert [len(f["people"]) for f in document["frames"]] == [0, 1, 1]

    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("b.png", "a.jpg"):
        cv2.imwrite(str(folder / name), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    assert run_command(str(folder), "-o", str(tmp_path / "folder"), "--fps", "5") == 0
    document = json.loads((tmp_path / "folder" / "keypoints.json").read_text())
    assert document["fps"] == 5 and [f["file"] for f in document["frames"]] == ["a.jpg", "b.png"]
    assert not (tmp_path / "folder" / "skeleton.png").exists()


def test_command_rejects_bad_input(tmp_path):
    with pytest.raises(SceneError, match="no such file") as error:
        run_command(str(tmp_path / "missing.png"), "-o", str(tmp_path / "out"))
    assert error.value.field == "INPUT"
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    with pytest.raises(SceneError, match="not a readable image"):
        run_command(str(junk), "-o", str(tmp_path / "out"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(SceneError, match="Invalid data"):
        run_command(str(broken), "-o", str(tmp_path / "out"))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(SceneError, match="unknown extension"):
        run_command(str(notes), "-o", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
