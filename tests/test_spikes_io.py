"""Spike2Pop CSV and netCDF (CF contiguous ragged array) I/O of spike trains."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from sbidic.spikes import (
    SpikeTrains,
    from_dataset,
    read_spike_csv,
    read_spikes,
    read_spikes_netcdf,
    spike_features,
    to_dataset,
    write_spike_csv,
    write_spikes,
    write_spikes_netcdf,
)


def _random_trains(ids=None, seed=0) -> SpikeTrains:
    rng = np.random.default_rng(seed)
    trains = [np.sort(rng.uniform(3000.0, 6000.0, k)) for k in (5, 0, 1, 17, 0, 3)]
    # awkward floats: arange grid values as the simulations produce them
    trains[2] = np.array([3269.100000005874])
    return SpikeTrains.from_list(trains, ids=ids)


def _write(tmp_path, text: str, name: str = "spikes.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------------- CSV
def test_csv_round_trip_is_exact(tmp_path):
    st = _random_trains()
    write_spike_csv(st, tmp_path / "s.csv")
    back = read_spike_csv(tmp_path / "s.csv")
    assert back.equals(st)


def test_csv_round_trip_with_string_ids_and_extra_columns(tmp_path):
    st = _random_trains(ids=[f"cell,{i}" for i in range(6)])
    labels = spike_features(st).label
    write_spike_csv(st, tmp_path / "s.csv", extra_columns={"label": labels})
    header = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert header == "ID,spiking_times,label"
    back = read_spike_csv(tmp_path / "s.csv")
    assert back.equals(st)
    assert back.ids.dtype.kind == "U"


def test_csv_empty_list_is_a_silent_cell(tmp_path):
    path = _write(tmp_path, 'ID,spiking_times\n1,[]\n2,"[3000.0, 3100.5]"\n3," [ ] "\n')
    st = read_spike_csv(path)
    np.testing.assert_array_equal(st.n_spikes, [0, 2, 0])
    np.testing.assert_array_equal(st.ids, [1, 2, 3])


def test_csv_extra_columns_are_ignored_in_any_order(tmp_path):
    path = _write(tmp_path, ',spiking_times,label,ID\n0,"[1.0, 2.0]",spiking,a\n1,[],silent,b\n')
    st = read_spike_csv(path)
    assert st.ids.tolist() == ["a", "b"]
    assert st[0].tolist() == [1.0, 2.0]


def test_csv_accepts_numpy_style_lists(tmp_path):
    path = _write(tmp_path, 'ID,spiking_times\n0,"[3000.   3100.5  3200.25]"\n')
    assert read_spike_csv(path)[0].tolist() == [3000.0, 3100.5, 3200.25]


def test_csv_missing_id_column_numbers_rows_with_a_warning(tmp_path):
    path = _write(tmp_path, 'spiking_times\n"[1.0]"\n\n"[2.0, 3.0]"\n')
    with pytest.warns(UserWarning, match="no 'ID' column; using IDs 0..1"):
        st = read_spike_csv(path)
    np.testing.assert_array_equal(st.ids, [0, 1])
    assert st[1].tolist() == [2.0, 3.0]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('0,"[1.0, x]"\n', r"line 3: spike 1 of spiking_times, 'x', is not a number"),
        ("0,1.0\n", r"line 3: spiking_times must be a list"),
        ("0,[1.0, 2.0]\n", r"line 3: expected 2 fields .* got 3; is the spike list quoted"),
        (',"[1.0]"\n', r"line 3: empty ID"),
        ('1,"[1.0]"\n', r"line 3: ID '1' already used on line 2"),
        ('0,"[1.0, 1.0]"\n', r"line 3 \(ID '0'\): spike 1 \(1.0 ms\) repeats spike 0"),
        ('0,"[2.0, 1.0]"\n', r"line 3 \(ID '0'\): spike 1 \(1.0 ms\) is before spike 0"),
        ('0,"[nan]"\n', r"line 3 \(ID '0'\): spike 0 is not finite"),
        ('0,"[-1.0]"\n', r"line 3 \(ID '0'\): spike 0 is negative"),
    ],
)
def test_csv_malformed_row_names_its_line(tmp_path, body, match):
    path = _write(tmp_path, 'ID,spiking_times\n1,"[5.0]"\n' + body)
    with pytest.raises(ValueError, match=match):
        read_spike_csv(path)


def test_csv_unsorted_rows_can_be_read_raw_and_repaired(tmp_path):
    path = _write(tmp_path, 'ID,spiking_times\n0,"[2.0, 1.0, 2.0]"\n')
    fixed, report = read_spike_csv(path, check=False).repair()
    assert fixed[0].tolist() == [1.0, 2.0] and report.changed


def test_csv_bad_header_raises(tmp_path):
    with pytest.raises(ValueError, match="no 'spiking_times' column"):
        read_spike_csv(_write(tmp_path, "ID,times\n0,[]\n"))
    with pytest.raises(ValueError, match="empty file"):
        read_spike_csv(_write(tmp_path, ""))


def test_csv_header_only_gives_no_trains(tmp_path):
    st = read_spike_csv(_write(tmp_path, "ID,spiking_times\n"))
    assert len(st) == 0 and st.ids.dtype == np.int64


def test_csv_extra_column_shape_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"extra column 'x' must have shape \(6,\)"):
        write_spike_csv(_random_trains(), tmp_path / "s.csv", extra_columns={"x": [1, 2]})


def _long_train(n: int = 12_000) -> SpikeTrains:
    """A train whose CSV field outgrows the csv module's 131,072-character limit."""
    times = 3000.0 + np.cumsum(np.random.default_rng(3).uniform(5.0, 40.0, n))
    return SpikeTrains.from_list([times, [3001.5, 3002.25]], ids=["long", "short"])


def test_csv_reads_back_a_train_longer_than_the_csv_field_limit(tmp_path):
    st = _long_train()
    write_spike_csv(st, tmp_path / "long.csv")
    assert len((tmp_path / "long.csv").read_text()) > 131_072
    assert read_spike_csv(tmp_path / "long.csv").equals(st)
    assert read_spikes(tmp_path / "long.csv").equals(st)


@pytest.mark.parametrize(("unit", "factor"), [("s", 1000.0), ("ms", 1.0), ("us", 1e-3)])
def test_csv_and_netcdf_take_a_time_unit(tmp_path, unit, factor):
    st = SpikeTrains.from_list([[0.5, 1.25, 2.0], []], ids=[1, 2])
    for name in ("s.csv", "s.nc"):
        write_spikes(st, tmp_path / name)
        back = read_spikes(tmp_path / name, time_unit=unit)
        np.testing.assert_allclose(back.times, st.times * factor, rtol=1e-15)
    assert read_spike_csv(tmp_path / "s.csv", time_unit=unit).ids.tolist() == [1, 2]


@pytest.mark.parametrize("name", ["s.csv", "s.nc"])
def test_an_unknown_time_unit_names_the_file(tmp_path, name):
    write_spikes(_random_trains(), tmp_path / name)
    with pytest.raises(ValueError, match=r"time unit 'h'; expected s, ms or us") as info:
        read_spikes(tmp_path / name, time_unit="h")
    assert str(info.value).startswith(str(tmp_path / name))


def test_seconds_read_as_ms_are_warned_about(tmp_path):
    seconds = np.cumsum(np.full(200, 0.125))  # a 8 Hz cell for 25 s, written in seconds
    write_spike_csv(SpikeTrains.from_list([seconds, []], ids=["gp1", "gp2"]),
                    tmp_path / "s.csv")  # fmt: skip
    with pytest.warns(UserWarning, match=r"1 of 2 recording\(s\) \(gp1\).*median ISI 0.125 ms "
                      r"\(8000 Hz\).*time_unit=s"):  # fmt: skip
        read_spikes(tmp_path / "s.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_spikes(tmp_path / "s.csv", time_unit="s")[0][-1] == 25_000.0


# ---------------------------------------------------------------------- netCDF
def test_dataset_is_a_cf_contiguous_ragged_array():
    st = SpikeTrains.from_list([[1.0, 2.0], [], [3.0]], ids=["a", "b", "c"])
    ds = to_dataset(st)
    assert dict(ds.sizes) == {"train": 3, "spike": 3}
    assert ds["row_size"].dims == ("train",)
    assert ds["row_size"].attrs["sample_dimension"] == "spike"
    assert ds["spike_time"].dims == ("spike",) and ds["spike_time"].attrs["units"] == "ms"
    assert ds["train_id"].values.tolist() == ["a", "b", "c"]
    assert from_dataset(ds).equals(st)
    assert st.to_dataset().identical(ds) and SpikeTrains.from_dataset(ds).equals(st)


@pytest.mark.parametrize(
    "trains",
    [
        _random_trains(),
        _random_trains(ids=[f"c{i}" for i in range(6)]),
        SpikeTrains.from_list([[], []]),
        SpikeTrains.from_list([[], []], ids=["x", "y"]),
        SpikeTrains.from_list([]),
    ],
    ids=["int-ids", "str-ids", "all-empty", "all-empty-str", "no-trains"],
)
def test_netcdf_round_trip(tmp_path, trains):
    write_spikes_netcdf(trains, tmp_path / "s.nc")
    assert read_spikes_netcdf(tmp_path / "s.nc").equals(trains)


def test_netcdf_extra_per_train_variables_ride_along(tmp_path):
    st = _random_trains(ids=[f"c{i}" for i in range(6)])
    feats = spike_features(st)
    write_spikes_netcdf(st, tmp_path / "s.nc", extra=feats)
    with xr.open_dataset(tmp_path / "s.nc") as ds:
        np.testing.assert_array_equal(ds["label_code"].values, feats.label_code)
        assert ds["f_spiking"].attrs["units"] == "Hz"
    assert read_spikes_netcdf(tmp_path / "s.nc").equals(st)
    ds = to_dataset(st, extra={"label": feats.label})
    assert ds["label"].dims == ("train",)
    with pytest.raises(ValueError, match=r"extra variable 'x' must have dims \('train',\)"):
        to_dataset(st, extra={"x": np.zeros(2)})
    with pytest.raises(ValueError, match="clashes"):
        to_dataset(st, extra={"row_size": np.zeros(6)})


def test_from_dataset_rejects_inconsistent_counts():
    ds = to_dataset(SpikeTrains.from_list([[1.0, 2.0], [3.0]]))
    bad = ds.assign(row_size=ds["row_size"] + 1)
    bad["row_size"].attrs["sample_dimension"] = "spike"
    with pytest.raises(ValueError, match="sum of 'row_size' .5. does not match"):
        from_dataset(bad)
    with pytest.raises(ValueError, match="sample_dimension"):
        from_dataset(ds.drop_vars("row_size"))


def test_from_dataset_converts_seconds_to_ms():
    ds = to_dataset(SpikeTrains.from_list([[1.5, 2.0]]))
    ds["spike_time"] = ds["spike_time"] / 1000.0
    ds["spike_time"].attrs["units"] = "s"
    np.testing.assert_allclose(from_dataset(ds)[0], [1.5, 2.0], rtol=1e-15)
    ds["spike_time"].attrs["units"] = "furlongs"
    with pytest.raises(ValueError, match="units 'furlongs'"):
        from_dataset(ds)


# ---------------------------------------------------------------------- dispatch
@pytest.mark.parametrize("name", ["s.csv", "s.nc", "S.NC4"])
def test_read_write_dispatch_on_extension(tmp_path, name):
    st = _random_trains()
    write_spikes(st, tmp_path / name)
    assert read_spikes(tmp_path / name).equals(st)


def test_unknown_extension_raises(tmp_path):
    with pytest.raises(ValueError, match="unknown spike-file extension '.xyz'"):
        write_spikes(_random_trains(), tmp_path / "s.xyz")
