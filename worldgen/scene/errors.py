"""The one error type of scene loading: a user mistake, reported on one line."""

from __future__ import annotations


class SceneError(ValueError):
    """A mistake in a scene: where it is (file and field path) and what was expected.

    ``str(error)`` is the one line the CLI prints, e.g.
    ``configs/scene/dominoes.yaml: objects[2].physics.mass: expected a number > 0, got -1``.
    """

    def __init__(self, field: str, message: str, source: str | None = None):
        super().__init__(message)
        self.field = field
        self.message = message
        self.source = source

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.field) if part)
        return f"{where}: {self.message}" if where else self.message
