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
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worldgen.dataset.shards import read_tar, write_tar
from worldgen.scene import SceneError
from worldgen.scene.limits import MAX_MANIFEST_BYTES

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
        digest_member(digest, name, data)
    return digest.hexdigest()


def digest_member(digest, name: str, data: bytes) -> None:
    """Add one member (full name, bytes) to a sample's running :func:`sample_digest`."""
    digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
    digest.update(data)


class DatasetFormatError(SceneError):
    """A dataset folder, manifest or shard that is not what it should be: one line,
    ``PATH: FIELD: what is wrong`` (the field a path inside the manifest, a sample or a
    member; none when the whole file is wrong), exit code 2 on the command line."""

    def __init__(self, path: str | Path, message: str, field: str = ""):
        super().__init__(field, message, str(path))


_EXPECTED = "expected the JSON manifest of a worldgen dataset"
_SHORT = reprlib.Repr()  # a wrong value, quoted in full up to 100 characters
_SHORT.maxstring = _SHORT.maxother = 100
_SHA256 = re.compile(r"[0-9a-f]{64}")


def load_manifest(root: str | Path) -> dict:
    """The manifest of the dataset folder ``root``, checked: a :class:`DatasetFormatError`
    naming the file (and the field) when it is missing, too large, not UTF-8 JSON or not
    shaped as :class:`DatasetWriter` writes it."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetFormatError(path, "no manifest; not a worldgen dataset folder")
    with open(path, "rb") as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise DatasetFormatError(path, f"the manifest is over the limit of {MAX_MANIFEST_BYTES:,} bytes "
                                 f"(MAX_MANIFEST_BYTES in worldgen/scene/limits.py); {_EXPECTED}")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DatasetFormatError(path, f"unreadable manifest (not UTF-8: byte 0x{data[err.start]:02x} at offset "
                                 f"{err.start}); {_EXPECTED}") from None
    except json.JSONDecodeError as err:
        raise DatasetFormatError(path, f"unreadable manifest ({err.msg} at line {err.lineno}, column {err.colno}); "
                                 f"{_EXPECTED}") from None
    except (ValueError, RecursionError) as err:  # a number of too many digits, arrays nested thousands deep
        raise DatasetFormatError(path, f"unreadable manifest ({str(err).splitlines()[0][:100]}); {_EXPECTED}") from None
    check_manifest(manifest, path)
    return manifest


def check_manifest(manifest, path: str | Path) -> None:
    """Raise a :class:`DatasetFormatError` on the first field of ``manifest`` that readers
    rely on and that is not what :class:`DatasetWriter` writes there."""

    def fail(field: str, expected: str, value) -> None:
        raise DatasetFormatError(path, f"expected {expected}, got {_SHORT.repr(value)}", field)

    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    def fields(record, where: str, kinds: dict) -> None:
        if not isinstance(record, dict):
            fail(where, "a JSON object", record)
        for key, (ok, expected) in kinds.items():
            if key not in record and not ok(None):
                raise DatasetFormatError(path, f"expected {expected}; the field is missing", f"{where}.{key}" if where else key)
            if not ok(record.get(key)):
                fail(f"{where}.{key}" if where else key, expected, record[key])

    text, count = (lambda v: isinstance(v, str), "a string"), (whole, "a whole number >= 0")
    digest = (lambda v: isinstance(v, str) and _SHA256.fullmatch(v) is not None, "a sha256 (64 hexadecimal digits)")
    listed = (lambda v: isinstance(v, list), "a list")
    if not isinstance(manifest, dict):
        fail("", "a JSON object (the manifest of a worldgen dataset)", manifest)
    fields(manifest, "", {"format": (lambda v: v == FORMAT, repr(FORMAT)), "family": text, "split": text,
                          "episodes": count, "complete": (lambda v: isinstance(v, bool), "true or false"),
                          "content": (lambda v: v in (None, ALL, STATE), f"{ALL!r} or {STATE!r}"),
                          "shards": listed, "rejected": listed})
    for i, shard in enumerate(manifest["shards"]):
        fields(shard, f"shards[{i}]", {"shard": count, "sha256": digest, "bytes": count, "samples": listed})
        if shard.get("name") != shard_name(shard["shard"]):
            fail(f"shards[{i}].name", repr(shard_name(shard["shard"])), shard.get("name"))
        for j, sample in enumerate(shard["samples"]):
            fields(sample, f"shards[{i}].samples[{j}]", {"index": count, "seed": count, "sha256": digest})
            if sample.get("key") != episode_key(sample["index"]):
                fail(f"shards[{i}].samples[{j}].key", repr(episode_key(sample["index"])), sample.get("key"))
    for i, record in enumerate(manifest["rejected"]):
        fields(record, f"rejected[{i}]", {"key": text, "index": count, "seed": count, "reason": text})


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
            self.manifest = load_manifest(self.root)
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
