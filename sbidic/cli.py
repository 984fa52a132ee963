"""The ``sbidic`` command line.

Examples
--------
``sbidic population --model stg --g-s -4 --g-u 5 -n 1000 --seed 0 -o pop.nc``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from sbidic._leftovers import private_tempdir
from sbidic.files import atomic_outputs, check_input, check_not_input, check_output, open_text
from sbidic.models import available_models, get_model, is_model_file, model_from_data
from sbidic.population import Population, UnreachableTargetError, sample_populations

__all__ = ["main", "read_targets", "summarize"]

#: Figure formats of ``--plot``.
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


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


def _progress_bar(args: argparse.Namespace, unit: str) -> _Bar:
    """Progress on stderr: when it is a terminal, or with --progress; never with --quiet."""
    enabled = not args.quiet and (args.progress or sys.stderr.isatty())
    return _Bar(enabled, unit)


def _add_progress_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar on stderr even when it is not a terminal",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def _warn_if_large(path, n_cells: int, n_conductances: int) -> None:
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


def _model_file(model: str | None) -> str | None:
    """The file of a ``--model path.py:NAME`` (an input no output may overwrite)."""
    return model.rpartition(":")[0] if model is not None and is_model_file(model) else None


def _protocol(args: argparse.Namespace) -> dict:
    """``simulate`` keywords of the --duration, --transient and --dt options given."""
    given = (("duration_ms", args.duration), ("transient_ms", args.transient), ("dt_ms", args.dt))
    return {key: value for key, value in given if value is not None}


def _print_warnings(caught) -> None:
    """Print sbidic's own warnings (not third-party deprecation notices) on stderr."""
    for w in caught:
        if issubclass(w.category, DeprecationWarning) or "sbidic" not in str(w.filename):
            continue
        print(f"warning: {w.message}", file=sys.stderr)


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


def _population(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sbidic.population.result import POPULATION_SUFFIXES
    from sbidic.population.sampler import check_population_memory

    if args.output:
        check_output(args.output, POPULATION_SUFFIXES)
        check_not_input([args.output], [args.targets, _model_file(args.model)])
    ids = None
    if args.targets is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            targets, ids = read_targets(args.targets)
        _print_warnings(caught)
    else:
        if args.g_s is None or args.g_u is None:
            raise ValueError("give --g-s and --g-u, or --targets FILE")
        targets = np.array([[args.g_s, args.g_u]])
    check_population_memory(args.model, len(targets), args.n)  # before any work
    _warn_if_large(args.output, len(targets) * args.n, get_model(args.model).n_conductances)
    try:
        with warnings.catch_warnings(record=True) as caught, _progress_bar(args, "cells") as bar:
            warnings.simplefilter("always", UserWarning)
            pop = _sample_in_blocks(args.model, targets, args.n, args.seed, bar.update_to)
    except UnreachableTargetError as err:
        print(f"sbidic population: error: {err}", file=sys.stderr)
        if args.output:
            print(f"nothing written to {args.output}", file=sys.stderr)
        return 2
    if ids is not None:
        pop = replace(pop, obs_id=ids)
    _print_warnings(caught)
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


def _dataset(args: argparse.Namespace) -> int:
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
        targets_per_chunk=args.chunk_targets,
    )
    generate_dataset(args.output, spec, n_jobs=args.jobs, scheduler=args.scheduler,
                     device=args.device)  # fmt: skip
    for key, value in dataset_status(args.output).items():
        print(f"{key:>20}: {value}")
    return 0


def _survey(args: argparse.Namespace) -> int:
    from sbidic.datasets.survey import survey

    if args.cells < 1:
        raise ValueError(f"--cells must be >= 1, got {args.cells}")
    space = survey(args.model, args.cells, args.output, seed=args.seed,
                   duration_ms=args.duration, transient_ms=args.transient, n_jobs=args.jobs,
                   device=args.device)  # fmt: skip
    print(space.summary())
    print(f"firing space written to {Path(args.output) / 'firing_space.json'} (.csv, .png)")
    return 0


def _simulate(args: argparse.Namespace) -> int:
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
    check_not_input([args.output, args.plot], [args.input, _model_file(args.model)])
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
    kwargs = _protocol(args)
    noise = None
    if args.noise_sigma is not None:
        noise = BandLimitedNoise.reference(model, args.noise_sigma)
    record = list(range(min(args.plot_cells, len(g)))) if args.plot else None
    with _progress_bar(args, "%") as bar:
        result = simulate(model, g, noise=noise, seed=args.seed, n_jobs=args.jobs,
                          device=args.device, record_v=record,
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


def _jitter(values: list[float]) -> float | tuple[float, float]:
    if len(values) > 2:
        raise ValueError(f"--jitter-ms takes one value or a range LO HI, got {values}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def _train(args: argparse.Namespace) -> int:
    from sbidic.inference import train_from_dataset

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    if args.init_from is not None:
        check_input(args.init_from, "--init-from estimator", directory=True)

    train_from_dataset(
        args.data,
        args.output,
        seed=args.seed,
        max_epochs=args.epochs,
        max_time_s=args.max_time,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        init_from=args.init_from,
        device=args.device,
        p_augment=args.p_augment,
        independent_steps=args.independent_augmentation or None,
        jitter_ms=None if args.jitter_ms is None else _jitter(args.jitter_ms),
        timing_features=args.timing_features,
        model=args.model,
    )
    print(f"estimator, checkpoint and model card written to {args.output}")
    return 0


def _recalibrate(args: argparse.Namespace) -> int:
    from sbidic.inference.recalibrate import recalibrate_from_dataset

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    check_input(args.estimator, "--estimator", directory=True)
    report = recalibrate_from_dataset(args.data, args.estimator, args.output, split=args.split,
                                      alpha=args.alpha, n_samples=args.samples,
                                      seed=args.seed)  # fmt: skip
    print(f"mean SBC rank of the true DICs on {report['n_trains']} {args.split} trains "
          f"(clustered SE; shifted where p < {args.alpha}):")  # fmt: skip
    for r in report["rows"]:
        if r["mean_rank"] is None:
            print(f"  {r['class']:>8} {r['dic']}: {r['n']} trains, too few to test")
            continue
        after = f" -> {r['mean_rank_after']:.3f} (shift {r['shift']:+.4f})" if r["shift"] else ""
        print(f"  {r['class']:>8} {r['dic']}: {r['mean_rank']:.3f} +- {r['se']:.3f} "
              f"(p = {r['p_value']:.2g}){after}")  # fmt: skip
    print(f"written to {args.output}; check it on data it was not fitted on "
          "(benchmarks/bench_estimator.py --split test)")  # fmt: skip
    return 0


def _refit_flow(args: argparse.Namespace) -> int:
    from sbidic.inference.refit import refit_from_dataset

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    check_input(args.estimator, "--estimator", directory=True)
    new_flow = {k: v for k, v in (("transforms", args.flow_transforms),
                                  ("hidden", args.flow_hidden), ("bins", args.flow_bins))
                if v is not None}  # fmt: skip
    refit_from_dataset(args.data, args.estimator, args.output, views=args.views,
                       epochs=args.epochs, learning_rate=args.lr, seed=args.seed,
                       new_flow=new_flow)  # fmt: skip
    step = json.loads((Path(args.output) / "model_card.json").read_text())["recipe"][-1]
    print(f"flow refitted on {step['n_fit']} trains x {step['views']} views: held-out NLL "
          f"{step['initial_holdout_nll']:.4f} -> {step['best_holdout_nll']:.4f} (epoch "
          f"{step['best_epoch']} of {step['epochs']}, {step['seconds']:.0f} s); written to "
          f"{args.output}")  # fmt: skip
    return 0


def _train_npe(args: argparse.Namespace) -> int:
    from sbidic.inference.npe import train_npe

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    posterior = train_npe(
        args.data, args.output, args.conditioner, max_epochs=args.max_epochs,
        max_time_s=args.max_time, batch_size=args.batch_size, learning_rate=args.lr,
        patience=args.patience, seed=args.seed, model=args.model,
    )  # fmt: skip
    t, d = posterior.card["training"], posterior.card["data"]
    print(f"NPE ({args.conditioner}) on {d['cells_used']} of {d['simulations']} simulations "
          f"(silent fraction {d['silent_fraction']:.1%}): {t['epochs']} epochs, "
          f"{t['stop_reason']}, {t['cpu_time_s']:.0f} CPU s; written to "
          f"{args.output}")  # fmt: skip
    return 0


def _atlas(args: argparse.Namespace) -> int:
    from sbidic.fidelity.atlas import ATLAS_SUFFIXES, build_firing_atlas

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    check_output(args.output, ATLAS_SUFFIXES)
    atlas = build_firing_atlas(args.data, split=args.split)
    atlas.save(args.output)
    silent = float((atlas.label == 0).mean())
    print(f"firing atlas of {atlas.n_targets} {atlas.model} targets x {atlas.label.shape[1]} "
          f"cells ({silent:.1%} silent) written to {args.output}")  # fmt: skip
    return 0


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


def _infer(args: argparse.Namespace) -> int:
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
        check_not_input(result_paths(args.output), [args.recordings, _model_file(args.model)])
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
    posterior = load_estimator_or_pretrained(args.model, args.estimator, args.regime,
                                             args.estimator_kind, args.conditioner)  # fmt: skip
    check_infer_memory(recordings, posterior, args.n, dics=args.dics, verify=args.verify)
    _warn_if_large(args.output, recordings.n_trains * args.n, posterior.model.n_conductances)
    simulation = {"n_jobs": args.jobs, **_protocol(args)}

    bar = _progress_bar(args, "recordings")
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
            budget=VerifyBudget(max_cells=args.max_cells, max_seconds=args.max_seconds),
            simulation=simulation, progress=bar.update_to,
        ):  # fmt: skip
            if writer is None:
                reports.append(part.report)
            else:
                writer.write(part)  # keeps the report
    _print_warnings(caught)
    report = writer.report if writer else pd.concat(reports, ignore_index=True)
    print(f"sbidic infer: model {posterior.model.name}, {len(report)} recording(s), "
          f"{args.n} cells per non-silent recording")  # fmt: skip
    print(format_report(report, max_rows=20 if writer and len(report) > 40 else None))
    for path in writer.written if writer else []:
        print(f"written to {path}")
    return 0


def _read_options(items: list[str]) -> dict:
    """``KEY=VALUE`` reader options; numbers become floats."""
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


def _app(args: argparse.Namespace) -> int:
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach this machine can use "
              "the app and read what is uploaded", file=sys.stderr)  # fmt: skip
    from sbidic.app import serve
    from sbidic.app.guard import normalize_host

    for name in args.allow_host:
        normalize_host(name)  # ValueError: "not a host name: ..."
    if args.max_jobs < 1:
        raise ValueError(f"sbidic app: --max-jobs must be >= 1, not {args.max_jobs}")
    if (args.model is None) != (args.estimator is None):
        raise ValueError("sbidic app: --model and --estimator go together (a model of your "
                         "own needs its trained estimator)")  # fmt: skip
    if args.model is not None:
        from sbidic.app.state import add_model

        check_input(args.estimator, "estimator", directory=True)
        add_model(args.model, args.estimator)
    try:
        serve(args.host, args.port, open_browser=not args.no_browser,
              upload_limit_mb=args.max_upload_mb, allowed_hosts=tuple(args.allow_host),
              max_jobs=args.max_jobs)  # fmt: skip
    except ImportError as err:
        raise ValueError(f"the app needs its extra: pip install 'sbidic[app]' ({err})") from None
    return 0


class _Parser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line on stderr, exit status 2 (no usage
    block): ``sbidic COMMAND: error: MESSAGE (see sbidic COMMAND --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    pop.add_argument("--model", required=True, type=model_argument, help=MODEL_HELP)
    pop.add_argument("--g-s", type=float, help="target slow DIC g_s (dimensionless)")
    pop.add_argument("--g-u", type=float, help="target ultraslow DIC g_u (dimensionless)")
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
    _add_progress_flags(pop)
    pop.set_defaults(handler=_population)

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
        help="number of (g_s, g_u) targets (DIC mode) or cells (Monte-Carlo mode)",
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
    ds.add_argument("--chunk-targets", type=int, default=64, help="targets per chunk file")
    ds.add_argument("--jobs", type=int, help="local worker processes (default: all cores)")
    ds.add_argument("--scheduler", metavar="ADDRESS", help="run chunks on a Dask cluster")
    ds.add_argument("--device", default="runtime",
                    help="Brian2 device: runtime (default), " + DEVICE_HELP)  # fmt: skip
    ds.add_argument("--status", action="store_true", help="only report progress of OUTPUT")
    ds.add_argument("-o", "--output", required=True, help="dataset directory")
    ds.set_defaults(handler=_dataset)

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
    sv.set_defaults(handler=_survey)

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
    sim.add_argument("--jobs", type=int, default=1, help="worker processes")
    sim.add_argument("--device", default="auto", help="Brian2 device: auto (default: a "
                     "compiled C++ program when one is already built for these settings or "
                     "the run is long enough to repay its build of about 6 s, else "
                     "runtime), " + DEVICE_HELP)  # fmt: skip
    sim.add_argument("--plot", metavar="PNG", help="also draw traces and conductances")
    sim.add_argument("--plot-cells", type=int, default=6, help="cells drawn with --plot")
    sim.add_argument("-o", "--output", required=True,
                     help="spike trains: .nc, .csv, .nwb, .npz or .txt")  # fmt: skip
    _add_progress_flags(sim)
    sim.set_defaults(handler=_simulate)

    inf = sub.add_parser(
        "infer",
        help="infer degenerate populations from recorded spike times",
        description="Read spike trains (Spike2Pop CSV, netCDF, NWB, Neo, npz/npy or text; "
        "docs/formats.md), infer the DICs "
        "(g_s, g_u) of each recording with the network, sample N conductance sets per "
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
    inf.add_argument("--jobs", type=int, default=1, help="simulation worker processes")
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
    _add_progress_flags(inf)
    inf.set_defaults(handler=_infer)

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
    at.set_defaults(handler=_atlas)

    tr = sub.add_parser(
        "train",
        help="train the spike-train -> DIC estimator on a dataset (resumable)",
        description="Train the spike-train encoder and the conditional density over "
        "(g_s, g_u) on a dataset from 'sbidic dataset' (train/validation splits by "
        "target). Rerun the same command to resume from OUTPUT/checkpoint.",
    )
    tr.add_argument("data", help="dataset directory")
    tr.add_argument("-o", "--output", required=True, help="estimator directory")
    tr.add_argument("--model", type=model_argument, help=DATASET_MODEL_HELP)
    tr.add_argument("--epochs", type=int, default=50, help="maximum epochs (default 50)")
    tr.add_argument("--max-time", type=float, help="stop after this many seconds")
    tr.add_argument("--batch-size", type=int, default=256)
    tr.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    tr.add_argument("--patience", type=int, default=10, help="early-stopping patience")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument(
        "--init-from", metavar="DIR",
        help="start from a saved estimator (transfer learning, e.g. sbidic/weights/stg)",
    )  # fmt: skip
    tr.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    tr.add_argument(
        "--p-augment", type=float, metavar="P",
        help="fraction of training trains augmented (default 0.5; the published 1.0)",
    )  # fmt: skip
    tr.add_argument(
        "--independent-augmentation", action="store_true",
        help="draw the jitter and the deletion + crop independently (each with P)",
    )  # fmt: skip
    tr.add_argument(
        "--jitter-ms", type=float, nargs="+", metavar="MS",
        help="training jitter sd (ms), or a range LO HI drawn log-uniformly (default 2)",
    )  # fmt: skip
    tr.add_argument(
        "--timing-features", action="store_true",
        help="give the encoder whole-train ISI-variability summaries (added to --init-from)",
    )  # fmt: skip
    tr.set_defaults(handler=_train)

    app = sub.add_parser(
        "app", help="the web application: load recordings, infer, simulate, download",
        description="Serve the sbidic web app on this machine and open it in the browser.",
    )  # fmt: skip
    app.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    app.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only)",
    )
    app.add_argument("--no-browser", action="store_true", help="do not open a browser")
    app.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests for this host name or address (repeatable; default: "
        "only 127.0.0.1, localhost, [::1] and the --host address)",
    )
    app.add_argument(
        "--max-jobs",
        type=int,
        default=2,
        help="inference and simulation jobs computing at once, over all pages (default 2)",
    )
    app.add_argument(
        "--max-upload-mb",
        type=float,
        default=50.0,
        help="largest accepted upload, MB (default 50)",
    )
    app.add_argument(
        "--model",
        type=model_argument,
        help="also offer your own model, path/to/model.py:NAME (with --estimator)",
    )
    app.add_argument("--estimator", help="its trained estimator directory (sbidic train)")
    app.set_defaults(handler=_app)

    rf = sub.add_parser(
        "refit-flow",
        help="refit a trained estimator's flow on its frozen encoder (calibration)",
        description="Fit only the flow of a trained estimator to its encoder's "
        "evaluation-mode embeddings of the dataset's train split (the clean trains and "
        "augmented copies), with early stopping on held-out training targets. Fixes the "
        "mismatch between the dropout-on embeddings of end-to-end training and those "
        "seen at inference. See docs/estimators.md.",
    )
    rf.add_argument("data", help="dataset directory (its train split is used)")
    rf.add_argument("--estimator", required=True, help="trained estimator directory")
    rf.add_argument("-o", "--output", required=True, help="refitted estimator directory")
    rf.add_argument(
        "--views",
        type=int,
        default=4,
        help="embeddings per train: clean + augmented copies (default 4)",
    )
    rf.add_argument("--epochs", type=int, default=6, help="epochs (default 6)")
    rf.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    rf.add_argument("--seed", type=int, default=0)
    new = rf.add_argument_group(
        "new flow", "fit a freshly initialised flow of this architecture instead of refining "
        "the trained one (give a larger --lr, e.g. 1e-3, and more --epochs)",
    )  # fmt: skip
    new.add_argument("--flow-transforms", type=int, help="autoregressive spline transforms")
    new.add_argument("--flow-hidden", type=int, nargs="+", metavar="H",
                     help="hidden layer sizes of each transform's conditioner")  # fmt: skip
    new.add_argument("--flow-bins", type=int, help="spline bins")
    rf.set_defaults(handler=_refit_flow)

    rc = sub.add_parser(
        "recalibrate",
        help="fit a per-class shift of a trained estimator's posterior on held-out data",
        description="Rank the true DICs of a dataset split's trains among posterior "
        "samples (simulation-based calibration) and, per firing class and DIC, where the "
        "mean rank differs from 1/2 (z-test, standard error clustered by target), "
        "translate the flow's space to bring it to 1/2. Fit on the validation split, "
        "check on the test split. See docs/estimators.md.",
    )
    rc.add_argument("data", help="dataset directory")
    rc.add_argument("--estimator", required=True, help="trained estimator directory")
    rc.add_argument("-o", "--output", required=True,
                    help="recalibrated estimator directory (may be --estimator)")  # fmt: skip
    rc.add_argument("--split", default="validation", choices=("train", "validation", "test"),
                    help="held-out split to fit on (default validation)")  # fmt: skip
    rc.add_argument("--alpha", type=float, default=0.05,
                    help="shift only where the mean rank differs from 1/2 at this level "
                    "(default 0.05)")  # fmt: skip
    rc.add_argument("--samples", type=int, default=200,
                    help="posterior samples per train (default 200)")  # fmt: skip
    rc.add_argument("--seed", type=int, default=0)
    rc.set_defaults(handler=_recalibrate)

    tn = sub.add_parser(
        "train-npe",
        help="train the NPE baseline (all conductances) on a Monte Carlo dataset",
        description="Neural posterior estimation over log-conductances (sbi NPE, zuko "
        "NSF) on a dataset from 'sbidic dataset --mode mc', conditioned on the spike-train "
        "encoder or on summary features. Writes weights.safetensors, config.json and a "
        "model card (recipe, budget, silent fraction, CPU time). See docs/npe.md.",
    )
    tn.add_argument("data", help="Monte Carlo dataset directory")
    tn.add_argument("--conditioner", choices=["embedding", "features"], required=True)
    tn.add_argument("-o", "--output", required=True, help="NPE posterior directory")
    tn.add_argument("--model", type=model_argument, help=DATASET_MODEL_HELP)
    tn.add_argument("--max-epochs", type=int, default=200, help="maximum epochs (default 200)")
    tn.add_argument("--max-time", type=float, help="stop after this many seconds")
    tn.add_argument("--batch-size", type=int, default=256)
    tn.add_argument("--lr", type=float, default=5e-4, help="learning rate (default 5e-4)")
    tn.add_argument("--patience", type=int, default=20, help="early-stopping patience")
    tn.add_argument("--seed", type=int, default=0)
    tn.set_defaults(handler=_train_npe)
    return parser


DEVICE_HELP = (
    "runtime, cpp_standalone (compiled C++; without noise the program is cached in "
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


def infer_model_argument(value: str) -> str:
    """``infer --model``: as :func:`model_argument`, or ``auto`` / ``auto:NAME`` (the
    shipped model, of NAME's cell type, whose firing atlas reaches most recordings)."""
    head, _, name = value.partition(":")
    if head.lower() == "auto" and not value.lower().endswith(".py"):
        if name:
            model_argument(name)
        return value
    return model_argument(value)


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
        _check_options(args)  # before any work
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


#: Options checked for every command that has them: name, lowest value, what it takes.
_BOUNDED_OPTIONS = (
    ("seed", 0, "a non-negative integer"),
    ("plot_cells", 1, "a positive integer"),
    ("port", 0, "a port number, 0 (any free port) to 65535"),
)


def _check_options(args: argparse.Namespace) -> None:
    """Refuse out-of-range numeric options before any work.

    Raises
    ------
    ValueError
        An option given out of its range, named as on the command line.
    """
    for name, lowest, what in _BOUNDED_OPTIONS:
        value = getattr(args, name, None)
        if value is None:
            continue
        highest = 65535 if name == "port" else None
        if value < lowest or (highest is not None and value > highest):
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option} must be {what}, not {value}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
