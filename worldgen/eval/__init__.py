"""Evaluations: the temporal-metrics report of a video, a deflicker filter before and after,
and a dynamics engine against pybullet (errors, chaos floor, physics checks, the
error-origin oracle)."""
