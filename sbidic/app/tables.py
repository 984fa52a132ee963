"""The tables of the page, as displayed (strings, NaN shown empty): the report, a
population's cells, the simulated cells' fidelity scores."""

from __future__ import annotations

import numpy as np

__all__ = ["cells_table", "fidelity_table", "report_table", "verify_table"]


def report_table(inference):
    """The report as displayed: 3 decimals, intervals as ``[q05, q95]``."""
    import pandas as pd

    rep = inference.result.report

    def fmt(values):
        return [("" if np.isnan(v) else f"{v:.3f}") for v in values]

    def interval(lo, hi):
        return [
            ("" if np.isnan(a) else f"[{a:.3f}, {b:.3f}]") for a, b in zip(lo, hi, strict=True)
        ]

    return pd.DataFrame({
        "recording": rep.obs_id.astype(str), "spikes": rep.n_spikes, "label": rep.label,
        "status": rep.status,
        "g_s mean": fmt(rep.g_s_mean), "g_s sd": fmt(rep.g_s_sd),
        "g_s 90% interval": interval(rep.g_s_q05, rep.g_s_q95),
        "g_u mean": fmt(rep.g_u_mean), "g_u sd": fmt(rep.g_u_sd),
        "g_u 90% interval": interval(rep.g_u_q05, rep.g_u_q95),
        "cells": rep.n_cells,
        "warning": rep["warning"].fillna("") if "warning" in rep else "",
    })  # fmt: skip


def verify_table(inference):
    """``--verify``'s lines of the report: per recording, cells simulated and passed,
    the acceptance rate, class and feature match, van Rossum distance, the population's
    diversity (mean CV of its conductances, share of their declared ranges covered) and
    the model adequacy (``ok`` where the model reproduces the recording); None without
    ``--verify``."""
    import pandas as pd

    rep = inference.result.report
    if "n_simulated" not in rep:
        return None
    rep = rep[rep.n_cells > 0]

    def pct(values):
        return ["" if np.isnan(v) else f"{v:.0%}" for v in values]

    return pd.DataFrame({
        "recording": rep.obs_id.astype(str), "simulated": rep.n_simulated,
        "passed": rep.n_passed, "acceptance": pct(rep.acceptance_rate),
        "class match": pct(rep.class_match), "feature match": pct(rep.feature_match),
        "van Rossum": ["" if np.isnan(v) else f"{v:.3f}" for v in rep.van_rossum],
        "diversity (CV of g)": ["" if np.isnan(v) else f"{v:.2f}" for v in rep.conductance_cv],
        "ranges covered": pct(rep.range_coverage),
        "cells outside ranges": pct(rep.outside_ranges),
        "model adequacy": [a or "ok" for a in rep.adequacy.fillna("")],
    })  # fmt: skip


def cells_table(pop, obs_id):
    """One population's cells: conductances (mS/cm^2) and achieved DICs."""
    import pandas as pd

    t = [str(x) for x in pop.obs_id].index(str(obs_id))
    cols = {"cell": np.arange(pop.n_cells)}
    for j, label in enumerate(pop.labels):
        cols[label] = [f"{v:.4g}" for v in pop.conductances[t, :, j]]
    for j, name in enumerate(("g_f", "g_s", "g_u")):
        cols[f"{name} achieved"] = [f"{v:.3f}" for v in pop.dics[t, :, j]]
    return pd.DataFrame(cols)


def fidelity_table(sim):
    """Each simulated cell's scores against its recording."""
    import pandas as pd

    s = sim.scores

    def fmt(values, spec):  # NaN: not defined (e.g. spikes per burst of a spiking cell)
        return ["" if np.isnan(v) else format(v, spec) for v in values]

    labels = np.array(["silent", "spiking", "bursting"])
    return pd.DataFrame({
        "cell": sim.cell_id, "label": s.label,
        "recording label": labels[s.recording_label_code],
        "rate (Hz)": fmt(s.rate_hz, ".2f"), "rate error": fmt(s.rate_error, "+.1%"),
        "spikes/burst": fmt(s.spikes_per_burst, ".2f"),
        "burst period (ms)": fmt(s.burst_period_ms, ".1f"),
        "van Rossum (1/ms)": fmt(s.van_rossum, ".3f"),
        "passed": np.where(s.passed, "yes", "no: " + s.failed_feature.astype(object)),
    })  # fmt: skip
