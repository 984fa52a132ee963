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
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sbidic.spikes import SpikeTrains, read_spikes

__all__ = [
    "Cancelled",
    "DICS",
    "InferOptions",
    "Inference",
    "Job",
    "JobLimit",
    "Loaded",
    "ReadOptions",
    "ServerBusy",
    "Simulation",
    "TracePreview",
    "add_model",
    "add_model_file",
    "example_names",
    "load_example",
    "load_pasted",
    "load_upload",
    "model_files",
    "models",
    "estimator_kinds",
    "parse_cells",
    "prepare",
    "read_file",
    "regimes",
    "run_inference",
    "run_simulation",
    "suggested_model",
    "trace_preview",
    "upload_file",
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: Models added with :func:`add_model` (``sbidic app --model``): name -> (model as
#: given, estimator directory).
_ADDED: dict[str, tuple[str, str]] = {}


#: Reader of the files whose traces the read options (mode, channel, threshold) apply to.
TRACE_FORMAT = "neo"


@dataclass(frozen=True)
class ReadOptions:
    """How recordings are read: ``sbidic infer --repair`` and the Neo reader's options
    for traces (ABF and other files Neo reads; ``--read-option mode=extracellular``,
    ``channel=...``, ``threshold=...``; docs/formats.md)."""

    repair: bool = False
    mode: str = "intracellular"
    channel: str = ""
    threshold: float | None = None

    def reader_options(self) -> dict:
        """Keywords of :func:`sbidic.read_spikes` for a file read by Neo."""
        options: dict = {}
        if self.mode == "extracellular":
            options["mode"] = "extracellular"
        channel = self.channel.strip()
        if channel:
            options["channel"] = int(channel) if channel.isdigit() else channel
        if self.threshold is not None:
            options["threshold"] = float(self.threshold)
        return options

    def flags(self, fmt: str) -> str:
        """The CLI flags of these options for a file of format ``fmt``."""
        flags = " --repair" if self.repair else ""
        if fmt == TRACE_FORMAT:
            flags += "".join(f" --read-option {k}={v}" for k, v in self.reader_options().items())
        return flags


@dataclass(frozen=True)
class Loaded:
    """Recordings and where they came from (a file name, "pasted text", an example)."""

    trains: SpikeTrains
    source: str
    path: Path | None = None  # the file, for the CLI-equivalent command (its name)
    options: ReadOptions = ReadOptions()
    fmt: str = ""  # the reader used (sbidic.spikes.readers.FORMATS)
    notes: tuple[str, ...] = ()  # what --repair changed, the reader's warnings
    preview: object = None  # a TracePreview of a file read by Neo


@dataclass(frozen=True)
class TracePreview:
    """The first seconds of the trace spikes were detected in, and those spikes."""

    channel: str  # the train ID
    time_ms: np.ndarray
    values: np.ndarray
    unit: str
    spikes_ms: np.ndarray


def read_file(path: Path, options: ReadOptions) -> Loaded:
    """Read ``path`` as ``sbidic infer`` does with these options: Neo's options only for
    files Neo reads, ``--repair`` sorts and drops repeated times (reported in
    ``notes``), the reader's warnings kept in ``notes``.

    Raises
    ------
    ValueError
        What :func:`sbidic.read_spikes` finds wrong.
    """
    from sbidic.spikes import detect_format

    fmt = detect_format(path)
    kwargs = options.reader_options() if fmt == TRACE_FORMAT else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        trains = read_spikes(path, fmt, check=not options.repair, **kwargs)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    trains, repaired = _repaired(trains, options)
    notes += repaired
    preview = trace_preview(path, trains, options) if fmt == TRACE_FORMAT else None
    return Loaded(trains, path.name, Path(path.name), options, fmt, tuple(notes), preview)


def _repaired(trains: SpikeTrains, options: ReadOptions) -> tuple[SpikeTrains, list[str]]:
    if not options.repair:
        return trains, []
    trains, report = trains.repair()
    return trains, [f"repaired: {report}"] if report.changed else []


def trace_preview(path: Path, trains: SpikeTrains, options: ReadOptions,
                  seconds: float = 10.0, points: int = 4000) -> TracePreview | None:  # fmt: skip
    """The first ``seconds`` of the first trace read (the chosen channel, else the first
    voltage channel) with the spikes detected in it; None where the file's spikes came
    from its spike trains, not its traces."""
    from sbidic.spikes.readers.neo_io import read_trace

    trace = read_trace(path, options.reader_options().get("channel"))
    if trace is None or not len(trains):
        return None
    values, time_ms, unit = trace
    keep = time_ms <= time_ms[0] + seconds * 1000.0
    step = max(1, int(keep.sum()) // points)
    spikes = np.asarray(trains[0])
    shown = spikes[spikes <= time_ms[keep][-1]]
    return TracePreview(str(trains.ids[0]), time_ms[keep][::step], values[keep][::step], unit,
                        shown)  # fmt: skip


def prepare() -> None:
    """Import Brian2 and choose its code generation in the main thread: the jobs run in
    worker threads, where Brian2's import cannot install its signal handlers and
    ``codegen="auto"`` then falls back to numpy (measured: 292 s instead of 16 s for
    one STG cell over 2.5 s)."""
    from sbidic.simulate.brian import codegen_target

    codegen_target()


def models() -> tuple[str, ...]:
    """Registered models with shipped weights, then the models added with :func:`add_model`."""
    from sbidic.models import available_models

    shipped = tuple(m for m in _shipped_weights() if m in available_models())
    return shipped + tuple(m for m in _ADDED if m not in shipped)


def _weights_root() -> Path:
    return Path(__file__).resolve().parent.parent / "weights"


def _shipped_weights() -> tuple[str, ...]:
    """:func:`sbidic.inference.pretrained.available_pretrained` without importing
    :mod:`sbidic.inference` (torch, sbi: seconds), so that the first page is quick."""
    root = _weights_root()
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if (p / "weights.safetensors").is_file()))


def regimes(model: str) -> tuple[str, ...]:
    """Recording regimes with a shipped estimator of ``model`` (``"clean"``, then e.g.
    ``"noisy"``); ``("clean",)`` for a model added with :func:`add_model`."""
    root = _weights_root() / str(model)
    if model in _ADDED or not (root / "weights.safetensors").is_file():
        return ("clean",)
    extra = sorted(p.name for p in root.iterdir() if (p / "weights.safetensors").is_file())
    return ("clean", *(e for e in extra if e != "npe"))


def estimator_kinds(model: str) -> tuple[str, ...]:
    """``("dic",)``, and ``"npe"`` where ``model`` has a shipped NPE posterior."""
    has_npe = model not in _ADDED and (_weights_root() / str(model) / "npe").is_dir()
    return ("dic", "npe") if has_npe else ("dic",)


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


def model_files(model_dir: str | Path) -> tuple[str, ...]:
    """Models of the launch's ``--model-dir``: ``"FILE.py:CLASS"`` for each class of
    each ``FILE.py`` directly in ``model_dir`` that has its trained estimator beside it
    (``FILE_estimator/``, as ``sbidic train`` writes it). Found by parsing, never
    importing: a file runs only when the user adds its model."""
    import ast

    base = Path(os.path.realpath(model_dir))
    found = []
    for path in sorted(base.glob("*.py")):
        if path.is_symlink() or not (base / f"{path.stem}_estimator").is_dir():
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        found += [f"{path.name}:{node.name}" for node in tree.body
                  if isinstance(node, ast.ClassDef) and node.bases]  # fmt: skip
    return tuple(found)


def add_model_file(model_dir: str | Path, choice: str) -> str:
    """Add the model ``choice`` (one of :func:`model_files`, as the page sends it) with
    its estimator; returns the model's name.

    The choice comes from the browser, so it is only accepted where it is one of the
    listed models: never another path, never an uploaded file.

    Raises
    ------
    ValueError
        ``choice`` is not listed in ``model_dir``, or the model does not load.
    """
    if not isinstance(choice, str) or choice not in model_files(model_dir):
        raise ValueError(f"not a model file of {model_dir}: {choice!r}")
    file, _, name = choice.partition(":")
    base = Path(os.path.realpath(model_dir))
    path = base / file
    return add_model(f"{path}:{name}", base / f"{path.stem}_estimator")


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
                upload_dir: str | Path, options: ReadOptions | None = None) -> Loaded:  # fmt: skip
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
    options : ReadOptions, optional
        ``--repair`` and the options of files read by Neo (:func:`read_file`).

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
                loaded = read_file(path, options or ReadOptions())
            except (ValueError, OSError, KeyError) as err:
                raise ValueError(str(err).replace(f"{folder}/", "")) from None
    notes = tuple(n.replace(f"{folder}/", "") for n in loaded.notes)
    return Loaded(loaded.trains, name, Path(name), loaded.options, loaded.fmt, notes,
                  loaded.preview)  # fmt: skip


def load_pasted(text: str, options: ReadOptions | None = None) -> Loaded:
    """Spike times pasted one recording per line: ``[ID:] t1, t2, ...`` (ms; commas,
    spaces or semicolons between times). Errors name the line; ``options.repair`` sorts
    the times and drops repeated ones instead of refusing them."""
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
    options = options or ReadOptions()
    raw = SpikeTrains.from_list(trains, ids=ids, check=False)
    raw, notes = _repaired(raw, options)
    return Loaded(raw.validate(), "pasted text", options=options, notes=tuple(notes))


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
        self.started = time.monotonic()
        self.finished: float | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _progress(self, fraction: float) -> None:
        if self._cancel.is_set():
            raise Cancelled
        self.fraction = float(fraction)

    def _run(self, fn) -> None:
        try:
            self._compute(fn)
        finally:
            self.finished = time.monotonic()

    def _compute(self, fn) -> None:
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
    def elapsed_s(self) -> float:
        """Seconds since the job started (until it finished)."""
        return (self.finished or time.monotonic()) - self.started

    @property
    def eta_s(self) -> float | None:
        """Seconds left, extrapolated from the progress so far; None before any."""
        if self.status != "running" or not 0.0 < self.fraction < 1.0:
            return None
        return self.elapsed_s * (1.0 - self.fraction) / self.fraction

    def describe(self) -> str:
        """One line for the page: ``"simulation running: 40 %, 12 s elapsed, about 18 s
        left"``, ``"inference done in 8 s."``, ``"simulation cancelled."``."""
        if self.status == "running":
            eta = self.eta_s
            left = "estimating the time left" if eta is None else f"about {_seconds(eta)} left"
            return (f"{self.label} running: {self.fraction:.0%}, {_seconds(self.elapsed_s)} "
                    f"elapsed, {left}")  # fmt: skip
        return {"done": f"{self.label} done in {_seconds(self.elapsed_s)}.",
                "cancelled": f"{self.label} cancelled.",
                "error": f"{self.label} failed: {self.error}"}[self.status]  # fmt: skip

    @property
    def running(self) -> bool:
        return self.status == "running" and self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether its thread still computes (a cancelled job until its next report)."""
        return self._thread.is_alive()


def _seconds(value: float) -> str:
    """``"8 s"``, ``"2 min 5 s"``."""
    value = max(0, round(value))
    return f"{value} s" if value < 60 else f"{value // 60} min {value % 60} s"


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


#: ``--dics`` choices of ``sbidic infer``.
DICS = ("auto", "calibrated", "mean", "posterior", "shrunk")


@dataclass(frozen=True)
class InferOptions:
    """The ``sbidic infer`` flags the page offers beyond model, n and seed."""

    verify: bool = False
    regime: str = "clean"
    estimator_kind: str = "dic"
    dics: str = "auto"
    max_cells: int | None = None  # --verify budget per recording (default 10 n)
    duration_ms: float | None = None  # --verify protocol (default: the model's)
    transient_ms: float | None = None
    spread: str = "seed"  # --spread
    proposal: bool = False  # --proposal npe (with --verify)

    def flags(self) -> str:
        """These options as ``sbidic infer`` flags (defaults left out)."""
        flags = ""
        if self.regime != "clean":
            flags += f" --regime {self.regime}"
        if self.estimator_kind != "dic":
            flags += f" --estimator-kind {self.estimator_kind}"
        if self.dics != "auto":
            flags += f" --dics {self.dics}"
        if self.spread != "seed":
            flags += f" --spread {self.spread}"
        if self.verify:
            flags += " --verify"
            flags += " --proposal npe" if self.proposal else ""
            for flag, value in (("--max-cells", self.max_cells), ("--duration", self.duration_ms),
                                ("--transient", self.transient_ms)):  # fmt: skip
                flags += "" if value is None else f" {flag} {value:g}"
        return flags

    def protocol(self) -> dict:
        """``simulation`` keywords of :func:`sbidic.infer` (the CLI's ``--duration``,
        ``--transient``)."""
        given = (("duration_ms", self.duration_ms), ("transient_ms", self.transient_ms))
        return {k: v for k, v in given if v is not None}


@dataclass(frozen=True)
class Inference:
    """A finished ``sbidic.infer`` run and its settings."""

    loaded: Loaded
    model: str
    n: int
    seed: int
    result: object  # InferenceResult
    warnings: tuple[str, ...] = ()
    options: InferOptions = InferOptions()

    @property
    def command(self) -> str:
        """The CLI command that writes the same files."""
        name = self.loaded.path.name if self.loaded.path is not None else "RECORDINGS.csv"
        model, estimator = _ADDED.get(self.model, (self.model, None))
        extra = f" --estimator {estimator}" if estimator else ""
        read = self.loaded.options.flags(self.loaded.fmt)
        return (f"sbidic infer {name}{read} --model {model}{extra} -n {self.n} "
                f"--seed {self.seed}{self.options.flags()} -o populations.nc")  # fmt: skip

    @property
    def suggestions(self) -> dict[str, str]:
        """Recording ID -> the model the report suggests for it (``try --model NAME``)."""
        report = self.result.report
        if "warning" not in report:
            return {}
        found = {str(r): suggested_model(w) for r, w in zip(report.obs_id, report.warning,
                                                             strict=True)}  # fmt: skip
        return {r: m for r, m in found.items() if m and m in models()}


_SUGGESTION = re.compile(r"\(try --model ([\w.:/-]+)\)")


def suggested_model(warning) -> str | None:
    """The model a report warning suggests (``"... (try --model stg-liu)"`` ->
    ``"stg-liu"``), else None."""
    found = _SUGGESTION.search(warning) if isinstance(warning, str) else None
    return found.group(1) if found else None


def run_inference(loaded: Loaded, model: str, n: int, seed: int, progress=None,
                  options: InferOptions | None = None) -> Inference:  # fmt: skip
    """``sbidic.infer`` with the CLI's defaults and the page's ``options`` (``--verify``
    with its budget, ``--regime``, ``--estimator-kind``, ``--dics``); simulations run
    on Brian2's ``device="auto"``, the cached compiled programs, as the CLI's."""
    from sbidic.fidelity import FidelityCriteria
    from sbidic.inference import infer
    from sbidic.inference.pretrained import load_estimator_or_pretrained
    from sbidic.inference.verify import VerifyBudget

    options = options or InferOptions()
    if model not in models():
        raise ValueError(f"unknown model {model!r}; models with weights: {', '.join(models())}")
    given, estimator = _ADDED.get(model, (model, None))
    extra = {} if options.spread == "seed" else {"spread": options.spread}
    if options.proposal:
        extra["proposal"] = "npe"
    if extra and (options.estimator_kind == "npe" or (options.proposal and not options.verify)):
        raise ValueError("the spread and the NPE proposal apply to the DIC method's "
                         "populations; the proposal also needs Verify")  # fmt: skip
    posterior = load_estimator_or_pretrained(given, estimator, options.regime,
                                             options.estimator_kind, **extra)  # fmt: skip
    step = None if progress is None else (lambda done, total: progress(done / total))
    simulation = {"n_jobs": 1, "device": "auto", **options.protocol()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = infer(
            loaded.trains, posterior, n=int(n), seed=int(seed), dics=options.dics,
            criteria=FidelityCriteria(), budget=VerifyBudget(max_cells=options.max_cells),
            verify=options.verify, simulation=simulation, progress=step,
        )  # fmt: skip
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, UserWarning))
    return Inference(loaded, model, int(n), int(seed), result, notes, options)


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
        model, g, trains, rec, noise=noise, seed=int(seed), device="auto",
        record_v=list(range(min(len(g), 12))), progress=progress, **kwargs,
    )  # fmt: skip
    settings = {**kwargs, "noise_sigma": noise_sigma, "seed": int(seed)}
    return Simulation(model.name, rec, np.asarray(pop.obs_id)[t].astype(str), cell, g,
                      result, scores, settings)  # fmt: skip
