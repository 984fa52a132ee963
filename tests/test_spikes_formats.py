"""Spike-file formats beyond Spike2Pop CSV and netCDF: text, npz/npy, NWB (pynwb), Neo.

Every test writes its own small file in the real format (no downloads). Neo cannot
write Axon .abf or Spike2 .smr/.smrx: the Neo reader is exercised with an Axon ABF1
file written by pyabf (read by Neo's AxonIO) and with the binary formats Neo both
writes and reads: NIX (.nix, HDF5), Neo's MATLAB files (.mat) and NWB through
neo.io.NWBIO. No Spike2 file is exercised.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import sys
import warnings

import numpy as np
import pytest

from sbidic.spikes import SpikeTrains, detect_format, read_spikes, write_spikes
from sbidic.spikes.readers import FORMATS
from sbidic.spikes.readers.arrays import read_npy, read_npz, write_spikes_npz
from sbidic.spikes.readers.text import read_text

pynwb = pytest.importorskip("pynwb", reason="NWB tests need pynwb: pip install 'sbidic[formats]'")
neo = pytest.importorskip("neo", reason="Neo tests need neo: pip install 'sbidic[formats]'")
pq = pytest.importorskip("quantities")

from sbidic.population.nwb import write_population_nwb  # noqa: E402
from sbidic.population.result import read_population_nwb  # noqa: E402
from sbidic.spikes.readers.nwb import read_nwb, write_spikes_nwb  # noqa: E402


def _trains(ids=("a", "b", "c")) -> SpikeTrains:
    rng = np.random.default_rng(1)
    trains = [np.cumsum(rng.uniform(1.0, 50.0, k)) for k in (5, 0, 3)]
    return SpikeTrains.from_list(trains, list(ids))


# -------------------------------------------------------------------------- text
def test_text_one_train_per_line_keeps_ids_and_units(tmp_path):
    path = tmp_path / "cells.txt"
    path.write_text("# time_unit: s\nx: 0.5, 1.25 2.0\ny:\nz: 3\n\n")
    st = read_spikes(path)
    assert st.ids.tolist() == ["x", "y", "z"]
    assert st[0].tolist() == [500.0, 1250.0, 2000.0] and st.n_spikes.tolist() == [3, 0, 1]
    assert read_text(path, time_unit="ms")[0].tolist() == [0.5, 1.25, 2.0]


def test_text_without_ids_numbers_lines_and_blank_line_is_silent(tmp_path):
    path = tmp_path / "cells.txt"
    path.write_text("1.0\t2.0\n\n3.0\n")
    st = read_spikes(path)
    assert st.ids.tolist() == [0, 1, 2] and st.n_spikes.tolist() == [2, 0, 1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a: 1.0 x 3.0\n", "line 1: 'x' is not a spike time"),
        ("a: 1.0\n2.0\n", "line 2: an 'ID:' prefix on some lines only"),
        ("a: 1.0\na: 2.0\n", "line 2: ID 'a' already used on line 1"),
        ("1.0 2.0\n3.0 1.0\n", "line 2"),
        ("# nothing\n", "no spike trains"),
    ],
)
def test_text_errors_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        read_spikes(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_text_round_trip_is_exact(tmp_path):
    st = _trains()
    write_spikes(st, tmp_path / "s.txt")
    assert read_spikes(tmp_path / "s.txt").equals(st)
    with pytest.raises(ValueError, match="cannot hold"):
        write_spikes(st, tmp_path / "t.txt", extra={"label": [0, 1, 2]})


def test_csv_extension_is_sniffed(tmp_path):
    numeric = tmp_path / "plain.csv"
    numeric.write_text("1.0,2.0,3.0\n4.0,5.0\n")
    spike2pop = tmp_path / "s2p.csv"
    spike2pop.write_text('ID,spiking_times\n7,"[1.0, 2.0]"\n')
    assert detect_format(numeric) == "text" and detect_format(spike2pop) == "csv"
    assert read_spikes(numeric).n_spikes.tolist() == [3, 2]
    assert read_spikes(spike2pop).ids.tolist() == [7]


@pytest.mark.parametrize("header", ["", "time\n", "time (s)\n", "spike_times\n"])
@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_a_single_column_of_times_is_one_train(tmp_path, header, suffix):
    """The commonest export, one spike time (s) per line: one train, and a warning."""
    seconds = np.round(np.cumsum(np.random.default_rng(2).uniform(0.05, 0.2, 201)), 5)
    path = tmp_path / f"pallidal{suffix}"
    path.write_text(header + "\n".join(map(repr, seconds.tolist())) + "\n")
    unit = {} if "(s)" in header else {"time_unit": "s"}
    with pytest.warns(UserWarning, match=rf"{path}: one time per line: read the 201 times as "
                      "one train"):  # fmt: skip
        st = read_spikes(path, **unit)
    assert detect_format(path) == "text" and st.n_trains == 1
    np.testing.assert_allclose(st[0], seconds * 1000.0, rtol=1e-15)


def test_a_single_column_going_back_in_time_names_its_line(tmp_path):
    path = tmp_path / "times.txt"
    path.write_text("0.5\n0.75\n\n0.6\n")
    with pytest.warns(UserWarning, match="read the 3 times as one train"):
        with pytest.raises(ValueError, match=r"line 4: one time per line, read as one train: "
                           r"spike 2 \(0.6 ms\) is before spike 1"):  # fmt: skip
            read_spikes(path)
        assert read_spikes(path, check=False).repair()[0][0].tolist() == [0.5, 0.6, 0.75]


def test_every_reader_takes_a_time_unit():
    for fmt in FORMATS.values():
        assert "time_unit" in inspect.signature(fmt.read).parameters, fmt.name


@pytest.mark.parametrize(
    ("suffix", "unit", "factor"),
    [(".csv", "s", 1e3), (".nc", "us", 1e-3), (".nwb", "ms", 1e-3), (".npz", "s", 1e3),
     (".txt", "s", 1e3)],
)  # fmt: skip
def test_time_unit_overrides_the_unit_of_every_written_format(tmp_path, suffix, unit, factor):
    st = _trains()
    write_spikes(st, tmp_path / f"s{suffix}")
    back = read_spikes(tmp_path / f"s{suffix}", time_unit=unit)
    np.testing.assert_allclose(back.times, st.times * factor, rtol=1e-12)
    with pytest.raises(ValueError, match=r"time unit 'fortnight'"):
        read_spikes(tmp_path / f"s{suffix}", time_unit="fortnight")


def test_npy_and_neo_spike_trains_take_a_time_unit(tmp_path):
    np.save(tmp_path / "t.npy", np.array([0.5, 1.0]))
    assert read_spikes(tmp_path / "t.npy", time_unit="s")[0].tolist() == [500.0, 1000.0]
    _write_nix(tmp_path / "rec.nix", _block())
    st = read_spikes(tmp_path / "rec.nix", time_unit="ms")  # u1 says s: read as ms
    np.testing.assert_allclose(st[0], [0.1, 0.2, 0.35])
    assert st[1].tolist() == [500.0]
    with pytest.raises(ValueError, match="time_unit applies to the file's spike trains"):
        read_spikes(tmp_path / "rec.nix", source="signals", time_unit="s")


@pytest.mark.parametrize("suffix", [".csv", ".nc", ".nwb", ".npz", ".txt"])
def test_long_trains_round_trip_through_every_writer(tmp_path, suffix):
    times = 3000.0 + np.cumsum(np.random.default_rng(4).uniform(5.0, 40.0, 12_000))
    st = SpikeTrains.from_list([times, [3001.5]], ids=["long", "short"])
    write_spikes(st, tmp_path / f"long{suffix}", extra=None)
    back = read_spikes(tmp_path / f"long{suffix}")
    assert back.ids.tolist() == ["long", "short"] and back.n_spikes.tolist() == [12_000, 1]
    np.testing.assert_allclose(back.times, st.times, rtol=1e-15)  # NWB stores seconds
    assert suffix == ".nwb" or back.equals(st)


# ------------------------------------------------------------------- npz / npy
@pytest.mark.parametrize("ids", [("a", "b", "c"), (10, 20, 30)])
def test_npz_round_trip_keeps_ids_and_extra(tmp_path, ids):
    st = _trains(ids)
    write_spikes(st, tmp_path / "s.npz", extra={"label": ["x", "y", "z"]})
    back = read_spikes(tmp_path / "s.npz")
    assert back.equals(st) and back.ids.dtype.kind == np.asarray(ids).dtype.kind
    assert np.load(tmp_path / "s.npz")["label"].tolist() == ["x", "y", "z"]


def test_npz_counts_and_seconds(tmp_path):
    np.savez(tmp_path / "c.npz", times=[0.1, 0.2, 0.3], counts=[1, 0, 2], time_unit="s")
    st = read_npz(tmp_path / "c.npz")
    assert st.to_list()[2].tolist() == [200.0, 300.0] and st.ids.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"spikes": [1.0]}, "expected arrays 'times' and 'offsets'"),
        ({"times": [1.0, 2.0], "offsets": [0, 3]}, "offsets must start at 0 and end"),
        ({"times": [2.0, 1.0], "offsets": [0, 2]}, "not strictly increasing|increasing"),
        ({"times": [1.0], "offsets": [0, 1], "time_unit": "h"}, "time unit 'h'"),
    ],
)
def test_npz_errors_name_the_file(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        read_spikes(path)
    assert str(path) in str(info.value)


def test_pickled_object_arrays_are_refused(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.array([1.0, 2.0]), np.array([3.0])]
    np.save(tmp_path / "r.npy", ragged, allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects"):
        read_spikes(tmp_path / "r.npy")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="junk.npz: not a NumPy npz file"):
        read_spikes(tmp_path / "junk.npz")


def test_npy_one_train_or_nan_padded_rows(tmp_path):
    np.save(tmp_path / "one.npy", np.array([1.0, 2.0, 4.0]))
    assert read_npy(tmp_path / "one.npy").to_list()[0].tolist() == [1.0, 2.0, 4.0]
    st = _trains()
    np.save(tmp_path / "pad.npy", st.to_padded()[0] if isinstance(st.to_padded(), tuple)
            else st.to_padded())  # fmt: skip
    assert read_spikes(tmp_path / "pad.npy").equals(st, check_ids=False)
    np.save(tmp_path / "gap.npy", np.array([[1.0, np.nan, 3.0]]))
    with pytest.raises(ValueError, match="row 0 has a NaN before its last spike"):
        read_spikes(tmp_path / "gap.npy")


# -------------------------------------------------------------------------- NWB
@pytest.mark.parametrize("ids", [("a", "b", "c"), (3, 5, 9)])
def test_nwb_units_round_trip(tmp_path, ids):
    st = _trains(ids)
    write_spikes(st, tmp_path / "s.nwb", extra={"g_Na": [1.0, 2.0, 3.0], "label": ["x"] * 3})
    back = read_spikes(tmp_path / "s.nwb")
    assert back.ids.tolist() == list(ids)
    np.testing.assert_allclose(back.times, st.times, rtol=1e-15)
    np.testing.assert_array_equal(back.offsets, st.offsets)
    with pynwb.NWBHDF5IO(str(tmp_path / "s.nwb"), "r") as io:
        units = io.read().units
        assert units["g_Na"].data[:].tolist() == [1.0, 2.0, 3.0]
        np.testing.assert_allclose(units.get_unit_spike_times(0), st[0] / 1e3)


def _recording(path, names=None):
    """An NWB recording as an experimenter writes it with pynwb (times in s)."""
    start = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    nwb = pynwb.NWBFile(session_description="rig 2", identifier="sess-42",
                        session_start_time=start)  # fmt: skip
    if names is not None:
        nwb.add_unit_column("unit_name", "name")
    for k, times in enumerate(([0.5, 0.6, 0.75], [1.0, 2.0])):
        extra = {} if names is None else {"unit_name": names[k]}
        nwb.add_unit(spike_times=times, id=10 + k, **extra)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_recording_ids_and_names_and_seconds(tmp_path):
    _recording(tmp_path / "ids.nwb")
    st = read_spikes(tmp_path / "ids.nwb")
    assert st.ids.tolist() == [10, 11] and st[0].tolist() == [500.0, 600.0, 750.0]
    _recording(tmp_path / "names.nwb", names=["cellA", "cellB"])
    assert read_spikes(tmp_path / "names.nwb").ids.tolist() == ["cellA", "cellB"]
    with pytest.raises(ValueError, match="no unit column 'nope'"):
        read_spikes(tmp_path / "names.nwb", id_column="nope")


def test_nwb_output_alongside_copies_the_session(tmp_path):
    _recording(tmp_path / "rec.nwb")
    write_spikes_nwb(read_nwb(tmp_path / "rec.nwb"), tmp_path / "sim.nwb",
                     source=tmp_path / "rec.nwb")  # fmt: skip
    with pynwb.NWBHDF5IO(str(tmp_path / "sim.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.identifier == "sess-42-sbidic" and nwb.session_description == "rig 2"


def test_nwb_population_round_trip(tmp_path):
    from sbidic import load_population, sample_populations

    pop = sample_populations("stg", [[-4.0, 5.0], [-3.0, 6.0]], n=4, rng=0)
    pop = type(pop)(**{**pop.__dict__, "obs_id": np.array(["r1", "r2"])})
    rec = _trains(("r1", "r2", "r3"))
    write_population_nwb(pop, tmp_path / "pop.nwb", recordings=rec)
    back = read_population_nwb(tmp_path / "pop.nwb")
    assert back.model == "stg" and back.conductance_names == pop.conductance_names
    assert back.obs_id.tolist() == ["r1", "r2"] and back.V_th == pop.V_th
    for name in ("target", "conductances", "dics", "residual", "acceptance"):
        np.testing.assert_array_equal(getattr(back, name), getattr(pop, name))
    assert read_spikes(tmp_path / "pop.nwb").ids.tolist() == ["r1", "r2", "r3"]
    pop.save(tmp_path / "saved.nwb")  # Population.save / load_population by extension
    saved = load_population(tmp_path / "saved.nwb")
    np.testing.assert_array_equal(saved.conductances, pop.conductances)


class _Scores:
    """Per-cell fidelity scores as ``FidelityScores.as_dict`` gives them."""

    def __init__(self, shape):
        rng = np.random.default_rng(0)
        self.values = {"passed": rng.random(shape) > 0.5, "van_rossum": rng.random(shape),
                       "failed_feature": np.full(shape, "rate")}  # fmt: skip

    def as_dict(self):
        return self.values


def test_nwb_population_fidelity_table(tmp_path):
    from sbidic import sample_populations

    pop = sample_populations("stg", [[-4.0, 5.0]], n=3, rng=0)
    pop = type(pop)(**{**pop.__dict__, "fidelity": _Scores((1, 3))})
    write_population_nwb(pop, tmp_path / "scored.nwb")
    with pynwb.NWBHDF5IO(str(tmp_path / "scored.nwb"), "r") as io:
        table = io.read().processing["sbidic"]["fidelity"].to_dataframe()
    expected = pop.fidelity_table()
    assert list(table.columns) == list(expected.columns)
    for column in expected.columns:
        assert table[column].tolist() == expected[column].tolist()


def test_nwb_errors_are_one_line(tmp_path):
    (tmp_path / "fake.nwb").write_text("not hdf5")
    with pytest.raises(ValueError, match="fake.nwb: not a readable NWB file"):
        read_spikes(tmp_path / "fake.nwb")
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    nwb = pynwb.NWBFile(session_description="x", identifier="y", session_start_time=start)
    with pynwb.NWBHDF5IO(str(tmp_path / "empty.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(ValueError, match="empty.nwb: no Units table"):
        read_spikes(tmp_path / "empty.nwb")


# -------------------------------------------------------------------------- Neo
def _block(segments: int = 1):
    block = neo.Block(session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
                      identifier="neo-test", session_description="neo")  # fmt: skip
    t = np.arange(0.0, 100.0, 0.1)  # ms
    for s in range(segments):
        seg = neo.Segment(name=f"trial{s}")
        seg.spiketrains.append(neo.SpikeTrain([0.1, 0.2, 0.35] * pq.s, t_stop=1 * pq.s, name="u1"))
        seg.spiketrains.append(neo.SpikeTrain([500.0] * pq.ms, t_stop=1 * pq.s, name="u2"))
        v = np.where((t % 20.0) < 1.0, 30.0, -60.0)
        v2 = np.where((t % 25.0) < 1.0, 5.0, -60.0)  # peaks of 5 mV: spikes only if up_mV < 5
        dt = 0.1 * pq.ms
        names = {"channel_names": ["c0", "c1"]}
        sig = neo.AnalogSignal(np.stack([v, v2], axis=1) / 1000.0 * pq.V, sampling_period=dt,
                               name="Vm", array_annotations=names)  # fmt: skip
        seg.analogsignals.append(sig)
        current = neo.AnalogSignal(np.zeros((t.size, 1)) * pq.nA, sampling_period=dt, name="I")
        seg.analogsignals.append(current)
        block.segments.append(seg)
    return block


def test_a_sweep_with_a_current_step_is_flagged_as_evoked(tmp_path):
    block = _block(segments=2)
    t = np.arange(0.0, 100.0, 0.1)
    step = np.where((t >= 20.0) & (t < 70.0), 0.5, 0.0)[:, None] * pq.nA
    block.segments[1].analogsignals[1] = neo.AnalogSignal(step, sampling_period=0.1 * pq.ms,
                                                          name="I")  # fmt: skip
    path = tmp_path / "steps.mat"
    _write_mat(path, block)
    with pytest.warns(UserWarning, match=r"1 sweep\(s\) carry a current step \(seg1: 'I' "
                      r"steps by \+0.5 nA at 20-70 ms\): their spikes are evoked"):  # fmt: skip
        read_spikes(path, source="signals")
    quiet = tmp_path / "quiet.mat"
    _write_mat(quiet, _block(segments=2))  # a current channel at 0 throughout
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_spikes(quiet, source="signals")
    assert not [w for w in caught if "current step" in str(w.message)]


def _write_nix(path, block):
    with neo.io.NixIO(str(path), "ow") as io:
        io.write_block(block)


def _write_mat(path, block):
    neo.io.NeoMatlabIO(str(path)).write_block(block)


@pytest.mark.parametrize(
    ("suffix", "write", "channels"),
    [(".nix", _write_nix, ["Vm/c0", "Vm/c1"]), (".mat", _write_mat, ["Vm/0", "Vm/1"])],
)  # Neo's MATLAB files drop array annotations (channel names): channels by index
def test_neo_spike_trains_and_voltage_traces(tmp_path, suffix, write, channels):
    path = tmp_path / f"rec{suffix}"
    write(path, _block())
    assert detect_format(path) == "neo"
    st = read_spikes(path)
    assert st.ids.tolist() == ["u1", "u2"]
    assert st.to_list()[0].tolist() == [100.0, 200.0, 350.0] and st[1].tolist() == [500.0]
    v = read_spikes(path, source="signals")  # current trace "I" is skipped
    assert v.ids.tolist() == channels
    np.testing.assert_allclose(v[0], [20.0, 40.0, 60.0, 80.0])
    assert v.n_spikes[1] == 0
    low = read_spikes(path, source="signals", up_mV=2.0, down_mV=-10.0)
    np.testing.assert_allclose(low[1], [25.0, 50.0, 75.0])


def test_neo_repeated_units_across_segments_get_segment_prefixes(tmp_path):
    _write_nix(tmp_path / "two.nix", _block(segments=2))
    assert read_spikes(tmp_path / "two.nix").ids.tolist() == [
        "seg0/u1", "seg0/u2", "seg1/u1", "seg1/u2"]  # fmt: skip


def test_nwb_through_neo_nwbio(tmp_path):
    path = tmp_path / "neo.nwb"
    neo.io.NWBIO(str(path), mode="w").write_all_blocks([_block()])
    via_neo = read_spikes(path, "neo", io="NWBIO")
    assert via_neo.ids.tolist() == ["u1", "u2"] and via_neo[1].tolist() == [500.0]
    via_pynwb = read_spikes(path)  # the same Units table through pynwb
    np.testing.assert_allclose(via_pynwb.times, via_neo.times)
    signals = read_spikes(path, "neo", io="NWBIO", source="signals")
    np.testing.assert_allclose(signals[0], [20.0, 40.0, 60.0, 80.0])


def test_hdf5_extension_is_told_apart_by_content(tmp_path):
    _write_nix(tmp_path / "rec.h5", _block())
    _recording(tmp_path / "units.h5")
    assert detect_format(tmp_path / "rec.h5") == "neo"
    assert detect_format(tmp_path / "units.h5") == "nwb"
    assert read_spikes(tmp_path / "units.h5").ids.tolist() == [10, 11]


def test_neo_errors_are_one_line_with_the_file(tmp_path):
    (tmp_path / "bad.nix").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"bad.nix: not readable by Neo \(NixIO: OSError") as info:
        read_spikes(tmp_path / "bad.nix")
    assert "\n" not in str(info.value)
    block = _block()
    for seg in block.segments:
        seg.spiketrains.clear()
        seg.analogsignals = [s for s in seg.analogsignals if s.name == "I"]
    _write_nix(tmp_path / "currents.nix", block)
    with pytest.raises(ValueError, match="no spike trains and no voltage traces"):
        read_spikes(tmp_path / "currents.nix")
    with pytest.raises(ValueError, match="no IO class 'NoSuchIO'"):
        read_spikes(tmp_path / "currents.nix", io="NoSuchIO")


# --------------------------------------------------------------------- dispatch
def test_the_chosen_reader_is_logged(tmp_path, caplog):
    write_spikes(_trains(), tmp_path / "s.npz")
    with caplog.at_level(logging.INFO, logger="sbidic.spikes"):
        read_spikes(tmp_path / "s.npz")
    assert "as npz" in caplog.text


def test_unknown_format_and_extension_are_clear(tmp_path):
    (tmp_path / "s.qqq").write_text("1 2 3")
    with pytest.raises(ValueError, match="unknown spike-file extension '.qqq'"):
        read_spikes(tmp_path / "s.qqq")
    with pytest.raises(ValueError, match="unknown spike-file format 'xml'"):
        read_spikes(tmp_path / "s.qqq", "xml")
    assert read_spikes(tmp_path / "s.qqq", "text").n_spikes.tolist() == [3]


def test_npz_writer_rejects_reserved_names(tmp_path):
    with pytest.raises(ValueError, match="clashes"):
        write_spikes_npz(_trains(), tmp_path / "s.npz", extra={"times": [1, 2, 3]})


def test_axon_abf_voltage_trace_through_neo(tmp_path, abf_writer):
    """A real Axon Binary File (ABF1, written by pyabf) read by Neo's AxonIO."""
    t = np.arange(0.0, 500.0, 0.1)  # ms, 10 kHz (Neo's AxonIO needs >= 2000 samples)
    v = np.where((t % 20.0) < 1.0, 30.0, -60.0)  # mV
    path = tmp_path / "cell.abf"
    abf_writer.writeABF1(v[None, :], str(path), 10_000, units="mV")
    assert detect_format(path) == "neo"
    st = read_spikes(path)  # no spike trains in the file: detected in the trace
    assert len(st) == 1
    np.testing.assert_allclose(st[0], np.arange(20.0, 500.0, 20.0))
    np.testing.assert_allclose(read_spikes(path, up_mV=40.0).n_spikes, [0])


def test_an_option_the_reader_does_not_take_is_named(tmp_path):
    write_spikes(_trains(), tmp_path / "s.npz")
    with pytest.raises(ValueError, match="npz reader takes no option id_column .its options: "
                                         "time_unit"):  # fmt: skip
        read_spikes(tmp_path / "s.npz", id_column="x")
    write_spikes(_trains(), tmp_path / "s.csv")
    with pytest.raises(ValueError, match="csv reader takes no option up_mV .its options: "
                                         "time_unit"):  # fmt: skip
        read_spikes(tmp_path / "s.csv", up_mV=5.0)


@pytest.mark.parametrize(("module", "suffix"), [("pynwb", ".nwb"), ("neo", ".nix")])
def test_a_missing_optional_package_says_how_to_install_it(tmp_path, monkeypatch, module, suffix):
    path = tmp_path / f"rec{suffix}"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, f"{module}.io", None)
    with pytest.raises(ValueError, match=rf"needs {module} \(pip install 'sbidic\[formats\]'\)"):
        read_spikes(path, "nwb" if module == "pynwb" else "neo")
