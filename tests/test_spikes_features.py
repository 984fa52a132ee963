"""Labels and spike-train features follow the published rules (Brandoit et al. 2025,
Spike2Pop ``SpikeFeatureExtractor``) and reproduce the reference numbers in
tests/data/reference_{stg,da}.json -> features.cases (``features_float64`` and ``extra``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbidic.spikes import LABEL_NAMES, SpikeFeatures, SpikeTrains, label_trains, spike_features

RTOL = 1e-9
DATA = Path(__file__).parent / "data"
REFERENCE_KEYS = (
    "f_spiking",
    "f_intra_bursting",
    "f_inter_bursting",
    "duration_bursting",
    "nbr_spikes_bursting",
    "burst_period_ms",
)
BURST_KEYS = REFERENCE_KEYS[1:5]


def _cases(model: str) -> list[dict]:
    with open(DATA / f"reference_{model}.json") as fh:
        return json.load(fh)["features"]["cases"]


CASES = [(m, c) for m in ("stg", "da") for c in _cases(m)]


def _nan(x):
    return np.nan if x is None else x


def _one(times, **kw) -> dict[str, float]:
    f = spike_features(SpikeTrains.from_list([times], check=False), **kw)
    return {k: v[0] for k, v in f.as_dict().items()}


def _bursts(onsets, sizes, isi=10.0) -> list[float]:
    return [o + isi * j for o, n in zip(onsets, sizes, strict=True) for j in range(n)]


# ------------------------------------------------------------------- reference
@pytest.mark.parametrize(("model", "case"), CASES, ids=[f"{m}-{c['name']}" for m, c in CASES])
def test_reference_features_float64(model, case):
    # tonic_with_duplicate has a repeated time: processed as the reference does, unrepaired
    f = _one(case["spike_times_ms"])
    want = case["features_float64"]
    assert f["label_code"] == want["label_code"]
    assert LABEL_NAMES[f["label_code"]] == want["label"] == case["reference_label"]
    for key in REFERENCE_KEYS:
        np.testing.assert_allclose(f[key], _nan(want[key]), rtol=RTOL, atol=0, err_msg=key)
    extra = case["extra"]
    assert f["n_spikes"] == extra["n_spikes"]
    np.testing.assert_allclose(f["mean_isi_ms"], extra["mean_isi_ms"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(f["cv_isi"], extra["cv_isi"], rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("model", ["stg", "da"])
def test_reference_cases_in_one_batch_match(model):
    cases = _cases(model)
    trains = SpikeTrains.from_list(
        [c["spike_times_ms"] for c in cases], ids=[c["name"] for c in cases], check=False
    )
    order = np.random.default_rng(3).permutation(len(cases))
    f = spike_features(trains[order])
    for row, i in enumerate(order):
        want = cases[i]["features_float64"]
        assert f.label[row] == want["label"]
        for key in REFERENCE_KEYS:
            np.testing.assert_allclose(f[key][row], _nan(want[key]), rtol=RTOL, atol=0)
    np.testing.assert_array_equal(label_trains(trains[order]), f.label_code)
    assert f.ids.tolist() == [cases[i]["name"] for i in order]


# ------------------------------------------------------------------------ labels
def test_fewer_than_three_spikes_is_silent():
    st = SpikeTrains.from_list([[], [5.0], [5.0, 105.0], [5.0, 105.0, 205.0]])
    np.testing.assert_array_equal(label_trains(st), [0, 0, 0, 1])
    assert LABEL_NAMES == ("silent", "spiking", "bursting")


def test_cv_threshold_0_15_separates_tonic_from_bursting():
    # ISIs (85, 115): CV = 15/100 = 0.15 exactly -> tonic; (84, 116): CV 0.16 -> bursting
    at = _one([3000.0, 3085.0, 3200.0])
    above = _one([3000.0, 3084.0, 3200.0])
    assert at["cv_isi"] == 0.15 and at["label_code"] == 1
    assert above["cv_isi"] == pytest.approx(0.16) and above["label_code"] == 2


def test_cv_uses_population_std():
    # ISIs (86, 114): ddof=0 gives CV 0.14 (tonic), ddof=1 would give 0.198 (bursting)
    f = _one([0.0, 86.0, 200.0])
    assert f["cv_isi"] == pytest.approx(0.14, rel=1e-12)
    assert f["label_code"] == 1


def test_label_thresholds_are_keywords():
    st = SpikeTrains.from_list([[0.0, 84.0, 200.0]])
    assert label_trains(st)[0] == 2
    assert label_trains(st, cv_threshold=0.2)[0] == 1
    assert label_trains(st, min_spikes=4)[0] == 0


# ------------------------------------------------------------------ tonic spiking
def test_f_spiking_is_mean_of_instantaneous_rates():
    f = _one([0.0, 90.0, 200.0, 300.0])
    isi = np.array([90.0, 110.0, 100.0])
    assert f["label_code"] == 1
    assert f["f_spiking"] == pytest.approx(np.mean(1000.0 / isi), rel=1e-14)
    assert f["f_spiking"] != pytest.approx(1000.0 / isi.mean(), rel=1e-6)


# ---------------------------------------------------------------------- bursting
def test_burst_split_at_isis_above_midpoint_of_max_and_min_isi():
    # ISIs 10 (min) and 110 (max): split threshold 60; an ISI of exactly 60 does not split
    base = _bursts([0.0, 130.0, 260.0, 450.0, 580.0], [3, 3, 2, 3, 3])
    joined = sorted(base + [330.0, 340.0])  # ISI 270 -> 330 = 60 ms: same burst
    split = sorted(base + [331.0, 341.0])  # ISI 61 ms: a new burst
    f_joined, f_split = _one(joined), _one(split)
    assert f_joined["label_code"] == f_split["label_code"] == 2
    assert f_joined["nbr_spikes_bursting"] == pytest.approx((3 + 4 + 3) / 3)
    assert f_split["nbr_spikes_bursting"] == pytest.approx((3 + 2 + 2 + 3) / 4)


def test_single_spike_bursts_are_discarded():
    # an isolated spike between bursts B and C is its own one-spike "burst": ignored
    train = sorted(_bursts([0.0, 220.0, 620.0, 840.0], [3, 3, 3, 3]) + [430.0])
    f = _one(train)
    assert f["label_code"] == 2
    assert f["nbr_spikes_bursting"] == 3.0  # interior bursts B and C only
    assert f["burst_period_ms"] == 400.0  # onsets 220 and 620: the single spike is no burst


def test_first_and_last_bursts_are_dropped():
    train = _bursts([0.0, 200.0, 400.0, 600.0], [2, 3, 4, 5])
    assert _one(train)["nbr_spikes_bursting"] == 3.5  # sizes 3 and 4
    # leading/trailing single spikes are discarded before the first/last bursts are dropped
    padded = [10.0] + [t + 200.0 for t in train] + [1030.0]
    assert _one(padded)["nbr_spikes_bursting"] == 3.5


def test_burst_duration_is_last_minus_first_spike():
    train = _bursts([0.0, 200.0, 400.0, 600.0], [4, 3, 5, 4], isi=12.0)
    assert _one(train)["duration_bursting"] == pytest.approx((24.0 + 48.0) / 2)


def test_intra_burst_frequency_counts_n_spikes_not_n_minus_1():
    f = _one(_bursts([0.0, 200.0, 400.0, 600.0], [4, 4, 4, 4], isi=12.0))
    assert f["f_intra_bursting"] == pytest.approx(1000.0 * 4 / 36.0, rel=1e-14)


def test_intra_burst_frequency_averages_per_burst_rates():
    # interior bursts: 3 spikes in 20 ms and 5 spikes in 40 ms
    f = _one(_bursts([0.0, 200.0, 400.0, 600.0], [4, 3, 5, 4]))
    assert f["f_intra_bursting"] == pytest.approx(1000.0 * (3 / 20 + 5 / 40) / 2, rel=1e-14)
    assert f["f_intra_bursting"] != pytest.approx(1000.0 * 4 / 30)


def test_inter_burst_frequency_is_inverse_mean_onset_difference():
    # interior onsets 200, 400, 700 -> differences 200, 300 -> period 250 ms, 4 Hz
    f = _one(_bursts([0.0, 200.0, 400.0, 700.0, 900.0], [3, 3, 3, 3, 3]))
    assert f["burst_period_ms"] == pytest.approx(250.0, rel=1e-14)
    assert f["f_inter_bursting"] == pytest.approx(4.0, rel=1e-14)


def test_one_interior_burst_gives_nan_inter_burst_frequency():
    f = _one(_bursts([0.0, 150.0, 300.0], [4, 4, 4]))
    assert f["label_code"] == 2
    assert np.isnan(f["f_inter_bursting"]) and np.isnan(f["burst_period_ms"])
    assert f["nbr_spikes_bursting"] == 4.0 and f["duration_bursting"] == 30.0


def test_no_interior_burst_gives_nan_burst_features():
    f = _one(_bursts([0.0, 150.0], [4, 4]))
    assert f["label_code"] == 2
    assert all(np.isnan(f[k]) for k in BURST_KEYS + ("burst_period_ms",))
    assert f["f_spiking"] == 0.0


# ---------------------------------------------------------------- conventions
def test_non_applicable_features_are_zero_as_the_reference_writes_them():
    st = SpikeTrains.from_list(
        [[1.0], np.arange(5) * 100.0, _bursts([0.0, 200.0, 400.0, 600.0], [3, 3, 3, 3])]
    )
    f = spike_features(st)
    np.testing.assert_array_equal(f["f_spiking"], [0.0, 10.0, 0.0])
    for key in BURST_KEYS:
        assert f[key][0] == 0.0 and f[key][1] == 0.0 and f[key][2] > 0
    nan = spike_features(st, fill_value=np.nan)
    assert np.isnan(nan["f_spiking"][[0, 2]]).all() and nan["f_spiking"][1] == 10.0
    for key in BURST_KEYS:
        assert np.isnan(nan[key][:2]).all() and nan[key][2] == f[key][2]


def test_burst_period_is_nan_unless_bursting():
    st = SpikeTrains.from_list([[], [1.0, 2.0], np.arange(5) * 100.0])
    f = spike_features(st)
    assert np.isnan(f["burst_period_ms"]).all()


def test_features_do_not_depend_on_the_time_origin():
    train = np.array(_bursts([0.0, 200.0, 400.0, 700.0, 900.0], [3, 4, 3, 5, 3], isi=7.5))
    a, b = _one(train), _one(train + 12345.0)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9)


def test_mean_isi_cv_and_firing_rate():
    st = SpikeTrains.from_list([[], [7.0], [0.0, 100.0, 300.0]])
    f = spike_features(st)
    np.testing.assert_array_equal(f["n_spikes"], [0, 1, 3])
    np.testing.assert_allclose(f["mean_isi_ms"], [np.nan, np.nan, 150.0])
    np.testing.assert_allclose(f["cv_isi"], [np.nan, np.nan, 50.0 / 150.0])
    np.testing.assert_allclose(f["firing_rate_hz"], [np.nan, np.nan, 1000.0 / 150.0])
    g = spike_features(st, duration_ms=[1000.0, 500.0, 3000.0])
    np.testing.assert_allclose(g["firing_rate_hz"], [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"train 1 \(id=1\) has 0.0"):
        spike_features(st, duration_ms=[1.0, 0.0, 1.0])


def test_batches_without_bursting_or_without_trains():
    empty = spike_features(SpikeTrains.from_list([]))
    assert len(empty) == 0 and empty["f_spiking"].shape == (0,)
    tonic = spike_features(SpikeTrains.from_list([np.arange(4) * 50.0, []]))
    np.testing.assert_array_equal(tonic.label_code, [1, 0])
    np.testing.assert_array_equal(tonic["nbr_spikes_bursting"], [0.0, 0.0])


def test_many_random_trains_match_train_by_train():
    rng = np.random.default_rng(5)
    trains = []
    for _ in range(40):
        n_b = rng.integers(0, 7)
        sizes = rng.integers(1, 6, n_b)
        onsets = np.cumsum(rng.uniform(80, 200, n_b))
        t = [o + np.cumsum(rng.uniform(5, 15, s)) for o, s in zip(onsets, sizes, strict=True)]
        trains.append(np.concatenate(t) if t else np.empty(0))
    batch = spike_features(SpikeTrains.from_list(trains))
    for i, train in enumerate(trains):
        single = _one(train)
        for key in single:
            np.testing.assert_allclose(batch[key][i], single[key], rtol=1e-12, err_msg=key)
    assert {0, 2} <= set(batch.label_code.tolist())


def test_features_as_dataset_and_mapping():
    st = SpikeTrains.from_list([np.arange(4) * 50.0, []], ids=["x", "y"])
    f = spike_features(st)
    assert isinstance(f, SpikeFeatures)
    assert f.label.tolist() == ["spiking", "silent"]
    assert "f_spiking" in f and "ids" not in f and "ids" not in f.as_dict()
    with pytest.raises(KeyError, match="unknown feature"):
        f["nope"]
    ds = f.to_dataset()
    assert ds.sizes["train"] == 2 and ds["train_id"].values.tolist() == ["x", "y"]
    assert ds["f_spiking"].attrs["units"] == "Hz"
    assert ds["label_code"].attrs["flag_meanings"] == "silent spiking bursting"


def test_duration_shape_is_checked():
    st = SpikeTrains.from_list([[1.0], [2.0]])
    with pytest.raises(ValueError, match=r"duration_ms must be a scalar or have shape \(2,\)"):
        spike_features(st, duration_ms=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(spike_features(st, duration_ms=500.0)["firing_rate_hz"], 2.0)
