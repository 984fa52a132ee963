"""Simulation-based calibration of the shipped estimators, per firing class.

The held-out targets of the committed datasets (validation and test splits, never used
in training; see ``sbidic refit-flow``) are Latin-hypercube draws from the training
box, i.e. from the prior, as SBC requires. One non-silent cell per target keeps the
recordings independent. A calibrated posterior gives uniform ranks of the true DICs
among its draws (Talts et al. 2018), in every firing class: class is a function of
the recording, so calibration must hold within each.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _held_out_recordings(dataset: Path, seed: int = 0, *, fresh: bool = False):
    """One random non-silent cell per held-out target (every target of a ``fresh``
    dataset): trains, DICs, class labels."""
    from sbidic.datasets import cells_per_target, dic_targets, load_dataset
    from sbidic.spikes import SpikeTrains

    ds = load_dataset(dataset)
    held = np.asarray(ds["split"].values) != "train"
    held |= fresh
    label = np.asarray(ds["label_code"].values)
    idx = cells_per_target(np.flatnonzero(held & (label > 0)), ds["target_index"].values,
                           k=1, seed=seed)  # fmt: skip
    trains = SpikeTrains.from_dataset(ds, check=False)[idx]
    return trains, dic_targets(ds)[idx], label[idx]


def _assert_calibrated_by_class(trains, theta, label, min_per_class: int = 500):
    from sbi.diagnostics import check_sbc, run_sbc

    from sbidic import load_pretrained
    from sbidic.inference import DICPosterior, pad_trains

    post = DICPosterior(load_pretrained("stg").estimator)
    thetas = torch.as_tensor(theta, dtype=torch.float32)
    torch.manual_seed(1)
    ranks, dap = run_sbc(thetas, pad_trains(trains), post, num_posterior_samples=200,
                         show_progress_bar=False)  # fmt: skip
    for code, name in ((1, "spiking"), (2, "bursting")):
        m = torch.from_numpy(label == code)
        assert int(m.sum()) >= min_per_class, name
        stats = check_sbc(ranks[m], thetas[m], dap[m], num_posterior_samples=200)
        p = stats["ks_pvals"].numpy()
        assert (p > 0.01).all(), f"{name}: rank KS p-values (g_s, g_u) = {p}"


def test_shipped_estimator_is_calibrated_in_each_firing_class():
    trains, theta, label = _held_out_recordings(ROOT / "data" / "stg_dic_v1")
    assert len(trains) >= 2000
    _assert_calibrated_by_class(trains, theta, label)


@pytest.mark.slow
def test_shipped_estimator_is_calibrated_on_fresh_data():
    """The same check on ``data/stg_dic_fresh_v1``, which no training, model selection
    or recalibration step has used: one cell of each of its 8,192 targets."""
    trains, theta, label = _held_out_recordings(ROOT / "data" / "stg_dic_fresh_v1", fresh=True)
    assert len(trains) >= 8000
    _assert_calibrated_by_class(trains, theta, label, min_per_class=2000)
