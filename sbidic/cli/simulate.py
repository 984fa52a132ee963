"""``sbidic simulate``: spike trains of a population's cells (Brian2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sbidic.cli.options import (
    DEVICE_HELP,
    MODEL_HELP,
    PLOT_SUFFIXES,
    add_progress_flags,
    model_argument,
    model_file,
    progress_bar,
    protocol_options,
)
from sbidic.files import atomic_outputs, check_input, check_not_input, check_output
from sbidic.models import get_model, is_model_file, model_from_data


def run_simulate(args: argparse.Namespace) -> int:
    from sbidic.population import load_population, read_conductance_csv
    from sbidic.simulate import simulate
    from sbidic.simulate.noise import BandLimitedNoise
    from sbidic.spikes import spike_features, write_spike_csv, write_spikes_netcdf
    from sbidic.spikes.io import SPIKE_SUFFIXES
    from sbidic.spikes.readers import write_spikes

    check_input(args.input, "conductances file")
    check_output(args.output, SPIKE_SUFFIXES)
    if args.plot:
        check_output(args.plot, PLOT_SUFFIXES, "figure")
    check_not_input([args.output, args.plot], [args.input, model_file(args.model)])
    if args.input.lower().endswith(".csv"):
        if args.model is None:
            raise ValueError("a conductance CSV needs --model to name its model")
        population_id, g, cell_id = read_conductance_csv(args.input, args.model,
                                                         with_cell_ids=True)  # fmt: skip
        model = get_model(args.model)
    else:
        pop = load_population(args.input)
        # the population names its model: a model file runs only if --model names it too
        model = model_from_data(pop.model, args.model, source=args.input)
        if not is_model_file(pop.model) and model.name != pop.model:
            raise ValueError(f"{args.input} holds a {pop.model!r} population, not {model.name!r}")
        g = pop.conductances.reshape(-1, len(pop.conductance_names))
        population_id = np.repeat(pop.obs_id, pop.n_cells)
        cell_id = None
    if cell_id is None:  # "<population ID>:<position in that population>"
        from sbidic._groups import rank_within_groups

        population_id = population_id.astype(str)
        rank = rank_within_groups(population_id)
        cell_id = np.char.add(np.char.add(population_id, ":"), rank.astype(str))
    kwargs = protocol_options(args)
    noise = None
    if args.noise_sigma is not None:
        noise = BandLimitedNoise.reference(model, args.noise_sigma)
    record = list(range(min(args.plot_cells, len(g)))) if args.plot else None
    with progress_bar(args, "%") as bar:
        result = simulate(model, g, noise=noise, seed=args.seed, n_jobs=args.jobs,
                          device=args.device, record_v=record, scheduler=args.scheduler,
                          progress=lambda f: bar.update_to(round(100 * f), 100),
                          **kwargs)  # fmt: skip
    feats = spike_features(result.spikes)
    labels, counts = np.unique(feats.label, return_counts=True)
    print(
        f"simulated {len(g)} {model.name} cells in {result.wall_time_s:.1f} s: "
        + ", ".join(f"{n} {label}" for label, n in zip(labels, counts, strict=True))
    )
    extra = {"population_ID": population_id.astype(str), "cell_ID": cell_id.astype(str),
             "label": feats.label}  # fmt: skip
    outputs = [args.output] + ([args.plot] if args.plot else [])
    suffix = Path(args.output).suffix.lower()
    with atomic_outputs(outputs) as tmp:
        if suffix == ".csv":
            write_spike_csv(result.spikes, tmp[0], extra_columns=extra)
        elif suffix == ".txt":
            write_spikes(result.spikes, tmp[0], "text")
            print("note: a text file holds the spike times only", file=sys.stderr)
        elif suffix in (".nwb", ".npz"):  # NWB unit columns / npz arrays, conductances too
            columns = {**extra, **dict(zip(model.conductance_labels, g.T, strict=True))}
            write_spikes(result.spikes, tmp[0], suffix[1:], extra=columns)
        else:
            ds = feats.to_dataset()
            ds["population_ID"] = ("train", extra["population_ID"])
            ds["cell_ID"] = ("train", extra["cell_ID"])
            write_spikes_netcdf(result.spikes, tmp[0], extra=ds)
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            from sbidic.plotting import plot_population

            fig = plot_population(result.spikes, g, model.conductance_labels, v_mV=result.v_mV,
                                  t_ms=result.t_ms, max_cells=args.plot_cells)  # fmt: skip
            fig.savefig(tmp[1], dpi=120, format=Path(args.plot).suffix[1:].lower())
    print(f"spike trains written to {args.output}")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def add_simulate(sub: argparse._SubParsersAction) -> None:
    """``sbidic simulate``."""
    sim = sub.add_parser(
        "simulate",
        help="simulate a population with Brian2 and write its spike trains",
        description="Simulate every cell of a population (netCDF from 'sbidic population', "
        "or a Spike2Pop conductance CSV ID,g_Na,...,g_leak with --model) and write the "
        "spike trains as netCDF or, for a .csv output, Spike2Pop CSV ID,spiking_times "
        "(.nwb, .npz: with the conductances as columns; .txt: times only). "
        "As in Spike2Pop, the output's ID numbers the simulated cells 0..n-1 in input "
        "order; the input ID is kept as population_ID, and cell_ID identifies each cell "
        "for joining results back: the input's cell_ID column when it has one, else "
        "'<population ID>:<position within that population>'.",
    )
    sim.add_argument("input", help="population .nc, or conductance .csv (needs --model)")
    sim.add_argument(
        "--model",
        type=model_argument,
        help="model of a CSV input (or of a user model's population): " + MODEL_HELP,
    )
    sim.add_argument("--duration", type=float, help="simulated ms (default: model protocol)")
    sim.add_argument("--transient", type=float, help="discarded ms (default: model protocol)")
    sim.add_argument("--dt", type=float, help="integration step, ms")
    sim.add_argument("--noise-sigma", type=float, help="band-limited noise sigma, uA/cm^2")
    sim.add_argument("--seed", type=int, default=0, help="noise seed")
    sim.add_argument("--jobs", type=int, default=1, help="parallel workers (threads on the "
                     "vector kernel, processes on Brian2's devices)")  # fmt: skip
    sim.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the cells on a Dask cluster (tcp://host:8786)")  # fmt: skip
    sim.add_argument("--device", default="auto", help="auto (default, without noise: the "
                     "vector kernel when it is already built for these settings or the run "
                     "is long enough to repay its build of about 4 s, else Brian2's "
                     "runtime), " + DEVICE_HELP)  # fmt: skip
    sim.add_argument("--plot", metavar="PNG", help="also draw traces and conductances")
    sim.add_argument("--plot-cells", type=int, default=6, help="cells drawn with --plot")
    sim.add_argument("-o", "--output", required=True,
                     help="spike trains: .nc, .csv, .nwb, .npz or .txt")  # fmt: skip
    add_progress_flags(sim)
    sim.set_defaults(handler=run_simulate)
