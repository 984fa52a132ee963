"""sbidic's hand-written spike statistics against Elephant's, on equal inputs.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_elephant.py [--pairs N]``
(needs ``pip install elephant``; it is not a dependency of sbidic).

Inputs: ``N`` pairs of synthetic recordings like the ones sbidic infers from
(bursting and tonic, 30-250 spikes over 10 s, times in ms), each train shifted to start
at 0 ms (sbidic's distance shifts trains itself; Elephant's does not). Rows:

- ISI CV -- ``sbidic.spikes.features`` (the vectorised ISI statistics behind
  ``spike_features(...).cv_isi``) against ``elephant.statistics.cv(isi(train))``
  (``scipy.stats.variation``: population std / mean, the same definition);
- ISI LV -- Elephant's local variation (Shinomoto 2003); sbidic has none;
- van Rossum -- ``sbidic.fidelity.distance.van_rossum_distance`` (closed form,
  ``(Kxx + Kyy - 2 Kxy) / (2 tau)`` in 1/ms) against
  ``elephant.spike_train_dissimilarity.van_rossum_distance`` (``sqrt(Kxx + Kyy -
  2 Kxy)``, dimensionless), converted as ``d_elephant**2 / (2 tau)`` before comparing;
  ``tau`` per pair is the paper's ``mid_range_tau`` of the first train;
- Victor-Purpura -- Elephant only (cost ``q = 1 / tau``); sbidic does not use it.

Times are the best of ``--repeats`` runs over all pairs, one core.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from sbidic.fidelity.distance import mid_range_tau, van_rossum_distance  # noqa: E402
from sbidic.spikes import SpikeTrains  # noqa: E402
from sbidic.spikes.features import _isi_stats  # noqa: E402


def synthetic(n: int, rng: np.random.Generator) -> SpikeTrains:
    """``n`` trains, half bursting (3-6 spikes per burst), half tonic, from 0 ms."""
    trains = []
    for k in range(n):
        if k % 2:
            period, n_in = rng.uniform(300.0, 900.0), int(rng.integers(3, 7))
            starts = np.arange(0.0, 10_000.0, period)
            intra = rng.uniform(5.0, 20.0)
            t = (starts[:, None] + intra * np.arange(n_in)[None, :]).ravel()
        else:
            t = np.cumsum(rng.normal(rng.uniform(40.0, 300.0), 2.0, 250))
            t = t[t < 10_000.0]
        t = np.unique(np.round(t + rng.normal(0.0, 0.5, t.size), 3))
        trains.append(t - t[0])
    return SpikeTrains.from_list(trains, check=True)


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import elephant
    import neo
    import quantities as pq
    from elephant.spike_train_dissimilarity import (
        van_rossum_distance as e_vr,
    )
    from elephant.spike_train_dissimilarity import (
        victor_purpura_distance as e_vp,
    )
    from elephant.statistics import cv as e_cv
    from elephant.statistics import isi as e_isi
    from elephant.statistics import lv as e_lv

    rng = np.random.default_rng(args.seed)
    x, y = synthetic(args.pairs, rng), synthetic(args.pairs, rng)
    tau = mid_range_tau(x)
    xs, ys = x.to_list(), y.to_list()
    stop = 1.0 + max(float(x.times.max()), float(y.times.max()))
    nx = [neo.SpikeTrain(t, units="ms", t_stop=stop) for t in xs]
    ny = [neo.SpikeTrain(t, units="ms", t_stop=stop) for t in ys]
    rows = []

    t_s, cv_s = best(lambda: _isi_stats(x).cv, args.repeats)
    t_e, cv_e = best(lambda: np.array([e_cv(e_isi(t)) for t in xs]), args.repeats)
    rows.append(("ISI CV", t_s, t_e, float(np.max(np.abs(cv_s - cv_e)))))

    t_e, _ = best(lambda: np.array([e_lv(e_isi(t)) for t in xs]), args.repeats)
    rows.append(("ISI LV", None, t_e, None))

    t_s, vr_s = best(lambda: van_rossum_distance(x, y, tau), args.repeats)

    def elephant_vr():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            d = [e_vr([a, b], time_constant=k * pq.ms, sort=False)[0, 1]
                 for a, b, k in zip(nx, ny, tau, strict=True)]  # fmt: skip
        return np.asarray(d) ** 2 / (2.0 * tau)

    t_e, vr_e = best(elephant_vr, args.repeats)
    rel = float(np.max(np.abs(vr_s - vr_e) / np.maximum(np.abs(vr_s), 1e-300)))
    rows.append(("van Rossum", t_s, t_e, rel))

    t_e, _ = best(
        lambda: [e_vp([a, b], cost_factor=(1.0 / k) / pq.ms, sort=False)[0, 1]
                 for a, b, k in zip(nx, ny, tau, strict=True)],
        1,
    )  # fmt: skip
    rows.append(("Victor-Purpura", None, t_e, None))

    n_spikes = x.times.size + y.times.size
    print(f"elephant {elephant.__version__}, neo {neo.__version__}; {args.pairs} pairs of "
          f"trains, {n_spikes} spikes, best of {args.repeats}, one core")  # fmt: skip
    print(f"{'statistic':<16}{'sbidic ms':>11}{'elephant ms':>13}{'ratio':>8}  max difference")
    for name, ts, te, diff in rows:
        sb = f"{1e3 * ts:11.2f}" if ts is not None else f"{'-':>11}"
        ratio = f"{te / ts:8.1f}" if ts is not None else f"{'-':>8}"
        d = "-" if diff is None else (f"{diff:.1e}" + (" (relative)" if "Rossum" in name else ""))
        print(f"{name:<16}{sb}{1e3 * te:13.2f}{ratio}  {d}")


if __name__ == "__main__":
    main()
