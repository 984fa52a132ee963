"""``sbidic population``: degenerate populations for target DICs.

Also the targets CSV reader (:func:`read_targets`) and the text summary of a population
(:func:`summarize`).
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from sbidic.cli.options import (
    MODEL_HELP,
    add_progress_flags,
    model_argument,
    model_file,
    print_warnings,
    progress_bar,
    warn_if_large,
)
from sbidic.files import check_input, check_not_input, check_output, open_text
from sbidic.models import get_model
from sbidic.population import Population, UnreachableTargetError, sample_populations


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


def read_targets(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets ``(T, 2)`` and optional ids from a CSV file.

    Either plain ``g_s,g_u`` lines, or a header naming ``g_s`` and ``g_u`` (other
    columns ignored, an ``ID`` column gives the targets' ids). A row whose ``g_s`` and
    ``g_u`` are both empty (e.g. a silent recording) has no target: it is skipped with a
    warning naming it. Errors name the line.
    """
    import csv

    path = check_input(path, "targets file")
    rows = []
    with open_text(path) as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if row and any(x.strip() for x in row):
                rows.append((line, [x.strip() for x in row]))
    if not rows:
        raise ValueError(f"targets file {path}: no targets (expected lines 'g_s,g_u')")
    header, ids = None, None
    try:
        [float(x) for x in rows[0][1]]
    except ValueError:
        header = rows.pop(0)[1]
        missing = [c for c in ("g_s", "g_u") if c not in header]
        if missing:
            raise ValueError(
                f"targets file {path}, line 1: header {header} lacks column(s) {missing}; "
                "expected g_s,g_u (and optionally ID)"
            ) from None
    cols = [0, 1] if header is None else [header.index("g_s"), header.index("g_u")]
    targets, kept, skipped = [], [], []
    for line, row in rows:
        if header is not None and all(not row[j] for j in cols if j < len(row)):
            skipped.append(f"line {line}" + (f" ({row[0]})" if row else ""))
            continue
        kept.append(row)
        try:
            if header is None and len(row) != 2:
                raise ValueError
            targets.append([float(row[j]) for j in cols])
        except (ValueError, IndexError):
            raise ValueError(
                f"targets file {path}, line {line}: expected numbers g_s,g_u, got {row}"
            ) from None
    if skipped:
        warnings.warn(f"targets file {path}: no g_s,g_u on {', '.join(skipped)}; skipped",
                      UserWarning, stacklevel=2)  # fmt: skip
    if not targets:
        raise ValueError(f"targets file {path}: no targets with g_s and g_u")
    if header is not None and "ID" in header:
        i = header.index("ID")
        ids = np.array([row[i] if i < len(row) else "" for row in kept])
    return np.array(targets, dtype=float).reshape(-1, 2), ids


def run_population(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sbidic.population.result import POPULATION_SUFFIXES
    from sbidic.population.sampler import check_population_memory

    if args.output:
        check_output(args.output, POPULATION_SUFFIXES)
        check_not_input([args.output], [args.targets, model_file(args.model)])
    ids = None
    if args.targets is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            targets, ids = read_targets(args.targets)
        print_warnings(caught)
    else:
        if args.g_s is None or args.g_u is None:
            raise ValueError("give --g-s and --g-u, or --targets FILE")
        targets = np.array([[args.g_s, args.g_u]])
    check_population_memory(args.model, len(targets), args.n)  # before any work
    warn_if_large(args.output, len(targets) * args.n, get_model(args.model).n_conductances)
    try:
        with warnings.catch_warnings(record=True) as caught, progress_bar(args, "cells") as bar:
            warnings.simplefilter("always", UserWarning)
            pop = _sample_in_blocks(args.model, targets, args.n, args.seed, bar.update_to)
    except UnreachableTargetError as err:
        print(f"sbidic population: error: {err}", file=sys.stderr)
        if args.output:
            print(f"nothing written to {args.output}", file=sys.stderr)
        return 2
    if ids is not None:
        pop = replace(pop, obs_id=ids)
    print_warnings(caught)
    print(summarize(pop))
    if args.output:
        pop.save(args.output)
        print(f"\nwritten to {args.output}")
    return 0


#: Cells sampled at once by ``sbidic population`` (a progress step; memory).
POPULATION_BLOCK = 2**18


def _sample_in_blocks(model, targets, n: int, seed, progress) -> Population:
    """``sample_populations`` in blocks of about POPULATION_BLOCK cells (cells per target
    split), reporting ``progress(cells done, cells)``; one call when it fits a block."""
    total = len(targets) * n
    per_block = max(1, POPULATION_BLOCK // len(targets))
    if n <= per_block:
        pop = sample_populations(model, targets, n, rng=seed)
        progress(total, total)
        return pop
    rng = np.random.default_rng(seed)
    parts, done = [], 0
    while done < n:
        k = min(per_block, n - done)
        parts.append(sample_populations(model, targets, k, rng=rng))
        done += k
        progress(done * len(targets), total)
    drawn = sum(p.conductances.shape[1] / np.maximum(p.acceptance, 1e-300) for p in parts)
    return Population(
        model=parts[0].model, conductance_names=parts[0].conductance_names,
        V_th=parts[0].V_th, target=parts[0].target,
        conductances=np.concatenate([p.conductances for p in parts], axis=1),
        dics=np.concatenate([p.dics for p in parts], axis=1),
        residual=np.concatenate([p.residual for p in parts], axis=1),
        acceptance=n / drawn,
    )  # fmt: skip


def add_population(sub: argparse._SubParsersAction) -> None:
    """``sbidic population``."""
    pop = sub.add_parser(
        "population",
        help="sample a degenerate population for target DICs (g_s, g_u)",
        description="Sample conductance sets that all have the target slow and ultraslow DICs "
        "(g_s, g_u; dimensionless, multiples of g_leak) at the model's threshold voltage "
        "(Brandoit et al. 2025).",
    )
    pop.add_argument("--model", required=True, type=model_argument, help=MODEL_HELP)
    pop.add_argument(
        "--g-s", type=float, help="target slow DIC g_s (dimensionless, multiples of g_leak)"
    )
    pop.add_argument(
        "--g-u", type=float, help="target ultraslow DIC g_u (dimensionless, multiples of g_leak)"
    )
    pop.add_argument(
        "--targets",
        metavar="FILE",
        help="CSV of many targets: 'g_s,g_u' lines, or a header naming g_s and g_u (an ID "
        "column names the populations)",
    )
    pop.add_argument("-n", type=int, default=100, help="cells per target (default 100)")
    pop.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    pop.add_argument(
        "-o", "--output", help="write the population: .csv (Spike2Pop: ID,g_Na,...), .nc or .nwb"
    )
    add_progress_flags(pop)
    pop.set_defaults(handler=run_population)
