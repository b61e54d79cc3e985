"""The ``worldgen`` command line: builds the parser from the command groups in
:mod:`worldgen.commands` and runs the chosen one.

Every user mistake (bad scene, bad override, unknown name) ends in one line on stderr
naming the file, the field and what was expected, and exit code 2; never a traceback."""

from __future__ import annotations

import argparse
import sys

from worldgen.commands.dataset import add_dataset_parser
from worldgen.commands.deflicker import add_deflicker_parser
from worldgen.commands.eval import add_eval_parser
from worldgen.commands.generate import add_generate_parser
from worldgen.commands.pose import add_pose_parser
from worldgen.commands.scene import add_scene_parsers
from worldgen.commands.train import add_train_parser
from worldgen.scene import SceneError


class _Parser(argparse.ArgumentParser):
    """argparse with its mistakes on one line (``error: command line: ...``, exit 2)
    instead of a usage block; ``-h`` still shows the usage."""

    def error(self, message: str):
        self.exit(2, f"error: command line: {self.prog}: {message} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="worldgen",
        description="Physics-conditioned world-model video generator: YAML scenes simulated with pybullet, "
        "rendered with mitsuba, with exact control maps and optical flow.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_generate_parser(sub)
    add_scene_parsers(sub)
    add_pose_parser(sub)
    add_dataset_parser(sub)
    add_eval_parser(sub)
    add_deflicker_parser(sub)
    add_train_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``worldgen`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SceneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
