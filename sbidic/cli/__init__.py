"""The ``sbidic`` command line: one module per command, the parser assembled from them.

=====================  ==========================================================
module                 holds
=====================  ==========================================================
``entry``              :func:`main`: parse, check options, run, one line per error
``parser``             :func:`build_parser` from the commands' modules
``options``            help texts, ``--model`` type, progress bar, range checks
``population``         ``sbidic population``, the targets CSV reader
``simulate``           ``sbidic simulate``
``infer``              ``sbidic infer``, the report as a text table
``datasets``           ``sbidic dataset``, ``survey`` and ``atlas``
``training``           ``sbidic train``, ``refit-flow``, ``recalibrate``, ``train-npe``
``app``                ``sbidic app``
=====================  ==========================================================

Examples
--------
``sbidic population --model stg --g-s -4 --g-u 5 -n 1000 --seed 0 -o pop.nc``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sbidic`` command (:func:`sbidic.cli.entry.main`).

    The commands' modules load here, inside the Ctrl-C handling: an interrupt while
    they load is one line and exit status 130, as one while a command runs.
    """
    try:
        from sbidic.cli.entry import main as run

        return run(argv)
    except KeyboardInterrupt:
        print("sbidic: interrupted", file=sys.stderr)
        return 130


def __getattr__(name: str):
    if name == "build_parser":
        from sbidic.cli.parser import build_parser

        return build_parser
    raise AttributeError(f"module 'sbidic.cli' has no attribute {name!r}")
