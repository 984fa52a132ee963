"""Can a shorter transient give the published protocol's spike features?

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_transient.py`` (about 10
minutes on one core; ``--cells 40`` for a quick look).

Cells are drawn at random (seed 0) among the non-silent cells of the committed
datasets (``data/stg_dic_v1``, ``data/da_dic_v1``). Each is simulated with the
simulator's default integration over the published protocol (STG: 3000 ms transient
+ 3000 ms kept; DA: 3000 + 9000 ms), the reference, and again with a shorter
transient and the same kept length, from the published initial state and from the
steady state at threshold (``simulate(..., initial_state="threshold")``). A cell
agrees with the reference when it meets every accuracy criterion of the simulator
(:mod:`sbidic.simulate.integration`): same label, spike count within 1, mean ISI within
1 %, and for bursting cells the same spikes per burst and burst period within 1 %.

The control row shifts the published protocol's window 1000 ms later (transient
4000 ms, published start): the cells it agrees on are those whose features are
stationary after the published transient; the others (irregular, slowly drifting or
chaotic firing) differ between any two windows, a floor no shorter transient can
beat. "of stationary" is the agreement among the stationary cells only.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sbidic.models import get_model  # noqa: E402
from sbidic.simulate import simulate  # noqa: E402
from sbidic.spikes import spike_features  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"stg": "data/stg_dic_v1", "da": "data/da_dic_v1"}


def dataset_cells(model: str, n: int, rng: np.random.Generator, n_chunks: int = 12):
    """``n`` random non-silent cells from the first ``n_chunks`` chunks of a dataset."""
    import xarray as xr

    files = sorted((ROOT / DATASETS[model] / "chunks").glob("chunk_*.nc"))[:n_chunks]
    g = []
    for f in files:
        with xr.open_dataset(f) as ds:
            keep = ds["label_code"].values > 0
            g.append(ds["conductances"].values[keep].astype(float))
    g = np.concatenate(g)
    g = g[np.isfinite(g).all(1)]
    return g[rng.choice(len(g), size=min(n, len(g)), replace=False)]


def agreement(test, ref) -> dict:
    """Per-criterion agreement of two :class:`SpikeFeatures` (cells in order)."""
    same_label = test.label_code == ref.label_code
    dn = np.abs(test["n_spikes"] - ref["n_spikes"]) <= 1
    with np.errstate(divide="ignore", invalid="ignore"):
        isi = np.abs(test["mean_isi_ms"] / ref["mean_isi_ms"] - 1) <= 0.01
        period = np.abs(test["burst_period_ms"] / ref["burst_period_ms"] - 1) <= 0.01
    bursting = ref.label_code == 2
    spb = test["nbr_spikes_bursting"] == ref["nbr_spikes_bursting"]
    burst_ok = ~bursting | (spb & period)
    return {"label": same_label, "all": same_label & dn & isi & burst_ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200, help="cells per model")
    parser.add_argument("--transients", type=float, nargs="+", default=[500.0, 1000.0, 2000.0])
    parser.add_argument("--models", nargs="+", default=["stg", "da"])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'model':<6}{'start':<11}{'transient ms':>13}{'cells':>7}{'same label':>12}"
          f"{'all criteria':>14}{'of stationary':>15}{'ms/neuron-s':>13}")  # fmt: skip
    for name in args.models:
        model = get_model(name)
        duration, transient = model.protocol
        kept = duration - transient
        g = dataset_cells(name, args.cells, rng)
        runs = [("published", transient), ("control", transient + 1000.0)] + [
            (start, t) for start in ("published", "threshold") for t in args.transients
        ]  # fmt: skip
        ref = stationary = None
        for start, t in runs:
            t0 = time.perf_counter()
            out = simulate(model, g, duration_ms=t + kept, transient_ms=t,
                           initial_state="published" if start == "control" else start)
            wall = time.perf_counter() - t0
            feats = spike_features(out.spikes)  # features do not depend on the window start
            speed = f"{1e3 * wall / (len(g) * (t + kept) / 1e3):>13.1f}"
            if ref is None:
                ref = feats
                print(f"{name:<6}{start:<11}{t:>13.0f}{len(g):>7}{'(reference)':>12}"
                      f"{'':>29}{speed}", flush=True)  # fmt: skip
                continue
            agree = agreement(feats, ref)
            if stationary is None:  # the control: cells whose features are stationary
                stationary = agree["all"]
            among = agree["all"][stationary].mean()
            print(f"{name:<6}{start:<11}{t:>13.0f}{len(g):>7}{agree['label'].mean():>12.1%}"
                  f"{agree['all'].mean():>14.1%}{among:>15.1%}{speed}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
