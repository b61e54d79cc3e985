"""``worldgen train dynamics | renderer [KEY=VALUE ...]``: the command line of
:mod:`worldgen.pipelines.train_dynamics` and :mod:`worldgen.pipelines.train_renderer`."""

from __future__ import annotations


def add_train_parser(subparsers) -> None:
    """Register ``worldgen train dynamics``."""
    train = subparsers.add_parser("train", help="train models", description="Train the project's models.")
    sub = train.add_subparsers(dest="train_command", required=True, metavar="MODEL")
    p = sub.add_parser(
        "dynamics", help="train the learned world model on pybullet trajectories",
        description="Train the learned world model (a graph network over bodies, floor, lights and humanoid links) "
        "on trajectories of `worldgen dataset generate` folders. Config: configs/train/dynamics.yaml; override "
        "anything in Hydra syntax, e.g. data=DIR validation=DIR train.steps=2000 model.latent=64. Resumes from "
        "RUN_DIR/checkpoint when present; writes RUN_DIR/loss.png and the final model to `output`.",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (Hydra syntax)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train_dynamics)

    p = sub.add_parser(
        "renderer", help="train the video diffusion renderer on rendered datasets",
        description="Train the ControlNet-style video diffusion renderer on `worldgen dataset generate` folders "
        "(rgb, control stack, state tokens). Config: configs/train/renderer.yaml; model=tiny|small|base picks a "
        "preset, then override anything in Hydra syntax, e.g. data=[DIR,...] train.steps=2000 model.width=96. "
        "Resumes from RUN_DIR/checkpoint when present; writes RUN_DIR/loss.png, validation clips in "
        "RUN_DIR/validation/ and the final renderer (moving average of the weights) to `output`.",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (Hydra syntax)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train_renderer)


def cmd_train_dynamics(args) -> int:
    from worldgen.pipelines.train_dynamics import load_config, run_training

    config = load_config(args.overrides)
    output = run_training(config, progress=not args.quiet)
    print(f"wrote {output}/config.json, {output}/model.safetensors, {output}/training.json; "
          f"curves in {config['run_dir']}/loss.png")
    return 0


def cmd_train_renderer(args) -> int:
    from worldgen.pipelines.train_renderer import load_config, run_training

    config = load_config(args.overrides)
    output = run_training(config, progress=not args.quiet)
    print(f"wrote the renderer to {output} (training.json beside it); curves in {config['run_dir']}/loss.png, "
          f"validation clips in {config['run_dir']}/validation/")
    return 0
