"""What every benchmark records about the machine, and how it writes its JSON result."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def machine() -> dict:
    """The machine a figure was measured on."""
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(), "python": platform.python_version()}


def write_results(path: str | Path, results: dict) -> Path:
    """Write ``results`` as indented JSON to ``path`` (folders created) and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return path
