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

from sbidic.cli.entry import main
from sbidic.cli.parser import build_parser

__all__ = ["build_parser", "main"]
