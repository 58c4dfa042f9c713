"""File I/O that never leaves a half-written output behind.

Snakemake does not notice a partial file in an iteration spawned by a checkpoint, so every output
is written to a temporary file in the same directory and renamed into place (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from .crashpoints import crashpoint
from .errors import StructureError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should be group-readable as usual
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        crashpoint(f"write:{path.name}")
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def copy_file(src: str | Path, dst: str | Path) -> None:
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def write_structures(path: str | Path, frames: Sequence) -> None:
    """Write frames (with any attached results) as extended XYZ, atomically.

    An empty list gives an empty file: "no structures" is a valid, final answer of a step.
    """
    from ase.io import write

    with atomic_path(path) as tmp:
        if len(frames):
            write(str(tmp), list(frames), format="extxyz")
        else:
            tmp.write_text("")


def read_structures(path: str | Path, index: str = ":", allow_empty: bool = True) -> list:
    """Read all frames of an (ext)xyz file written by `write_structures`."""
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: file not found")
    if path.stat().st_size == 0:
        if allow_empty:
            return []
        raise StructureError(f"{path}: file is empty (expected at least one structure)")
    try:
        frames = read(str(path), index=index, format="extxyz")
    except Exception as exc:  # ASE raises many types for corrupt files
        raise StructureError(f"{path}: cannot parse as extended XYZ ({type(exc).__name__}: {exc})") from None
    return frames if isinstance(frames, list) else [frames]


def count_frames(path: str | Path) -> int:
    """Count frames of an XYZ file without parsing coordinates (cheap, for status reports)."""
    path = Path(path)
    if not path.is_file():
        return 0
    n = 0
    with open(path) as fh:
        while True:
            line = fh.readline()
            if not line:
                break
            if not line.strip():
                continue
            natoms = int(line.split()[0])
            for _ in range(natoms + 1):
                fh.readline()
            n += 1
    return n
