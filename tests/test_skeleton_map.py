"""Skeleton maps follow ControlNet 1.1's draw_bodypose pixel for pixel; projection drops
keypoints behind the camera or outside the image."""

from __future__ import annotations

import numpy as np

from control.skeleton_map import draw_skeleton_map, project_keypoints, skeleton_maps

# The published ControlNet / controlnet_aux definition (open_pose/util.py, draw_bodypose),
# written out here rather than imported: 1-based limb sequence and the 18 RGB colours.
LIMB_SEQ_1_BASED = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12],
                    [12, 13], [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18]]
COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0],
          [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255],
          [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]
LIMB_COLORS = [[int(float(c) * 0.6) for c in color] for color in COLORS[:17]]

# A person facing the camera on a 512 x 512 map (x right, y down): their right side on the
# image's left. COCO-18 order.
POSE = np.array([
    (256, 100), (256, 180), (196, 180), (166, 260), (150, 340), (316, 180), (346, 260), (362, 340),
    (226, 320), (220, 400), (216, 480), (286, 320), (292, 400), (296, 480), (236, 80), (276, 80),
    (210, 90), (302, 90),
], dtype=float) + 0.5  # pixel centres
SIZE = 512


def pixel(image: np.ndarray, xy) -> list[int]:
    return image[int(np.floor(xy[1])), int(np.floor(xy[0]))].tolist()


def test_joints_limbs_and_background_match_the_controlnet_drawing():
    image = draw_skeleton_map(POSE[None], np.ones((1, 18), bool), SIZE, SIZE)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    for joint, color in enumerate(COLORS):
        assert pixel(image, POSE[joint]) == color, joint
    for limb, (a, b) in enumerate(LIMB_SEQ_1_BASED):
        midpoint = (POSE[a - 1] + POSE[b - 1]) / 2
        assert pixel(image, midpoint) == LIMB_COLORS[limb], limb
    for corner in [(0, 0), (511, 0), (0, 511), (511, 511), (420, 100), (60, 460)]:
        assert pixel(image, corner) == [0, 0, 0]
    # No anti-aliasing or blending: every pixel is black, a joint colour or a limb colour.
    palette = {(0, 0, 0)} | {tuple(c) for c in COLORS} | {tuple(c) for c in LIMB_COLORS}
    assert {tuple(c) for c in np.unique(image.reshape(-1, 3), axis=0)} <= palette


def test_float_coordinates_draw_at_the_pixel_that_contains_them():
    valid = np.zeros((1, 18), bool)
    valid[0, 0] = True  # the nose alone: a disc of radius 4 at 512 px
    points = np.zeros((1, 18, 2))
    points[0, 0] = (100.9, 50.9)  # inside pixel (100, 50): centre there, not rounded to 101
    image = draw_skeleton_map(points, valid, SIZE, SIZE)
    assert image[50, 104].tolist() == COLORS[0] and image[50, 105].tolist() == [0, 0, 0]
    assert image[54, 100].tolist() == COLORS[0] and image[55, 100].tolist() == [0, 0, 0]


def test_stroke_scales_with_the_image():
    valid = np.zeros((1, 18), bool)
    valid[0, 0] = True
    points = np.zeros((1, 18, 2))
    for size, radius in [(1024, 8), (256, 2), (64, 1)]:
        points[0, 0] = (size / 2, size / 2)
        image = draw_skeleton_map(points, valid, size, size)
        centre = size // 2
        assert image[centre, centre + radius].tolist() == COLORS[0], size
        assert image[centre, centre + radius + 1].tolist() == [0, 0, 0], size


def test_invalid_keypoints_draw_neither_joint_nor_limbs():
    valid = np.ones((1, 18), bool)
    valid[0, 3] = False  # right elbow
    image = draw_skeleton_map(POSE[None], valid, SIZE, SIZE)
    assert pixel(image, POSE[3]) == [0, 0, 0]
    assert pixel(image, (POSE[2] + POSE[3]) / 2) == [0, 0, 0]  # r-shoulder -> r-elbow
    assert pixel(image, (POSE[3] + POSE[4]) / 2) == [0, 0, 0]  # r-elbow -> r-wrist
    assert pixel(image, POSE[4]) == COLORS[4]  # the wrist itself is still drawn
    assert not draw_skeleton_map(POSE[None], np.zeros((1, 18), bool), SIZE, SIZE).any()
    assert not draw_skeleton_map(np.zeros((0, 18, 2)), np.zeros((0, 18), bool), SIZE, SIZE).any()


def test_two_people_are_drawn_one_after_the_other():
    second = POSE.copy()
    second[1] = (340.5, POSE[7, 1])  # neck and right shoulder of the second person, level with
    second[2] = (380.5, POSE[7, 1])  # the first one's left wrist: their limb covers that joint
    valid = np.zeros((2, 18), bool)
    valid[0] = True
    valid[1, [1, 2]] = True
    image = draw_skeleton_map(np.stack([POSE, second]), valid, SIZE, SIZE)
    assert pixel(image, POSE[7]) == LIMB_COLORS[0]  # the later person's limb over the earlier joint
    assert pixel(image, second[1]) == COLORS[1] and pixel(image, second[2]) == COLORS[2]
    assert pixel(image, POSE[0]) == COLORS[0] and pixel(image, POSE[13]) == COLORS[13]


K = np.array([[100.0, 0, 32], [0, 100, 24], [0, 0, 1]])
WIDTH, HEIGHT = 64, 48


def test_projection_drops_points_behind_the_camera_or_outside_the_image():
    world_to_camera = np.eye(4)
    world_to_camera[2, 3] = 5.0  # camera 5 m behind the world origin, looking along +z
    points = np.zeros((1, 18, 3))
    points[0, :, 2] = -3.0  # 2 m in front of the camera, on the optical axis: image centre
    points[0, 1] = (0, 0, -7)  # 2 m behind the camera: projects inside the image, still dropped
    points[0, 2] = (0, 0, -5)  # in the camera plane
    points[0, 3] = (2, 0, -3)  # x = 132 px, right of the image
    points[0, 4] = (-0.64, -0.48, -3)  # (0, 0): first pixel, inside
    points[0, 5] = (0.64, 0, -3)  # x = 64 = width: outside
    points[0, 6] = (0, 0.48, -3)  # y = 48 = height: outside
    pixels, valid = project_keypoints(points, K, world_to_camera, WIDTH, HEIGHT)
    assert pixels.shape == (1, 18, 2) and valid.shape == (1, 18)
    np.testing.assert_allclose(pixels[0, 0], (32, 24))
    np.testing.assert_allclose(pixels[0, 4], (0, 0), atol=1e-9)
    assert valid[0].tolist() == [True, False, False, False, True, False, False] + [True] * 11


def test_skeleton_maps_of_a_clip():
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(-0.3, 0.3, (2, 2, 18, 2)), np.full((2, 2, 18, 1), 2.0)], axis=-1)
    extrinsics = np.tile(np.eye(4), (2, 1, 1))
    maps = skeleton_maps(keypoints, np.stack([K, K]), extrinsics, WIDTH, HEIGHT)
    assert maps.shape == (2, 3, HEIGHT, WIDTH) and maps.dtype == np.float32
    assert 0 <= maps.min() and maps.max() <= 1 and maps[1].max() > 0
    pixels, valid = project_keypoints(keypoints[1], K, extrinsics[1], WIDTH, HEIGHT)
    expected = draw_skeleton_map(pixels, valid, WIDTH, HEIGHT).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(maps[1], expected, atol=1e-6)
    np.testing.assert_array_equal(skeleton_maps(keypoints, K, extrinsics, WIDTH, HEIGHT), maps)
