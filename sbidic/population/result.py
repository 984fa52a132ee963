"""The :class:`Population` result and its ArviZ / netCDF / CSV forms.

In the ArviZ ``DataTree`` each conductance is its own variable ``g_<name>`` in the
``posterior`` group, with dims ``(chain, draw, obs_id)``: one variable per
conductance keeps the names of Spike2Pop CSV columns and sbi parameter labels, lets
``arviz_plots.plot_dist`` draw each conductance on its own scale (they span four
orders of magnitude) and gives ``arviz_stats.summary`` rows such as ``g_Na[0]``.
Cells are independent draws, stored as one chain. The ``dics`` group holds the
target and achieved DICs.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sbidic.population.nwb import read_population_fields, write_population_nwb

__all__ = ["Population", "load_population", "read_conductance_csv", "read_population_nwb"]

TIMESCALES = ("g_f", "g_s", "g_u")
#: Extensions :meth:`Population.save` writes.
POPULATION_SUFFIXES = (".nc", ".csv", ".nwb")


@dataclass(frozen=True)
class Population:
    """Degenerate populations of conductance sets, one per target (or recording).

    Attributes
    ----------
    model : str
        Model name, e.g. ``"stg"``.
    conductance_names : tuple of str
        Conductance names in column order, leak last.
    V_th : float
        Voltage (mV) at which the DICs are evaluated.
    target : ndarray, shape (n_targets, 2)
        Target ``(g_s, g_u)`` per population.
    conductances : ndarray, shape (n_targets, n_cells, n_conductances)
        Maximal conductances (mS/cm^2).
    dics : ndarray, shape (n_targets, n_cells, 3)
        Achieved ``(g_f, g_s, g_u)`` of every cell at ``V_th``.
    residual : ndarray, shape (n_targets, n_cells)
        ``max(|g_s - g_s*|, |g_u - g_u*|)`` per cell.
    acceptance : ndarray, shape (n_targets,)
        Fraction of drawn cells that were valid.
    obs_id : ndarray, shape (n_targets,)
        Identifier of each population (target index, or recording ID).
    fidelity : sbidic.fidelity.FidelityScores, optional
        Simulated fidelity of every cell to its recording, shape (n_targets, n_cells)
        (set by ``sbidic.infer(..., verify=True)`` or ``score=True``).

    Examples
    --------
    >>> import sbidic
    >>> pop = sbidic.sample_population("stg", g_s=-4.0, g_u=5.0, n=100, rng=0)
    >>> pop.conductances.shape  # targets x cells x conductances (mS/cm^2)
    (1, 100, 8)
    >>> tree = pop.to_datatree()
    >>> tree["posterior"]["g_Na"].shape  # (chain, draw, obs_id)
    (1, 100, 1)
    """

    model: str
    conductance_names: tuple[str, ...]
    V_th: float
    target: np.ndarray
    conductances: np.ndarray
    dics: np.ndarray
    residual: np.ndarray
    acceptance: np.ndarray
    obs_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    fidelity: Any = None

    def __post_init__(self) -> None:
        if self.obs_id is None:
            object.__setattr__(self, "obs_id", np.arange(len(self.target)))

    @property
    def n_targets(self) -> int:
        return self.conductances.shape[0]

    @property
    def n_cells(self) -> int:
        return self.conductances.shape[1]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f"g_{c}" for c in self.conductance_names)

    def __repr__(self) -> str:
        return (
            f"Population(model={self.model!r}, n_targets={self.n_targets}, "
            f"n_cells={self.n_cells}, V_th={self.V_th} mV)"
        )

    # ------------------------------------------------------------------ ArviZ
    def to_datatree(self):
        """The population as an ArviZ ``xarray.DataTree``.

        Groups: ``posterior`` (``g_<name>`` with dims ``(chain, draw, obs_id)``, in
        mS/cm^2), ``dics`` (``target`` ``(obs_id, target_dic)``, ``achieved``
        ``(chain, draw, obs_id, dic)``, ``residual``, ``acceptance``) and, when the
        cells were simulated, ``fidelity`` (every score of
        :class:`~sbidic.fidelity.FidelityScores`, dims ``(chain, draw, obs_id)``).
        """
        import arviz_base
        import xarray as xr

        from sbidic._version import __version__

        g = self.conductances.transpose(1, 0, 2)[None]  # (chain, draw, obs_id, cond)
        meta = {
            "model": self.model,
            "V_th_mV": self.V_th,
            "units": "mS/cm^2",
            "inference_library": "sbidic",
            "inference_library_version": __version__,
        }
        tree = arviz_base.from_dict(
            {"posterior": {label: g[..., i] for i, label in enumerate(self.labels)}},
            coords={"obs_id": np.asarray(self.obs_id)},
            dims={label: ["obs_id"] for label in self.labels},
            attrs={"posterior": meta},
        )
        sample = ("chain", "draw", "obs_id")
        dics = xr.Dataset(
            {
                "target": (("obs_id", "target_dic"), self.target),
                "achieved": (sample + ("dic",), self.dics.transpose(1, 0, 2)[None]),
                "residual": (sample, self.residual.T[None]),
                "acceptance": (("obs_id",), self.acceptance),
            },
            coords={
                **tree["posterior"].to_dataset().coords,
                "target_dic": ["g_s", "g_u"],
                "dic": list(TIMESCALES),
            },
            attrs={**meta, "units": "dimensionless (multiples of g_leak)"},
        )
        tree["dics"] = xr.DataTree(dics)
        if self.fidelity is not None:
            f = self.fidelity
            cells = type(f)(**{k: v.T[None] for k, v in f.as_dict().items()})  # (1, n, T)
            fid = cells.to_dataset(sample, coords={k: dics.coords[k] for k in sample})
            fid.attrs["description"] = "simulated fidelity of each cell to its recording"
            tree["fidelity"] = xr.DataTree(fid)
        return tree

    @classmethod
    def from_datatree(cls, tree) -> Population:
        """Inverse of :meth:`to_datatree`."""
        post = tree["posterior"]
        meta = post.attrs
        labels = [name for name in post.data_vars if str(name).startswith("g_")]
        g = np.stack([post[label].values[0] for label in labels], axis=-1)  # (draw, obs, c)
        d = tree["dics"]
        fidelity = None
        if "fidelity" in tree.children:
            from sbidic.fidelity import FidelityScores

            f = FidelityScores.from_dataset(tree["fidelity"].to_dataset())
            fidelity = FidelityScores(**{k: v[0].T for k, v in f.as_dict().items()})
        return cls(
            model=str(meta["model"]),
            conductance_names=tuple(str(label)[2:] for label in labels),
            V_th=float(meta["V_th_mV"]),
            target=d["target"].values,
            conductances=g.transpose(1, 0, 2),
            dics=d["achieved"].values[0].transpose(1, 0, 2),
            residual=d["residual"].values[0].T,
            acceptance=d["acceptance"].values,
            obs_id=post["obs_id"].values,
            fidelity=fidelity,
        )

    def fidelity_table(self):
        """Per-cell fidelity scores as a ``pandas.DataFrame`` (``ID``, ``cell``, scores)."""
        import pandas as pd

        if self.fidelity is None:
            raise ValueError("this population has no fidelity scores (simulate it first)")
        cols = {"ID": np.repeat(self.obs_id, self.n_cells),
                "cell": np.tile(np.arange(self.n_cells), self.n_targets)}  # fmt: skip
        for k, v in self.fidelity.as_dict().items():
            if k != "recording":
                cols[k] = v.reshape(-1)
        return pd.DataFrame(cols)

    @classmethod
    def concatenate(cls, parts) -> Population:
        """Populations of consecutive batches of targets as one (the fidelity scores'
        ``recording`` indices are renumbered to the joined targets)."""
        parts = list(parts)
        if not parts:
            raise ValueError("no populations to concatenate")
        fidelity = None
        if parts[0].fidelity is not None:
            offsets = np.cumsum([0] + [p.n_targets for p in parts])[:-1]
            shifted = [p.renumbered(o).fidelity for p, o in zip(parts, offsets, strict=True)]
            kind = type(shifted[0])
            fidelity = kind(**{k: np.concatenate([getattr(f, k) for f in shifted])
                               for k in shifted[0].as_dict()})  # fmt: skip
        joined = {name: np.concatenate([getattr(p, name) for p in parts])
                  for name in ("target", "conductances", "dics", "residual", "acceptance",
                               "obs_id")}  # fmt: skip
        return replace(parts[0], **joined, fidelity=fidelity)

    def renumbered(self, offset: int) -> Population:
        """The same population with its fidelity scores' ``recording`` indices shifted by
        ``offset`` (the position of its first target in a larger result)."""
        if self.fidelity is None or offset == 0:
            return self
        f = self.fidelity.as_dict()
        f["recording"] = f["recording"] + offset
        return replace(self, fidelity=type(self.fidelity)(**f))

    def with_fidelity(self, fidelity) -> Population:
        """The same population with per-cell fidelity scores (shape (n_targets, n_cells))."""
        if fidelity is not None and fidelity.shape != self.conductances.shape[:2]:
            raise ValueError(
                f"fidelity scores have shape {fidelity.shape}, the population "
                f"{self.conductances.shape[:2]}"
            )
        return replace(self, fidelity=fidelity)

    # ------------------------------------------------------------------- files
    def to_netcdf(self, path: str | os.PathLike) -> None:
        """Write the DataTree to a netCDF file."""
        self.to_datatree().to_netcdf(path)

    def to_csv(self, path: str | os.PathLike, *, append: bool = False) -> None:
        """Write a Spike2Pop-compatible CSV, one row per cell: ``ID, g_Na, ..., g_leak``
        and, when the cells were simulated (:attr:`fidelity`), a last column ``passed``
        (``True`` / ``False``: the cell reproduces its recording; readers of the
        conductances, :func:`read_conductance_csv` included, ignore it).
        ``append``: add the rows, without the header, to an existing file.

        Examples
        --------
        >>> import os, tempfile
        >>> import sbidic
        >>> pop = sbidic.sample_population("stg", g_s=-4.0, g_u=5.0, n=2, rng=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "cells.csv")
        >>> pop.to_csv(path)
        >>> open(path).readline().strip()
        'ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak'
        """
        passed = None if self.fidelity is None else _passed(self.fidelity)
        with open(path, "a" if append else "w", newline="") as fh:
            writer = csv.writer(fh)
            if not append:
                writer.writerow(["ID", *self.labels, *(["passed"] if passed is not None else [])])
            for i, (obs, cells) in enumerate(zip(self.obs_id, self.conductances, strict=True)):
                for j, row in enumerate(cells):
                    flag = [] if passed is None else [bool(passed[i, j])]
                    writer.writerow([obs, *(repr(float(x)) for x in row), *flag])

    def save(self, path: str | os.PathLike) -> None:
        """Write ``.csv`` (Spike2Pop CSV), ``.nc`` (netCDF DataTree) or ``.nwb`` (tables
        of an NWB file's ``sbidic`` module, ``docs/formats.md``), all or nothing.

        Raises
        ------
        ValueError
            Another extension, or a directory that does not exist or is not writable
            (checked before writing).
        """
        from sbidic.files import atomic_outputs, check_output

        path = check_output(path, POPULATION_SUFFIXES)
        with atomic_outputs([path]) as (tmp,):
            if path.suffix.lower() == ".csv":
                self.to_csv(tmp)
            elif path.suffix.lower() == ".nwb":
                write_population_nwb(self, tmp)
            else:
                self.to_netcdf(tmp)


def _passed(fidelity) -> np.ndarray:
    """The ``passed`` flags (n_targets, n_cells) of fidelity scores."""
    return np.asarray(fidelity.as_dict()["passed"], dtype=bool)


def load_population(path: str | os.PathLike) -> Population:
    """Read a population written by :meth:`Population.save` (netCDF or NWB).

    Examples
    --------
    >>> import os, tempfile
    >>> import sbidic
    >>> pop = sbidic.sample_population("stg", g_s=-4.0, g_u=5.0, n=10, rng=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "pop.nc")
    >>> pop.save(path)
    >>> back = load_population(path)
    >>> back
    Population(model='stg', n_targets=1, n_cells=10, V_th=-51.0 mV)
    >>> bool(np.allclose(back.conductances, pop.conductances))
    True
    """
    import xarray as xr

    if str(path).lower().endswith(".nwb"):
        return read_population_nwb(path)

    with xr.open_datatree(path) as tree:
        try:
            return Population.from_datatree(tree.load())
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise ValueError(
                f"{path} holds no population ({type(err).__name__}: {err}); a population "
                "file is written by 'sbidic population' or 'sbidic infer' (spike trains "
                "are not one)"
            ) from None


def read_population_nwb(path: str | os.PathLike) -> Population:
    """The :class:`Population` written by
    :func:`~sbidic.population.nwb.write_population_nwb` (or :meth:`Population.save`).

    Parameters
    ----------
    path : str or path-like
        An ``.nwb`` file.

    Raises
    ------
    ValueError
        No ``sbidic`` processing module with the two population tables.
    """
    return Population(**read_population_fields(path))


def read_conductance_csv(
    path: str | os.PathLike, model, *, with_cell_ids: bool = False
) -> tuple[np.ndarray, ...]:
    """Read a Spike2Pop conductance CSV (``ID, g_Na, ..., g_leak``).

    Columns are matched by name (``g_Na`` or ``Na``), in any order; other columns are
    ignored. Rows may share an ID (one population per ID).

    Returns
    -------
    ids : ndarray of str, shape (n_cells,)
    conductances : ndarray, shape (n_cells, n_conductances)
        In the model's conductance order (mS/cm^2).
    cell_ids : ndarray of str, shape (n_cells,), or None
        With ``with_cell_ids``: the optional ``cell_ID`` column (None without one).

    Raises
    ------
    ValueError
        A missing conductance column, or a row with a missing, non-numeric, negative
        or non-finite value (the message names the line).

    Examples
    --------
    >>> import os, tempfile
    >>> from sbidic.population import sample_population
    >>> path = os.path.join(tempfile.mkdtemp(), "cells.csv")
    >>> sample_population("stg", g_s=-4.0, g_u=5.0, n=3, rng=0).save(path)
    >>> ids, g = read_conductance_csv(path, "stg")
    >>> ids.tolist(), g.shape
    (['0', '0', '0'], (3, 8))
    """
    from sbidic.models import get_model

    model = get_model(model)
    from sbidic.files import open_text

    with open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: empty file, expected a header ID,g_Na,...") from None
        names = [h[2:] if h.startswith("g_") else h for h in header]
        missing = [c for c in model.conductances if c not in names]
        if missing:
            raise ValueError(
                f"{path}: missing conductance column(s) {['g_' + c for c in missing]} for "
                f"model {model.name!r}; expected ID,{','.join(model.conductance_labels)}"
            )
        cols = [names.index(c) for c in model.conductances]
        id_col = header.index("ID") if "ID" in header else None
        cell_col = header.index("cell_ID") if "cell_ID" in header else None
        ids, rows, cells = [], [], []
        for line, row in enumerate(reader, start=2):
            if not row or all(not x.strip() for x in row):
                continue
            try:
                values = [float(row[j]) for j in cols]
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}, line {line}: expected {len(header)} fields with numeric "
                    f"conductances, got {row!r}"
                ) from None
            bad = [model.conductance_labels[k] for k, v in enumerate(values)
                   if not np.isfinite(v) or v < 0]  # fmt: skip
            if bad:
                raise ValueError(
                    f"{path}, line {line}: conductances must be finite and >= 0 mS/cm^2, bad {bad}"
                )
            ids.append(row[id_col].strip() if id_col is not None else str(line - 2))
            if cell_col is not None:
                cells.append(row[cell_col].strip() if cell_col < len(row) else "")
            rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no conductance rows")
    if with_cell_ids:
        return np.array(ids), np.array(rows), np.array(cells) if cell_col is not None else None
    return np.array(ids), np.array(rows)
