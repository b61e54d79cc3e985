"""Choosing mitsuba's variant: ``cuda_ad_rgb`` when a CUDA GPU is usable, ``scalar_rgb``
otherwise (the ``llvm_*`` variants crash in this machine's LLVM, docs/design.md). Overridable
with the ``render.variant`` config field or the ``WORLDGEN_MITSUBA_VARIANT`` variable."""

from __future__ import annotations

import os

import mitsuba as mi

SUPPORTED = ("scalar_rgb", "cuda_ad_rgb")


def _cuda_available() -> bool:
    try:
        mi.set_variant("cuda_ad_rgb")
    except (ImportError, AttributeError, RuntimeError):
        return False
    return True


def select_variant(requested: str = "auto") -> str:
    """Activate and return the mitsuba variant: ``requested`` (``auto`` or one of
    ``SUPPORTED``), unless ``WORLDGEN_MITSUBA_VARIANT`` names one."""
    requested = os.environ.get("WORLDGEN_MITSUBA_VARIANT", requested)
    if requested not in ("auto", *SUPPORTED):
        raise ValueError(f"render.variant: expected auto or one of {', '.join(SUPPORTED)}, got {requested!r}")
    if requested == "auto":
        requested = "cuda_ad_rgb" if _cuda_available() else "scalar_rgb"
    mi.set_variant(requested)
    mi.set_log_level(mi.LogLevel.Error)  # warnings (e.g. sample-count rounding) go nowhere useful
    return requested
