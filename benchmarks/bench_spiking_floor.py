"""How well can (g_s, g_u) be read from a tonic-spiking train at all, and from what?

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spiking_floor.py \\
        --data data/stg_dic_v1 [--jitter 0 0.01 0.1 1 2] [--k 100]

For the tonic-spiking trains (CV of the ISIs <= 0.15) of a dataset, a k-nearest-
neighbour regressor fitted on the ``train`` split predicts the posterior median of
(g_s, g_u) on the ``test`` split from one or two summaries of each train: the mean ISI
alone (the firing rate), or the mean ISI and the ISI coefficient of variation. Every
spike time first gets Gaussian jitter of the given standard deviation (ms), as a
recording's timing noise would. The table gives the MAE of each, a model-free
estimate of what any estimator can reach from that information on this dataset; the
shipped network's spiking-class MAE (``bench_estimator.py``) can be read against it.

In simulated, noise-free tonic spiking the ISIs drift by about 0.01-0.1 % over the
window (slow currents still relaxing): that drift carries information about g_s and
g_u, but timing noise of 0.1 ms already hides most of it.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402

import numpy as np  # noqa: E402


def tonic_trains(data: str, split: str) -> tuple:
    """Padded spike times, spike counts and (g_s, g_u) of a split's tonic-spiking trains."""
    from sbidic.datasets import load_dataset
    from sbidic.spikes import SpikeTrains

    ds = load_dataset(data, split=split)
    keep = np.flatnonzero(np.asarray(ds["label_code"].values) == 1)
    theta = np.asarray(ds["target"].values, dtype=float)[keep]
    times, lens = SpikeTrains.from_dataset(ds, check=False)[keep].to_padded()
    return times, lens, theta


def spiking_summaries(times, lens, jitter_ms: float, rng) -> np.ndarray:
    """(log mean ISI, log CV) per train after Gaussian jitter of ``jitter_ms``."""
    times = times + jitter_ms * rng.standard_normal(times.shape)
    isi = np.diff(times, axis=1)
    isi[np.arange(isi.shape[1])[None, :] >= (lens - 1)[:, None]] = np.nan
    mean = np.nanmean(isi, axis=1)
    cv = np.nanstd(isi, axis=1) / mean
    return np.stack([np.log(mean), np.log(cv + 1e-6)], axis=1)


def knn_median_mae(x_train, y_train, x_test, y_test, k: int) -> np.ndarray:
    """MAE of the median of the k nearest training targets (standardised features)."""
    from sklearn.neighbors import NearestNeighbors

    mu, sd = x_train.mean(0), x_train.std(0)
    nn = NearestNeighbors(n_neighbors=k).fit((x_train - mu) / sd)
    _, idx = nn.kneighbors((x_test - mu) / sd)
    return np.abs(np.median(y_train[idx], axis=1) - y_test).mean(axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="dataset directory")
    parser.add_argument("--jitter", type=float, nargs="+", default=[0.0, 0.01, 0.1, 1.0, 2.0])
    parser.add_argument("--k", type=int, default=100, help="neighbours")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"tonic-spiking trains of {args.data}: k-NN (k = {args.k}) median, train -> test")
    print(f"{'jitter ms':>9}  {'summaries':<16}{'MAE g_s':>8}{'MAE g_u':>9}")
    t_tr, n_tr, y_tr = tonic_trains(args.data, "train")
    t_te, n_te, y_te = tonic_trains(args.data, "test")
    for jitter in args.jitter:
        x_tr = spiking_summaries(t_tr, n_tr, jitter, rng)
        x_te = spiking_summaries(t_te, n_te, jitter, rng)
        for cols, name in (([0], "mean ISI"), ([0, 1], "mean ISI + CV")):
            err = knn_median_mae(x_tr[:, cols], y_tr, x_te[:, cols], y_te, args.k)
            print(f"{jitter:>9g}  {name:<16}{err[0]:>8.3f}{err[1]:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
