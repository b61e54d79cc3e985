"""Where the benchmarks put their figures."""

from __future__ import annotations

import json
from pathlib import Path


def write_results(results: dict, path: str) -> None:
    """``results`` as JSON at ``path`` (folders created), and say so."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
