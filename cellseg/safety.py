"""Guards that run before anything is written: an output never replaces an input (same path, a
symlink or a hard link to it), and the output folder exists and takes files."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import CellsegError


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # follows symlinks: a link to an input is that input
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_no_clobber(
    targets: Mapping[Path, Path],
    fix: str = "write elsewhere with -o OTHER_FOLDER, or name outputs apart with --suffix _labels",
    others: Iterable[Path] = (),
) -> None:
    """Raise (exit 2) when any output path (``targets``' values and ``others``) is, or links to, any
    input file (``targets``' keys); nothing is written first."""
    inputs = {}
    for src in targets:
        ident = _identity(src)
        if ident is not None:
            inputs[ident] = src
    for dst in [*targets.values(), *others]:
        ident = _identity(dst)
        if ident is not None and ident in inputs:
            raise CellsegError(f"{dst}: output would overwrite the input {inputs[ident]}; {fix}")


def check_not_linked(path: Path) -> None:
    """Raise when an existing file we would replace is a symlink or has other hard links (it is someone
    else's file too)."""
    if path.is_symlink():
        raise CellsegError(f"{path}: is a symbolic link to {os.path.realpath(path)}; refusing to replace it")
    if path.is_file() and os.stat(path).st_nlink > 1:
        raise CellsegError(f"{path}: has other hard links (it may be an input); refusing to replace it")


def check_writable_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CellsegError(f"{out}: cannot create output folder ({e.strerror})") from None
    probe = out / ".cellseg-write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise CellsegError(f"{out}: output folder is not writable ({e.strerror})") from None
