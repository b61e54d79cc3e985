"""Dataset generation throughput with 1 and 2 workers, measured side by side in one run.

Both runs generate the same episodes (0 .. N-1 of the ``objects_drop`` family at its
defaults: 128^2, 24 frames at 12 fps, 8 spp, every modality) into fresh folders, end to
end through :func:`worldgen.dataset.generate.generate` (the 2-worker run includes starting
a local Ray instance, timed separately as ``ray_startup_s``). A worker is one process on
one core. Scaling efficiency = rate(2 workers) / (2 x rate(1 worker)). The two datasets
are also compared byte for byte.

    .venv/bin/python benchmarks/bench_dataset.py [--episodes 16] [--out benchmarks/results/bench_dataset.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from results_io import machine, write_results
from worldgen.dataset.family import load_family
from worldgen.dataset.generate import generate


def _ray_startup_seconds(workers: int) -> float:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.get([ray.remote(num_cpus=1)(lambda: None).remote() for _ in range(workers)])
    seconds = time.perf_counter() - start
    ray.shutdown()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="objects_drop")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--out", default="benchmarks/results/bench_dataset.json")
    args = parser.parse_args()

    family, config, _ = load_family(args.family)
    runs, folders = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        for workers in (1, 2):
            root = Path(tmp) / f"workers{workers}"
            report = generate(family, config, root, args.episodes, workers=workers, progress=False)
            runs[workers] = {"seconds": report.seconds, "episodes": report.produced,
                             "rejected": report.rejected,
                             "episodes_per_minute": 60 * report.produced / report.seconds,
                             "bytes": sum(p.stat().st_size for p in root.glob("shard-*.tar"))}
            folders[workers] = root
            print(f"{workers} worker(s): {runs[workers]['episodes_per_minute']:.1f} episodes/min "
                  f"({report.produced} episodes in {report.seconds:.1f} s)")
        identical = all((folders[1] / p.name).read_bytes() == p.read_bytes() for p in folders[2].iterdir() if p.is_file())
    efficiency = runs[2]["episodes_per_minute"] / (2 * runs[1]["episodes_per_minute"])
    result = {
        "family": args.family, "resolution": list(family.resolution), "num_frames": family.num_frames,
        "fps": family.fps, "spp": family.spp, "episodes": args.episodes,
        "workers": {str(k): v for k, v in runs.items()},
        "scaling_efficiency": efficiency,
        "ray_startup_s": _ray_startup_seconds(2),
        "byte_identical": identical,
        "machine": machine(),
        "goals": {"episodes_per_minute_2_workers": ">= 10", "scaling_efficiency": ">= 0.85"},
    }
    print(f"scaling efficiency 1 -> 2 workers: {efficiency:.1%}; byte-identical: {identical}")
    write_results(args.out, result)


if __name__ == "__main__":
    main()
