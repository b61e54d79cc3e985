"""Reports as strict JSON: infinities become "inf" / "-inf" and NaN becomes null, since
strict JSON has neither; written whole or not at all."""

from __future__ import annotations

import json
import math
from pathlib import Path

from worldgen.io.atomic import write_atomic


def _jsonable(value):
    """``value`` with infinities as "inf" and NaN as None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {key: _jsonable(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_json(path: Path, report: dict) -> Path:
    """``report`` as strict JSON (see :func:`_jsonable`), written whole or not at all."""
    return write_atomic(path, (json.dumps(_jsonable(report), indent=1) + "\n").encode())
