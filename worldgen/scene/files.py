"""Checks that a file named in a scene is what it claims: a texture that an image reader
opens, a mesh file that a mesh reader turns into triangles, each within
``MAX_ASSET_FILE_BYTES`` (and a texture within ``MAX_TEXTURE_PIXELS``). A file that is not
is a one-line :class:`SceneError` at validation, before a run starts."""

from __future__ import annotations

from pathlib import Path

from worldgen.scene.errors import SceneError
from worldgen.scene.limits import MAX_ASSET_FILE_BYTES, MAX_TEXTURE_PIXELS, check_at_most

IMAGE_FORMATS = ("PNG", "JPEG")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _check_bytes(path: Path, field: str) -> None:
    check_at_most(path.stat().st_size, MAX_ASSET_FILE_BYTES, field, f"the size of {path.name} in bytes",
                  "MAX_ASSET_FILE_BYTES")


def check_image_file(path: Path, field: str) -> None:
    """``path`` is a PNG or JPEG image of at most ``MAX_TEXTURE_PIXELS``, whole (its
    structure and checksums verified without decoding the pixels)."""
    from PIL import Image

    _check_bytes(path, field)
    try:
        with Image.open(path) as image:
            kind, (width, height) = image.format, image.size
            if kind not in IMAGE_FORMATS:
                raise SceneError(field, f"{path.name} is a {kind} image; expected PNG or JPEG")
            check_at_most(width * height, MAX_TEXTURE_PIXELS, field, f"the pixels of {path.name}",
                          "MAX_TEXTURE_PIXELS")
            image.verify()
    except SceneError:
        raise
    except Exception as err:  # any failure of the image reader on a user's file
        raise SceneError(field, f"{path.name} is not a readable PNG or JPEG image ({_first_line(err)})") from None


def check_mesh_file(path: Path, field: str) -> None:
    """``path`` loads (trimesh) as a mesh with at least one triangle (the reader drops
    faces with vertices that are not finite)."""
    import trimesh

    _check_bytes(path, field)
    try:
        mesh = trimesh.load(path, force="mesh")
        faces = len(mesh.faces)
    except Exception as err:  # any failure of the mesh reader on a user's file
        raise SceneError(field, f"{path.name} is not a readable mesh file ({_first_line(err)})") from None
    if faces == 0:
        raise SceneError(field, f"{path.name} holds no triangles; expected a mesh")
