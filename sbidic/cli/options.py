"""Options shared by the ``sbidic`` commands.

Help texts (``--model``, ``--device``), the ``--model`` argument type, progress flags and
bar, the protocol options (``--duration``, ``--transient``, ``--dt``), output-size and
model-file checks, sbidic's warnings on stderr, and the range checks run before any
command's work.
"""

from __future__ import annotations

import argparse
import sys

from sbidic.models import available_models, get_model, is_model_file

#: Figure formats of ``--plot``.
PLOT_SUFFIXES = (".png", ".pdf", ".svg")

DEVICE_HELP = (
    "vector (Brian2's update statements in a vectorised C kernel, 3-4x cpp_standalone; "
    "no noise), runtime, cpp_standalone (compiled C++; without noise the program is cached in "
    "$SBIDIC_CACHE_DIR or ~/.cache/sbidic and re-run with new cells, --jobs processes) or "
    "cuda (NVIDIA GPU; needs brian2cuda and nvcc, compiles each run)"
)
MODEL_HELP = (
    f"neuron model: {', '.join(available_models())}, or path/to/model.py:NAME "
    "(a model declared as in docs/models.md)"
)

DATASET_MODEL_HELP = (
    "the dataset's model (default: the one its manifest names); a dataset of your own "
    "model file needs it, path/to/model.py:NAME: a model file named in a data file is "
    "never run"
)


def model_argument(value: str) -> str:
    """``--model``: a registered or entry-point name, or ``file.py:NAME``, loaded and
    validated here so that a bad model is one line of argparse error."""
    try:
        get_model(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


class _Bar:
    """A tqdm bar on stderr driven by ``update_to(done, total)``; silent when off."""

    def __init__(self, enabled: bool, unit: str) -> None:
        self.enabled, self.unit, self.bar = enabled, unit, None

    def update_to(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit=self.unit, file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def progress_bar(args: argparse.Namespace, unit: str) -> _Bar:
    """Progress on stderr: when it is a terminal, or with --progress; never with --quiet."""
    enabled = not args.quiet and (args.progress or sys.stderr.isatty())
    return _Bar(enabled, unit)


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    """``--progress`` and ``--quiet`` (one or the other), read by :func:`progress_bar`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar on stderr even when it is not a terminal",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def warn_if_large(path, n_cells: int, n_conductances: int) -> None:
    """Warn on stderr, before the work, when an output will exceed 1 GB."""
    if not path:
        return
    # netCDF: conductances, DICs, residual and padding (measured: 1.1 GB for 10^7 STG cells)
    csv = str(path).lower().endswith(".csv")
    per_cell = 24 * n_conductances if csv else 8 * (n_conductances + 6)
    size = n_cells * per_cell
    if size > 1e9:
        print(f"warning: {path} will be about {size / 1e9:.1f} GB ({n_cells:,} cells)",
              file=sys.stderr)  # fmt: skip


def model_file(model: str | None) -> str | None:
    """The file of a ``--model path.py:NAME`` (an input no output may overwrite)."""
    return model.rpartition(":")[0] if model is not None and is_model_file(model) else None


def protocol_options(args: argparse.Namespace) -> dict:
    """``simulate`` keywords of the --duration, --transient and --dt options given.

    >>> protocol_options(argparse.Namespace(duration=6000.0, transient=None, dt=0.05))
    {'duration_ms': 6000.0, 'dt_ms': 0.05}
    """
    given = (("duration_ms", args.duration), ("transient_ms", args.transient), ("dt_ms", args.dt))
    return {key: value for key, value in given if value is not None}


def print_warnings(caught) -> None:
    """Print sbidic's own warnings (not third-party deprecation notices) on stderr."""
    for w in caught:
        if issubclass(w.category, DeprecationWarning) or "sbidic" not in str(w.filename):
            continue
        print(f"warning: {w.message}", file=sys.stderr)


#: Options checked for every command that has them: name, lowest value, what it takes.
BOUNDED_OPTIONS = (
    ("seed", 0, "a non-negative integer"),
    ("plot_cells", 1, "a positive integer"),
    ("port", 0, "a port number, 0 (any free port) to 65535"),
)


def check_options(args: argparse.Namespace) -> None:
    """Refuse out-of-range numeric options before any work.

    Raises
    ------
    ValueError
        An option given out of its range, named as on the command line.
    """
    for name, lowest, what in BOUNDED_OPTIONS:
        value = getattr(args, name, None)
        if value is None:
            continue
        highest = 65535 if name == "port" else None
        if value < lowest or (highest is not None and value > highest):
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option} must be {what}, not {value}")
