"""What every benchmark records about the machine, and how it writes its JSON result."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path


def machine() -> dict:
    """The machine a figure was measured on."""
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(), "python": platform.python_version()}


def best_seconds(run, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``run()`` (machines here are noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def write_results(path: str | Path, results: dict) -> Path:
    """Write ``results`` as indented JSON to ``path`` (folders created) and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return path
