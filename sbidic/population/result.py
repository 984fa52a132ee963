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
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Population", "load_population"]

TIMESCALES = ("g_f", "g_s", "g_u")


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
        mS/cm^2) and ``dics`` (``target`` ``(obs_id, target_dic)``, ``achieved``
        ``(chain, draw, obs_id, dic)``, ``residual``, ``acceptance``).
        """
        import arviz_base
        import xarray as xr

        from sbidic import __version__

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
        return tree

    @classmethod
    def from_datatree(cls, tree) -> Population:
        """Inverse of :meth:`to_datatree`."""
        post = tree["posterior"]
        meta = post.attrs
        labels = [name for name in post.data_vars if str(name).startswith("g_")]
        g = np.stack([post[label].values[0] for label in labels], axis=-1)  # (draw, obs, c)
        d = tree["dics"]
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
        )

    # ------------------------------------------------------------------- files
    def to_netcdf(self, path: str | os.PathLike) -> None:
        """Write the DataTree to a netCDF file."""
        self.to_datatree().to_netcdf(path)

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write a Spike2Pop-compatible CSV, one row per cell: ``ID, g_Na, ..., g_leak``."""
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["ID", *self.labels])
            for obs, cells in zip(self.obs_id, self.conductances, strict=True):
                for row in cells:
                    writer.writerow([obs, *(repr(float(x)) for x in row)])

    def save(self, path: str | os.PathLike) -> None:
        """Write ``.csv`` as Spike2Pop CSV, anything else as netCDF."""
        if os.fspath(path).lower().endswith(".csv"):
            self.to_csv(path)
        else:
            self.to_netcdf(path)


def load_population(path: str | os.PathLike) -> Population:
    """Read a population written by :meth:`Population.to_netcdf`."""
    import xarray as xr

    with xr.open_datatree(path) as tree:
        return Population.from_datatree(tree.load())
