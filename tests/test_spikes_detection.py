"""Spike detection follows the published rule (Brandoit et al. 2025, Spike2Pop
``utils.get_spiking_times``): onset = first sample strictly above +10 mV after a sample at
or below it; keep onsets before the last downward crossing of 0 mV; time = onset sample."""

from __future__ import annotations

import numpy as np
import pytest

from sbidic.spikes import SpikeTrains, detect_spikes

T = np.arange(10.0) * 0.5  # ms


def _times(v, t=T, **kw) -> list[float]:
    return detect_spikes(np.asarray(v, dtype=float), t[: len(v)], **kw)[0].tolist()


def test_onset_is_first_sample_above_10_mV_after_one_at_or_below():
    v = [-60, -20, 9.9, 10.5, 30, 20, -10, -60]
    assert _times(v) == [T[3]]


def test_exactly_10_mV_is_not_above_threshold():
    # 10 mV itself is not an onset, but a sample at exactly 10 mV may precede one
    assert _times([-60, 10.0, -5, -60]) == []
    assert _times([-60, 10.0, 10.1, -5]) == [T[2]]


def test_end_is_downward_crossing_of_0_mV():
    # V drops from >= 0 to < 0; a drop to exactly 0 is not an end
    assert _times([-60, 20, 0.0, 0.0]) == []
    assert _times([-60, 20, 0.0, -0.1]) == [T[1]]


def test_onsets_after_the_last_end_are_dropped():
    v = [-60, 20, -5, 30, -5, -60, 40, 50, 20, 5]  # the third spike never comes down
    assert _times(v) == [T[1], T[3]]


def test_no_end_or_no_onset_means_empty_train():
    assert _times([-60, 20, 30, 40]) == []  # onset, never back below 0
    assert _times([5, -5, 5, -5]) == []  # ends, but never above 10
    assert _times([20, 30, -5, -5]) == []  # starts above 10: no upward crossing


def test_spike_time_is_the_onset_sample_time_without_interpolation():
    t = np.array([0.0, 0.1, 0.37, 0.9, 1.3])
    assert _times([-60, 0, 50, -20, -60], t=t) == [0.37]


def test_rows_are_independent_cells():
    v = np.array(
        [
            [-60, 20, -5, 30, -5, -60],
            [-60, -60, -60, -60, -60, -60],
            [-60, -60, 15, 15, -1, -60],
        ],
        dtype=float,
    )
    st = detect_spikes(v, T[:6])
    assert isinstance(st, SpikeTrains) and len(st) == 3
    assert [a.tolist() for a in st] == [[T[1], T[3]], [], [T[2]]]
    np.testing.assert_array_equal(st.ids, [0, 1, 2])


def test_vectorised_detection_matches_row_by_row():
    rng = np.random.default_rng(0)
    t = np.arange(2000) * 0.05
    v = rng.normal(-20, 25, size=(20, 2000)).cumsum(axis=1) * 0.05
    v = 40 * np.sin(np.arange(2000)[None] * rng.uniform(0.01, 0.2, (20, 1))) + v
    batch = detect_spikes(v, t)
    for i in range(20):
        np.testing.assert_array_equal(batch[i], detect_spikes(v[i], t)[0])
    assert batch.n_spikes.sum() > 0


def test_thresholds_are_keyword_arguments():
    v = [-60, -30, -10, -30, -60]
    assert _times(v) == []
    assert _times(v, up_mV=-20.0, down_mV=-25.0) == [T[2]]


def test_ids_are_attached():
    st = detect_spikes(np.full((2, 4), -60.0), T[:4], ids=["a", "b"])
    assert st.ids.tolist() == ["a", "b"]


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"t must have shape \(n_samples,\) = \(4,\)"):
        detect_spikes(np.zeros((2, 4)), np.arange(5.0))
    with pytest.raises(ValueError, match=r"v must have shape"):
        detect_spikes(np.zeros((2, 2, 4)), np.arange(4.0))


def test_non_increasing_sample_times_raise():
    with pytest.raises(ValueError, match=r"strictly increasing; t\[2\] = 1.0 ms"):
        detect_spikes(np.zeros(4), np.array([0.0, 1.0, 1.0, 2.0]))


def test_nonfinite_voltage_raises_naming_the_cell_or_gives_empty_train():
    v = np.array([[-60, 20, -5, -60], [-60, np.nan, -5, -60]])
    with pytest.raises(ValueError, match=r"cell 1 \(id='b'\): v\[1\] = nan mV"):
        detect_spikes(v, T[:4], ids=["a", "b"])
    st = detect_spikes(v, T[:4], nonfinite="empty")
    assert [a.tolist() for a in st] == [[T[1]], []]


def test_fewer_than_two_samples_give_empty_trains():
    st = detect_spikes(np.zeros((3, 1)), np.array([0.0]))
    assert len(st) == 3 and st.times.size == 0


def test_detects_the_spikes_of_a_synthetic_tonic_trace():
    # 20 Hz train of 1-ms triangular spikes on a 0.01 ms grid, like the reference grids
    t = 3000.0 + np.arange(100_000) * 0.01
    phase = (t - 3000.0) % 50.0
    v = np.where(phase < 1.0, -60 + 200 * np.minimum(phase, 1 - phase), -60.0)
    st = detect_spikes(v, t)
    assert st.n_spikes[0] == 20
    np.testing.assert_allclose(np.diff(st[0]), 50.0, atol=0.011)
    # every spike time is a grid value
    assert np.isin(st[0], t).all()


def test_chunked_processing_gives_the_same_trains(monkeypatch):
    import sbidic.spikes.detection as detection

    rng = np.random.default_rng(1)
    v = 40 * np.sin(np.arange(500)[None] * rng.uniform(0.05, 0.3, (7, 1)))
    t = np.arange(500) * 0.1
    whole = detect_spikes(v, t)
    monkeypatch.setattr(detection, "_CHUNK_ELEMENTS", 1000)  # two rows per chunk
    assert detect_spikes(v, t).equals(whole)
