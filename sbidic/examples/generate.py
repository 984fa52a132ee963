"""Regenerate the bundled example recordings (``python -m sbidic.examples.generate``).

Spike trains simulated with sbidic's own Brian2 engine from one cell per known
(g_s, g_u), written in the Spike2Pop format ``ID,spiking_times`` as
``<model>_recordings.csv``, plus one almost silent recording (two spikes). A
``<model>_targets.csv`` beside them records the true (g_s, g_u) and label of every
recording.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sbidic.models import available_models, get_model
from sbidic.population import sample_populations
from sbidic.simulate import simulate
from sbidic.spikes import SpikeTrains, spike_features, write_spike_csv

HERE = Path(__file__).parent


def write_examples(model: str, seed: int = 2025) -> SpikeTrains:
    """Simulate one cell per example target of ``model`` (its ``example_targets``:
    tonic spikers and bursters) and write the two CSV files."""
    targets = np.array(get_model(model).example_targets)
    pop = sample_populations(model, targets, n=1, rng=seed)
    sim = simulate(model, pop.conductances[:, 0], cell_ids=np.arange(len(targets)))
    feats = spike_features(sim.spikes)
    ids = [f"cell{i + 1}" for i in range(len(targets))] + ["cell_silent"]
    silent = [3500.0, 4700.0]  # two spikes only
    trains = SpikeTrains.from_list([*sim.spikes.to_list(), silent], ids=ids)
    write_spike_csv(trains, HERE / f"{model}_recordings.csv")
    with open(HERE / f"{model}_targets.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ID", "g_s", "g_u", "label"])
        for i, (g_s, g_u) in enumerate(targets):
            writer.writerow([ids[i], g_s, g_u, feats.label[i]])
        writer.writerow(["cell_silent", "", "", "silent"])
    print(f"{model}: {[str(x) for x in feats.label]} + silent")
    return trains


if __name__ == "__main__":
    for name in available_models():
        if get_model(name).example_targets:
            write_examples(name)
