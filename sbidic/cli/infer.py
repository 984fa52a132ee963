"""``sbidic infer``: degenerate populations from recorded spike times.

Also the text table of the per-recording report (:func:`format_report`) and the
``--model auto`` argument type.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from sbidic.cli.options import (
    MODEL_HELP,
    add_progress_flags,
    model_argument,
    model_file,
    print_warnings,
    progress_bar,
    protocol_options,
    warn_if_large,
)
from sbidic.files import check_input, check_not_input
from sbidic.models import get_model


def format_report(report, max_rows: int | None = None) -> str:
    """The per-recording report of :func:`sbidic.infer` as a text table (its first
    ``max_rows`` recordings and a line counting the others, if given)."""
    more = 0
    if max_rows is not None and len(report) > max_rows:
        report, more = report.iloc[:max_rows], len(report) - max_rows
    ci = "90% CI"
    head = (f"{'recording':<16}{'spikes':>7}  {'label':<9}{'g_s mean':>9}{'sd':>6}{ci:>18}"
            f"{'g_u mean':>10}{'sd':>6}{ci:>18}{'cells':>7}  status")  # fmt: skip
    lines = [head]
    for r in report.itertuples(index=False):
        if r.n_cells:
            dics = "".join(
                f"{m:>{w}.2f}{sd:>6.2f}{f'[{lo:.2f}, {hi:.2f}]':>18}"
                for m, sd, lo, hi, w in (
                    (r.g_s_mean, r.g_s_sd, r.g_s_q05, r.g_s_q95, 9),
                    (r.g_u_mean, r.g_u_sd, r.g_u_q05, r.g_u_q95, 10),
                )
            )
        else:
            dics = f"{'-':>9}{'':>6}{'':>18}{'-':>10}{'':>6}{'':>18}"
        lines.append(f"{str(r.obs_id):<16}{r.n_spikes:>7}  {r.label:<9}{dics}{r.n_cells:>7}  "
                     f"{r.status}")  # fmt: skip
    if "n_simulated" in report:
        lines.append(f"\n{'recording':<16}{'simulated':>10}{'passed':>8}{'accept':>8}"
                     f"{'class':>7}{'features':>9}{'vR':>8}  model adequacy")  # fmt: skip
        for r in report.itertuples(index=False):
            if r.n_cells:
                lines.append(
                    f"{str(r.obs_id):<16}{r.n_simulated:>10}{r.n_passed:>8}"
                    f"{r.acceptance_rate:>8.0%}{r.class_match:>7.0%}{r.feature_match:>9.0%}"
                    f"{r.van_rossum:>8.3f}  {r.adequacy or 'ok'}"
                )
    warned = [r for r in report.itertuples(index=False) if getattr(r, "warning", "")]
    if warned:
        lines.append("")
        lines.extend(f"warning: {r.obs_id}: {r.warning}" for r in warned)
    if more:
        lines.append(f"... and {more} more recordings (every row is in the written report)")
    return "\n".join(lines)


def run_infer(args: argparse.Namespace) -> int:
    import pandas as pd

    from sbidic.fidelity import FidelityCriteria
    from sbidic.inference import ResultWriter, iter_infer
    from sbidic.inference.infer import check_infer_memory
    from sbidic.inference.pretrained import load_estimator_or_pretrained
    from sbidic.inference.result import check_result_path, result_paths
    from sbidic.inference.verify import VerifyBudget
    from sbidic.spikes import detect_format, read_spikes
    from sbidic.spikes.readers import FORMATS

    check_input(args.recordings, "recordings file")
    if args.estimator is not None:
        check_input(args.estimator, "estimator", directory=True)
    if args.output:
        check_result_path(args.output)
        check_not_input(result_paths(args.output), [args.recordings, model_file(args.model)])
    in_format = args.format or detect_format(args.recordings)
    print(f"sbidic infer: reading {args.recordings} as {in_format} "
          f"({FORMATS[in_format].description})",
          file=sys.stderr)  # fmt: skip
    recordings = read_spikes(args.recordings, in_format, check=not args.repair,
                             **_read_options(args.read_option))  # fmt: skip
    if args.repair:
        recordings, repaired = recordings.repair()
        if repaired.changed:
            print(f"repaired: {repaired}", file=sys.stderr)
    if args.model.lower().split(":")[0] == "auto":
        from sbidic.inference.model_choice import choose_model

        if args.estimator is not None:
            raise ValueError("--model auto chooses among the shipped models; drop --estimator")
        _, _, like = args.model.partition(":")
        args.model, reason = choose_model(recordings, get_model(like).cell_type if like else None)
        print(f"sbidic infer: {reason}", file=sys.stderr)
    spread = {} if args.spread == "seed" else {"spread": args.spread}
    if spread and args.estimator_kind == "npe":
        raise ValueError("--spread applies to the DIC method's populations, not to NPE's")
    if args.proposal is not None:
        if args.estimator_kind == "npe" or not args.verify:
            raise ValueError("--proposal applies to --verify of the DIC method")
        spread["proposal"] = _proposal(args.proposal, args.model)
    posterior = load_estimator_or_pretrained(args.model, args.estimator, args.regime,
                                             args.estimator_kind, args.conditioner,
                                             **spread)  # fmt: skip
    check_infer_memory(recordings, posterior, args.n, dics=args.dics, verify=args.verify)
    warn_if_large(args.output, recordings.n_trains * args.n, posterior.model.n_conductances)
    simulation = {"n_jobs": args.jobs, **protocol_options(args)}
    if args.scheduler:
        simulation["scheduler"] = args.scheduler

    bar = progress_bar(args, "recordings")
    # populations go to the output batch by batch; only the report stays in memory
    source = args.recordings if in_format == "nwb" else None  # an NWB output keeps the session
    writer = ResultWriter(args.output, source=source) if args.output else None
    reports = []
    with bar, warnings.catch_warnings(record=True) as caught, writer or contextlib.nullcontext():
        warnings.simplefilter("always", UserWarning)
        for part in iter_infer(
            recordings, posterior, n=args.n, seed=args.seed, dics=args.dics,
            shrinkage=args.shrinkage, verify=args.verify, score=args.score,
            criteria=FidelityCriteria(criterion=args.criterion),
            budget=VerifyBudget(max_cells=args.max_cells, max_seconds=args.max_seconds,
                                noise_draws=args.noise_draws),
            simulation=simulation, progress=bar.update_to,
        ):  # fmt: skip
            if writer is None:
                reports.append(part.report)
            else:
                writer.write(part)  # keeps the report
    print_warnings(caught)
    report = writer.report if writer else pd.concat(reports, ignore_index=True)
    print(f"sbidic infer: model {posterior.model.name}, {len(report)} recording(s), "
          f"{args.n} cells per non-silent recording")  # fmt: skip
    print(format_report(report, max_rows=20 if writer and len(report) > 40 else None))
    for path in writer.written if writer else []:
        print(f"written to {path}")
    return 0


def _read_options(items: list[str]) -> dict:
    """``KEY=VALUE`` reader options; numbers become floats.

    >>> _read_options(["time_unit=s", "channel=1"])
    {'time_unit': 's', 'channel': 1.0}
    """
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--read-option takes KEY=VALUE, got {item!r}")
        try:
            options[key.strip()] = float(value)
        except ValueError:
            options[key.strip()] = value.strip()
    return options


def _spike_formats() -> list[str]:
    from sbidic.spikes.readers import FORMATS

    return list(FORMATS)


def infer_model_argument(value: str) -> str:
    """``infer --model``: as :func:`model_argument`, or ``auto`` / ``auto:NAME`` (the
    shipped model, of NAME's cell type, whose firing atlas reaches most recordings)."""
    head, _, name = value.partition(":")
    if head.lower() == "auto" and not value.lower().endswith(".py"):
        if name:
            model_argument(name)
        return value
    return model_argument(value)


def add_infer(sub: argparse._SubParsersAction) -> None:
    """``sbidic infer``."""
    inf = sub.add_parser(
        "infer",
        help="infer degenerate populations from recorded spike times",
        description="Read spike trains (Spike2Pop CSV, netCDF, NWB, Neo, npz/npy or text; "
        "docs/formats.md), infer the DICs "
        "(g_s, g_u; dimensionless, multiples of g_leak) of each recording with the network, "
        "sample N conductance sets per "
        "recording and write them (netCDF DataTree, or Spike2Pop CSV ID,g_Na,... for a .csv "
        "output, with the report beside it as NAME_report.csv). Recordings with fewer than 3 "
        "spikes are reported as silent; only the first 250 spikes of longer trains are read "
        "(reported).",
    )
    inf.add_argument("recordings", help="spike times: Spike2Pop CSV, netCDF, NWB, any file "
                     "Neo reads, .npz/.npy or text (docs/formats.md)")  # fmt: skip
    inf.add_argument("--format", choices=_spike_formats(),
                     help="reader of the recordings (default: by extension/content)")  # fmt: skip
    inf.add_argument("--read-option", action="append", default=[], metavar="KEY=VALUE",
                     help="reader option, e.g. time_unit=s, id_column=label, source=signals, "
                     "up_mV=0; nerve recordings: mode=extracellular, channel=1, threshold=7, "
                     "unit=1 (docs/formats.md)")  # fmt: skip
    inf.add_argument(
        "--model", required=True, type=infer_model_argument,
        help=MODEL_HELP + "; auto: the shipped model whose firing atlas reaches most "
        "recordings, auto:NAME: among the shipped models of NAME's cell type (e.g. auto:stg)",
    )  # fmt: skip
    inf.add_argument("-n", type=int, default=100, help="cells per recording (default 100)")
    inf.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    inf.add_argument(
        "--estimator", metavar="DIR",
        help="estimator directory from 'sbidic train' (default: the shipped weights)",
    )  # fmt: skip
    inf.add_argument(
        "--regime", default="clean",
        help="recordings without noise (clean, default) or under noisy current injection "
        "(noisy: the shipped STG estimator fine-tuned on noisy recordings; --verify and "
        "--score then simulate under the same noise)",
    )  # fmt: skip
    inf.add_argument(
        "--dics", choices=["auto", "calibrated", "mean", "posterior", "shrunk"], default="auto",
        help="DICs of the cells: the posterior draws the estimator's firing atlas ranks most "
        "likely to reproduce the recording (calibrated; auto = calibrated when the estimator "
        "has an atlas, else mean), all at the posterior mean, one posterior draw each (most "
        "diverse), or draws shrunk towards the mean",
    )  # fmt: skip
    inf.add_argument(
        "--spread", choices=["seed", "ranges"], default="seed",
        help="where each cell's free conductances are drawn before compensation: the "
        "seed's boxes of the published algorithm (default), or the model's plausible "
        "conductance ranges, every cell inside them (populations about 1.5x as spread, "
        "but far fewer unverified cells have the recording's features: use with --verify)",
    )  # fmt: skip
    inf.add_argument(
        "--proposal", metavar="npe|DIR",
        help="with --verify: half of the first cells (and of later fresh cells) start from "
        "draws of an NPE posterior over all conductances for the recording, compensated to "
        "their DIC targets (more diverse verified populations): 'npe' the model's shipped "
        "NPE baseline (features), or a directory of sbidic train-npe",
    )  # fmt: skip
    inf.add_argument("--shrinkage", type=float, default=0.5,
                     help="spread kept by --dics shrunk (default 0.5)")  # fmt: skip
    inf.add_argument(
        "--verify", action="store_true",
        help="simulate the cells (Brian2), keep only those that reproduce the recording and "
        "sample more until N pass or the budget is spent; reports acceptance and model "
        "adequacy per recording",
    )  # fmt: skip
    inf.add_argument(
        "--score",
        action="store_true",
        help="simulate and score the cells against the recording, keep all",
    )
    inf.add_argument(
        "--criterion", choices=["features", "class"], default="features",
        help="what 'reproduces' means: same class and features (rate within 10 %%, spikes "
        "per burst within 0.5, burst period within 10 %%; default) or same class only",
    )  # fmt: skip
    inf.add_argument(
        "--max-cells",
        type=int,
        help="--verify budget: cells simulated per recording (default 10 N)",
    )
    inf.add_argument("--max-seconds", type=float, help="--verify budget: wall-clock seconds")
    inf.add_argument(
        "--noise-draws", type=int, default=3,
        help="--verify under noise (--regime noisy, --noise-sigma): noise realisations each "
        "cell is simulated under; it passes only if it matches under every one (default 3)",
    )  # fmt: skip
    inf.add_argument("--jobs", type=int, default=1, help="parallel simulation workers "
                     "(threads on the vector kernel, processes on Brian2's devices)")  # fmt: skip
    inf.add_argument("--scheduler", metavar="ADDRESS", help="--verify/--score: simulate on "
                     "a Dask cluster (tcp://host:8786)")  # fmt: skip
    inf.add_argument("--duration", type=float, help="simulated ms (default: model protocol)")
    inf.add_argument("--transient", type=float, help="discarded ms (default: model protocol)")
    inf.add_argument("--dt", type=float, help="simulation step, ms (default: the model's)")
    inf.add_argument(
        "--repair", action="store_true",
        help="sort unsorted spike times and drop repeated ones (reported per recording) "
        "instead of stopping with an error",
    )  # fmt: skip
    inf.add_argument(
        "--estimator-kind",
        choices=["dic", "npe"],
        default="dic",
        help="DIC pipeline (default) or the NPE baseline (docs/npe.md)",
    )
    inf.add_argument(
        "--conditioner",
        choices=["embedding", "features"],
        default="embedding",
        help="conditioner of the shipped NPE posterior (--estimator-kind npe)",
    )
    inf.add_argument("-o", "--output", help="populations: .nc (DataTree), .csv or .nwb")
    add_progress_flags(inf)
    inf.set_defaults(handler=run_infer)


def _proposal(value: str, model: str):
    """``--proposal``: the shipped NPE baseline of ``model`` or an NPE directory."""
    from sbidic.inference.npe import load_npe
    from sbidic.inference.pretrained import npe_dir

    return load_npe(npe_dir(model, "features") if value == "npe" else value, model)
