"""The bytes of every download, written by the same library calls as the CLI.

``sbidic infer ... -o populations.nc`` and ``-o populations.csv`` write through
:meth:`sbidic.inference.infer.InferenceResult.save`; ``sbidic simulate ... -o
trains.csv`` through :func:`sbidic.spikes.write_spike_csv` with the columns
``population_ID``, ``cell_ID`` and ``label``. Here the same calls write into a
temporary folder and the bytes are sent.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

__all__ = ["figure_bytes", "population_bytes", "report_bytes", "simulated_bytes"]


def _written(write, name: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write(path)
        return path.read_bytes()


def population_bytes(inference, suffix: str) -> bytes:
    """``populations.nc`` (DataTree) or ``populations.csv`` (Spike2Pop ``ID,g_Na,...``),
    as ``sbidic infer -o populations.SUFFIX`` writes them."""
    if suffix not in ("nc", "csv"):
        raise ValueError(f"populations are written as nc or csv, not {suffix!r}")
    return _written(inference.result.save, f"populations.{suffix}")


def report_bytes(inference) -> bytes:
    """The per-recording report, as ``sbidic infer -o populations.csv`` writes it
    beside the cells (``populations_report.csv``)."""
    with tempfile.TemporaryDirectory() as folder:
        inference.result.save(Path(folder) / "populations.csv")
        return (Path(folder) / "populations_report.csv").read_bytes()


def simulated_bytes(sim, suffix: str) -> bytes:
    """Simulated spike trains as ``sbidic simulate -o trains.SUFFIX`` writes them: the
    output ID numbers the cells, ``population_ID`` is the recording, ``cell_ID`` is
    ``<recording>:<cell>``, ``label`` the cell's firing class."""
    from sbidic.spikes import spike_features, write_spike_csv, write_spikes_netcdf

    feats = spike_features(sim.result.spikes)
    extra = {"population_ID": sim.population_id, "cell_ID": sim.cell_id,
             "label": feats.label}  # fmt: skip
    if suffix == "csv":
        return _written(lambda p: write_spike_csv(sim.result.spikes, p, extra_columns=extra),
                        "trains.csv")  # fmt: skip
    if suffix == "nc":
        ds = feats.to_dataset()
        ds["population_ID"] = ("train", extra["population_ID"])
        ds["cell_ID"] = ("train", extra["cell_ID"])
        return _written(lambda p: write_spikes_netcdf(sim.result.spikes, p, extra=ds),
                        "trains.nc")  # fmt: skip
    raise ValueError(f"spike trains are written as nc or csv, not {suffix!r}")


def figure_bytes(fig, fmt: str) -> bytes:
    """A figure as PNG (120 dpi, as ``sbidic simulate --plot``) or SVG."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"figures are written as png or svg, not {fmt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    return buf.getvalue()
