"""The base of every config model: unknown keys are errors (a typo must not be ignored)."""

from pathlib import Path
from typing import Callable, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, defer_build=True)


def read_or_none(read: Callable[[Path], T], path) -> T | None:
    """`read(path)`, or None when the file is missing or is not what `read` validates: a foreign partial
    file (ours are written atomically), which the callers (state, plan, rules) treat as not there yet."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return read(path)
    except ValueError:
        return None
