"""What every benchmark records about the machine, and how it writes its JSON result."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path


def machine() -> dict:
    """The machine a figure was measured on."""
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(), "python": platform.python_version()}


def best_seconds_interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Shortest wall time of each of ``runs`` over ``repeats`` rounds, every round calling
    each run once in turn, so that all of them sample the same spells of a noisy machine
    (a ratio is then not one run's fast spell against another's slow one)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``run()`` (machines here are noisy)."""
    return best_seconds_interleaved({"run": run}, repeats)["run"]


def write_results(path: str | Path, results: dict) -> Path:
    """Write ``results`` as indented JSON to ``path`` (folders created) and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return path
