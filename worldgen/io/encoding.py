"""Byte-exact encodings of arrays, images and documents: what dataset members and output
files are made of.

Every encoder here is a pure function of its input: no timestamps, no user or host names,
fixed compression settings. That is what makes an episode byte-identical however many
workers produced it (docs/design.md, "Randomness").

Member kinds follow WebDataset's convention, the part of a member name after the sample
key: ``*.png`` (uint8 image, lossless), ``*.npz`` (numpy arrays, zip-deflated, no pickle),
``*.json``, ``*.mp4`` (H.264 preview), ``*.yaml`` (text)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
from PIL import Image

from worldgen.io.video import to_uint8

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """A compressed ``.npz`` of ``arrays`` (what ``np.savez_compressed`` writes, minus the
    wall-clock time numpy stamps on each entry). Read back with ``np.load``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, mode="w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` member (pickled objects refused)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG of ``image``: float (3, H, W) in [0, 1] (rounded to uint8) or uint8 (H, W, 3)."""
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.floating):
        image = to_uint8(image).transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def load_png(data: bytes) -> np.ndarray:
    """uint8 (H, W, 3) RGB of a PNG member."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def json_bytes(doc: Any) -> bytes:
    """Compact UTF-8 JSON (keys in insertion order, floats in Python's shortest repr)."""
    return json.dumps(doc, separators=(",", ":")).encode()
