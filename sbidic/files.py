"""Input and output files: checked before any work, written all or nothing.

Every command and ``save`` method checks its output paths *before* computing (the
directory exists and is writable, the extension is one it can write) and writes to a
temporary file in the same directory that is renamed into place only when everything
succeeded, so an error never leaves a partial or misleading file behind.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> check_output(d / "pop.xyz", (".nc", ".csv"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: ...pop.xyz: unknown extension '.xyz'; accepted: .nc, .csv
>>> with atomic_outputs([d / "a.csv"]) as (tmp,):
...     _ = tmp.write_text("ok")
>>> (d / "a.csv").read_text()
'ok'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["atomic_outputs", "check_input", "check_output", "open_text"]


def open_text(path: str | os.PathLike):
    """A UTF-8 text file (BOM allowed) as a file object for :mod:`csv`; a binary or
    undecodable file is a ValueError naming it."""
    import io

    raw = Path(path).read_bytes()
    try:
        return io.StringIO(raw.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not a UTF-8 text file (undecodable byte at position {err.start})"
        ) from None


def check_input(path: str | os.PathLike, what: str = "input file", *, directory: bool = False):
    """The path of an existing input file (or directory), else a ValueError naming it."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what} {p}: no such {'directory' if directory else 'file'}")
    if directory and not p.is_dir():
        raise ValueError(f"{what} {p}: not a directory")
    if not directory and p.is_dir():
        raise ValueError(f"{what} {p}: is a directory, expected a file")
    if not os.access(p, os.R_OK):
        raise ValueError(f"{what} {p}: not readable (permission denied)")
    return p


def check_output(path: str | os.PathLike, suffixes: Sequence[str], what: str = "output") -> Path:
    """Check that ``path`` can be written: a known extension, an existing writable
    directory, not itself a directory. Raises ValueError naming the path."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in suffixes:
        raise ValueError(
            f"{what} {p}: unknown extension {suffix or '(none)'!r}; accepted: "
            + ", ".join(suffixes)
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{what} {p}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{what} {p}: directory {parent} is not writable")
    if p.is_dir():
        raise ValueError(f"{what} {p}: is a directory")
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"{what} {p}: exists and is not writable")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Temporary paths (same directory, same extension) renamed onto ``paths`` when the
    block succeeds and removed when it raises: all files appear, or none."""
    targets = [Path(p) for p in paths]
    temps = []
    try:
        for t in targets:
            fd, name = tempfile.mkstemp(prefix=f".{t.stem}.", suffix=t.suffix, dir=t.parent or ".")
            os.close(fd)
            os.unlink(name)  # writers (netCDF) may refuse an existing file
            temps.append(Path(name))
        yield temps
        mode = 0o666 & ~_umask()
        for tmp, t in zip(temps, targets, strict=True):
            if tmp.exists():
                os.chmod(tmp, mode)
                os.replace(tmp, t)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
