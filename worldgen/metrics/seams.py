"""Seam score of a long video made of chunks generated one after another.

With a per-pair temporal error e_t (t = 0 .. T-2, pair (t, t+1); normally the warping error
E_t of :mod:`worldgen.metrics.warping`) and chunks of L frames, the pairs that cross a chunk
boundary are B = {t : (t + 1) mod L = 0}; the others, I, lie inside chunks::

    seam = mean_{t in B} e_t / mean_{t in I} e_t

1 means boundaries are invisible in this measure; 3 means the jump at a boundary is three
times the typical frame-to-frame error inside a chunk. Chunks of unequal length (windows
that overlap their predecessor) give their boundaries as frame indices
(:func:`seam_score_at`)."""

from __future__ import annotations

import torch


def seam_score(per_pair: torch.Tensor, chunk_length: int) -> float:
    """seam (module docstring) of ``per_pair`` (T-1,) errors for chunks of ``chunk_length``
    frames. Needs at least one boundary and one inner pair with a non-zero mean."""
    if chunk_length < 2:
        raise ValueError(f"chunk length must be at least 2 frames, got {chunk_length}")
    starts = range(chunk_length, len(per_pair) + 1, chunk_length)
    if not starts:
        raise ValueError(f"a clip of {len(per_pair) + 1} frames has no boundary between chunks of {chunk_length}")
    return seam_score_at(per_pair, starts)


def seam_score_at(per_pair: torch.Tensor, starts) -> float:
    """seam of ``per_pair`` (T-1,) errors when chunks start at the frames ``starts`` (each
    boundary is the pair (start - 1, start)); at least one start in 1 .. T-1 and one inner
    pair with a non-zero mean."""
    per_pair = torch.as_tensor(per_pair, dtype=torch.float64)
    boundary = torch.zeros(len(per_pair), dtype=torch.bool)
    for start in starts:
        if not 1 <= start <= len(per_pair):
            raise ValueError(f"a chunk start at frame {start} is not inside a clip of {len(per_pair) + 1} frames")
        boundary[start - 1] = True
    if not boundary.any():
        raise ValueError(f"a clip of {len(per_pair) + 1} frames has no boundary between chunks")
    inner = per_pair[~boundary].mean()
    if not inner > 0:
        raise ValueError("the error inside chunks is zero; the seam ratio is undefined")
    return float(per_pair[boundary].mean() / inner)
