"""The size limits of worldgen, in one place, and the checks that hold a scene to them.

A small file must never make worldgen hang or allocate more than a machine has: every
size a user can write (frames, objects, copies, pixels, samples, file sizes, YAML nesting)
is checked against these limits *before* anything of that size is allocated, and a value
past one is a one-line :class:`SceneError` naming the field and the limit. They are far
above what the bundled scenes and families use; to go past one, raise the constant here
(README, "Limits").
"""

from __future__ import annotations

from worldgen.scene.errors import SceneError

# Files
MAX_SCENE_FILE_BYTES = 1 << 20  # a scene or family YAML: 1 MiB
MAX_YAML_DEPTH = 64  # nesting of lists and mappings in one YAML document
MAX_YAML_NODES = 10_000  # values in a YAML document, aliases expanded (Hydra composes ~1-2k per second)
MAX_ASSET_FILE_BYTES = 256 << 20  # one mesh or texture file: 256 MiB
MAX_TEXTURE_PIXELS = 8192 * 8192  # width x height of one texture image

# Scene sizes
MAX_MAGNITUDE = 1e9  # any component of a position, velocity or direction vector (m, m/s)
MAX_ENTITIES = {"objects": 1_000, "lights": 64, "cameras": 64, "humanoids": 16, "constraints": 1_000}
MAX_KEYFRAMES = 10_000  # per light or camera
MAX_COPIED_VALUES = 1_000_000  # values in the copies that object counts make
MAX_FRAMES = 100_000  # video frames of one scene (69 min at 24 fps)
MAX_PHYSICS_HZ = 10_000  # physics steps per simulated second
MAX_PHYSICS_STEPS = 10_000_000  # frames x physics steps per frame, one scene
MAX_STATE_VALUES = 200_000_000  # frames x recorded numbers per frame (8 bytes each: 1.6 GB)
MAX_FLICKER_KNOTS = 10_000_000  # flicker frequency x clip seconds: random values drawn per light

# Images and video
MAX_IMAGE_SIDE = 8192  # pixels, width or height
MAX_IMAGE_PIXELS = 4096 * 4096  # width x height of one frame
MAX_VIDEO_PIXELS = 100_000_000  # frames x width x height of one render (~100 bytes each in memory)
MAX_SPP = 4096  # samples per pixel
MAX_VIDEO_FPS = 1_000  # frames per second of a scene and of a video made from images (pose extract --fps); mp4 drops frames past ~2,000

# Datasets
MAX_EPISODES = 1_000_000  # episodes one evaluation command rolls out (a dataset: its split size)
MAX_MANIFEST_BYTES = 256 << 20  # a dataset's manifest.json (1 million episodes: about 170 MB)
MAX_WORKERS = 1_024  # worker processes (Ray actors of one CPU each) of one `dataset generate`

# Numbers a state records per frame: position 3 + orientation 4 + two velocities 3 + 3
# per body; position 3 + direction 3 + colour 3 + intensity 1 per light; per humanoid
# 18 keypoints x 3 and up to 16 links x 7 (pose).
_BODY_VALUES, _LIGHT_VALUES, _HUMANOID_VALUES = 13, 10, 18 * 3 + 16 * 7


def _shown(value: int | float) -> str:
    """``1,000,000`` up to 10^15, ``2.4e+301`` past it (a huge integer stays one short word)."""
    if value < 1e15:
        return f"{value:,}"
    try:
        return f"{float(value):.3g}"
    except OverflowError:  # an integer past the largest float
        return "more than 1e308"


def _limit_error(field: str, what: str, value, limit: int, name: str, source: str | None = None) -> SceneError:
    return SceneError(field, f"{what} is {_shown(value)}, over the limit of {limit:,} ({name} in worldgen/scene/limits.py); "
                      "make it smaller or raise the limit", source)


def check_at_most(value: int, limit: int, field: str, what: str, name: str, source: str | None = None) -> None:
    """Raise a one-line :class:`SceneError` when ``value`` is above ``limit``; ``name`` is
    the constant of this module that sets it, so the message says how to raise it."""
    if value > limit:
        raise _limit_error(field, what, value, limit, name, source)


def check_scene_size(scene) -> None:
    """Hold a validated :class:`~worldgen.scene.schema.Scene` to the limits: entity counts,
    keyframes, frames, physics steps, the recorded state and every camera's image size."""
    for group, limit in MAX_ENTITIES.items():
        check_at_most(len(getattr(scene, group)), limit, group, f"the number of {group}", f"MAX_ENTITIES['{group}']")
    for group in ("lights", "cameras"):
        for i, item in enumerate(getattr(scene, group)):
            check_at_most(len(item.keyframes or ()), MAX_KEYFRAMES, f"{group}[{i}].keyframes", "the number of keyframes",
                          "MAX_KEYFRAMES")
    check_at_most(scene.fps, MAX_VIDEO_FPS, "fps", "the frame rate (frames per second)", "MAX_VIDEO_FPS")
    check_at_most(scene.physics_hz, MAX_PHYSICS_HZ, "physics_hz", "the physics rate (steps per second)", "MAX_PHYSICS_HZ")
    length = "num_frames" if scene.num_frames is not None else "duration"
    frames = _frame_count(scene)
    check_at_most(frames, MAX_FRAMES, length, "the number of frames", "MAX_FRAMES")
    check_at_most(frames * scene.substeps, MAX_PHYSICS_STEPS, length, "the number of physics steps (frames x physics_hz / fps)",
                  "MAX_PHYSICS_STEPS")
    per_frame = (len(scene.objects) * _BODY_VALUES + len(scene.lights) * _LIGHT_VALUES
                 + len(scene.humanoids) * _HUMANOID_VALUES)
    check_at_most(frames * per_frame, MAX_STATE_VALUES, length,
                  "the recorded state (frames x numbers per frame for the bodies, lights and humanoids)",
                  "MAX_STATE_VALUES")
    for i, light in enumerate(scene.lights):
        if light.flicker is not None:
            knots = light.flicker.frequency * frames / scene.fps
            check_at_most(round(knots) if knots < 2**63 else knots, MAX_FLICKER_KNOTS, f"lights[{i}].flicker.frequency",
                          "the flicker changes over the clip (frequency x seconds)", "MAX_FLICKER_KNOTS")
    for i, camera in enumerate(scene.cameras):
        check_image_size(camera.resolution, f"cameras[{i}].resolution")


def _frame_count(scene) -> int | float:
    """The scene's frame count, or duration x fps as a float when that is past the limit
    (it may be too large for an integer)."""
    frames = (scene.duration or 4.0) * scene.fps
    if scene.num_frames is None and frames > MAX_FRAMES + 1:
        return round(frames) if frames < 2**63 else frames
    return scene.frame_count


def check_image_size(resolution, field: str, source: str | None = None) -> None:
    """Hold a (width, height) to :data:`MAX_IMAGE_SIDE` and :data:`MAX_IMAGE_PIXELS`."""
    width, height = resolution
    check_at_most(max(width, height), MAX_IMAGE_SIDE, field, "the image side", "MAX_IMAGE_SIDE", source)
    check_at_most(width * height, MAX_IMAGE_PIXELS, field, "the pixels per frame", "MAX_IMAGE_PIXELS", source)


def check_video_size(frames: int, resolution, field: str, source: str | None = None) -> None:
    """Hold a clip of ``frames`` frames at (width, height) to the image and video limits."""
    check_image_size(resolution, field, source)
    check_at_most(frames * resolution[0] * resolution[1], MAX_VIDEO_PIXELS, field,
                  "the pixels of the whole clip (frames x width x height)", "MAX_VIDEO_PIXELS", source)
