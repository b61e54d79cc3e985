"""Control maps (depth, segmentation, normals, flow colours) and contact sheets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from control.depth_map import depth_map
from control.flow_colors import flow_to_color
from control.normal_map import normal_map
from control.segmentation_map import PALETTE, segmentation_map
from worldgen.io.contact_sheet import contact_sheet, pick_frames

# --- depth -------------------------------------------------------------------------------


def test_depth_near_is_bright_background_black_three_equal_channels():
    depth = np.zeros((1, 4, 4), np.float32)
    depth[0, 0, 0], depth[0, 0, 1], depth[0, 0, 2] = 1.0, 2.0, 4.0
    out = depth_map(depth)
    assert out.shape == (1, 3, 4, 4) and out.dtype == np.float32
    assert np.array_equal(out[:, 0], out[:, 1]) and np.array_equal(out[:, 0], out[:, 2])
    assert out[0, 0, 0, 0] == pytest.approx(1.0)  # nearest
    assert out[0, 0, 0, 2] == pytest.approx(0.0)  # farthest
    assert out[0, 0, 0, 1] == pytest.approx((1 / 2 - 1 / 4) / (1 / 1 - 1 / 4))  # inverse depth
    assert np.all(out[0, :, 1:] == 0)  # no hit -> black
    assert out.min() >= 0 and out.max() <= 1


def test_depth_normalised_over_whole_clip_not_per_frame():
    depth = np.zeros((2, 4, 4), np.float32)
    depth[:, 0, 0] = 3.0  # the same object at the same depth in both frames
    depth[0, 1, 1] = 1.0  # other content differs between frames
    depth[1, 2, 2] = 8.0
    out = depth_map(depth)
    assert out[0, 0, 0, 0] == pytest.approx(out[1, 0, 0, 0])
    assert out[0, 0, 1, 1] == pytest.approx(1.0) and out[1, 0, 2, 2] == pytest.approx(0.0)


def test_depth_near_far_overrides_clip():
    depth = np.array([[[0.5, 2.0, 20.0, 0.0]]], np.float32)
    out = depth_map(depth, near=1.0, far=10.0)[0, 0, 0]
    assert out.tolist() == pytest.approx([1.0, (0.5 - 0.1) / 0.9, 0.0, 0.0])


# --- segmentation ------------------------------------------------------------------------


def test_segmentation_palette_fixed_and_distinct():
    assert np.array_equal(PALETTE[0], [0, 0, 0])
    assert np.allclose(PALETTE[1], PALETTE[1][0])  # floor: neutral grey
    assert 0.2 < PALETTE[1][0] < 0.8
    as_bytes = np.round(PALETTE[:64] * 255).astype(np.uint8)
    assert len({tuple(c) for c in as_bytes}) == 64  # distinct even after uint8 quantisation

    ids = np.array([[[0, 1, 5], [7, 5, 300]], [[5, 0, 7], [1, 1, 5]]])
    out = segmentation_map(ids)
    assert out.shape == (2, 3, 2, 3) and out.dtype == np.float32
    assert np.array_equal(out[0, :, 0, 2], out[1, :, 0, 0])  # id 5 in both frames
    assert np.array_equal(out[0, :, 0, 2], PALETTE[5])
    assert np.array_equal(out[0, :, 0, 0], [0, 0, 0])
    assert np.array_equal(out, segmentation_map(ids))  # same across calls
    assert np.array_equal(out[0, :, 1, 2], PALETTE[2 + (300 - 2) % 254])  # wraps past black/grey


# --- normals -----------------------------------------------------------------------------


def _camera_looking_along_world_y() -> np.ndarray:
    """OpenCV camera at the origin looking along world +y with world +z up in the image."""
    rotation = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # rows: camera x, y, z in world
    pose = np.eye(4)
    pose[:3, :3] = rotation
    return pose[None]


def test_normal_map_convention():
    normals = np.zeros((1, 3, 1, 4), np.float32)
    normals[0, :, 0, 0] = [0, -1, 0]  # faces the camera (which looks along +y)
    normals[0, :, 0, 1] = [0, 0, 1]  # world up = image up
    normals[0, :, 0, 2] = [1, 0, 0]  # image right
    out = normal_map(normals, _camera_looking_along_world_y())
    assert out.shape == (1, 3, 1, 4) and out.dtype == np.float32
    assert out[0, :, 0, 0] == pytest.approx([0.5, 0.5, 1.0])
    assert out[0, :, 0, 1] == pytest.approx([0.5, 1.0, 0.5])  # G high when facing up
    assert out[0, :, 0, 2] == pytest.approx([0.0, 0.5, 0.5])  # R high only when facing left
    assert np.all(out[0, :, 0, 3] == 0)  # no hit


# --- flow colours ------------------------------------------------------------------------


def _middlebury_reference(u: float, v: float) -> tuple[float, float, float]:
    """One pixel, written out from the published wheel: normalised flow (u, v), |.| <= 1."""
    ry, yg, gc, cb, bm, mr = 15, 6, 4, 11, 13, 6
    wheel = []
    wheel += [(255, math.floor(255 * i / ry), 0) for i in range(ry)]
    wheel += [(255 - math.floor(255 * i / yg), 255, 0) for i in range(yg)]
    wheel += [(0, 255, math.floor(255 * i / gc)) for i in range(gc)]
    wheel += [(0, 255 - math.floor(255 * i / cb), 255) for i in range(cb)]
    wheel += [(math.floor(255 * i / bm), 0, 255) for i in range(bm)]
    wheel += [(255, 0, 255 - math.floor(255 * i / mr)) for i in range(mr)]
    ncols = len(wheel)
    a = math.atan2(-v, -u) / math.pi
    fk = (a + 1) / 2 * (ncols - 1)
    k0 = math.floor(fk)
    k1 = (k0 + 1) % ncols
    f = fk - k0
    rad = math.hypot(u, v)
    return tuple(1 - rad * (1 - ((1 - f) * wheel[k0][c] + f * wheel[k1][c]) / 255) for c in range(3))


def test_flow_zero_is_white_and_known_hues():
    flow = np.zeros((1, 2, 1, 5), np.float32)
    flow[0, :, 0, 1] = [2.0, 0.0]  # right
    flow[0, :, 0, 2] = [0.0, -2.0]  # up (v points down)
    flow[0, :, 0, 3] = [-1.0, 1.0]  # down-left; the clip maximum is 2 px
    flow[0, :, 0, 4] = [np.nan, 1.0]  # invalid
    out = flow_to_color(flow)
    assert out.shape == (1, 3, 1, 5) and out.dtype == np.float32
    assert out[0, :, 0, 0] == pytest.approx([1.0, 1.0, 1.0])  # zero flow = white
    assert out[0, :, 0, 1] == pytest.approx([1.0, 0.0, 0.0], abs=0.2)  # right = red
    assert out[0, :, 0, 1] == pytest.approx(_middlebury_reference(1.0, 0.0), abs=1e-6)
    assert out[0, :, 0, 2] == pytest.approx(_middlebury_reference(0.0, -1.0), abs=1e-6)
    assert out[0, :, 0, 2] == pytest.approx([88 / 255, 0.0, 1.0], abs=1e-6)  # wheel[40..41]
    assert out[0, :, 0, 3] == pytest.approx(_middlebury_reference(-0.5, 0.5), abs=1e-6)
    assert np.all(out[0, :, 0, 4] == 0)


def test_flow_magnitude_normalised_over_clip_or_given():
    flow = np.zeros((2, 2, 1, 1), np.float32)
    flow[0, 0] = 1.0
    flow[1, 0] = 4.0
    out = flow_to_color(flow)
    assert out[1, :, 0, 0] == pytest.approx(_middlebury_reference(1.0, 0.0), abs=1e-6)
    assert out[0, :, 0, 0] == pytest.approx(_middlebury_reference(0.25, 0.0), abs=1e-6)  # not per frame
    fixed = flow_to_color(flow, max_magnitude=2.0)
    assert fixed[0, :, 0, 0] == pytest.approx(_middlebury_reference(0.5, 0.0), abs=1e-6)
    assert fixed[1, :, 0, 0] == pytest.approx(0.75 * np.array([1.0, 0.0, 0.0]), abs=1e-6)  # beyond: darkened


# --- contact sheet -----------------------------------------------------------------------


def test_pick_frames():
    assert pick_frames(24, 4) == [0, 8, 15, 23]
    assert pick_frames(3, 4) == [0, 1, 2]
    assert pick_frames(1, 4) == [0]


def test_contact_sheet_writes_png_that_grows_with_grid(tmp_path):
    rng = np.random.default_rng(0)
    clip = rng.random((6, 3, 16, 16), dtype=np.float32)
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    contact_sheet({"rgb": clip}, [0], small)
    contact_sheet({"rgb": clip, "depth": clip, "flow": clip}, pick_frames(6, 3), large, title="demo")
    with Image.open(small) as a, Image.open(large) as b:
        assert a.format == b.format == "PNG"
        assert b.width > a.width and b.height > a.height
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.png", "small.png"]  # no temp left
