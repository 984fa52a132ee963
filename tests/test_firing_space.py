"""Firing spaces and surveys, whole recordings through windows, and which model fits."""

from __future__ import annotations

import numpy as np
import pytest

from sbidic.cli import main
from sbidic.datasets.survey import survey
from sbidic.fidelity import SurveyCells
from sbidic.fidelity.firing_space import PERIOD_EDGES_MS, FiringSpace
from sbidic.inference import infer
from sbidic.inference.model_choice import choose_model, models_covering, shipped_firing_spaces
from sbidic.inference.windows import consecutive_windows, pool_window_draws
from sbidic.spikes import SpikeTrains

NAN = np.nan


def bursts(n_spikes: int, period_ms: float, duration_ms: float = 12000.0) -> np.ndarray:
    """A regular burster: ``n_spikes`` spikes 10 ms apart every ``period_ms``."""
    onsets = np.arange(0.0, duration_ms, period_ms)
    return np.concatenate([t0 + np.arange(n_spikes) * 10.0 for t0 in onsets])


def test_firing_space_counts_each_class_in_its_bins():
    cells = {"label": np.array([0, 1, 1, 2, 2, 2, 1]),
             "rate": np.array([NAN, 5.0, 5.5, 3.0, 3.0, 3.0, 500.0]),
             "period": np.array([NAN, NAN, NAN, 600.0, 610.0, 150.0, NAN]),
             "spb": np.array([NAN, NAN, NAN, 7.0, 7.5, 3.0, NAN]),
             "duty": np.array([NAN, NAN, NAN, 0.2, 0.4, 0.1, NAN])}  # fmt: skip
    space = FiringSpace.from_features("toy", cells)
    assert (space.n_cells, space.n_silent, space.outside) == (7, 1, 1)  # 500 Hz: outside
    assert space.tonic.sum() == 2 and np.count_nonzero(space.tonic) == 1
    slow = np.searchsorted(PERIOD_EDGES_MS, 600.0) - 1
    assert space.bursting[slow].sum() == 2 and space.bursting.sum() == 3
    assert np.nanmax(space.duty) == pytest.approx(0.3)  # median of 0.2 and 0.4
    frame = space.to_frame()
    assert set(frame["class"]) == {"tonic", "bursting"} and frame["cells"].sum() == 5
    recordings = {"label": np.array([2, 2, 1, 0]), "rate": np.array([NAN, NAN, 5.2, NAN]),
                  "period": np.array([609.0, 2500.0, NAN, NAN]),
                  "spb": np.array([7.5, 7.5, NAN, NAN])}  # fmt: skip
    assert space.covers(recordings).tolist() == [True, False, True, True]
    assert space.covers(recordings, min_cells=3).tolist() == [False, False, False, False]


def test_firing_space_round_trips_and_refuses_other_files(tmp_path):
    cells = {"label": np.array([1, 2]), "rate": np.array([5.0, 3.0]),
             "period": np.array([NAN, 600.0]), "spb": np.array([NAN, 7.0]),
             "duty": np.array([NAN, 0.2])}  # fmt: skip
    space = FiringSpace.from_features("toy", cells, source="test")
    space.save(tmp_path / "space.json")
    back = FiringSpace.load(tmp_path / "space.json")
    assert back.model == "toy" and (back.bursting == space.bursting).all()
    np.testing.assert_array_equal(back.duty, space.duty)
    (tmp_path / "bad.json").write_text('{"model": "x"}')
    with pytest.raises(ValueError, match="not a firing space"):
        FiringSpace.load(tmp_path / "bad.json")


def test_survey_on_a_tiny_grid_writes_its_table_and_figure(tmp_path):
    space = survey("stg-liu", 6, tmp_path / "sv", duration_ms=1500.0, transient_ms=500.0,
                   cells_per_chunk=3, progress=False)  # fmt: skip
    assert space.model == "stg-liu" and space.n_cells == 6
    fired = space.tonic.sum() + space.bursting.sum() + space.outside
    assert space.n_silent + fired == 6
    for name in ("firing_space.json", "firing_space.csv", "firing_space.png"):
        assert (tmp_path / "sv" / name).is_file()
    cells = SurveyCells.load(tmp_path / "sv" / "survey_cells.safetensors")
    assert cells.model == "stg-liu" and len(cells) == fired  # every firing cell (< 200 a bin)
    assert cells.conductances.shape == (fired, 8) and (cells.label > 0).all()
    again = survey("stg-liu", 6, tmp_path / "sv", duration_ms=1500.0, transient_ms=500.0,
                   cells_per_chunk=3, progress=False)  # resumes: nothing new to simulate
    assert (again.tonic == space.tonic).all() and (again.bursting == space.bursting).all()


def test_survey_command_prints_the_firing_space(tmp_path, capsys):
    assert main(["survey", "--model", "stg", "--cells", "3", "--duration", "1200",
                 "--transient", "200", "-o", str(tmp_path / "sv")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "stg: 3 cells" in out and "firing_space.json" in out
    assert main(["survey", "--model", "stg", "--cells", "0", "-o", str(tmp_path / "x")]) == 2


def test_consecutive_windows_cover_a_long_recording_and_pool_equally():
    long = np.arange(0.0, 10000.0, 50.0)  # 200 spikes over 10 s
    short = np.array([0.0, 40.0, 80.0, 120.0])
    w = consecutive_windows(SpikeTrains.from_list([long, short]), 3000.0, max_spikes=50)
    assert w.count.tolist() == [3, 1]
    assert w.spikes_used.tolist() == [150, 4]  # 3 windows x first 50 spikes; all of short
    assert w.trains.n_spikes.tolist() == [50, 50, 50, 4]
    assert [float(t[0]) for t in w.trains] == [0.0, 3000.0, 6000.0, 0.0]
    draws = np.arange(4.0)[None, :, None].repeat(6, axis=0)  # window j draws the value j
    pooled = pool_window_draws(draws, w)
    assert pooled[:, 0, 0].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    assert pooled[:, 1, 0].tolist() == [3.0] * 6


def test_sparse_windows_fall_back_to_the_whole_recording():
    sparse = np.array([0.0, 4000.0, 8000.0, 12000.0])  # one spike per 3 s window
    w = consecutive_windows(SpikeTrains.from_list([sparse]), 3000.0, max_spikes=250)
    assert w.count.tolist() == [1] and w.spikes_used.tolist() == [4]


def test_infer_names_the_shipped_model_whose_atlas_reaches_the_pattern():
    slow = bursts(2, 1000.0)  # 2 spikes every second: DA's atlas has it, STG's does not
    spaces = shipped_firing_spaces()
    reach = dict(zip(spaces, models_covering(SpikeTrains.from_list([slow]), spaces)[0],
                     strict=True))  # fmt: skip
    assert reach["da"] and not reach["stg"]
    res = infer([slow, np.arange(0.0, 3000.0, 100.0)], "stg", n=3, seed=0)
    warning = res.report["warning"].tolist()
    assert warning[0].startswith("pattern outside the stg model's firing atlas")
    first = "stg-liu" if reach.get("stg-liu") else "da"  # same cell type first
    assert f"try --model {first})" in warning[0] and warning[1] == ""


def test_choose_model_picks_the_model_reaching_most_recordings():
    trains = SpikeTrains.from_list([bursts(2, 1000.0), bursts(2, 1100.0), bursts(4, 150.0)])
    name, reason = choose_model(trains)
    assert name == "da" and "reaches 2 of 3" in reason
    name, reason = choose_model(trains, "stomatogastric")
    assert name.startswith("stg") and "stg" in reason
    with pytest.raises(ValueError, match="no shipped model of cell type 'nope'"):
        choose_model(trains, "nope")


def test_survey_cells_keep_at_most_per_bin_of_each_pattern(tmp_path):
    """Rare patterns keep every cell, common ones ``per_bin``; silent cells are dropped."""
    nan = np.nan
    label = np.array([0] + [1] * 5 + [2] * 2)
    cells = {"label": label, "rate": np.array([nan, 5, 5.1, 5.2, 5.3, 50, 9, 9]),
             "period": np.array([nan] * 6 + [600, 1500]), "spb": np.array([nan] * 6 + [7, 4])}
    g = np.arange(8.0)[:, None] * np.ones((1, 3))
    kept = SurveyCells.from_features("toy", g, cells, per_bin=2)
    assert sorted(kept.conductances[:, 0].tolist())[-3:] == [5.0, 6.0, 7.0]  # rare: all
    assert np.sum((kept.rate > 4) & (kept.rate < 6)) == 2 and len(kept) == 5
    kept.save(tmp_path / "c.safetensors")
    back = SurveyCells.load(tmp_path / "c.safetensors")
    assert back.model == "toy" and np.array_equal(back.label, kept.label)
