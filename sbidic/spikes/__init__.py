"""Spike trains: the ragged :class:`SpikeTrains` container, spike detection on voltage
traces (membrane potentials; extracellular nerve and unit recordings), firing-pattern
labels and features, and spike-file I/O (Spike2Pop CSV, netCDF, NWB, Neo, npz/npy,
text: :mod:`sbidic.spikes.readers`).

Times are in ms throughout.

>>> st = SpikeTrains.from_list([[3000.0, 3100.0, 3200.0, 3300.0], [3000.0]])
>>> label_trains(st), spike_features(st)["f_spiking"]
(array([1, 0]), array([10.,  0.]))
"""

from sbidic.spikes.detection import detect_spikes
from sbidic.spikes.extracellular import (
    ExtracellularSpikes,
    amplitude_classes,
    detect_extracellular,
)
from sbidic.spikes.features import (
    LABEL_NAMES,
    SpikeFeatures,
    label_trains,
    spike_features,
)
from sbidic.spikes.io import (
    from_dataset,
    read_spike_csv,
    read_spikes_netcdf,
    to_dataset,
    write_spike_csv,
    write_spikes_netcdf,
)
from sbidic.spikes.readers import detect_format, read_spikes, write_spikes
from sbidic.spikes.trains import RepairReport, SpikeTrains

__all__ = [
    "LABEL_NAMES",
    "ExtracellularSpikes",
    "RepairReport",
    "SpikeFeatures",
    "SpikeTrains",
    "amplitude_classes",
    "detect_extracellular",
    "detect_format",
    "detect_spikes",
    "from_dataset",
    "label_trains",
    "read_spike_csv",
    "read_spikes",
    "read_spikes_netcdf",
    "spike_features",
    "to_dataset",
    "write_spike_csv",
    "write_spikes",
    "write_spikes_netcdf",
]
