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
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sbidic._leftovers import RANDOM_PATTERN, TAG_PATTERN, remove_leftovers, writer_tag

__all__ = [
    "atomic_outputs",
    "check_input",
    "check_not_input",
    "check_output",
    "damaged_file_error",
    "load_model_arrays",
    "open_text",
    "read_json",
    "save_model_arrays",
]


def open_text(path: str | os.PathLike):
    """A UTF-8 text file (BOM allowed) as a file object for :mod:`csv`; a binary or
    undecodable file is a ValueError naming it.

    Examples
    --------
    >>> import csv, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "bom.csv").write_bytes(b"\\xef\\xbb\\xbfcell,t\\n1,2.5\\n")
    >>> list(csv.reader(open_text(d / "bom.csv")))
    [['cell', 't'], ['1', '2.5']]
    >>> _ = (d / "x.bin").write_bytes(b"\\xff\\xfe\\x00")
    >>> open_text(d / "x.bin")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...x.bin: not a UTF-8 text file (undecodable byte at position 0)
    """
    import io

    raw = Path(path).read_bytes()
    try:
        return io.StringIO(raw.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not a UTF-8 text file (undecodable byte at position {err.start})"
        ) from None


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """The content of a JSON file; an unreadable one is an error naming it.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str
        What the file is, for the message (e.g. ``"estimator configuration"``).

    Returns
    -------
    Any
        The decoded JSON value.

    Raises
    ------
    ValueError
        The file is not valid UTF-8 JSON (truncated, empty, binary), with its path.
    OSError
        It cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = f.write_text('{"model": "st')
    >>> read_json(f, "estimator configuration")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: estimator configuration .../config.json is not valid JSON (truncated or ...
    """
    import json

    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{what} {path} is not valid JSON (truncated or damaged?): "
                         f"{err}") from None  # fmt: skip


def damaged_file_error(err: Exception, path: str | os.PathLike, what: str) -> ValueError:
    """The one-line error of a saved file (or directory of ``config.json`` and
    ``weights.safetensors``) that exists but cannot be loaded.

    Parameters
    ----------
    err : Exception
        What loading raised: ``SafetensorError`` (the weights), ``KeyError`` or
        ``TypeError`` (an entry missing from the configuration), ``RuntimeError``
        (weights that do not fit the configuration), ...
    path : str or os.PathLike
        The file, or the directory holding ``config.json`` and ``weights.safetensors``.
    what : str
        What it is, e.g. ``"estimator"``.

    Returns
    -------
    ValueError
        Its message names the file to blame and the reason.
    """
    from safetensors import SafetensorError

    path = Path(path)
    reason = (str(err).strip().splitlines() or [""])[0][:300]
    if isinstance(err, SafetensorError):
        file = path if path.suffix else path / "weights.safetensors"
        return ValueError(f"{what} {file} is not a readable safetensors file ({reason})")
    if isinstance(err, KeyError | TypeError | AttributeError | IndexError):
        file = path if path.suffix else path / "config.json"
        return ValueError(f"{what} {file} lacks an entry or has a wrong one "
                          f"({type(err).__name__}: {reason})")  # fmt: skip
    if isinstance(err, RuntimeError) and not path.suffix:
        return ValueError(f"{what} {path / 'weights.safetensors'} does not fit its "
                          f"config.json ({reason})")  # fmt: skip
    return ValueError(f"{what} {path} cannot be loaded ({type(err).__name__}: {reason})")


def check_input(path: str | os.PathLike, what: str = "input file", *, directory: bool = False):
    """The path of an existing input file (or directory), else a ValueError naming it.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_input(d, "data directory", directory=True).is_dir()
    True
    >>> check_input(d, "recordings")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: recordings ...: is a directory, expected a file
    """
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
    directory, not itself a directory. Raises ValueError naming the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output(d / "pop.nc", (".nc", ".csv")).name
    'pop.nc'
    >>> check_output(d / "missing" / "pop.nc", (".nc",), "population")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: population .../missing/pop.nc: directory .../missing does not exist
    """
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


def _identity(path: Path) -> tuple[Path, tuple[int, int] | None]:
    """A path's resolved form (links followed) and, if it exists, its device and inode."""
    try:
        st = path.stat()
    except OSError:
        st = None
    return path.resolve(), None if st is None else (st.st_dev, st.st_ino)


def check_not_input(
    outputs: Sequence[str | os.PathLike | None], inputs: Sequence[str | os.PathLike | None]
) -> None:
    """Refuse, before any work, to write an output over an input file.

    An output is an input when both paths resolve to the same place (symbolic links
    followed) or, if both exist, are the same file (device and inode: hard links).
    Give every file the command will write, side files (``NAME_report.csv``,
    figures) included. None entries are skipped.

    Raises
    ------
    ValueError
        Naming the output and the input.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "rec.csv").write_text("ID,spiking_times")
    >>> check_not_input([d / "pop.csv"], [d / "rec.csv"])  # distinct: nothing to say
    >>> check_not_input([d / "." / "rec.csv"], [d / "rec.csv"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: output .../rec.csv is the input file .../rec.csv: writing it would destroy ...
    """
    given = [(Path(p), _identity(Path(p))) for p in inputs if p is not None]
    for out in outputs:
        if out is None:
            continue
        resolved, inode = _identity(Path(out))
        for path, (in_resolved, in_inode) in given:
            if resolved == in_resolved or (inode is not None and inode == in_inode):
                raise ValueError(
                    f"output {out} is the input file {path}: writing it would destroy the "
                    "input; choose another output path"
                )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary_pattern(target: Path) -> str:
    """Regular expression of :func:`atomic_outputs`' temporary names for ``target``:
    ``.<stem>.<host>-<pid>.<random><suffix>``."""
    stem, suffix = re.escape(target.stem), re.escape(target.suffix)
    return rf"\.{stem}\.{TAG_PATTERN}\.{RANDOM_PATTERN}{suffix}"


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Temporary paths (same directory, same extension) renamed onto ``paths`` when the
    block succeeds and removed when it raises: all files appear, or none.

    The temporary names, ``.<stem>.<host>-<pid>.<random><suffix>``, name the process
    writing them; those of the same outputs that a killed process left are removed
    first (:func:`sbidic._leftovers.remove_leftovers`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     with atomic_outputs([d / "a.csv", d / "b.csv"]) as (a, b):
    ...         _ = a.write_text("done")
    ...         raise RuntimeError("failed before b.csv was written")
    ... except RuntimeError:
    ...     pass
    >>> sorted(p.name for p in d.iterdir())  # neither file, no temporary left
    []
    """
    targets = [Path(p) for p in paths]
    temps = []
    try:
        for t in targets:
            remove_leftovers(t.parent, _temporary_pattern(t))
            prefix = f".{t.stem}.{writer_tag()}."
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=t.suffix, dir=t.parent or ".")
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


def save_model_arrays(path: str | os.PathLike, model: str, arrays: dict[str, Any]) -> None:
    """Write numpy ``arrays`` and the ``model`` name they belong to as a safetensors file
    (no pickle), all or nothing (a ``.safetensors`` path, checked first).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.safetensors"
    >>> save_model_arrays(path, "stg", {"x": np.arange(3.0)})
    >>> model, arrays = load_model_arrays(path)
    >>> model, arrays["x"].tolist()
    ('stg', [0.0, 1.0, 2.0])
    """
    from safetensors.numpy import save_file

    with atomic_outputs([check_output(path, (".safetensors",))]) as (tmp,):
        save_file(dict(arrays), os.fspath(tmp), metadata={"model": str(model)})


def load_model_arrays(path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """The model name and numpy arrays of a file written by :func:`save_model_arrays`."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="numpy") as fh:
        model = fh.metadata()["model"]
        arrays = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
    return model, arrays
