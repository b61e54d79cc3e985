"""COCO-18 pose from real images and video with MediaPipe BlazePose (one person per frame).

Uses the legacy ``mp.solutions.pose.Pose`` of mediapipe 0.10.21, whose wheel bundles the
BlazePose detector and the ``model_complexity=1`` ("full") landmark model, so it runs
offline; the lite (0) and heavy (2) models are not bundled and would be downloaded, so they
are not offered."""

from __future__ import annotations

import numpy as np

from simulation.quiet import quiet_stdout

# COCO-18 index -> BlazePose landmark index (mp.solutions.pose.PoseLandmark); the neck
# (None) is the midpoint of the shoulders, 11 and 12.
BLAZEPOSE_TO_COCO18: tuple[int | None, ...] = (
    0,  # nose
    None,  # neck
    12, 14, 16,  # right shoulder, elbow, wrist
    11, 13, 15,  # left shoulder, elbow, wrist
    24, 26, 28,  # right hip, knee, ankle
    23, 25, 27,  # left hip, knee, ankle
    5, 2,  # right eye, left eye
    8, 7,  # right ear, left ear
)
NECK = 1
SHOULDERS = (11, 12)


class PoseExtractor:
    """BlazePose on RGB frames, as COCO-18 keypoints in pixels.

    ``static_image_mode=True`` detects the person afresh in every frame (unrelated images);
    ``False`` tracks them from frame to frame (video, faster and steadier). A keypoint is
    valid when its BlazePose visibility is >= ``threshold`` and it lies inside the image;
    the neck is valid when both shoulders are. Use as a context manager (or call
    :meth:`close`) to free the MediaPipe graph."""

    def __init__(self, static_image_mode: bool = True, threshold: float = 0.5):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        import mediapipe as mp  # optional dependency (the `pose` extra), slow to import

        self.threshold = threshold
        # MediaPipe logs from C++ while its graph starts, asynchronously: a first (blank) frame
        # waits for the start, so the lines can be silenced.
        with quiet_stdout():
            self._pose = mp.solutions.pose.Pose(static_image_mode=static_image_mode, model_complexity=1)
            self._pose.process(np.zeros((64, 64, 3), dtype=np.uint8))

    def extract(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pose in ``frame``, uint8 ``(H, W, 3)`` RGB.

        Returns keypoints ``(18, 2)`` float32 pixel coordinates (x right, y down; MediaPipe's
        normalised coordinates times width and height), confidence ``(18,)`` float32 (the
        landmark visibility in [0, 1]; the neck takes the lower of the two shoulders) and
        valid ``(18,)`` bool. No person found: zeros and all invalid."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        height, width = frame.shape[:2]
        with quiet_stdout():  # more log lines when a model first runs on a person
            result = self._pose.process(frame)
        keypoints = np.zeros((18, 2), dtype=np.float32)
        confidence = np.zeros(18, dtype=np.float32)
        if result.pose_landmarks is None:
            return keypoints, confidence, np.zeros(18, dtype=bool)
        landmarks = np.array([(p.x * width, p.y * height, p.visibility) for p in result.pose_landmarks.landmark])
        for coco, blaze in enumerate(BLAZEPOSE_TO_COCO18):
            if blaze is not None:
                keypoints[coco], confidence[coco] = landmarks[blaze, :2], landmarks[blaze, 2]
        keypoints[NECK] = landmarks[list(SHOULDERS), :2].mean(axis=0)
        confidence[NECK] = landmarks[list(SHOULDERS), 2].min()
        inside = (keypoints >= 0).all(axis=1) & (keypoints[:, 0] < width) & (keypoints[:, 1] < height)
        return keypoints, confidence, (confidence >= self.threshold) & inside

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> PoseExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
