"""Skeleton control maps: COCO-18 keypoints drawn the way pose ControlNets were trained.

The drawing reproduces ControlNet 1.1's ``draw_bodypose`` (as in ``controlnet_aux``): on a
black RGB canvas, for each person in turn, the 17 OpenPose limbs as filled ellipses in 0.6x
their colour, then the 18 joints as filled discs in full colour. The reference draws at
512 px with limb half-width and disc radius 4; here both are ``max(1, round(4 * min(H, W) /
512))`` so maps at other sizes look like resized 512 px maps.

Pixel coordinates: x right, y down, pixel (u, v) covers [u, u+1) x [v, v+1). A float
coordinate is drawn at the integer pixel that contains it, ``floor(x)`` (the reference's
``int(x_normalised * W)`` for points inside the image)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from worldgen.scene.cameras import project

# OpenPose limb sequence, 0-based indices into COCO-18 (the reference lists them 1-based).
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# RGB colour of joint i and of limb i (limbs are drawn at 0.6x, truncated to int).
OPENPOSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
LIMB_COLOR_SCALE = 0.6
MIN_DEPTH = 1e-6  # metres; keypoints nearer than this (or behind the camera) are dropped


def stroke_width(width: int, height: int) -> int:
    """Limb half-width and joint radius in pixels: 4 at 512 px, scaled with the image."""
    return max(1, round(4 * min(width, height) / 512))


def draw_skeleton_map(keypoints_2d: np.ndarray, valid: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 ``(height, width, 3)`` RGB skeleton map of ``N`` people.

    ``keypoints_2d``: ``(N, 18, 2)`` pixel coordinates (x, y) in COCO-18 order; ``valid``:
    ``(N, 18)`` bool, an invalid keypoint draws neither its joint nor its limbs. People are
    drawn one after the other (limbs then joints per person), as the reference does."""
    keypoints_2d = np.asarray(keypoints_2d, dtype=float).reshape(-1, 18, 2)
    valid = np.asarray(valid, dtype=bool).reshape(-1, 18)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    stroke = stroke_width(width, height)
    for points, ok in zip(keypoints_2d, valid):
        for (a, b), color in zip(OPENPOSE_LIMBS, OPENPOSE_COLORS):
            if not (ok[a] and ok[b]):
                continue
            (xa, ya), (xb, yb) = points[a], points[b]
            centre = (math.floor((xa + xb) / 2), math.floor((ya + yb) / 2))
            half_length = int(math.hypot(xa - xb, ya - yb) / 2)
            angle = int(math.degrees(math.atan2(ya - yb, xa - xb)))
            polygon = cv2.ellipse2Poly(centre, (half_length, stroke), angle, 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, [int(c * LIMB_COLOR_SCALE) for c in color])
        for (x, y), ok_joint, color in zip(points, ok, OPENPOSE_COLORS):
            if ok_joint:
                cv2.circle(canvas, (math.floor(x), math.floor(y)), stroke, color, thickness=-1)
    return canvas


def project_keypoints(
    points_3d: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Project ``(N, 18, 3)`` world keypoints (metres) through a pinhole camera.

    ``K``: (3, 3) intrinsics in pixels; ``world_to_camera``: (4, 4), OpenCV convention.
    Returns ``(N, 18, 2)`` pixel coordinates and ``(N, 18)`` valid: in front of the camera
    (depth > ``MIN_DEPTH``), finite, and inside the image [0, width) x [0, height)."""
    points_3d = np.asarray(points_3d, dtype=float)
    pixels, depth = project(points_3d.reshape(-1, 3), np.asarray(K, dtype=float), np.asarray(world_to_camera, dtype=float))
    with np.errstate(invalid="ignore"):
        valid = (
            (depth > MIN_DEPTH)
            & np.isfinite(pixels).all(axis=1)
            & (pixels[:, 0] >= 0) & (pixels[:, 0] < width)
            & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
        )
    shape = points_3d.shape[:-1]
    return pixels.reshape(*shape, 2), valid.reshape(shape)


def skeleton_maps(
    keypoints_3d: np.ndarray, K: np.ndarray, extrinsics: np.ndarray, width: int, height: int
) -> np.ndarray:
    """Skeleton maps of a clip: float32 ``(T, 3, height, width)`` in [0, 1].

    ``keypoints_3d``: ``(T, N, 18, 3)`` world metres; ``K``: (3, 3) or per frame (T, 3, 3);
    ``extrinsics``: (T, 4, 4) world -> camera."""
    keypoints_3d = np.asarray(keypoints_3d, dtype=float)
    K = np.broadcast_to(np.asarray(K, dtype=float), (len(keypoints_3d), 3, 3))
    maps = np.empty((len(keypoints_3d), 3, height, width), dtype=np.float32)
    for t, (points, K_t, world_to_camera) in enumerate(zip(keypoints_3d, K, extrinsics)):
        pixels, valid = project_keypoints(points, K_t, world_to_camera, width, height)
        maps[t] = draw_skeleton_map(pixels, valid, width, height).transpose(2, 0, 1) / np.float32(255)
    return maps
