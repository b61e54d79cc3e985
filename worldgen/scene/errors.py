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
        where = ": ".join(_one_line(part) for part in (self.source, self.field) if part)
        message = _one_line(self.message)
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        return f"{where}: {message}" if where else message


MAX_MESSAGE = 500  # characters of the message part; a value quoted in it is cut short


_BREAKS = {c: repr(chr(c))[1:-1] for c in (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)}


def _one_line(text: str) -> str:
    """``text`` with every line break written as an escape, so an error is one line."""
    return str(text).translate(_BREAKS)
