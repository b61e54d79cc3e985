"""``worldgen dataset generate | inspect | export``: the command-line side of
:mod:`worldgen.dataset`. User mistakes become one-line :class:`SceneError` s (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

from worldgen.commands.arguments import parse_count
from worldgen.scene import SceneError
from worldgen.scene.limits import MAX_EPISODES, MAX_WORKERS, check_at_most


def add_dataset_parser(subparsers) -> None:
    """Add ``dataset`` and its sub-commands to the CLI's sub-parsers."""
    from worldgen.dataset.family import bundled_families

    dataset = subparsers.add_parser("dataset", help="generate, inspect and export synthetic training sets",
                                    description="Synthetic training sets from randomised scene families.")
    sub = dataset.add_subparsers(dest="dataset_command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "generate", help="generate (or finish) a dataset of a scene family",
        description="Simulate and render episodes 0..N-1 of a scene family (episode i uses seed "
        "first_seed + i of the split) and write them as WebDataset tar shards with manifest.json. "
        "Re-running the same command after an interruption (even kill -9) finishes the dataset without "
        f"redoing finished episodes. Bundled families: {', '.join(bundled_families())}.",
    )
    p.add_argument("family", nargs="+", metavar="FAMILY [OVERRIDE ...]",
                   help="a bundled family name or a family YAML, then overrides such as num_frames=48 resolution=[64,64]")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="dataset folder")
    p.add_argument("--episodes", type=int, required=True, metavar="N", help="number of episodes")
    p.add_argument("--split", default="train", help="train (default), validation or test: which seed range")
    p.add_argument("--workers", metavar="K",
                   help=f"worker processes, one core each, at most {MAX_WORKERS:,} (default: all cores); more than one "
                   "runs on Ray")
    p.add_argument("--ray-address", metavar="ADDR", help="run on this Ray cluster instead of a private local Ray "
                   "instance: the address `ray start --head` prints (HEAD_IP:6379), auto, or ray://HEAD_IP:10001 (needs "
                   "ray[client]); a cluster with token authentication needs its token here (README: Generating on a Ray "
                   "cluster)")
    p.add_argument("--shard-size", default="16", metavar="S", help="episodes per tar shard (default 16)")
    p.add_argument("--states-only", action="store_true",
                   help="simulate without rendering: episodes hold only trajectory, events, scene and reduced "
                   "metadata (for training a dynamics model; readers offer the 'state' modality only)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("inspect", help="counts, rejected episodes, statistics and a contact sheet",
                       description="Print counts, rejected episodes and per-modality statistics (depth range, "
                       "objects per frame, visibility, motion) and write DIR/inspect.json and DIR/inspect.png "
                       "(a contact sheet of random episodes).")
    p.add_argument("dataset", metavar="DIR")
    p.add_argument("--sample", default="64", metavar="N",
                   help="episodes the statistics look at (default 64; 0: counts only)")
    p.add_argument("--verify", action="store_true", help="check every shard's sha256 against the manifest first")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("export", help="write one episode as plain files",
                       description="Write one episode as plain files: RGB PNG frames, mp4 previews of every "
                       "modality, metadata/events/trajectory JSON, arrays as npz (a states-only episode: its "
                       "members only).")
    p.add_argument("dataset", metavar="DIR")
    p.add_argument("--episode", type=int, required=True, metavar="K", help="episode index")
    p.add_argument("-o", "--output", metavar="OUT", required=True)
    p.set_defaults(func=cmd_export)


def cmd_generate(args) -> int:
    from worldgen.dataset.family import load_family
    from worldgen.pipelines.dataset_generation import generate

    workers = parse_count(args.workers, "--workers", 1, None) if args.workers is not None else \
        min(os.cpu_count() or 1, MAX_WORKERS)
    check_at_most(workers, MAX_WORKERS, "--workers", "the number of worker processes", "MAX_WORKERS", "command line")
    shard_size = parse_count(args.shard_size, "--shard-size", 1, MAX_EPISODES)
    family, config, _ = load_family(args.family[0], args.family[1:])
    report = generate(family, config, Path(args.output), args.episodes, split=args.split, workers=workers,
                      ray_address=args.ray_address, shard_size=shard_size, progress=not args.quiet,
                      states_only=args.states_only)
    print(report.summary())
    return 0


def _open(folder: str, verify: bool = False) -> Path:
    """The dataset folder, its manifest checked (and with ``verify`` every shard's sha256);
    a damaged dataset is a one-line DatasetFormatError (a SceneError) naming the file."""
    from worldgen.dataset.reader import read_manifest, verify_shard

    root = Path(folder)
    manifest = read_manifest(root)
    if verify:
        for shard in manifest["shards"]:
            verify_shard(root, shard)
    return root


def cmd_inspect(args) -> int:
    from worldgen.dataset.inspect import inspect_dataset

    sample = parse_count(args.sample, "--sample", 0, None)
    root = _open(args.dataset, args.verify)
    text, _, _ = inspect_dataset(root, sample=sample)
    print(("all shard checksums match the manifest\n" if args.verify else "") + text)
    return 0


def cmd_export(args) -> int:
    from worldgen.dataset.inspect import export_episode

    root = _open(args.dataset)
    try:
        files = export_episode(root, args.episode, Path(args.output))
    except KeyError as err:
        raise SceneError("--episode", err.args[0], str(root)) from None
    print(f"wrote {len(files)} files to {args.output}")
    return 0
