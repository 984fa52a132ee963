"""Extracellular spike detection (``mode="extracellular"``): a threshold in robust noise
SDs, one polarity, a refractory period and amplitude classes for multi-unit nerves.

Synthetic traces (noise + biphasic spikes of two units at known times) are checked on
arrays and through the Neo reader (an Axon ABF1 written with pyabf, and NIX for several
channels). The last tests read the crab stomatogastric nerve recordings of
``../shared/real`` (not part of the project; skipped when absent) and compare with the
reference spike times kept beside them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sbidic.spikes import amplitude_classes, detect_extracellular, read_spikes

FS_KHZ = 10.0  # samples per ms
REAL = Path(__file__).parents[2] / "shared" / "real"


def _biphasic(t_ms: np.ndarray, amplitude: float) -> np.ndarray:
    """A trough of -amplitude at t = 0, then a positive phase of half its size."""
    return amplitude * (-np.exp(-((t_ms / 0.2) ** 2)) + 0.5 * np.exp(-(((t_ms - 0.6) / 0.3) ** 2)))


def _trace(duration_ms: float = 6000.0, seed: int = 0, noise: float = 0.5):
    """Noise (SD ``noise``) + a large unit (40) and a small unit (15) at known times."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_ms, 1.0 / FS_KHZ)
    x = rng.normal(0.0, noise, t.size)
    grid = np.arange(20.0, duration_ms - 20.0, 10.0)  # slots 10 ms apart: no overlaps
    picked = np.sort(rng.choice(grid.size, size=min(160, grid.size // 2), replace=False))
    times = grid[picked] + rng.integers(0, 30, picked.size) / FS_KHZ  # on the sample grid
    large = rng.random(times.size) < 0.5
    window = np.arange(-30, 31)  # +-3 ms
    for time, big in zip(times, large, strict=True):
        k = int(round(time * FS_KHZ))
        x[k + window] += _biphasic(window / FS_KHZ, 40.0 if big else 15.0)
    return t, x, times, large


# ---------------------------------------------------------------- on arrays
def test_each_biphasic_spike_is_found_once_at_its_trough():
    t, x, times, _ = _trace()
    found = detect_extracellular(x, t)
    assert found.polarity == "negative"  # auto: the trough is the larger phase
    np.testing.assert_allclose(found.times, times, atol=1e-9)
    assert found.noise_sd == pytest.approx(0.5, rel=0.05)
    positive = detect_extracellular(x, t, polarity="positive")  # the other phase, once each
    np.testing.assert_allclose(positive.times, times + 0.6, atol=0.15)


def test_unit_1_keeps_the_large_unit_and_units_ranks_the_classes():
    t, x, times, large = _trace()
    big = detect_extracellular(x, t, unit=1)  # unit alone: two classes
    assert big.units == 2
    np.testing.assert_allclose(big.times, times[large], atol=1e-9)
    small = detect_extracellular(x, t, units=2, unit=2)
    np.testing.assert_allclose(small.times, times[~large], atol=1e-9)
    every = detect_extracellular(x, t, units=2)
    assert every.class_counts.tolist() == [large.sum(), (~large).sum()]
    np.testing.assert_array_equal(every.classes, np.where(large, 1, 2))
    assert every.class_bounds[0, 0] > every.class_bounds[1, 1]  # class 1: larger amplitudes


def test_threshold_is_in_noise_sds():
    t, x, times, large = _trace()
    # peak-to-median of the small unit is ~15 = 30 SDs, of the large ~40 = 80 SDs
    np.testing.assert_allclose(detect_extracellular(x, t, threshold=50).times, times[large])
    assert detect_extracellular(x, t, threshold=100).times.size == 0
    noise_only = detect_extracellular(np.random.default_rng(3).normal(0, 2.0, t.size), t)
    assert noise_only.times.size == 0  # 7 SDs: no false events in 60,000 noise samples


def test_refractory_period_keeps_the_larger_of_two_close_peaks():
    t = np.arange(0.0, 100.0, 0.1)
    x = np.random.default_rng(0).normal(0.0, 0.1, t.size)
    x[[300, 310, 600]] = [-5.0, -8.0, -6.0]  # 30.0 and 31.0 ms: 1 ms apart
    assert detect_extracellular(x, t, refractory_ms=3).times.tolist() == [31.0, 60.0]
    assert detect_extracellular(x, t, refractory_ms=0.5).times.tolist() == [30.0, 31.0, 60.0]


def test_highpass_removes_a_slow_drift():
    t, x, times, _ = _trace()
    drifting = x + 30.0 * np.sin(2 * np.pi * t / 2000.0)  # 0.5 Hz, larger than the small unit
    assert detect_extracellular(drifting, t).times.size != times.size
    filtered = detect_extracellular(drifting, t, highpass_hz=100.0)
    assert filtered.times.size == times.size
    np.testing.assert_allclose(filtered.times, times, atol=0.15)


def test_overlap_rule_drops_large_events_next_to_a_smaller_unit():
    t = np.arange(0.0, 1000.0, 0.1)
    x = np.random.default_rng(1).normal(0.0, 0.5, t.size)
    w = np.arange(-30, 31)
    for time, amp in ((100.0, 40.0), (300.0, 40.0), (310.0, 15.0), (600.0, 15.0), (800.0, 40.0)):
        k = int(time * FS_KHZ)
        x[k + w] += _biphasic(w / FS_KHZ, amp)
    kept = detect_extracellular(x, t, unit=1, overlap_ms=15)
    assert kept.times.tolist() == [100.0, 800.0] and kept.n_overlaps == 1
    assert "less 1 within 15 ms of a smaller unit: 2 spikes" in kept.describe()
    assert detect_extracellular(x, t, unit=1).times.tolist() == [100.0, 300.0, 800.0]


def test_amplitude_classes_are_the_exact_1d_kmeans_split():
    values = np.array([1.0, 1.1, 0.9, 5.0, 5.3, 9.8, 10.0, 10.1])
    assert amplitude_classes(values, 3).tolist() == [3, 3, 3, 2, 2, 1, 1, 1]
    assert amplitude_classes(values, 2).tolist() == [2, 2, 2, 2, 2, 1, 1, 1]
    assert amplitude_classes(values, 1).tolist() == [1] * 8
    assert amplitude_classes([2.0, 2.0, 7.0], 3).tolist() == [2, 2, 1]  # 2 distinct values
    assert amplitude_classes([], 2).size == 0
    # beyond 1024 values: equal-count groups, the same split on well separated classes
    rng = np.random.default_rng(0)
    many = np.concatenate([rng.normal(10, 1, 3000), rng.normal(30, 2, 1000)])
    np.testing.assert_array_equal(amplitude_classes(many, 2), np.repeat([2, 1], [3000, 1000]))
    with pytest.raises(ValueError, match="integer >= 1"):
        amplitude_classes(values, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold must be > 0"),
        ({"polarity": "up"}, "polarity must be"),
        ({"units": 2, "unit": 3}, "unit 3 does not exist among units=2"),
        ({"unit": 0}, "unit must be an integer >= 1"),
        ({"highpass_hz": 6000}, "below the Nyquist frequency"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    t, x, _, _ = _trace(duration_ms=200.0)
    with pytest.raises(ValueError, match=message):
        detect_extracellular(x, t, **kwargs)


# ------------------------------------------------------------ through the reader
@pytest.fixture
def nerve_abf(tmp_path, abf_writer):
    t, x, times, large = _trace()
    path = tmp_path / "nerve.abf"
    abf_writer.writeABF1(x[None, :], str(path), int(FS_KHZ * 1000), units="mV")
    return path, times, large


def test_abf_extracellular_mode_reads_the_known_times(nerve_abf, caplog):
    pytest.importorskip("neo")
    path, times, large = nerve_abf
    with caplog.at_level(logging.INFO, logger="sbidic.spikes"):
        st = read_spikes(path, mode="extracellular", channel=0)
    assert st.ids.tolist() == ["Signals/ch0"]  # <signal>/<channel>, even a single one
    np.testing.assert_allclose(st[0], times, atol=1e-6)
    assert "extracellular detection on channel 0" in caplog.text
    assert "negative peaks beyond median - 7 x robust SD" in caplog.text
    # options as the CLI passes them: numbers as floats
    big = read_spikes(path, mode="extracellular", channel=0.0, units=2.0, unit=1.0)
    assert str(big.ids[0]).endswith("/unit1")
    np.testing.assert_allclose(big[0], times[large], atol=1e-6)
    classes = read_spikes(path, mode="extracellular", units=2.0)
    assert [str(i).rsplit("/", 1)[1] for i in classes.ids] == ["unit1", "unit2"]
    assert classes.n_spikes.tolist() == [large.sum(), (~large).sum()]


def test_intracellular_mode_warns_on_an_extracellular_trace(nerve_abf):
    pytest.importorskip("neo")
    path, _, _ = nerve_abf
    with pytest.warns(UserWarning, match="does not look like a membrane potential .median") as w:
        read_spikes(path)
    assert "--read-option mode=extracellular" in str(w[0].message)


def test_intracellular_mode_warns_on_implausible_rates(tmp_path, abf_writer):
    pytest.importorskip("neo")
    t = np.arange(0.0, 500.0, 0.1)
    v = np.where((t % 2.0) < 0.5, 30.0, -60.0)  # 500 Hz from a resting potential
    path = tmp_path / "fast.abf"
    abf_writer.writeABF1(v[None, :], str(path), 10_000, units="mV")
    with pytest.warns(UserWarning, match=r"mean rate 4\d\d Hz"):
        read_spikes(path)


def _two_nerves(path):
    neo = pytest.importorskip("neo")
    pq = pytest.importorskip("quantities")
    t, x, times, large = _trace()
    y = np.random.default_rng(9).normal(0.0, 0.5, t.size)
    y[[1000, 20000, 40000]] += 20.0  # positive spikes at 100, 2000, 4000 ms
    seg = neo.Segment()
    seg.analogsignals.append(neo.AnalogSignal(
        np.stack([x, y], axis=1) * pq.mV, sampling_period=0.1 * pq.ms, name="nerves",
        array_annotations={"channel_names": np.array(["lvn", "pdn"])}))  # fmt: skip
    seg.analogsignals.append(neo.AnalogSignal(np.zeros((t.size, 1)) * pq.nA,
                                              sampling_period=0.1 * pq.ms, name="I"))  # fmt: skip
    block = neo.Block()
    block.segments.append(seg)
    with neo.io.NixIO(str(path), "ow") as io:
        io.write_block(block)
    return times


def test_channels_are_picked_by_index_or_name(tmp_path):
    times = _two_nerves(tmp_path / "nerves.nix")
    path = tmp_path / "nerves.nix"
    both = read_spikes(path, mode="extracellular")
    assert both.ids.tolist() == ["nerves/lvn", "nerves/pdn"]
    np.testing.assert_allclose(both[0], times, atol=1e-6)
    assert both[1].tolist() == pytest.approx([100.0, 2000.0, 4000.0])  # auto: positive
    for channel in (1, 1.0, "1", "pdn", "nerves/pdn"):
        st = read_spikes(path, mode="extracellular", channel=channel)
        assert st.ids.tolist() == ["nerves/pdn"]
    with pytest.raises(ValueError, match=r"no channel 'vn'.*its channels: 0 'nerves/lvn' \(mV\), "
                                         r"1 'nerves/pdn' \(mV\), 2 'I' \(nA\)"):  # fmt: skip
        read_spikes(path, mode="extracellular", channel="vn")
    with pytest.raises(ValueError, match="no channel 3"):
        read_spikes(path, mode="extracellular", channel=3)
    with pytest.raises(ValueError, match="is not a voltage"):
        read_spikes(path, channel="I")  # intracellular mode needs mV


def test_options_of_the_other_mode_are_errors(tmp_path):
    _two_nerves(tmp_path / "nerves.nix")
    path = tmp_path / "nerves.nix"
    with pytest.raises(ValueError, match="threshold, unit apply only to mode=extracellular"):
        read_spikes(path, threshold=5.0, unit=1.0)
    with pytest.raises(ValueError, match="up_mV and down_mV apply only to mode=intracellular"):
        read_spikes(path, mode="extracellular", up_mV=5.0)
    with pytest.raises(ValueError, match="mode must be 'intracellular' or 'extracellular'"):
        read_spikes(path, mode="nerve")
    with pytest.raises(ValueError, match="threshold must be a number, got 'high'"):
        read_spikes(path, mode="extracellular", threshold="high")


# --------------------------------------------- real recordings (../shared/real)
#: file, reference CSV, read options (docs/formats.md, "Extracellular recordings")
REAL_CASES = [
    ("B_baseline.abf", "STG_B_pdn_PD.csv", {"channel": 1}),
    ("D_baseline_nopdn.abf", "STG_D_lvn_LP.csv",
     {"channel": 0, "threshold": 10, "units": 3, "unit": 1, "overlap_ms": 15}),
    ("A_baseline_nopdn.abf", "STG_A_tonic_unit.csv", {"channel": 0, "unit": 1}),
]  # fmt: skip


def _real(name: str) -> Path:
    if not REAL.is_dir():
        pytest.skip("../shared/real not present")
    return REAL / name


def _matched(reference: np.ndarray, found: np.ndarray, tol_ms: float) -> int:
    """Reference spikes with a detected spike within ``tol_ms``."""
    i = np.clip(np.searchsorted(found, reference), 1, max(found.size - 1, 1))
    gap = np.minimum(np.abs(found[i] - reference), np.abs(found[i - 1] - reference))
    return int((gap <= tol_ms).sum())


@pytest.mark.parametrize(("abf", "csv", "options"), REAL_CASES)
def test_real_nerve_recordings_match_the_reference_spike_times(abf, csv, options):
    pytest.importorskip("neo")
    path = _real(abf)
    reference = read_spikes(REAL / csv)[0]
    found = read_spikes(path, mode="extracellular", **options)
    assert len(found) == 1
    assert abs(found[0].size - reference.size) <= 3, (found[0].size, reference.size)
    assert _matched(reference, found[0], 1.0) >= reference.size - 3


def test_real_recordings_warn_in_intracellular_mode():
    pytest.importorskip("neo")
    path = _real("B_baseline.abf")
    with pytest.warns(UserWarning) as record:
        st = read_spikes(path)
    assert st.n_spikes.tolist() == [0, 5193]  # the rule on nerve signals: silent, or noise
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "'Signals/IN 6' (mV) does not look like a membrane potential (median" in messages[0]
    assert "'Signals/IN 8' (mV) does not look like a membrane potential" in messages[1]
    assert "beyond any membrane potential" in messages[1]
