"""The ``sbidic`` command line.

Examples
--------
``sbidic population --model stg --g-s -4 --g-u 5 -n 1000 --seed 0 -o pop.nc``
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from sbidic.models import available_models
from sbidic.population import Population, UnreachableTargetError, sample_populations

__all__ = ["main", "summarize"]


def summarize(pop: Population) -> str:
    """A readable summary of a population: conductance statistics and DIC accuracy."""
    lines = [
        f"sbidic population: model {pop.model}, {pop.n_targets} target(s) x {pop.n_cells} cells, "
        f"DICs at V_th = {pop.V_th:g} mV",
    ]
    for t in range(pop.n_targets):
        g = pop.conductances[t]
        g_s, g_u = pop.target[t]
        lines.append(
            f"\ntarget {pop.obs_id[t]}: g_s = {g_s:g}, g_u = {g_u:g} "
            f"(acceptance {pop.acceptance[t]:.0%}, "
            f"max |DIC error| {np.nanmax(pop.residual[t]):.1e}, "
            f"g_f mean {np.nanmean(pop.dics[t, :, 0]):.3f})"
        )
        lines.append(
            f"  {'conductance':<12}{'mean':>12}{'sd':>12}{'min':>12}{'max':>12}   mS/cm^2"
        )
        for j, label in enumerate(pop.labels):
            col = g[:, j]
            stats = (np.mean(col), np.std(col), np.min(col), np.max(col))
            lines.append(f"  {label:<12}" + "".join(f"{x:>12.4g}" for x in stats))
        if t >= 4 and pop.n_targets > 6:
            lines.append(f"\n... {pop.n_targets - t - 1} more target(s)")
            break
    return "\n".join(lines)


def _population(args: argparse.Namespace) -> int:
    if args.targets is not None:
        targets = np.loadtxt(args.targets, delimiter=",", ndmin=2)
    else:
        if args.g_s is None or args.g_u is None:
            raise SystemExit("sbidic population: give --g-s and --g-u, or --targets FILE")
        targets = np.array([[args.g_s, args.g_u]])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            pop = sample_populations(args.model, targets, args.n, rng=args.seed)
    except UnreachableTargetError as err:
        print(f"sbidic population: error: {err}", file=sys.stderr)
        if args.output:
            err.partial.save(args.output)
            print(
                f"partial result (NaN for unreachable targets) written to {args.output}",
                file=sys.stderr,
            )
        return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(summarize(pop))
    if args.output:
        pop.save(args.output)
        print(f"\nwritten to {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sbidic",
        description="Degenerate populations of conductance-based neuron models from spike times.",
    )
    from sbidic import __version__

    parser.add_argument("--version", action="version", version=f"sbidic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    pop = sub.add_parser(
        "population",
        help="sample a degenerate population for target DICs (g_s, g_u)",
        description="Sample conductance sets that all have the target slow and ultraslow DICs "
        "(g_s, g_u) at the model's threshold voltage (Brandoit et al. 2025).",
    )
    pop.add_argument("--model", required=True, choices=available_models(), help="neuron model")
    pop.add_argument("--g-s", type=float, help="target slow DIC g_s (dimensionless)")
    pop.add_argument("--g-u", type=float, help="target ultraslow DIC g_u (dimensionless)")
    pop.add_argument(
        "--targets", metavar="FILE", help="CSV file of many targets, one 'g_s,g_u' per line"
    )
    pop.add_argument("-n", type=int, default=100, help="cells per target (default 100)")
    pop.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    pop.add_argument(
        "-o", "--output", help="write the population: .csv (Spike2Pop: ID,g_Na,...) or netCDF"
    )
    pop.set_defaults(handler=_population)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sbidic`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 1
    try:
        return args.handler(args)
    except ValueError as err:
        print(f"sbidic {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
