"""What the app holds: loaded recordings, inference results, simulations, and the
background job that computes them (progress and cancel).

Everything here calls the public API (:func:`sbidic.read_spikes`, :func:`sbidic.infer`,
:func:`sbidic.fidelity.simulate_and_score`) with the CLI's settings; nothing here is
specific to the web framework, so it is tested directly.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sbidic.spikes import SpikeTrains, read_spikes

__all__ = [
    "Cancelled",
    "Inference",
    "Job",
    "JobLimit",
    "Loaded",
    "ServerBusy",
    "Simulation",
    "add_model",
    "example_names",
    "load_example",
    "load_pasted",
    "load_upload",
    "models",
    "parse_cells",
    "prepare",
    "run_inference",
    "run_simulation",
    "upload_file",
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: Models added with :func:`add_model` (``sbidic app --model``): name -> (model as
#: given, estimator directory).
_ADDED: dict[str, tuple[str, str]] = {}


@dataclass(frozen=True)
class Loaded:
    """Recordings and where they came from (a file name, "pasted text", an example)."""

    trains: SpikeTrains
    source: str
    path: Path | None = None  # the file, for the CLI-equivalent command (its name)


def prepare() -> None:
    """Import Brian2 and choose its code generation in the main thread: the jobs run in
    worker threads, where Brian2's import cannot install its signal handlers and
    ``codegen="auto"`` then falls back to numpy (measured: 292 s instead of 16 s for
    one STG cell over 2.5 s)."""
    from sbidic.simulate.brian import codegen_target

    codegen_target()


def models() -> tuple[str, ...]:
    """Registered models with shipped weights, then the models added with :func:`add_model`."""
    from sbidic.inference.pretrained import available_pretrained
    from sbidic.models import available_models

    shipped = tuple(m for m in available_pretrained() if m in available_models())
    return shipped + tuple(m for m in _ADDED if m not in shipped)


def add_model(model: str, estimator_dir: str | Path) -> str:
    """Offer a user's model (``path/to/model.py:NAME`` or an entry point) with its
    trained estimator in the app; returns the model's name.

    The model is registered under its name in this process, so populations and
    simulations find it like a built-in one.

    Raises
    ------
    ValueError
        The model does not load, or the estimator was trained for another model.
    """
    from sbidic.inference.pretrained import load_estimator_or_pretrained
    from sbidic.models import get_model, register_model

    loaded = get_model(model)
    load_estimator_or_pretrained(model, str(estimator_dir))  # checks it fits the model
    register_model(type(loaded))
    _ADDED[loaded.name] = (str(model), str(estimator_dir))
    return loaded.name


def example_names() -> tuple[str, ...]:
    """Bundled example recordings, e.g. ``("da_recordings.csv", "stg_recordings.csv")``."""
    return tuple(sorted(p.name for p in EXAMPLES.glob("*_recordings.csv")))


def load_example(name: str) -> Loaded:
    """One bundled example file."""
    if name not in example_names():
        raise ValueError(f"no example named {name!r}; examples: {', '.join(example_names())}")
    path = EXAMPLES / name
    return Loaded(read_spikes(path), f"example {name}", path)


def upload_file(datapath: str | Path, upload_dir: str | Path) -> Path:
    """The real path of an uploaded file, checked to lie in ``upload_dir``.

    The path comes from the browser (the upload input's ``datapath``), so it is only
    trusted where it names a regular file inside the upload mechanism's own temporary
    folder (Shiny's per-session upload directory), after resolving every symbolic link.

    Raises
    ------
    ValueError
        ``"upload rejected: ..."``: not a path, outside ``upload_dir``, a symbolic link
        or not a regular file.
    """
    if not isinstance(datapath, str | Path) or not str(datapath) or "\0" in str(datapath):
        raise ValueError("upload rejected: no file path from the upload")
    base = Path(os.path.realpath(upload_dir))
    given = Path(os.path.abspath(datapath))
    real = Path(os.path.realpath(given))
    if real == base or base not in real.parents:
        raise ValueError("upload rejected: the file is not one this page uploaded")
    if given.is_symlink() or not real.is_file():
        raise ValueError("upload rejected: not a regular uploaded file")
    return real


def load_upload(datapath: str | Path, name: str, limit_mb: float, workdir: Path,
                upload_dir: str | Path) -> Loaded:  # fmt: skip
    """An uploaded file, read under its own name so that errors name it.

    Parameters
    ----------
    datapath : str or Path
        Where the upload mechanism stored the file (sent by the browser: checked by
        :func:`upload_file` to lie in ``upload_dir``).
    name : str
        The file's name on the user's machine (only its last part is used).
    limit_mb : float
        Largest accepted size, MB, checked on the file's real size (not on the size the
        browser declares).
    workdir : Path
        Where a temporary copy under ``name`` is made (and removed).
    upload_dir : str or Path
        The upload mechanism's own folder for this session.

    Raises
    ------
    ValueError
        The upload is rejected (:func:`upload_file`), too large (over ``limit_mb``),
        has an unknown suffix, or what :func:`sbidic.read_spikes` finds wrong (with the
        file name and line).
    """
    real = upload_file(datapath, upload_dir)
    name = Path(str(name)).name or "upload"
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(real, flags)
    except OSError:
        raise ValueError("upload rejected: the uploaded file cannot be opened") from None
    with open(fd, "rb") as src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("upload rejected: not a regular uploaded file")
        if info.st_size > limit_mb * 1e6:
            raise ValueError(
                f"{name} is {info.st_size / 1e6:.3g} MB, over the upload limit of "
                f"{limit_mb:g} MB (start the app with 'sbidic app --max-upload-mb N' to "
                "allow more)"
            )
        with tempfile.TemporaryDirectory(dir=workdir) as folder:
            path = Path(folder) / name
            with open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            try:
                trains = read_spikes(path)
            except (ValueError, OSError, KeyError) as err:
                raise ValueError(str(err).replace(f"{folder}/", "")) from None
    return Loaded(trains, name, Path(name))


def load_pasted(text: str) -> Loaded:
    """Spike times pasted one recording per line: ``[ID:] t1, t2, ...`` (ms; commas,
    spaces or semicolons between times). Errors name the line."""
    ids, trains = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, _, times = line.rpartition(":")
        parts = [p for p in re.split(r"[,;\s\[\]]+", times) if p]
        values = []
        for k, p in enumerate(parts, start=1):
            try:
                values.append(float(p))
            except ValueError:
                raise ValueError(
                    f"pasted text, line {number}: spike {k}, {p!r}, is not a number"
                ) from None
        ids.append(name.strip() or f"line{number}")
        trains.append(np.array(values))
    if not trains:
        raise ValueError("pasted text: no spike times (one recording per line)")
    if len(set(ids)) != len(ids):
        raise ValueError("pasted text: recording names repeat; give each line its own name")
    return Loaded(SpikeTrains.from_list(trains, ids=ids, check=False).validate(), "pasted text")


def parse_cells(text: str, n_cells: int) -> np.ndarray:
    """Cell numbers from ``"0, 2, 5-7"`` (0-based, within ``n_cells``)."""
    cells: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"cells: {part!r} is not a number or a range like 2-5") from None
        if not 0 <= a <= b < n_cells:
            raise ValueError(f"cells: {part!r} is outside 0-{n_cells - 1}")
        cells.extend(range(a, b + 1))
    if not cells:
        raise ValueError("cells: choose at least one cell, e.g. 0 or 0-3")
    return np.array(sorted(set(cells)))


class Cancelled(Exception):
    """Raised inside a job's progress callback after a cancel request."""


class Job:
    """A function run in a background thread, with progress and cancel.

    ``fn(progress)`` gets ``progress(fraction)``; after :meth:`cancel` the next call
    of it raises :class:`Cancelled` (the library reports progress per batch of
    recordings and every 2 s of simulation, so cancel takes effect there).
    """

    def __init__(self, label: str, fn) -> None:
        self.label, self.fraction, self.result, self.error = label, 0.0, None, None
        self.status = "running"
        self.handled = False  # the page has taken the result
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _progress(self, fraction: float) -> None:
        if self._cancel.is_set():
            raise Cancelled
        self.fraction = float(fraction)

    def _run(self, fn) -> None:
        try:
            result = fn(self._progress)
            self._progress(1.0)
        except Cancelled:
            self.status = "cancelled"
            return
        except Exception as err:  # shown in the page, never a traceback
            self.error, self.status = f"{type(err).__name__}: {err}", "error"
            if isinstance(err, ValueError | OSError):
                self.error = str(err)
            return
        self.result, self.status = result, "done"

    def cancel(self) -> None:
        """Ask the job to stop; it is reported cancelled at once."""
        self._cancel.set()
        if self.status == "running":
            self.status = "cancelled"

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.status == "running" and self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether its thread still computes (a cancelled job until its next report)."""
        return self._thread.is_alive()


class ServerBusy(Exception):
    """Raised by :meth:`JobLimit.start` when the server runs its limit of jobs."""


class JobLimit:
    """At most ``max_jobs`` jobs computing at once, across every page of the server
    (``sbidic app --max-jobs``); a cancelled job counts until its thread stops."""

    def __init__(self, max_jobs: int) -> None:
        if int(max_jobs) < 1:
            raise ValueError(f"max_jobs must be >= 1, not {max_jobs}")
        self.max_jobs = int(max_jobs)
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        """Jobs whose thread still computes."""
        with self._lock:
            self._jobs = [j for j in self._jobs if j.alive]
            return len(self._jobs)

    def start(self, label: str, fn) -> Job:
        """A new :class:`Job`, if fewer than ``max_jobs`` are computing.

        Raises
        ------
        ServerBusy
            ``max_jobs`` jobs are computing (on this page or others).
        """
        with self._lock:
            self._jobs = [j for j in self._jobs if j.alive]
            if len(self._jobs) >= self.max_jobs:
                raise ServerBusy(
                    f"the server is busy: {len(self._jobs)} job(s) running, its limit "
                    "(sbidic app --max-jobs N); try again when one has finished"
                )
            job = Job(label, fn)
            self._jobs.append(job)
            return job


@dataclass(frozen=True)
class Inference:
    """A finished ``sbidic.infer`` run and its settings."""

    loaded: Loaded
    model: str
    n: int
    seed: int
    result: object  # InferenceResult
    warnings: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        """The CLI command that writes the same files."""
        name = self.loaded.path.name if self.loaded.path is not None else "RECORDINGS.csv"
        model, estimator = _ADDED.get(self.model, (self.model, None))
        extra = f" --estimator {estimator}" if estimator else ""
        return (f"sbidic infer {name} --model {model}{extra} -n {self.n} --seed {self.seed} "
                "-o populations.nc")  # fmt: skip


def run_inference(loaded: Loaded, model: str, n: int, seed: int, progress=None) -> Inference:
    """``sbidic.infer`` with the CLI's defaults (``dics="auto"``, no verification)."""
    from sbidic.fidelity import FidelityCriteria
    from sbidic.inference import infer
    from sbidic.inference.pretrained import load_estimator_or_pretrained
    from sbidic.inference.verify import VerifyBudget

    if model not in models():
        raise ValueError(f"unknown model {model!r}; models with weights: {', '.join(models())}")
    given, estimator = _ADDED.get(model, (model, None))
    posterior = load_estimator_or_pretrained(given, estimator, "clean")
    step = None if progress is None else (lambda done, total: progress(done / total))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = infer(
            loaded.trains, posterior, n=int(n), seed=int(seed), dics="auto",
            criteria=FidelityCriteria(), budget=VerifyBudget(), simulation={"n_jobs": 1},
            progress=step,
        )  # fmt: skip
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, UserWarning))
    return Inference(loaded, model, int(n), int(seed), result, notes)


@dataclass(frozen=True)
class Simulation:
    """Simulated cells of chosen recordings, scored against them."""

    model: str
    recording: np.ndarray  # (n_sim,) index of each cell's recording in loaded.trains
    population_id: np.ndarray  # (n_sim,) recording id
    cell: np.ndarray  # (n_sim,) cell number within its recording's population
    conductances: np.ndarray  # (n_sim, n_conductances)
    result: object  # SimulationResult
    scores: object  # FidelityScores
    settings: dict = field(default_factory=dict)

    @property
    def cell_id(self) -> np.ndarray:
        """``"<recording>:<cell>"``, as ``sbidic simulate`` names cells."""
        return np.array([f"{p}:{c}" for p, c in zip(self.population_id, self.cell,
                                                      strict=True)])  # fmt: skip


def run_simulation(inference: Inference, obs_ids, cells: np.ndarray, *,
                   duration_ms: float | None = None, transient_ms: float | None = None,
                   dt_ms: float | None = None, noise_sigma: float | None = None,
                   seed: int = 0, progress=None) -> Simulation:  # fmt: skip
    """Simulate ``cells`` of the populations of ``obs_ids`` and score each cell
    against its recording (:func:`sbidic.fidelity.simulate_and_score`)."""
    from sbidic.fidelity import simulate_and_score
    from sbidic.models import get_model
    from sbidic.simulate.noise import BandLimitedNoise

    pop = inference.result.population
    if pop is None:
        raise ValueError("every recording is silent: there is no population to simulate")
    trains = inference.loaded.trains
    pop_ids = [str(x) for x in pop.obs_id]
    chosen = [str(x) for x in obs_ids]
    if not chosen:
        raise ValueError("choose at least one recording to simulate")
    missing = [x for x in chosen if x not in pop_ids]
    if missing:
        raise ValueError(f"recording(s) {missing} have no population (silent)")
    train_ids = [str(x) for x in trains.ids]
    t = np.repeat([pop_ids.index(x) for x in chosen], len(cells))
    cell = np.tile(cells, len(chosen))
    g = pop.conductances[t, cell]
    rec = np.array([train_ids.index(pop_ids[i]) for i in t])
    model = get_model(pop.model)
    kwargs = {key: v for key, v in (("duration_ms", duration_ms), ("transient_ms", transient_ms),
                                    ("dt_ms", dt_ms)) if v is not None}  # fmt: skip
    noise = None if not noise_sigma else BandLimitedNoise.reference(model, noise_sigma)
    result, scores = simulate_and_score(
        model, g, trains, rec, noise=noise, seed=int(seed),
        record_v=list(range(min(len(g), 12))), progress=progress, **kwargs,
    )  # fmt: skip
    settings = {**kwargs, "noise_sigma": noise_sigma, "seed": int(seed)}
    return Simulation(model.name, rec, np.asarray(pop.obs_id)[t].astype(str), cell, g,
                      result, scores, settings)  # fmt: skip
