"""A dataset on disk: WebDataset-layout tar shards plus ``manifest.json``, written so that
killing the writer at any moment loses nothing that was finished and corrupts nothing.

Layout of a dataset folder::

    manifest.json            what is complete: family, config, seeds, content, shards, rejected episodes
    shard-000000.tar         episodes 0 .. S-1 (S = shard_size), one sample per episode,
    shard-000001.tar         members ``{key}.{field}`` (see worldgen.pipelines.dataset_episode)
    .staging/000042.tar      a finished episode whose shard is not complete yet
    .staging/000043.rejected.json

Episode ``i`` always lands in shard ``i // shard_size`` at the same place, so a dataset
does not depend on the order in which workers finished. Every file is written under a
temporary name, flushed to disk and renamed: a file with its final name is complete.
A shard is sealed (written, renamed, recorded in the manifest, then its staged episodes
deleted) as soon as all its episodes are staged; on restart, shards the manifest does not
list are dropped and rebuilt from the staging folder, and temporary files are removed."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worldgen.dataset.shards import read_tar, write_tar
from worldgen.scene import SceneError

FORMAT = "worldgen.dataset/1"
MANIFEST = "manifest.json"
STAGING = ".staging"
ALL, STATE = "all", "state"  # a dataset's content: every modality, or the simulated state only (--states-only)


@dataclass
class Episode:
    """The outcome of one episode: its members (name after the key -> bytes), or the
    reason it was rejected (``members`` is then empty)."""

    index: int
    seed: int
    members: dict[str, bytes]
    rejected: str | None = None
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return episode_key(self.index)


def episode_key(index: int) -> str:
    """WebDataset sample key of episode ``index`` (no dots: WebDataset splits on them)."""
    return f"{index:06d}"


def dataset_content(manifest: dict) -> str:
    """``"all"`` or ``"state"``; manifests written before content was recorded hold everything."""
    return manifest.get("content", ALL)


def shard_name(shard: int) -> str:
    return f"shard-{shard:06d}.tar"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sample_digest(members: list[tuple[str, bytes]]) -> str:
    """sha256 of one sample: its member names and bytes, in order."""
    digest = hashlib.sha256()
    for name, data in members:
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class DatasetWriter:
    """Writes episodes ``0 .. episodes-1`` of one dataset into ``root``.

    ``header``: what defines the dataset (family name and config, split, first seed,
    dynamics, content); re-opening a folder whose manifest has another header, episode
    count or shard size is an error rather than a silent mix, and leaves the folder as it was."""

    def __init__(self, root: Path, header: dict, episodes: int, shard_size: int):
        self.root, self.staging = Path(root), Path(root) / STAGING
        self.episodes, self.shard_size = episodes, shard_size
        identity = {"format": FORMAT, **header, "episodes": episodes, "shard_size": shard_size}
        manifest_path = self.root / MANIFEST
        if manifest_path.is_file():
            try:
                self.manifest = json.loads(manifest_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise SceneError("", "unreadable manifest; this folder is not a worldgen dataset", str(manifest_path)) from None
            self.manifest.setdefault("content", dataset_content(self.manifest))
            theirs = {k: self.manifest.get(k) for k in identity}
            if theirs != identity:
                diff = [k for k in identity if theirs[k] != identity[k]]
                kind = {ALL: "a full", STATE: "a states-only (--states-only)"}
                what = f"{kind.get(theirs['content'], 'another')} dataset" if "content" in diff else "another dataset"
                raise SceneError("", f"holds {what} (its {', '.join(diff)} differ); use a new folder "
                                 "or re-run the command that made it", str(self.root))
        else:
            self.manifest = {**identity, "complete": False, "shards": [], "rejected": []}
        self.staging.mkdir(parents=True, exist_ok=True)
        if not manifest_path.is_file():
            self._write_manifest()
        self._clean()

    # --- what is done -------------------------------------------------------------------

    @property
    def num_shards(self) -> int:
        return -(-self.episodes // self.shard_size)

    def _sealed(self) -> set[int]:
        return {s["shard"] for s in self.manifest["shards"]}

    def _staged(self, index: int) -> Path | None:
        key = episode_key(index)
        for path in (self.staging / f"{key}.tar", self.staging / f"{key}.rejected.json"):
            if path.is_file():
                return path
        return None

    def pending(self) -> list[int]:
        """Episodes neither sealed in a shard nor staged, in order."""
        sealed = self._sealed()
        return [i for i in range(self.episodes) if i // self.shard_size not in sealed and self._staged(i) is None]

    def done_count(self) -> int:
        return self.episodes - len(self.pending())

    def _clean(self) -> None:
        """Remove temporary files and shards that the manifest does not vouch for."""
        for path in list(self.root.glob(".*.tmp")) + list(self.staging.glob(".*.tmp")):
            path.unlink()
        sealed = {s["name"] for s in self.manifest["shards"]}
        for path in self.root.glob("shard-*.tar"):
            if path.name not in sealed:
                path.unlink()
        self.seal_ready()
        self._tidy()

    # --- writing -----------------------------------------------------------------------

    def stage(self, episode: Episode) -> None:
        """Store a finished (or rejected) episode until its shard is complete."""
        if episode.rejected is not None:
            record = {"key": episode.key, "index": episode.index, "seed": episode.seed, "reason": episode.rejected}
            self._atomic(self.staging / f"{episode.key}.rejected.json", lambda f: f.write(json.dumps(record).encode()))
        else:
            members = [(f"{episode.key}.{field}", data) for field, data in episode.members.items()]
            self._atomic(self.staging / f"{episode.key}.tar", lambda f: write_tar(f, iter(members)))
        self.seal_ready()

    def seal_ready(self) -> None:
        """Seal every shard whose episodes are all staged."""
        sealed = self._sealed()
        for shard in range(self.num_shards):
            indices = range(shard * self.shard_size, min((shard + 1) * self.shard_size, self.episodes))
            if shard not in sealed and all(self._staged(i) is not None for i in indices):
                self._seal(shard, list(indices))

    def _seal(self, shard: int, indices: list[int]) -> None:
        staged = [self._staged(i) for i in indices]
        samples, rejected, members = [], [], []
        for index, path in zip(indices, staged):
            if path.suffix == ".json":
                rejected.append(json.loads(path.read_text()))
                continue
            with open(path, "rb") as f:
                sample = list(read_tar(f))
            seed = json.loads(dict(sample)[f"{episode_key(index)}.metadata.json"])["seed"]
            samples.append({"key": episode_key(index), "index": index, "seed": seed, "sha256": sample_digest(sample)})
            members.extend(sample)
        path = self.root / shard_name(shard)
        self._atomic(path, lambda f: write_tar(f, iter(members)))
        entry = {"shard": shard, "name": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
                 "episodes": [indices[0], indices[-1] + 1], "samples": samples}
        self.manifest["shards"] = sorted(self.manifest["shards"] + [entry], key=lambda s: s["shard"])
        self.manifest["rejected"] = sorted(self.manifest["rejected"] + rejected, key=lambda r: r["index"])
        self.manifest["complete"] = len(self.manifest["shards"]) == self.num_shards
        self._write_manifest()
        for path in staged:
            path.unlink()
        self._tidy()

    def _tidy(self) -> None:
        """A complete dataset keeps no (empty) staging folder."""
        if self.manifest["complete"] and self.staging.is_dir() and not any(self.staging.iterdir()):
            self.staging.rmdir()

    def _write_manifest(self) -> None:
        self._atomic(self.root / MANIFEST, lambda f: f.write(json.dumps(self.manifest, indent=1).encode()))

    def _atomic(self, path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
        """Write ``path`` through ``.NAME.tmp``, fsync, rename; a full disk is a clear error."""
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SceneError("", f"disk full while writing {path.name}; {self.done_count()} of {self.episodes} "
                                 "episodes are safely stored: free some space and re-run the same command to resume",
                                 str(self.root)) from None
            raise
