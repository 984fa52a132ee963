"""The ``sbidic`` command's entry point: parse, check, run, and one line per error.

User mistakes (``ValueError``, ``OSError``) are one line on stderr and exit status 2;
Ctrl-C and SIGTERM exit 130; temporary files live in a folder of the run.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Sequence

from sbidic._leftovers import private_tempdir
from sbidic.cli.options import check_options
from sbidic.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sbidic`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 1
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:  # SIGTERM is handled as Ctrl-C
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:  # temporary files in a folder of this run, removed even after a kill -9
        check_options(args)  # before any work
        with private_tempdir() if main_thread else contextlib.nullcontext():
            return args.handler(args)
    except (ValueError, OSError) as err:  # user mistakes: one line, no traceback
        print(f"sbidic {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sbidic {args.command}: interrupted; files already finished are kept",
              file=sys.stderr)  # fmt: skip
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
