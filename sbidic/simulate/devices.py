"""Devices that :func:`sbidic.simulate.simulate` can run on: Brian2's, and the
vector kernel.

``"vector"`` (:mod:`sbidic.simulate.vector`) compiles Brian2's own update statements
into a C kernel with the cells in the vector lanes (no noise). ``"runtime"`` runs the
network from Python, step by step, with cython-generated kernels. The *standalone*
devices generate a complete program for the whole run, compile it and run it outside
Python, so no interpreter work is done per time step:

* ``"cpp_standalone"``: C++ (Brian2's own), on the CPU, with ``n_threads`` OpenMP
  threads; it needs a C++ compiler.
* ``"cuda_standalone"`` (alias ``"cuda"``): CUDA, on an NVIDIA GPU, through the
  ``brian2cuda`` package (``pip install brian2cuda``; it pins its own Brian2 version)
  and CUDA's ``nvcc`` compiler. One thread per cell, so it pays off for large
  populations such as dataset generation (``sbidic dataset --device cuda``).

A standalone run compiles its program first (measured: 2-8 s for C++, about 18 s for
CUDA). Without noise, C++ programs are built once per settings and cached
(:mod:`sbidic.simulate.compiled`), so only the first run pays; see
``docs/simulation.md`` for measured speeds.

References
----------
Stimberg M, Brette R, Goodman DFM (2019). Brian 2, an intuitive and efficient neural
simulator. eLife 8:e47314.
Alevi D, Stimberg M, Sprekeler H, Obermayer K, Augustin M (2022). Brian2CUDA:
flexible and efficient simulation of spiking neural network models on GPUs.
Front Neuroinform 16:883700.
"""

from __future__ import annotations

import os
import shutil
import tempfile

__all__ = ["DEVICES", "BrianDevice", "resolve_device"]

#: Devices accepted by :func:`sbidic.simulate.simulate`: Brian2's, and ``"vector"``,
#: Brian2's integration statements in a vectorised C kernel (:mod:`sbidic.simulate.vector`).
DEVICES = ("runtime", "cpp_standalone", "cuda_standalone", "vector")
_ALIASES = {"cuda": "cuda_standalone", "cpp": "cpp_standalone"}


def resolve_device(device: str) -> str:
    """Canonical Brian2 device name of ``device`` (``"cpp"`` → ``"cpp_standalone"``,
    ``"cuda"`` → ``"cuda_standalone"``, which needs brian2cuda: a ``ValueError`` says
    what to install when it is missing).

    Examples
    --------
    >>> resolve_device("cpp")
    'cpp_standalone'
    >>> resolve_device("runtime")
    'runtime'
    """
    name = _ALIASES.get(device, device)
    if name not in DEVICES:
        choices = ", ".join(repr(d) for d in (*DEVICES, *_ALIASES))
        raise ValueError(f"unknown device {device!r}; choose one of {choices}")
    if name == "cuda_standalone":
        _import_brian2cuda()
    return name


def _import_brian2cuda():
    try:
        import brian2cuda
    except ImportError as err:
        raise ValueError(
            "device 'cuda' needs the brian2cuda package and CUDA's nvcc compiler "
            f"(pip install brian2cuda; it could not be imported: {err})"
        ) from None
    return brian2cuda


def _configure_cuda(prefs) -> None:
    """Point brian2cuda at GPU 0 and its compute capability, read through the CUDA
    runtime when PyTorch or CuPy can (no ``deviceQuery`` binary needed)."""
    backend = prefs.devices.cuda_standalone.cuda_backend
    backend.gpu_id = int(os.environ.get("SBIDIC_CUDA_GPU", "0"))
    capability = _compute_capability(backend.gpu_id)
    if capability is not None:
        backend.detect_gpus = False
        backend.compute_capability = capability


def _compute_capability(gpu: int) -> float | None:
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(gpu)
            return float(f"{major}.{minor}")
    except Exception:  # noqa: BLE001 - fall back to brian2cuda's own detection
        pass
    try:
        import cupy

        major, minor = divmod(int(cupy.cuda.Device(gpu).compute_capability), 10)
        return float(f"{major}.{minor}")
    except Exception:  # noqa: BLE001
        return None


def _compile_as_cxx17(device) -> None:
    """Compile brian2cuda's program as C++17.

    brian2cuda's makefile asks for C++11, but the Thrust headers it includes need
    C++17 since CUDA 13 (C++14 since CUDA 12); every nvcc from CUDA 11 on accepts
    C++17, so the generated makefile is rewritten just before compilation.
    """
    original = type(device).compile_source

    def compile_source(directory, *args, **kwargs):
        makefile = os.path.join(directory, "makefile")
        with open(makefile) as f:
            text = f.read()
        with open(makefile, "w") as f:
            f.write(text.replace("-std=c++11", "-std=c++17"))
        return original(device, directory, *args, **kwargs)

    device.compile_source = compile_source


class BrianDevice:
    """Context in which new Brian2 objects belong to ``device``.

    For a standalone device, runs inside the context only record what to do;
    :meth:`build` then compiles and runs the program in a temporary directory, after
    which the objects' values can be read. On exit the runtime device is restored and
    the directory removed.

    Parameters
    ----------
    device : str
        One of :data:`DEVICES` (or an alias, see :func:`resolve_device`).
    n_threads : int
        OpenMP threads of ``"cpp_standalone"`` (ignored by the other devices).
    directory : str, optional
        Where a standalone device writes its program, kept on exit (default: a
        temporary directory, removed on exit).
    """

    def __init__(self, device: str, n_threads: int = 1, directory: str | None = None) -> None:
        self.name = resolve_device(device)
        self.n_threads = int(n_threads)
        self.directory: str | None = directory
        self._keep = directory is not None
        #: wall seconds of the last :meth:`build` (code generation and compilation
        #: included) and of running the compiled program
        self.timings: dict[str, float] = {}

    @property
    def standalone(self) -> bool:
        return self.name != "runtime"

    def __enter__(self) -> BrianDevice:
        if not self.standalone:
            return self
        import brian2 as b2

        if self.name == "cuda_standalone":
            _configure_cuda(b2.prefs)
        else:
            b2.prefs.devices.cpp_standalone.openmp_threads = (
                self.n_threads if self.n_threads > 1 else 0
            )
        if not self._keep:
            self.directory = tempfile.mkdtemp(prefix=f"sbidic_{self.name}_")
        b2.set_device(self.name, build_on_run=False, directory=self.directory)
        if self.name == "cuda_standalone":
            _compile_as_cxx17(b2.get_device())
        return self

    def build(self) -> None:
        """Compile and run what was recorded (standalone devices; no-op at runtime)."""
        if self.standalone:
            import time

            import brian2 as b2

            t0 = time.perf_counter()
            b2.device.build(directory=self.directory, compile=True, run=True,
                            with_output=False)  # fmt: skip
            run_s = float(getattr(b2.device, "_last_run_time", float("nan")))
            self.timings = {"build_s": time.perf_counter() - t0, "run_s": run_s}

    def __exit__(self, *exc) -> None:
        if not self.standalone:
            return
        import brian2 as b2

        vars(b2.get_device()).pop("compile_source", None)  # undo _compile_as_cxx17
        b2.device.reinit()  # forget this run's objects: the next run starts clean
        b2.set_device("runtime")
        if self.directory is not None and not self._keep:
            shutil.rmtree(self.directory, ignore_errors=True)
