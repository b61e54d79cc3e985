"""Reading worldgen datasets: a streaming PyTorch ``IterableDataset`` over the tar shards
and a map-style ``Dataset`` for datasets small enough to index.

Both yield dicts of tensors for a clip window of ``clip_length`` consecutive frames
(T below) and the requested ``modalities``:

================  ========================  =========================================
modality          tensor(s)                 shape, dtype, range
================  ========================  =========================================
rgb               ``rgb``                   (T, 3, H, W) float32 in [0, 1]
depth             ``depth``                 (T, 1, H, W) float32 metres, 0 = background
segmentation      ``segmentation``          (T, H, W) int64 instance ids >= 0
normal            ``normal``                (T, 3, H, W) float32 unit world normals
flow              ``forward_flow``,         (T, 2, H, W) float32 pixels (x, y)
                  ``backward_flow``
                  ``forward_occluded``,     (T, H, W) bool (True = no correspondence)
                  ``backward_occluded``
object_coords     ``object_coordinates``    (T, 3, H, W) float32 metres, local frame
depth_map         ``depth_map``             (T, 1, H, W) float32 in [0, 1]
controls          ``controls``              (T, 13, H, W) float32: the control stack in
                                            the layout of :mod:`control.stack`
                  ``control_channels``      tuple of the 13 channel names
skeleton          ``keypoints_3d``          (T, P, 18, 3) float32 metres, world
                  ``keypoints_2d``          (T, P, 18, 2) float32 pixels
                  ``keypoints_visible``     (T, P, 18) bool
                  ``skeleton_map``          (T, 3, H, W) float32 in [0, 1]
camera            ``K``, ``world_to_camera``  (T, 3, 3), (T, 4, 4) float32
state             ``body_position`` ...     (T, B, ...) float32: every SceneState array
================  ========================  =========================================

plus ``key`` (str), ``seed`` (int), ``start`` (int, first frame of the window) and
``metadata`` (the episode's metadata.json as a dict: camera, per-instance attributes and
per-frame poses, boxes, visibility; see :func:`worldgen.pipelines.dataset_episode.metadata`).
A states-only dataset (``--states-only``, manifest content ``"state"``) offers only the
``state`` modality and reduced metadata (:func:`worldgen.pipelines.dataset_episode.state_metadata`);
asking it for another modality is a ValueError naming the folder and the modality.
The window's last frame has forward flow 0 and is all occluded (the flow leaves the clip),
as in the episode itself, in the ``flow`` and the ``controls`` modalities alike; its first
frame likewise for backward flow.

A damaged dataset is a :class:`DatasetFormatError` (one line naming the file, the field
or sample and what is wrong), never a stray exception: the manifest is checked when a
reader opens it, every shard's size against the manifest and its tar index when it is
indexed, and each sample's bytes against its sha256 in the manifest the first time it is
read (``verify``: every shard's sha256 and every sample up front).
"""

from __future__ import annotations

import hashlib
import json
import random
import tarfile
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from control.stack import MAP_CHANNELS, read_controls
from worldgen.dataset.shards import read_tar, split_member
from worldgen.dataset.store import ALL, STATE, DatasetFormatError, dataset_content, digest_member, load_manifest, sha256_file
from worldgen.io.encoding import load_npz, load_png

MODALITIES = ("rgb", "depth", "segmentation", "normal", "flow", "object_coords", "depth_map", "controls",
              "skeleton", "camera", "state")
_MEMBERS = {  # which members each modality reads
    "rgb": ("rgb.",), "depth": ("depth.npz",), "segmentation": ("segmentation.npz",), "normal": ("normal.npz",),
    "flow": ("flow.npz",), "object_coords": ("object_coordinates.npz",), "depth_map": ("controls.npz",), "controls": ("controls.npz",),
    "skeleton": ("skeleton.npz", "controls.npz"), "camera": ("camera.npz",), "state": ("trajectory.npz", "trajectory.json"),
}
CONTENT_MODALITIES = {ALL: MODALITIES, STATE: ("state",)}  # what a dataset of each content offers
_DECODE_ERRORS = (KeyError, IndexError, TypeError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def read_manifest(root: str | Path) -> dict:
    """The manifest of the dataset in ``root``, checked (:func:`~worldgen.dataset.store.load_manifest`)."""
    return load_manifest(root)


def check_shard_file(root: Path, shard: dict) -> Path:
    """The path of a shard the manifest lists; a :class:`DatasetFormatError` when it is
    missing or its size is not the manifest's (truncated, or appended to)."""
    path = Path(root) / shard["name"]
    if not path.is_file():
        raise DatasetFormatError(path, "missing shard (the manifest lists it)")
    size = path.stat().st_size
    if size != shard["bytes"]:
        raise DatasetFormatError(path, f"the shard is {size:,} bytes; the manifest says {shard['bytes']:,} "
                                 "(truncated or modified shard)")
    return path


def verify_shard(root: Path, shard: dict) -> None:
    """Raise :class:`DatasetFormatError` unless the shard's sha256 matches the manifest."""
    path = Path(root) / shard["name"]
    if not path.is_file():
        raise DatasetFormatError(path, "missing shard (the manifest lists it)")
    if sha256_file(path) != shard["sha256"]:
        raise DatasetFormatError(path, "sha256 mismatch (corrupt or modified shard)")


def _unreadable_tar(path: Path, err: BaseException) -> DatasetFormatError:
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(":")
    return DatasetFormatError(path, f"not a readable tar shard ({reason}); expected the shard the manifest describes")


def _mismatch(path: Path, key: str) -> DatasetFormatError:
    return DatasetFormatError(path, "its bytes do not match its sha256 in the manifest (corrupt or modified shard)",
                              f"sample {key}")


def _undecodable(path: Path, key: str, err: BaseException) -> DatasetFormatError:
    reason = f"no {err.args[0]!r}" if isinstance(err, KeyError) and err.args else \
        f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}"
    return DatasetFormatError(path, f"cannot decode it ({reason})", f"sample {key}")


def decode_sample(members: dict[str, bytes], modalities: tuple[str, ...], start: int, length: int) -> dict:
    """Tensors of frames ``start .. start+length-1`` of one sample (members by field name)."""
    window = slice(start, start + length)
    out: dict = {}
    loaded: dict[str, dict[str, np.ndarray]] = {}

    def arrays(field: str) -> dict[str, np.ndarray]:
        if field not in loaded:
            loaded[field] = load_npz(members[field])
        return loaded[field]

    for modality in modalities:
        if modality == "rgb":
            frames = [load_png(members[f"rgb.{t:03d}.png"]) for t in range(start, start + length)]
            out["rgb"] = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
        elif modality == "depth":
            out["depth"] = torch.from_numpy(arrays("depth.npz")["depth"][window])[:, None]
        elif modality == "segmentation":
            out["segmentation"] = torch.from_numpy(arrays("segmentation.npz")["instance"][window].astype(np.int64))
        elif modality == "normal":
            out["normal"] = torch.from_numpy(arrays("normal.npz")["normal"][window].astype(np.float32))
        elif modality == "flow":
            flow = arrays("flow.npz")
            for name in ("forward", "backward"):
                out[f"{name}_flow"] = torch.from_numpy(flow[name][window].copy())
                out[f"{name}_occluded"] = torch.from_numpy(flow[f"{name}_occluded"][window].copy())
            out["forward_flow"][-1], out["forward_occluded"][-1] = 0, True
            out["backward_flow"][0], out["backward_occluded"][0] = 0, True
        elif modality == "object_coords":
            out["object_coordinates"] = torch.from_numpy(arrays("object_coordinates.npz")["coordinates"][window])
        elif modality == "depth_map":
            out["depth_map"] = torch.from_numpy(arrays("controls.npz")["maps"][window, :1]).float() / 255
        elif modality == "controls":
            stack, channels = read_controls(arrays("controls.npz"))
            stack = torch.from_numpy(stack[window].copy())
            stack[-1, MAP_CHANNELS:] = torch.tensor([0.0, 0.0, 1.0])[:, None, None]  # the flow leaves the window
            out["controls"], out["control_channels"] = stack, channels
        elif modality == "skeleton":
            skeleton = arrays("skeleton.npz")
            out["keypoints_3d"] = torch.from_numpy(skeleton["keypoints_3d"][window])
            out["keypoints_2d"] = torch.from_numpy(skeleton["keypoints_2d"][window])
            out["keypoints_visible"] = torch.from_numpy(skeleton["visible"][window])
            out["skeleton_map"] = torch.from_numpy(arrays("controls.npz")["maps"][window, 1:4]).float() / 255
        elif modality == "camera":
            camera = arrays("camera.npz")
            out["K"] = torch.from_numpy(camera["K"][window].astype(np.float32))
            out["world_to_camera"] = torch.from_numpy(camera["world_to_camera"][window].astype(np.float32))
        elif modality == "state":
            for name, array in arrays("trajectory.npz").items():
                out[name] = torch.from_numpy(array[window].astype(np.float32))
    return out


def _check_modalities(modalities, root: Path, manifest: dict) -> tuple[str, ...]:
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; expected some of {', '.join(MODALITIES)}")
    content = dataset_content(manifest)
    offered = CONTENT_MODALITIES.get(content, ())
    missing = [m for m in modalities if m not in offered]
    if missing:
        what = "a states-only dataset (generated with --states-only)" if content == STATE else f"content {content!r}"
        raise ValueError(f"{root}: no {', '.join(missing)} modality: {what} offers only {', '.join(offered) or 'nothing'}")
    return modalities


def _wanted(field: str, modalities: tuple[str, ...]) -> bool:
    return field == "metadata.json" or any(field.startswith(p) for m in modalities for p in _MEMBERS[m])


def _window(num_frames: int, clip_length: int | None, rng: random.Random | None) -> tuple[int, int]:
    length = num_frames if clip_length is None else clip_length
    if not 1 <= length <= num_frames:
        raise ValueError(f"clip_length must be in [1, {num_frames}] (the episodes' frame count), got {clip_length}")
    start = rng.randrange(num_frames - length + 1) if rng is not None else 0
    return start, length


def _finish(sample: dict, members: dict[str, bytes], modalities, clip_length, rng, path: Path) -> dict:
    """The decoded window of ``sample`` (read from the shard at ``path``); a
    DatasetFormatError naming the shard and sample when its members do not decode."""
    try:
        meta = json.loads(members["metadata.json"])
        frames = meta["num_frames"]
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
            raise ValueError(f"metadata.json num_frames is {frames!r}")
    except _DECODE_ERRORS as err:
        raise _undecodable(path, sample["key"], err) from None
    start, length = _window(frames, clip_length, rng)
    try:
        out = decode_sample(members, modalities, start, length)
    except _DECODE_ERRORS as err:
        raise _undecodable(path, sample["key"], err) from None
    out.update(key=sample["key"], seed=sample["seed"], start=start, metadata=meta)
    return out


class ShardStream(IterableDataset):
    """Streams samples from the shards of the dataset in ``root``.

    With several DataLoader workers each reads its own subset of shards (shard ``s`` goes
    to worker ``s % num_workers``). ``shuffle``: shards in a random order per epoch and
    samples through a buffer of ``shuffle_buffer``; each sample yields one random window of
    ``clip_length`` frames (None = whole episode, from frame 0). ``verify``: check each
    shard's sha256 against the manifest before reading it. ``seed`` makes the order and
    the windows reproducible (per epoch: call :meth:`set_epoch`)."""

    def __init__(self, root: str | Path, modalities=("rgb",), clip_length: int | None = None, shuffle: bool = True,
                 shuffle_buffer: int = 32, seed: int = 0, verify: bool = False):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        self.modalities = _check_modalities(modalities, self.root, self.manifest)
        self.clip_length, self.shuffle, self.buffer_size = clip_length, shuffle, shuffle_buffer
        self.seed, self.epoch, self.verify = seed, 0, verify

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = random.Random(hash((self.seed, self.epoch, worker)))
        shards = [s for s in self.manifest["shards"] if s["shard"] % workers == worker]
        if self.shuffle:
            rng.shuffle(shards)
        buffer: list[dict] = []
        for sample in self._samples(shards):
            if not self.shuffle:
                yield self._decode(sample, rng)
                continue
            buffer.append(sample)
            if len(buffer) >= self.buffer_size:
                yield self._decode(buffer.pop(rng.randrange(len(buffer))), rng)
        rng.shuffle(buffer)
        for sample in buffer:
            yield self._decode(sample, rng)

    def _samples(self, shards: list[dict]) -> Iterator[dict]:
        """The samples of each shard, once the whole shard is read and each sample's
        bytes match its digest in the manifest."""
        for shard in shards:
            if self.verify:
                verify_shard(self.root, shard)
            path = check_shard_file(self.root, shard)
            entries = {s["key"]: s for s in shard["samples"]}
            grouped: dict[str, dict[str, bytes]] = defaultdict(dict)
            digests: dict = {}
            try:
                with open(path, "rb") as f:
                    for name, data in read_tar(f):
                        key, field = split_member(name)
                        if key not in entries:
                            raise DatasetFormatError(path, "belongs to no sample the manifest lists", f"member {name}")
                        digest_member(digests.setdefault(key, hashlib.sha256()), name, data)
                        if _wanted(field, self.modalities):
                            grouped[key][field] = data
            except (tarfile.TarError, OSError) as err:
                raise _unreadable_tar(path, err) from None
            for key, entry in entries.items():
                if key not in digests:
                    raise DatasetFormatError(path, "not in the shard, which the manifest says holds it", f"sample {key}")
                if digests[key].hexdigest() != entry["sha256"]:
                    raise _mismatch(path, key)
            for key, members in grouped.items():
                yield {**entries[key], "shard": shard["name"], "members": members}

    def _decode(self, sample: dict, rng: random.Random) -> dict:
        return _finish(sample, sample["members"], self.modalities, self.clip_length, rng if self.shuffle else None,
                       self.root / sample["shard"])


class EpisodeDataset(Dataset):
    """Map-style access to the episodes of a (small) dataset: ``dataset[i]`` decodes the
    i-th stored episode (rejected ones are not stored). Member offsets are indexed once;
    a sample reads only the members its modalities need. ``clip_length`` with ``seed``
    picks a reproducible random window per index. Each sample's bytes are checked against
    its digest the first time it is read; ``verify`` checks every shard's sha256 and every
    sample's digest when the index is built."""

    def __init__(self, root: str | Path, modalities=("rgb",), clip_length: int | None = None, seed: int | None = None,
                 verify: bool = False):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        self.modalities = _check_modalities(modalities, self.root, self.manifest)
        self.clip_length, self.seed = clip_length, seed
        self.samples: list[dict] = []
        self._checked: set[int] = set()  # samples whose digest was checked
        for shard in self.manifest["shards"]:
            if verify:
                verify_shard(self.root, shard)
            path = check_shard_file(self.root, shard)
            offsets: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
            try:
                with tarfile.open(path, "r") as archive:
                    for info in archive.getmembers():
                        key, field = split_member(info.name)
                        offsets[key][field] = (info.offset_data, info.size)
            except (tarfile.TarError, OSError) as err:
                raise _unreadable_tar(path, err) from None
            for entry in shard["samples"]:
                if entry["key"] not in offsets:
                    raise DatasetFormatError(path, "not in the shard, which the manifest says holds it",
                                             f"sample {entry['key']}")
                self.samples.append({**entry, "shard": shard["name"], "offsets": offsets[entry["key"]]})
        if verify:
            for index in range(len(self.samples)):
                self._read(index, lambda field: False)

    def __len__(self) -> int:
        return len(self.samples)

    def _read(self, index: int, wanted: Callable[[str], bool]) -> dict[str, bytes]:
        """The stored bytes of the ``wanted`` fields of sample ``index``, in stored order;
        on its first read every member is read and the sample's digest checked."""
        entry = self.samples[index]
        path = self.root / entry["shard"]
        digest = hashlib.sha256() if index not in self._checked else None
        members = {}
        try:
            with open(path, "rb") as f:
                for field, (offset, size) in entry["offsets"].items():
                    if digest is not None or wanted(field):
                        f.seek(offset)
                        data = f.read(size)
                        if digest is not None:
                            digest_member(digest, f"{entry['key']}.{field}", data)
                        if wanted(field):
                            members[field] = data
        except OSError as err:
            raise DatasetFormatError(path, f"cannot read it ({err.strerror or err})", f"sample {entry['key']}") from None
        if digest is not None:
            if digest.hexdigest() != entry["sha256"]:
                raise _mismatch(path, entry["key"])
            self._checked.add(index)
        return members

    def raw_members(self, index: int, all_fields: bool = True) -> dict[str, bytes]:
        """The stored bytes of sample ``index`` by field name (all of them, or only those
        the modalities need), in stored order."""
        return self._read(index, lambda field: all_fields or _wanted(field, self.modalities))

    def trajectory(self, index: int):
        """The :class:`~simulation.state.Trajectory` of sample ``index`` (its trajectory
        members only); a DatasetFormatError when the episode has none."""
        from simulation.state import Trajectory

        entry = self.samples[index]
        path = self.root / entry["shard"]
        fields = ("trajectory.json", "trajectory.npz")
        for field in fields:
            if field not in entry["offsets"]:
                raise DatasetFormatError(path, f"the episode has no {field}", f"sample {entry['key']}")
        members = self._read(index, lambda field: field in fields)
        try:
            return Trajectory.from_document(json.loads(members["trajectory.json"]), load_npz(members["trajectory.npz"]),
                                            f"{self.root}/{entry['key']}")
        except DatasetFormatError:
            raise
        except _DECODE_ERRORS as err:
            raise _undecodable(path, entry["key"], err) from None

    def __getitem__(self, index: int) -> dict:
        entry = self.samples[index]
        rng = random.Random(hash((self.seed, index))) if self.seed is not None and self.clip_length is not None else None
        return _finish(entry, self.raw_members(index, all_fields=False), self.modalities, self.clip_length, rng,
                       self.root / entry["shard"])
