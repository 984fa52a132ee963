"""The ragged :class:`SpikeTrains` container: constructors, conversions, validation."""

from __future__ import annotations

import numpy as np
import pytest

from sbidic.spikes import RepairReport, SpikeTrains

LISTS = [[1.0, 2.5, 7.0], [], [0.0], [3.0, 4.0]]


@pytest.fixture
def st() -> SpikeTrains:
    return SpikeTrains.from_list(LISTS, ids=["a", "b", "c", "d"])


# ------------------------------------------------------------------ constructors
def test_from_list_builds_flat_times_and_csr_offsets(st):
    np.testing.assert_array_equal(st.times, [1.0, 2.5, 7.0, 0.0, 3.0, 4.0])
    np.testing.assert_array_equal(st.offsets, [0, 3, 3, 4, 6])
    np.testing.assert_array_equal(st.n_spikes, [3, 0, 1, 2])
    assert st.times.dtype == np.float64 and st.offsets.dtype == np.int64
    assert len(st) == st.n_trains == 4


def test_default_ids_are_arange():
    st = SpikeTrains.from_list([[1.0], [2.0], []])
    np.testing.assert_array_equal(st.ids, [0, 1, 2])
    assert st.ids.dtype == np.int64


def test_ids_may_be_ints_or_strings():
    assert SpikeTrains.from_list([[1.0]], ids=[42]).ids.dtype == np.int64
    assert SpikeTrains.from_list([[1.0]], ids=np.array([7], dtype=object)).ids[0] == 7
    assert SpikeTrains.from_list([[1.0]], ids=["cell"]).ids.dtype.kind == "U"
    with pytest.raises(ValueError, match="integers or strings"):
        SpikeTrains.from_list([[1.0]], ids=[1.5])
    with pytest.raises(ValueError, match="length 2"):
        SpikeTrains.from_list([[1.0], [2.0]], ids=[1])


def test_flat_constructor_equals_from_list(st):
    flat = SpikeTrains(st.times, st.offsets, st.ids)
    assert flat.equals(st)


@pytest.mark.parametrize(
    ("offsets", "match"),
    [
        ([0, 2], "end at len"),
        ([1, 3], "start at 0"),
        ([0, 2, 1, 3], "non-decreasing"),
        ([[0, 3]], "1-D"),
        ([0.5, 3], "integers"),
    ],
)
def test_flat_constructor_rejects_bad_offsets(offsets, match):
    with pytest.raises(ValueError, match=match):
        SpikeTrains([1.0, 2.0, 3.0], offsets)


def test_from_list_rejects_non_1d_or_non_numeric_trains():
    with pytest.raises(ValueError, match=r"train 1 \(id='y'\) must be 1-D"):
        SpikeTrains.from_list([[1.0], [[1.0, 2.0]]], ids=["x", "y"])
    with pytest.raises(ValueError, match=r"train 0 \(id=0\) is not a sequence of numbers"):
        SpikeTrains.from_list([["a"]])
    with pytest.raises(ValueError, match=r"train 0 .* must be 1-D"):
        SpikeTrains.from_list([3.0])


def test_empty_container():
    st = SpikeTrains.from_list([])
    assert len(st) == 0 and st.times.shape == (0,)
    np.testing.assert_array_equal(st.offsets, [0])
    padded, lengths = st.to_padded()
    assert padded.shape == (0, 0) and lengths.shape == (0,)
    assert st.isi()[0].shape == (0,)


def test_arrays_are_read_only(st):
    with pytest.raises(ValueError):
        st.times[0] = 5.0
    with pytest.raises(ValueError):
        st[0][0] = 5.0
    with pytest.raises(AttributeError):
        st.times = np.zeros(6)


def test_constructor_copies_its_input():
    times = np.array([1.0, 2.0])
    st = SpikeTrains(times, [0, 2])
    times[0] = 99.0
    assert st[0][0] == 1.0


# ------------------------------------------------------------------- conversions
def test_to_list_round_trip(st):
    out = st.to_list()
    assert len(out) == 4
    for a, b in zip(out, LISTS, strict=True):
        np.testing.assert_array_equal(a, b)
    assert SpikeTrains.from_list(out, st.ids).equals(st)


def test_to_padded_and_from_padded_round_trip(st):
    padded, lengths = st.to_padded()
    assert padded.shape == (4, 3)
    np.testing.assert_array_equal(lengths, [3, 0, 1, 2])
    assert np.isnan(padded[1]).all() and np.isnan(padded[3, 2])
    assert SpikeTrains.from_padded(padded, ids=st.ids).equals(st)
    filled, lengths = st.to_padded(pad_value=-1.0)
    assert SpikeTrains.from_padded(filled, lengths, ids=st.ids).equals(st)


def test_to_padded_max_len_truncates_to_the_first_spikes(st):
    padded, lengths = st.to_padded(max_len=2)
    np.testing.assert_array_equal(padded[0], [1.0, 2.5])
    np.testing.assert_array_equal(lengths, [2, 0, 1, 2])
    padded, lengths = st.to_padded(max_len=5)
    assert padded.shape == (4, 5)


def test_from_padded_rejects_nan_before_a_spike():
    with pytest.raises(ValueError, match="row 1 of padded has NaN at column 0"):
        SpikeTrains.from_padded([[1.0, 2.0], [np.nan, 3.0]])


def test_from_padded_rejects_bad_lengths():
    with pytest.raises(ValueError, match=r"lengths\[0\] = 3 is outside"):
        SpikeTrains.from_padded([[1.0, 2.0]], lengths=[3])
    with pytest.raises(ValueError, match="2-D"):
        SpikeTrains.from_padded([1.0, 2.0])


def test_getitem_int_returns_times_and_selections_return_trains(st):
    np.testing.assert_array_equal(st[0], [1.0, 2.5, 7.0])
    np.testing.assert_array_equal(st[-1], [3.0, 4.0])
    assert st[1].shape == (0,)
    sub = st[1:]
    assert isinstance(sub, SpikeTrains)
    assert sub.ids.tolist() == ["b", "c", "d"]
    assert st[np.array([3, 0])].to_list()[0].tolist() == [3.0, 4.0]
    assert st[np.array([3, 0])].ids.tolist() == ["d", "a"]
    masked = st[np.array([True, False, False, True])]
    assert masked.ids.tolist() == ["a", "d"]
    np.testing.assert_array_equal(masked.times, [1.0, 2.5, 7.0, 3.0, 4.0])
    with pytest.raises(IndexError):
        st[4]


def test_iteration_yields_each_train(st):
    assert [a.tolist() for a in st] == LISTS


def test_repr_is_short(st):
    assert repr(st) == "SpikeTrains(n_trains=4, n_spikes=6, ids=['a', 'b', 'c', 'd'])"
    big = SpikeTrains.from_list([[]] * 100)
    assert repr(big) == "SpikeTrains(n_trains=100, n_spikes=0, ids=[0, 1, 2, ...])"


def test_equals_checks_times_offsets_and_ids(st):
    assert st.equals(SpikeTrains.from_list(LISTS, ids=["a", "b", "c", "d"]))
    assert not st.equals(SpikeTrains.from_list(LISTS))
    assert st.equals(SpikeTrains.from_list(LISTS), check_ids=False)
    assert not st.equals(LISTS)


def test_concatenate_stacks_trains(st):
    both = SpikeTrains.concatenate([st, st[:2]])
    assert len(both) == 6
    assert both.ids.tolist() == ["a", "b", "c", "d", "a", "b"]
    np.testing.assert_array_equal(both[4], [1.0, 2.5, 7.0])
    with pytest.raises(ValueError, match="integer and string ids"):
        SpikeTrains.concatenate([st, SpikeTrains.from_list([[1.0]])])
    assert len(SpikeTrains.concatenate([])) == 0


# -------------------------------------------------------------------- operations
def test_isi_is_ragged_diff(st):
    values, offsets = st.isi()
    np.testing.assert_array_equal(values, [1.5, 4.5, 1.0])
    np.testing.assert_array_equal(offsets, [0, 2, 2, 2, 3])


def test_train_index_labels_every_spike(st):
    np.testing.assert_array_equal(st.train_index, [0, 0, 0, 2, 3, 3])


def test_window_keeps_half_open_interval(st):
    w = st.window(2.5, 7.0)
    assert [a.tolist() for a in w] == [[2.5], [], [], [3.0, 4.0]]
    r = st.window(2.5, 7.0, rereference=True)
    assert [a.tolist() for a in r] == [[0.0], [], [], [0.5, 1.5]]
    assert r.ids.tolist() == st.ids.tolist()
    with pytest.raises(ValueError, match="t_start < t_stop"):
        st.window(5.0, 5.0)


def test_shift_by_scalar_or_per_train(st):
    np.testing.assert_array_equal(st.shift(10.0).times, st.times + 10.0)
    shifted = st.shift([0.0, 0.0, 1.0, -3.0])
    np.testing.assert_array_equal(shifted[3], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"train 3 \(id='d'\): spike 0 is negative"):
        st.shift([0.0, 0.0, 0.0, -3.5])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        st.shift([1.0, 2.0])


# -------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("trains", "match"),
    [
        ([[1.0, np.nan]], r"train 0 \(id='c0'\): spike 1 is not finite"),
        ([[1.0, np.inf]], r"train 0 \(id='c0'\): spike 1 is not finite"),
        ([[0.0], [-1.0, 2.0]], r"train 1 \(id='c1'\): spike 0 is negative"),
        ([[], [1.0, 3.0, 2.0]], r"train 1 \(id='c1'\): spike 2 \(2.0 ms\) is before spike 1"),
        ([[5.0, 5.0]], r"train 0 \(id='c0'\): spike 1 \(5.0 ms\) repeats spike 0"),
    ],
)
def test_invalid_times_raise_naming_the_train(trains, match):
    ids = [f"c{i}" for i in range(len(trains))]
    with pytest.raises(ValueError, match=match):
        SpikeTrains.from_list(trains, ids=ids)
    raw = SpikeTrains.from_list(trains, ids=ids, check=False)
    assert not raw.is_valid()
    with pytest.raises(ValueError, match=match):
        raw.validate()


def test_times_across_train_boundaries_need_not_increase():
    st = SpikeTrains.from_list([[5.0, 9.0], [1.0]])
    assert st.is_valid() and st.validate() is st


def test_repair_sorts_and_removes_duplicates_and_reports():
    raw = SpikeTrains.from_list(
        [[3.0, 1.0, 3.0, 2.0], [1.0, 2.0], [4.0, 4.0, 4.0]], ids=[10, 11, 12], check=False
    )
    fixed, report = raw.repair()
    assert isinstance(report, RepairReport)
    assert [a.tolist() for a in fixed] == [[1.0, 2.0, 3.0], [1.0, 2.0], [4.0]]
    assert fixed.is_valid() and fixed.ids.tolist() == [10, 11, 12]
    np.testing.assert_array_equal(report.reordered, [True, False, False])
    np.testing.assert_array_equal(report.n_duplicates, [1, 0, 2])
    np.testing.assert_array_equal(report.n_dropped_invalid, [0, 0, 0])
    assert report.changed
    assert "reordered: 1 train(s) [10]" in str(report)
    assert "duplicates removed: 2 train(s) [10, 12]" in str(report)


def test_repair_of_valid_trains_changes_nothing(st):
    fixed, report = st.repair()
    assert fixed.equals(st) and not report.changed
    assert str(report) == "RepairReport: nothing changed"


def test_repair_refuses_invalid_times_unless_asked():
    raw = SpikeTrains.from_list([[1.0], [2.0, np.nan, -1.0, 0.5]], ids=["a", "b"], check=False)
    with pytest.raises(ValueError, match=r"train 1 \(id='b'\): spike 1 is nan.*drop_invalid"):
        raw.repair()
    fixed, report = raw.repair(drop_invalid=True)
    assert [a.tolist() for a in fixed] == [[1.0], [0.5, 2.0]]
    np.testing.assert_array_equal(report.n_dropped_invalid, [0, 2])
    np.testing.assert_array_equal(report.reordered, [False, True])


def test_pickle_round_trip_keeps_arrays_read_only(st):
    import pickle

    back = pickle.loads(pickle.dumps(st))
    assert back.equals(st)
    assert not back.times.flags.writeable and not back.ids.flags.writeable


def test_bytes_ids_become_strings():
    st = SpikeTrains.from_list([[1.0]], ids=np.array([b"x"]))
    assert st.ids.tolist() == ["x"]
