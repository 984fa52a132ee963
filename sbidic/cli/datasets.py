"""``sbidic dataset``, ``sbidic survey`` and ``sbidic atlas``: simulated data of a model.

A training dataset (resumable), the firing space of a model (a Monte Carlo survey) and
the firing atlas of a DIC dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sbidic.cli.options import DEVICE_HELP, MODEL_HELP, model_argument
from sbidic.files import check_input, check_output


def run_dataset(args: argparse.Namespace) -> int:
    from sbidic.datasets import DatasetSpec, dataset_status, generate_dataset

    if args.status:
        check_input(Path(args.output) / "manifest.json", "dataset manifest")
        for key, value in dataset_status(args.output).items():
            print(f"{key:>20}: {value}")
        return 0
    if args.model is None or args.targets is None:
        raise ValueError("sbidic dataset needs --model and --targets (or --status)")
    spec = DatasetSpec(
        model=args.model,
        n_targets=args.targets,
        mode=args.mode,
        cells_per_target=args.cells_per_target,
        seed=args.seed,
        duration_ms=args.duration,
        transient_ms=args.transient,
        dt_ms=args.dt,
        method=args.method,
        noise_sigma=args.noise_sigma,
        distribution=args.distribution,
        ranges=args.ranges,
        targets_per_chunk=args.chunk_targets,
    )
    generate_dataset(args.output, spec, n_jobs=args.jobs, scheduler=args.scheduler,
                     device=args.device)  # fmt: skip
    for key, value in dataset_status(args.output).items():
        print(f"{key:>20}: {value}")
    return 0


def run_survey(args: argparse.Namespace) -> int:
    from sbidic.datasets.survey import survey

    if args.cells < 1:
        raise ValueError(f"--cells must be >= 1, got {args.cells}")
    space = survey(args.model, args.cells, args.output, seed=args.seed,
                   duration_ms=args.duration, transient_ms=args.transient, n_jobs=args.jobs,
                   device=args.device)  # fmt: skip
    print(space.summary())
    print(f"firing space written to {Path(args.output) / 'firing_space.json'} (.csv, .png)")
    return 0


def run_atlas(args: argparse.Namespace) -> int:
    from sbidic.datasets import build_firing_atlas
    from sbidic.fidelity.atlas import ATLAS_SUFFIXES

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    check_output(args.output, ATLAS_SUFFIXES)
    atlas = build_firing_atlas(args.data, split=args.split)
    atlas.save(args.output)
    silent = float((atlas.label == 0).mean())
    print(f"firing atlas of {atlas.n_targets} {atlas.model} targets x {atlas.label.shape[1]} "
          f"cells ({silent:.1%} silent) written to {args.output}")  # fmt: skip
    return 0


def add_dataset(sub: argparse._SubParsersAction) -> None:
    """``sbidic dataset``."""
    ds = sub.add_parser(
        "dataset",
        help="generate a training dataset (resumable: rerun the same command to continue)",
        description="Sample conductances (DIC-targeted populations or Monte Carlo), simulate "
        "them with Brian2 and store spike trains, labels and features in chunked netCDF "
        "files under OUTPUT. Rerunning the same command resumes an interrupted run.",
    )
    ds.add_argument("--model", type=model_argument, help=MODEL_HELP + " (required)")
    ds.add_argument(
        "--targets", type=int,
        help="number of (g_s, g_u) targets (DIC mode; DICs are dimensionless, multiples of "
        "g_leak) or cells (Monte-Carlo mode)",
    )  # fmt: skip
    ds.add_argument("--mode", choices=["dic", "mc"], default="dic",
                    help="DIC-targeted populations (Latin hypercube) or Monte Carlo")  # fmt: skip
    ds.add_argument("--cells-per-target", type=int, default=16)
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--duration", type=float, help="simulated ms (default: model protocol)")
    ds.add_argument("--transient", type=float, help="discarded ms (default: model protocol)")
    ds.add_argument("--dt", type=float, help="integration step, ms (default: simulator's)")
    ds.add_argument("--method", help="Brian2 integration method (default: simulator's)")
    ds.add_argument(
        "--noise-sigma", type=float,
        help="band-limited noise, pre-filter sigma in uA/cm^2 (default: none)",
    )  # fmt: skip
    ds.add_argument("--distribution", choices=["uniform", "gamma"], default="uniform",
                    help="Monte-Carlo law of each conductance")  # fmt: skip
    ds.add_argument(
        "--ranges", choices=["monte_carlo", "plausible"], default="monte_carlo",
        help="Monte-Carlo box: the model's monte_carlo_ranges (default) or its plausible "
        "conductance_ranges",
    )  # fmt: skip
    ds.add_argument("--chunk-targets", type=int, default=64, help="targets per chunk file")
    ds.add_argument("--jobs", type=int, help="local worker processes (default: all cores)")
    ds.add_argument("--scheduler", metavar="ADDRESS", help="run chunks on a Dask cluster")
    ds.add_argument("--device", default="runtime",
                    help="Brian2 device: runtime (default), " + DEVICE_HELP)  # fmt: skip
    ds.add_argument("--status", action="store_true", help="only report progress of OUTPUT")
    ds.add_argument("-o", "--output", required=True, help="dataset directory")
    ds.set_defaults(handler=run_dataset)


def add_survey(sub: argparse._SubParsersAction) -> None:
    """``sbidic survey``."""
    sv = sub.add_parser(
        "survey",
        help="the firing space of a model: Monte Carlo cells, simulated, counted per pattern "
        "(resumable)",
        description="Draw every conductance uniformly over the model's Monte Carlo ranges, "
        "simulate the cells (a Monte Carlo dataset in OUTPUT, resumable) and count them per "
        "firing pattern: tonic rate (log bins, 1-100 Hz) and burst period (log bins, "
        "0.1-3 s) x spikes per burst (2-20) with the median duty cycle. Writes "
        "firing_space.json, .csv and .png in OUTPUT.",
    )
    sv.add_argument("--model", type=model_argument, required=True, help=MODEL_HELP)
    sv.add_argument("--cells", type=int, default=2000, help="Monte Carlo cells (default 2000)")
    sv.add_argument("--seed", type=int, default=0)
    sv.add_argument("--duration", type=float, help="simulated ms (default: model protocol)")
    sv.add_argument("--transient", type=float, help="discarded ms (default: model protocol)")
    sv.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    sv.add_argument("--device", default="runtime",
                    help="Brian2 device: runtime (default), " + DEVICE_HELP)  # fmt: skip
    sv.add_argument("-o", "--output", required=True, help="survey directory")
    sv.set_defaults(handler=run_survey)


def add_atlas(sub: argparse._SubParsersAction) -> None:
    """``sbidic atlas``."""
    at = sub.add_parser(
        "atlas",
        help="build the firing atlas of a DIC dataset (used by 'infer --dics calibrated')",
        description="Store how the simulated cells of every DIC target of a dataset fire "
        "(labels, rate, spikes per burst, burst period). Saved beside an estimator as "
        "firing_atlas.safetensors, it lets 'sbidic infer' pick the posterior draws most "
        "likely to reproduce each recording.",
    )
    at.add_argument("data", help="DIC dataset directory from 'sbidic dataset'")
    at.add_argument("--split", default="train", choices=["train", "validation", "test"],
                    help="targets used (default train: keep the test split out)")  # fmt: skip
    at.add_argument("-o", "--output", required=True,
                    help="atlas file, e.g. ESTIMATOR_DIR/firing_atlas.safetensors")  # fmt: skip
    at.set_defaults(handler=run_atlas)
