"""The ``sbidic`` argument parser, assembled from the command modules.

Each command module adds its subparser and sets its run function as the ``handler``;
:data:`COMMANDS` lists them in the order ``sbidic --help`` shows them.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from sbidic.cli import app, datasets, infer, population, simulate, training

#: The functions adding each command's subparser, in the order of ``sbidic --help``.
COMMANDS = (
    population.add_population,
    datasets.add_dataset,
    datasets.add_survey,
    simulate.add_simulate,
    infer.add_infer,
    datasets.add_atlas,
    training.add_train,
    app.add_app,
    training.add_refit_flow,
    training.add_recalibrate,
    training.add_train_npe,
)


class _Parser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line on stderr, exit status 2 (no usage
    block): ``sbidic COMMAND: error: MESSAGE (see sbidic COMMAND --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``sbidic`` command: every command of :data:`COMMANDS`.

    >>> parser = build_parser()
    >>> args = parser.parse_args(["population", "--model", "stg", "--g-s", "-4", "--g-u", "5"])
    >>> args.command, args.n, args.handler.__name__
    ('population', 100, 'run_population')
    """
    parser = _Parser(
        prog="sbidic",
        description="Degenerate populations of conductance-based neuron models from spike times.",
    )
    from sbidic import __version__

    parser.add_argument("--version", action="version", version=f"sbidic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser
