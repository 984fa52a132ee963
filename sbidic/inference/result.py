"""What :func:`sbidic.infer` returns, and how it reaches files, batch by batch.

:class:`InferenceResult` holds the per-recording report and the populations.
:class:`ResultWriter` writes the results of consecutive batches of recordings
(:func:`sbidic.inference.iter_infer`) to one output as they arrive, so memory stays
flat however many recordings there are; the files appear complete, or not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sbidic.population import Population

__all__ = ["InferenceResult", "ResultWriter", "check_result_path", "result_paths"]

#: Largest number of recordings per netCDF chunk of a streamed result.
OBS_CHUNK = 256


@dataclass(frozen=True)
class InferenceResult:
    """Populations inferred from recordings, with a report of every recording.

    Attributes
    ----------
    report : pandas.DataFrame
        One row per input recording, in input order: ``obs_id``, ``n_spikes``,
        ``label`` (silent / spiking / bursting, by the CV rule of
        :func:`sbidic.spikes.label_trains`), ``status`` (``"ok"``,
        ``"silent: fewer than 3 spikes"`` or ``"truncated: ..."``), posterior mean,
        standard deviation and 5 % / 95 % quantiles of ``g_s`` and ``g_u``, and
        ``n_cells`` in the population (0 when silent). When the cells were simulated
        (``verify`` or ``score``) also ``n_simulated`` (cells simulated),
        ``n_passed`` (returned cells that pass the criterion), ``acceptance_rate``
        (share of simulated cells that passed), ``class_match`` / ``feature_match``
        (shares of the returned cells), ``van_rossum`` (mean distance of the returned
        cells to the recording, 1/ms) and ``adequacy`` (empty when, with ``verify``,
        all ``n`` returned cells pass or, with ``score``, some simulated cell passes;
        otherwise the best match found and the feature out of reach).
    population : Population or None
        The populations of the non-silent recordings (``obs_id`` = recording id);
        None when every recording is silent.
    """

    report: object
    population: Population | None

    @classmethod
    def concatenate(cls, parts) -> InferenceResult:
        """Results of consecutive batches of recordings as one."""
        import pandas as pd

        parts = list(parts)
        pops = [p.population for p in parts if p.population is not None]
        return cls(
            report=pd.concat([p.report for p in parts], ignore_index=True),
            population=Population.concatenate(pops) if pops else None,
        )

    def to_datatree(self):
        """ArviZ ``DataTree``: the population groups (``posterior``, ``dics``) plus a
        ``recordings`` group holding :attr:`report` for every recording, silent ones
        included."""
        import xarray as xr

        tree = self.population.to_datatree() if self.population is not None else xr.DataTree()
        tree["recordings"] = xr.DataTree(_recordings_dataset(self.report))
        return tree

    def save(
        self, path: str | os.PathLike, *, source: str | os.PathLike | None = None
    ) -> list[str]:
        """Write the result; returns the files written.

        ``.csv``: the cells as Spike2Pop CSV (``ID, g_Na, ..., g_leak``, ID = recording),
        the report beside it as ``<name>_report.csv`` and, when the cells were
        simulated, their fidelity scores as ``<name>_fidelity.csv`` (one row per cell,
        in the same order). ``.nwb``: a new NWB file with the populations and the report
        as tables of its ``sbidic`` processing module (``docs/formats.md``), with the
        session metadata of the NWB recording ``source`` if given. Anything else:
        netCDF of :meth:`to_datatree`.
        """
        with ResultWriter(path, source=source) as writer:
            writer.write(self)
        return writer.written


def check_result_path(path: str | os.PathLike) -> Path:
    """Check an output path of :meth:`InferenceResult.save` before any work."""
    from sbidic.files import check_output
    from sbidic.population.result import POPULATION_SUFFIXES

    return check_output(path, POPULATION_SUFFIXES)


def result_paths(path: str | os.PathLike) -> list[Path]:
    """Every file :meth:`InferenceResult.save` may write for ``path``: the path itself
    and, for a ``.csv``, ``<name>_report.csv`` and ``<name>_fidelity.csv`` beside it.

    Examples
    --------
    >>> [p.name for p in result_paths("out/pops.csv")]
    ['pops.csv', 'pops_report.csv', 'pops_fidelity.csv']
    >>> [p.name for p in result_paths("pops.nc")]
    ['pops.nc']
    """
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return [path]
    stem = str(path)[: -len(path.suffix)]
    return [path, Path(stem + "_report.csv"), Path(stem + "_fidelity.csv")]


class ResultWriter:
    """Write :class:`InferenceResult` parts of consecutive recordings to one output.

    The same files as :meth:`InferenceResult.save` of the joined result, written part
    by part: only the report (one row per recording) is kept until the end, and is
    :attr:`report` once the block ends. Files are written to temporary names and
    renamed when the block ends without an error; after an error nothing is left at
    the output paths.

    Examples
    --------
    >>> from sbidic.inference import iter_infer
    >>> with ResultWriter(path) as out:  # doctest: +SKIP
    ...     for part in iter_infer(recordings, "stg", n=100):
    ...         out.write(part)
    """

    def __init__(
        self, path: str | os.PathLike, *, source: str | os.PathLike | None = None
    ) -> None:
        self.path = check_result_path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        # NWB files are written whole at the end (the parts are kept until then)
        self.nwb = self.path.suffix.lower() == ".nwb"
        self.source = source
        self._parts: list[InferenceResult] = []
        self._targets = result_paths(self.path)
        self._reports: list = []
        self.report = None  #: the joined report (pandas DataFrame) after the block
        self._n_written = 0  # populations (non-silent recordings) written so far
        self.written: list[str] = []

    def __enter__(self) -> ResultWriter:
        from sbidic.files import atomic_outputs

        self._atomic = atomic_outputs(self._targets)
        self._tmp = self._atomic.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._finish()
            except BaseException as err:
                self._atomic.__exit__(type(err), err, err.__traceback__)
                raise
            present = [t for t, p in zip(self._targets, self._tmp, strict=True) if p.exists()]
            self.written = [str(t) for t in present]
        return self._atomic.__exit__(exc_type, exc, tb)

    def write(self, part: InferenceResult) -> None:
        """Append the recordings of ``part`` (after those already written)."""
        self._reports.append(part.report)
        if self.nwb:
            self._parts.append(part)
            return
        if part.population is None:
            return
        pop = part.population.renumbered(self._n_written)
        if self.csv:
            self._write_csv(pop)
        else:
            self._write_netcdf(pop)
        self._n_written += pop.n_targets

    def _write_csv(self, pop: Population) -> None:
        first = self._n_written == 0
        pop.to_csv(self._tmp[0], append=not first)
        if pop.fidelity is not None:
            table = pop.fidelity_table()
            table.to_csv(self._tmp[2], index=False, header=first, mode="w" if first else "a")

    def _write_netcdf(self, pop: Population) -> None:
        tree = pop.to_datatree()
        if self._n_written == 0:
            # obs_id grows with every part; chunks of one part's recordings (netCDF's
            # default along an unlimited dim is 1: slow writes and a growing index)
            grown = [node for node in tree.subtree if "obs_id" in node.dims]
            chunk = {"obs_id": min(pop.n_targets, OBS_CHUNK)}
            encoding = {
                node.path: {
                    name: {"chunksizes": tuple(chunk.get(d, n) for d, n in var.sizes.items())}
                    for name, var in node.variables.items() if "obs_id" in var.dims
                }
                for node in grown
            }  # fmt: skip
            unlimited = {node.path: ["obs_id"] for node in grown}
            tree.to_netcdf(self._tmp[0], unlimited_dims=unlimited, encoding=encoding)
        else:
            _append_along_obs(self._tmp[0], tree, self._n_written)

    def _finish(self) -> None:
        import pandas as pd
        import xarray as xr

        report = self.report = pd.concat(self._reports, ignore_index=True)
        if self.nwb:  # layout: sbidic.population.nwb
            from sbidic.population.nwb import write_population_nwb

            population = InferenceResult.concatenate(self._parts).population
            write_population_nwb(population, self._tmp[0], report=report, source=self.source)
            return
        if self.csv:
            if self._n_written == 0:
                self._tmp[0].write_text("ID\n")
            report.to_csv(self._tmp[1], index=False)
            return
        recordings = _recordings_dataset(report)
        if self._n_written == 0:
            xr.DataTree.from_dict({"recordings": recordings}).to_netcdf(self._tmp[0])
        else:
            recordings.to_netcdf(self._tmp[0], mode="a", group="recordings")


def _recordings_dataset(report):
    """The report as the ``recordings`` group (dim ``recording``)."""
    import xarray as xr

    rep = report.set_index("obs_id")
    rep.index = rep.index.astype(str)
    ds = xr.Dataset.from_dataframe(rep).rename({"obs_id": "recording"})
    ds.attrs["description"] = (
        "Per-recording report: DIC posterior summary (mean, sd, 5/95 % quantiles), "
        "firing label and status"
    )
    return ds


def _append_along_obs(path: Path, tree, start: int) -> None:
    """Write every variable of ``tree`` with an ``obs_id`` dim at ``obs_id`` positions
    ``start, start + 1, ...`` of the netCDF file ``path`` (created from a tree of the
    same layout with ``obs_id`` unlimited), encoded as xarray encodes them."""
    import netCDF4
    from xarray.conventions import encode_cf_variable

    with netCDF4.Dataset(path, "a") as nc:
        for node in tree.subtree:
            if node is tree:
                continue
            group = nc[node.path]
            for name, var in node.to_dataset().variables.items():
                if "obs_id" not in var.dims:
                    continue
                axis = var.dims.index("obs_id")
                where = [slice(None)] * var.ndim
                where[axis] = slice(start, start + var.shape[axis])
                group.variables[name][tuple(where)] = np.asarray(
                    encode_cf_variable(var, name=name).values
                )
