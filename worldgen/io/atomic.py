"""Files and folders that appear whole or not at all."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def replace_folder(complete: Path, folder: Path) -> Path:
    """Put the finished folder ``complete`` in the place of ``folder``: the old one is moved
    aside first and deleted last, so a crash leaves one of the two whole."""
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        folder.rename(old)
    complete.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder
