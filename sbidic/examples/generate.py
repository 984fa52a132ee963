"""Regenerate the bundled example recordings (``python -m sbidic.examples.generate``).

Spike trains simulated with sbidic's own Brian2 engine from populations at known DICs,
written in the Spike2Pop format ``ID,spiking_times``. A ``targets.csv`` beside them
records the true (g_s, g_u) and label of every recording.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sbidic.population import sample_populations
from sbidic.simulate import simulate
from sbidic.spikes import spike_features, write_spike_csv

HERE = Path(__file__).parent
#: (g_s, g_u) of the STG example recordings: tonic spikers and bursters.
STG_TARGETS = [(8.0, 4.0), (2.0, 10.0), (-4.0, 5.0), (-12.0, 12.0), (-18.0, 6.0)]


def main() -> None:
    targets = np.array(STG_TARGETS)
    pop = sample_populations("stg", targets, n=1, rng=2025)
    g = pop.conductances[:, 0]
    sim = simulate("stg", g, cell_ids=np.arange(len(g)))
    trains = sim.spikes
    feats = spike_features(trains)
    # A recording that is almost silent: two spikes only.
    from sbidic.spikes import SpikeTrains

    ids = [f"cell{i + 1}" for i in range(len(trains))] + ["cell_silent"]
    trains = SpikeTrains.from_list([*trains.to_list(), [3500.0, 4700.0]], ids=ids)
    write_spike_csv(trains, HERE / "stg_recordings.csv")
    with open(HERE / "stg_targets.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ID", "g_s", "g_u", "label"])
        for i, (g_s, g_u) in enumerate(targets):
            writer.writerow([ids[i], g_s, g_u, feats.label[i]])
        writer.writerow(["cell_silent", "", "", "silent"])
    print(f"wrote {HERE / 'stg_recordings.csv'}: {[str(x) for x in feats.label]} + silent")


if __name__ == "__main__":
    main()
