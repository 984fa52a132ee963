"""Fidelity: do the simulated cells of a population fire like their recording?

The last step of the data path: ``conductances -> Brian2 simulation -> SpikeTrains ->
fidelity scores``. :func:`score_trains` compares simulated trains with recordings
(class, rate, spikes per burst, burst period, duty cycle, van Rossum distance) under
:class:`FidelityCriteria`; :func:`score_population` simulates a population first;
:func:`recording_summary` reports per recording, with a model-adequacy line where no
cell reproduces it; a :class:`FiringAtlas` estimates, before any simulation, how likely
a cell at a DIC target reproduces a recording; :class:`SurveyCells` keeps cells of a
model's survey for ``--verify`` to search from; :func:`population_diversity` says how
much of the conductance space a population spans.

>>> import numpy as np
>>> from sbidic.spikes import SpikeTrains
>>> rec = SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0)])
>>> score_trains(rec, rec, [0]).passed
array([ True])
"""

from sbidic.fidelity.atlas import FiringAtlas, firing_atlas
from sbidic.fidelity.distance import mid_range_tau, van_rossum_distance
from sbidic.fidelity.diversity import population_diversity
from sbidic.fidelity.population import recording_summary, score_population, simulate_and_score
from sbidic.fidelity.scores import CRITERIA, FidelityCriteria, FidelityScores, score_trains
from sbidic.fidelity.survey_cells import SurveyCells

__all__ = [
    "CRITERIA",
    "FidelityCriteria",
    "FidelityScores",
    "FiringAtlas",
    "SurveyCells",
    "firing_atlas",
    "mid_range_tau",
    "population_diversity",
    "recording_summary",
    "score_population",
    "score_trains",
    "simulate_and_score",
    "van_rossum_distance",
]
