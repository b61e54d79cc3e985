"""Option parsing and the command groups of the ``worldgen`` CLI: argparse only, one module per
group; what a command runs lives in :mod:`worldgen.pipelines` and :mod:`worldgen.eval`."""
