"""The tar shards that hold dataset samples (WebDataset layout): written with fixed
metadata, so a shard is byte-identical whoever wrote it, and read as a stream."""

from __future__ import annotations

import io
import tarfile
from typing import BinaryIO, Iterator


def write_tar(stream: BinaryIO, members: Iterator[tuple[str, bytes]]) -> None:
    """Append ``(name, data)`` members to an uncompressed tar ``stream`` with fixed
    metadata (mtime 0, uid/gid 0, mode 0644), then the end-of-archive blocks."""
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))


def read_tar(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """``(name, data)`` of every regular member of a tar ``stream``, in order."""
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.isfile():
                yield info.name, archive.extractfile(info).read()


def split_member(name: str) -> tuple[str, str]:
    """WebDataset's split of a member name into sample key and field:
    ``000042.rgb.003.png`` -> (``000042``, ``rgb.003.png``)."""
    key, _, field = name.partition(".")
    return key, field
