"""Training datasets: conductances, DICs, simulated spike trains, labels and features.

A dataset is a directory::

    manifest.json          the DatasetSpec and the sbidic version
    chunks/chunk_00000.nc  one netCDF file per chunk of targets (CF ragged spike trains)

Every chunk depends only on ``(spec, chunk index)``: targets come from one Latin
hypercube drawn from ``spec.seed``, each chunk seeds its populations with
``(seed, chunk)`` and each cell's noise with ``(seed, cell id)``. Chunks are written
atomically (a temporary file renamed into place), so a run killed at any moment and
started again with the same command skips the finished chunks and produces the same
dataset, with nothing lost or duplicated. Splits are by target, never by cell.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import contextvars
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sbidic.datasets.sampling import (
    RANGES,
    SPLITS,
    latin_hypercube_targets,
    model_ranges,
    monte_carlo_conductances,
    split_of,
)
from sbidic.models import get_model, is_model_file, model_from_data

__all__ = [
    "DatasetSpec",
    "decode_spike_steps",
    "encode_spike_steps",
    "generate_dataset",
    "run_chunk",
    "run_chunks",
]

MODES = ("dic", "mc")
#: True while a spec is read from a manifest (data, not the user's own words).
_FROM_MANIFEST: contextvars.ContextVar[bool] = contextvars.ContextVar("_FROM_MANIFEST",
                                                                      default=False)  # fmt: skip


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that determines a dataset.

    Attributes
    ----------
    model : str
        Model name.
    n_targets : int
        DIC mode: number of (g_s, g_u) targets. Monte-Carlo mode: number of cells.
    mode : {"dic", "mc"}
        DIC-sampled populations (Latin hypercube over the model's target box) or
        independent Monte-Carlo conductances.
    cells_per_target : int
        Cells per target (DIC mode; 1 in Monte-Carlo mode).
    seed : int
        Root seed.
    duration_ms, transient_ms : float or None
        Simulated time and discarded transient (ms); None uses the published protocol.
    dt_ms : float or None
        Integration step (ms); None uses the simulator's default.
    method : str or None
        Brian2 integration method; None uses the simulator's default.
    noise_sigma : float or None
        Pre-filter sigma (uA/cm^2) of the band-limited noise on the reference grid
        (0.1 ms STG, 0.05 ms DA); None for no noise.
    distribution : {"uniform", "gamma"}
        Monte-Carlo law of each conductance.
    ranges : {"monte_carlo", "plausible"}
        Monte-Carlo box: the model's ``monte_carlo_ranges`` or its plausible
        ``conductance_ranges`` (:func:`sbidic.datasets.sampling.model_ranges`).
    targets_per_chunk : int
        Targets (DIC) or cells (Monte-Carlo) per chunk file.
    fractions : (float, float, float)
        Train / validation / test fractions of the targets.

    Examples
    --------
    >>> spec = DatasetSpec(model="stg", n_targets=100, targets_per_chunk=32)
    >>> spec.n_chunks, list(spec.chunk_targets(3))
    (4, [96, 97, 98, 99])
    """

    model: str
    n_targets: int
    mode: str = "dic"
    cells_per_target: int = 16
    seed: int = 0
    duration_ms: float | None = None
    transient_ms: float | None = None
    dt_ms: float | None = None
    method: str | None = None
    noise_sigma: float | None = None
    distribution: str = "uniform"
    ranges: str = "monte_carlo"
    targets_per_chunk: int = 64
    fractions: tuple[float, float, float] = field(default=(0.8, 0.1, 0.1))

    def __post_init__(self) -> None:
        if _FROM_MANIFEST.get():  # data: a model file it names is never imported
            if not is_model_file(self.model):
                model_from_data(self.model, source="the dataset manifest")
        else:
            get_model(self.model)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("n_targets", "cells_per_target", "targets_per_chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.ranges not in RANGES:
            raise ValueError(f"ranges must be one of {RANGES}, got {self.ranges!r}")
        if self.mode == "mc" and not _FROM_MANIFEST.get():
            model_ranges(self.model, self.ranges)  # the model declares that box
        if self.mode == "mc" and self.cells_per_target != 1:
            object.__setattr__(self, "cells_per_target", 1)
        object.__setattr__(self, "fractions", tuple(float(f) for f in self.fractions))

    @property
    def n_chunks(self) -> int:
        return -(-self.n_targets // self.targets_per_chunk)

    def chunk_targets(self, chunk: int) -> range:
        lo = chunk * self.targets_per_chunk
        return range(lo, min(lo + self.targets_per_chunk, self.n_targets))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DatasetSpec:
        """The spec a manifest holds. Its model stays text: a model file it names is
        not imported (the user names it to use it, see :func:`model_from_data`)."""
        data = json.loads(text)
        data["fractions"] = tuple(data["fractions"])
        token = _FROM_MANIFEST.set(True)
        try:
            return cls(**data)
        finally:
            _FROM_MANIFEST.reset(token)


def _chunk_path(root: Path, chunk: int) -> Path:
    return root / "chunks" / f"chunk_{chunk:05d}.nc"


def _cells(spec: DatasetSpec, chunk: int):
    """Conductances of a chunk, with target index, cell id, targets and DICs."""
    from sbidic.dics import dynamic_input_conductances
    from sbidic.population import UnreachableTargetError, sample_populations

    model = get_model(spec.model)
    idx = np.asarray(spec.chunk_targets(chunk))
    rng = np.random.default_rng([spec.seed, chunk])
    if spec.mode == "dic":
        targets = latin_hypercube_targets(model, spec.n_targets, spec.seed)[idx]
        try:
            pop = sample_populations(model, targets, spec.cells_per_target, rng=rng)
        except UnreachableTargetError as err:
            pop = err.partial  # unreachable targets keep NaN cells, dropped below
        k = spec.cells_per_target
        g = pop.conductances.reshape(-1, model.n_conductances)
        dics = pop.dics.reshape(-1, 3)
        target_index = np.repeat(idx, k)
        cell_id = target_index * k + np.tile(np.arange(k), len(idx))
        target = np.repeat(targets, k, axis=0)
    else:
        g = monte_carlo_conductances(model, len(idx), rng, spec.distribution, spec.ranges)
        with np.errstate(all="ignore"):
            dics = dynamic_input_conductances(model, g)
        target_index = cell_id = idx
        target = np.full((len(idx), 2), np.nan)
    return model, g, dics, target, target_index, cell_id


def run_chunk(root: str | os.PathLike, spec: DatasetSpec, chunk: int) -> str:
    """Compute one chunk and write it atomically; skip it if it already exists.

    Returns the chunk's file name.
    """
    return run_chunks(root, spec, [chunk])[0]


def run_chunks(
    root: str | os.PathLike,
    spec: DatasetSpec,
    chunks,
    device: str = "runtime",
    n_jobs: int = 1,
) -> list[str]:
    """Compute several chunks with one simulation and write each atomically.

    Chunks that already exist are skipped. One simulation of all their cells lets a
    standalone Brian2 device (``"cuda"``, ``"cpp_standalone"``) compile its program
    once for many chunks. Cells are independent, so a chunk's cells get the same
    trains whichever chunks they are simulated with (up to the floating-point
    differences between devices; the device is stored in each chunk's
    ``simulation`` attribute).

    Returns
    -------
    list of str
        The chunks' file names, in the order of ``chunks``.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from sbidic.simulate import simulate
    from sbidic.simulate.noise import BandLimitedNoise

    root = Path(root)
    names = [_chunk_path(root, c).name for c in chunks]
    todo = [c for c in dict.fromkeys(chunks) if not _chunk_path(root, c).exists()]
    if not todo:
        return names
    t0 = time.perf_counter()
    cells = [_cells(spec, c) for c in todo]
    model = cells[0][0]
    ok = [np.isfinite(c[1]).all(axis=1) for c in cells]
    kwargs = {}
    for name in ("duration_ms", "transient_ms", "dt_ms", "method"):
        if getattr(spec, name) is not None:
            kwargs[name] = getattr(spec, name)
    noise = None
    if spec.noise_sigma is not None:
        noise = BandLimitedNoise.reference(model, spec.noise_sigma)
    g = np.concatenate([c[1][k] for c, k in zip(cells, ok, strict=True)])
    ids = np.concatenate([c[5][k] for c, k in zip(cells, ok, strict=True)])
    sim = simulate(model, g, noise=noise, seed=spec.seed, cell_ids=ids, device=device,
                   n_jobs=n_jobs, **kwargs)  # fmt: skip
    wall = time.perf_counter() - t0
    edges = np.cumsum([0] + [int(k.sum()) for k in ok])
    for i, (chunk, c, k) in enumerate(zip(todo, cells, ok, strict=True)):
        part = slice(edges[i], edges[i + 1])
        share = (edges[i + 1] - edges[i]) / max(edges[-1], 1)
        _write_chunk(root, spec, chunk, c, k, sim.spikes[part], sim.diverged[part], sim.settings,
                     wall * share)  # fmt: skip
    return names


def _write_chunk(root: Path, spec, chunk, cells, ok, trains, diverged, settings, wall_s):
    import xarray as xr

    from sbidic.spikes import spike_features

    model, g, dics, target, target_index, cell_id = cells
    split = split_of(target_index[ok], spec.n_targets, spec.seed, spec.fractions)
    dt = float(settings["dt_ms"])
    ds = xr.Dataset(
        {
            "conductances": (("cell", "conductance"), g[ok].astype(np.float32),
                             {"units": "mS/cm^2"}),
            "target": (("cell", "target_dic"), target[ok].astype(np.float32)),
            "dics": (("cell", "dic"), dics[ok].astype(np.float32)),
            "target_index": ("cell", target_index[ok].astype(np.int32)),
            "split_code": ("cell", np.array([SPLITS.index(s) for s in split], np.int8),
                           {"flag_meanings": " ".join(SPLITS)}),
            "label_code": ("cell", spike_features(trains).label_code.astype(np.int8),
                           {"flag_meanings": "silent spiking bursting"}),
            "n_spikes": ("cell", trains.n_spikes.astype(np.int32)),
            "diverged": ("cell", diverged.astype(np.int8),
                         {"long_name": "the voltage became non-finite (integration blow-up): "
                          "no spikes kept, labelled silent", "flag_values": "0 1"}),
            "spike_step_delta": ("spike", encode_spike_steps(trains, dt),
                                 {"long_name": "per train: first spike time, then ISIs, "
                                  "in integer steps of dt_ms", "dt_ms": dt}),
            "unreachable_target": ("unreachable", np.unique(target_index[~ok]).astype(np.int32)),
        },
        coords={
            "cell_id": ("cell", cell_id[ok].astype(np.int64)),
            "conductance": list(model.conductances),
            "target_dic": ["g_s", "g_u"],
            "dic": ["g_f", "g_s", "g_u"],
        },
    )  # fmt: skip
    ds.attrs.update(
        spec=spec.to_json(),
        chunk=chunk,
        model=model.name,
        V_th_mV=model.V_th,
        dt_ms=dt,
        wall_time_s=wall_s,
        simulation=json.dumps({k: v for k, v in settings.items() if _jsonable(v)}),
    )
    out = _chunk_path(root, chunk)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    ds.to_netcdf(tmp, encoding={k: {"zlib": True, "complevel": 6, "shuffle": True}
                                for k in ds.data_vars})  # fmt: skip
    os.replace(tmp, out)


def encode_spike_steps(trains, dt_ms: float) -> np.ndarray:
    """Spike times (on the grid ``k * dt_ms``) as integer steps, delta-coded per train.

    Chunk files store the first spike of each train as its step and the following
    spikes as step differences: small, repetitive integers that deflate about 3x
    better than absolute times. :func:`decode_spike_steps` inverts it exactly.
    """
    steps = np.rint(trains.times / dt_ms).astype(np.int64)
    if not np.allclose(steps * dt_ms, trains.times, rtol=0, atol=1e-6 * dt_ms + 1e-9):
        raise ValueError("spike times are not on the simulation grid k * dt_ms")
    delta = np.diff(steps, prepend=0)
    starts = trains.offsets[:-1][trains.n_spikes > 0]
    delta[starts] = steps[starts]
    return delta.astype(np.int32)


def decode_spike_steps(delta: np.ndarray, n_spikes: np.ndarray, dt_ms: float) -> np.ndarray:
    """Absolute spike times (ms) from :func:`encode_spike_steps` output."""
    total = np.cumsum(delta.astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(n_spikes)])
    before = np.concatenate([[0], total])[offsets[:-1]]  # running sum before each train
    return (total - np.repeat(before, n_spikes)) * dt_ms


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def _prepare(root: Path, spec: DatasetSpec) -> None:
    manifest = root / "manifest.json"
    if manifest.exists():
        existing = DatasetSpec.from_json(json.loads(manifest.read_text())["spec"])
        if existing != spec:
            raise ValueError(
                f"{root} already holds a different dataset ({existing}); "
                "choose another output directory or delete it"
            )
        return
    from sbidic._version import __version__

    root.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps({"spec": spec.to_json(), "sbidic_version": __version__}, indent=2))
    os.replace(tmp, manifest)


def generate_dataset(
    root: str | os.PathLike,
    spec: DatasetSpec,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    device: str = "runtime",
    max_cells_per_run: int = 2**13,
) -> list[str]:
    """Generate (or finish) a dataset in the directory ``root``.

    Parameters
    ----------
    root : path
        Output directory; created if needed. Rerunning with the same spec resumes.
    spec : DatasetSpec
        What to generate.
    n_jobs : int, optional
        Local worker processes (default: all cores). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of an existing Dask distributed scheduler; chunks run on its workers.
    progress : bool
        Show a progress bar with an ETA.
    device : str
        Brian2 device (:mod:`sbidic.simulate.devices`). With a standalone device
        (``"cuda"``, ``"cpp_standalone"``) the pending chunks are simulated together,
        up to ``max_cells_per_run`` cells per run, from this process (with
        ``"cpp_standalone"``, ``n_jobs`` processes of the cached program, or OpenMP
        threads of a one-off program with noise).
    max_cells_per_run : int, default 8192
        Cells per standalone program run. Chunks are written after each run, so this
        bounds what an interruption loses (about 15 CPU-minutes of STG at 13 s);
        the cached C++ program makes more runs nearly free (``"cuda"`` compiles each
        run: raise it there).

    Returns
    -------
    list of str
        Chunk files computed by this call.

    Examples
    --------
    A tiny dataset (2 targets x 2 cells, 300 ms each), its cells and its status:

    >>> import tempfile
    >>> from sbidic.datasets import dataset_status, load_dataset
    >>> root = Path(tempfile.mkdtemp()) / "tiny"
    >>> spec = DatasetSpec(model="stg", n_targets=2, cells_per_target=2, duration_ms=300.0,
    ...                    transient_ms=100.0, targets_per_chunk=2)
    >>> generate_dataset(root, spec, n_jobs=1, progress=False)
    ['chunk_00000.nc']
    >>> load_dataset(root)["conductances"].shape  # cells x conductances
    (4, 8)
    >>> status = dataset_status(root)
    >>> status["chunks_done"], status["cells"]
    (1, 4)
    >>> generate_dataset(root, spec, n_jobs=1, progress=False)  # complete: nothing to do
    []
    """
    from sbidic.simulate.devices import resolve_device

    device = resolve_device(device)
    root = Path(root)
    _prepare(root, spec)
    pending = [c for c in range(spec.n_chunks) if not _chunk_path(root, c).exists()]
    done: list[str] = []
    if not pending:
        return done
    from tqdm.auto import tqdm

    bar = tqdm(total=spec.n_chunks, initial=spec.n_chunks - len(pending), unit="chunk",
               disable=not progress, desc=f"{spec.model} dataset")  # fmt: skip
    if device != "runtime":
        per_run = max(1, max_cells_per_run // (spec.targets_per_chunk * spec.cells_per_target))
        for i in range(0, len(pending), per_run):
            done.extend(run_chunks(root, spec, pending[i : i + per_run], device=device,
                                   n_jobs=n_jobs or os.cpu_count() or 1))  # fmt: skip
            bar.update(len(pending[i : i + per_run]))
    elif scheduler is not None:
        from dask.distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = client.map(run_chunk, [str(root)] * len(pending), [spec] * len(pending),
                                 pending, pure=False)  # fmt: skip
            for future in as_completed(futures):
                done.append(future.result())
                bar.update()
    else:
        n_jobs = n_jobs or os.cpu_count() or 1
        if n_jobs == 1:
            for chunk in pending:
                done.append(run_chunk(root, spec, chunk))
                bar.update()
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(run_chunk, root, spec, c) for c in pending]
                for future in as_completed(futures):
                    done.append(future.result())
                    bar.update()
    bar.close()
    return done
