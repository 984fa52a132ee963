"""Temporary names that say who made them, and the removal of those a killed run left.

A process killed with SIGKILL (or a machine that stops) cannot remove its temporary
files: the hidden ``.NAME.*.nc`` of an output, a program being built in the cache, a
folder in the system temporary directory. sbidic therefore puts the writer in every
temporary name it makes, ``<host>-<pid>`` (:func:`writer_tag`: a hash of the machine's
name and the process id), and the next run of the same command removes the names of
*its own pattern* whose writer is gone (:func:`remove_leftovers`). A name is removed
only when all of these hold:

* it matches the caller's pattern exactly (no other file is ever touched);
* it was made on this machine (a folder shared with other machines keeps theirs);
* it belongs to the current user;
* its process is no longer running, or the process now holding that id started after
  the name was last modified (the id was reused: it cannot be the writer).

:func:`private_tempdir` gives a whole command one such folder as its ``TMPDIR``, so the
temporary files of the libraries it runs (Brian2's logs, compilers, worker processes)
go there too and are removed with it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TAG_PATTERN", "private_tempdir", "remove_leftovers", "writer_tag"]

#: Regular expression of :func:`writer_tag` (groups ``host`` and ``pid``).
TAG_PATTERN = r"(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)"
#: Regular expression of the random part of :mod:`tempfile` names.
RANDOM_PATTERN = r"[a-z0-9_]+"
#: Seconds of slack when comparing a process's start with a file's modification time
#: (the boot time of /proc/stat is rounded to the second).
_CLOCK_SLACK_S = 2.0
#: Prefix of :func:`private_tempdir`'s folders in the system temporary directory.
PRIVATE_PREFIX = "sbidic"


@functools.cache
def _host() -> str:
    """Eight hexadecimal digits naming this machine."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def writer_tag() -> str:
    """``<host>-<pid>``: this machine and process, to put in a temporary name.

    Examples
    --------
    >>> import os, re
    >>> re.fullmatch(TAG_PATTERN, writer_tag()).group("pid") == str(os.getpid())
    True
    """
    return f"{_host()}-{os.getpid()}"


@functools.cache
def _boot_time() -> float | None:
    """Seconds since the epoch at which the machine booted (Linux), else None."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    return None


def _started(pid: int) -> float | None:
    """Seconds since the epoch at which process ``pid`` started (Linux), else None."""
    boot = _boot_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if boot is None else boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _writer_gone(pid: int, modified: float) -> bool:
    """Whether process ``pid`` of this machine cannot be writing a name last modified
    at ``modified`` (seconds since the epoch)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: alive
        pass
    except OverflowError:  # not a process id
        return True
    started = _started(pid)
    return started is not None and started > modified + _CLOCK_SLACK_S


def _remove(path: Path, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_leftovers(directory: str | os.PathLike, pattern: str) -> list[Path]:
    """Remove the entries of ``directory`` matching ``pattern`` whose writer is gone.

    Parameters
    ----------
    directory : path
        Where the temporary names were made (not searched recursively).
    pattern : str
        Regular expression the whole name must match, with :data:`TAG_PATTERN`'s
        groups ``host`` and ``pid`` (the name's :func:`writer_tag`).

    Returns
    -------
    list of pathlib.Path
        The entries removed (files, or folders with their contents; links are
        removed, never followed).

    Examples
    --------
    >>> import subprocess, sys, tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> dead = subprocess.Popen([sys.executable, "-c", ""])
    >>> _ = dead.wait()
    >>> _ = (d / f".a.{_host()}-{dead.pid}.xyz.nc").write_text("left by a killed run")
    >>> _ = (d / f".a.{writer_tag()}.xyz.nc").write_text("being written")
    >>> [p.name[:3] for p in remove_leftovers(d, rf"\\.a\\.{TAG_PATTERN}\\.\\w+\\.nc")]
    ['.a.']
    >>> [p.name == f".a.{writer_tag()}.xyz.nc" for p in d.iterdir()]
    [True]
    """
    directory = Path(directory)
    compiled = re.compile(pattern)
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = compiled.fullmatch(entry.name)
        if match is None or match.group("host") != _host():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            continue
        if _writer_gone(int(match.group("pid")), info.st_mtime):
            _remove(Path(entry.path), info)
            removed.append(Path(entry.path))
    return removed


def _private_pattern() -> str:
    return rf"{PRIVATE_PREFIX}\.{TAG_PATTERN}\.{RANDOM_PATTERN}"


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """A folder of this process as the temporary directory (``TMPDIR`` and
    :data:`tempfile.tempdir`, inherited by worker processes) for the block.

    Folders of this kind left by killed processes are removed first
    (:func:`remove_leftovers`). The folder itself is removed when the interpreter
    exits (after the libraries' own exit handlers, e.g. Brian2 deleting its logs), or
    by the next run when this process is killed.

    Examples
    --------
    >>> before = tempfile.gettempdir()
    >>> with private_tempdir() as folder:
    ...     tempfile.gettempdir() == str(folder) and folder.name.startswith("sbidic.")
    True
    >>> tempfile.gettempdir() == before
    True
    """
    system = tempfile.gettempdir()
    remove_leftovers(system, _private_pattern())
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}.{writer_tag()}.", dir=system))
    except OSError:  # not writable: leave the temporary directory as it is
        yield Path(system)
        return
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    previous_env, previous = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(folder), str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = previous
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env
