"""The page: one working view (load, run, explore, simulate, download) and a help page.

Every input and output has a stable ``id`` (the browser tests select by it).
"""

from __future__ import annotations

from sbidic.app.figures import FIGURES
from sbidic.app.state import DICS, example_names, model_files, models

__all__ = ["HELP", "UPLOAD_SUFFIXES", "page"]

#: Suffixes offered by the upload button (every reader of ``sbidic infer``; docs/formats.md).
UPLOAD_SUFFIXES = [".csv", ".nc", ".nwb", ".h5", ".abf", ".smr", ".smrx", ".nix", ".npz",
                   ".npy", ".txt"]  # fmt: skip

HELP = """
### What sbidic does

Give it the spike times of recorded neurons. For each recording it infers the
**Dynamic Input Conductances** (DICs) that the neuron's firing implies, then builds a
**degenerate population**: many conductance-based model neurons, with different ion
channel conductances, that all share those DICs, and so fire alike.

### What DICs are

The DICs are the neuron's input conductance seen on three time scales (fast, slow,
ultraslow) at its threshold voltage. Their values at threshold decide the firing
pattern: a negative slow DIC **g_s** gives bursting; a higher ultraslow DIC **g_u**
gives longer bursts and slower rhythms. Many different conductance sets give the same
(g_s, g_u): the population samples them (Drion et al. 2015; Fyon et al. 2024;
Brandoit et al. 2025).

### The fields

- **Recordings**: a CSV with columns `ID,spiking_times` (Spike2Pop's format: one
  recording per line, times in ms as a list `"[12.0, 45.5, ...]"`), a netCDF or NWB
  file, an ABF (or other file Neo reads) whose traces are searched for spikes, npz/npy
  or text, or pasted times (one recording per line, optionally `name: t1, t2, ...`).
  Errors name the file and line. *Reading options*: **Repair** sorts times and drops
  repeated ones (`--repair`); for traces, intracellular or extracellular detection, the
  channel and the threshold (noise SDs), with a preview of the trace and its spikes.
- **Inference options**: noisy recordings (`--regime noisy`, STG), the NPE baseline
  (`--estimator-kind npe`), how the cells' DICs are drawn (`--dics`), and **Verify**
  (`--verify`): each cell is simulated and kept only if it reproduces the recording;
  the *Verification* table gives the acceptance and the model adequacy per recording.
  Where the report's warning suggests another model, **Switch to ... and run again**
  does that.
- **Model**: the neuron model whose conductances are inferred (STG: Liu et al. 1998;
  DA: Qian et al. 2014); only models with trained weights are listed.
- **Cells per recording**: the size of each population (default 100).
- **Seed**: the same seed and inputs give the same populations, in the app and with
  `sbidic infer ... --seed N`.
- **Report**: per recording, the number of spikes; its firing label (silent, spiking,
  bursting); its status (`ok`, `silent` below 3 spikes: no population, `truncated`
  above the network's 250 spikes: the first 250 are read); the posterior mean of
  g_s and g_u with their 90 % interval (5 % to 95 % quantiles).
- **Posterior figure**: grey, draws of (g_s, g_u) from the network; red, the DICs the
  population's cells achieve; the shaded bands are the 90 % intervals.
- **Population**: box plots of each conductance (mS/cm², and divided by its maximum
  over the population, as in Spike2Pop), a pair plot of chosen conductances and the
  table of cells.
- **Simulate**: Brian2 simulation of chosen cells (`0-2` = cells 0, 1, 2 of each
  chosen recording) for *duration* ms, the first *transient* ms discarded, step *dt*
  (empty: the model's default), optional noise current of standard deviation σ
  (µA/cm²). Each cell is scored against its recording: firing label, rate, spikes
  per burst, burst period, van Rossum distance; *passed* means same class and
  features within tolerance (rate and burst period within 10 %, spikes per burst
  within 0.5).
- **Downloads**: the populations (netCDF DataTree, or Spike2Pop CSV `ID,g_Na,...`),
  the report (CSV), the simulated spike trains (CSV or netCDF) and every figure (PNG or
  SVG). They are the files `sbidic infer` and `sbidic simulate` write.

### How to cite

Brandoit, Ernst, Drion, Fyon (2025). *Generating degenerate populations of
conductance-based neuron models from spike times.* arXiv:2509.12783. See also the
repository's `CITATION.cff`.
"""


def _num(id_: str, label: str, value, **kwargs):
    from shiny import ui

    return ui.input_numeric(id_, label, value, **kwargs)


def _read_options():
    """``--repair`` and the Neo reader's trace options (ABF and other Neo files)."""
    from shiny import ui

    return ui.accordion(ui.accordion_panel(
        "Reading options",
        ui.input_checkbox("repair", "Repair: sort times, drop repeated ones (--repair)"),
        ui.tags.small("Traces (ABF and other files Neo reads; docs/formats.md):"),
        ui.input_select("read_mode", "Detection", {"intracellular": "intracellular (membrane "
                        "potential)", "extracellular": "extracellular (nerve, units)"}),
        ui.input_text("read_channel", "Channel (index or name; empty: every voltage channel)"),
        _num("read_threshold", "Threshold (noise SDs, extracellular; empty: 7)", None, min=0),
        ui.input_action_button("reread", "Read the upload again", class_="btn-sm"),
    ), open=False, id="read_panel")  # fmt: skip


def _infer_options():
    """``sbidic infer`` flags: --regime, --estimator-kind, --dics, --verify and its budget."""
    from shiny import ui

    return ui.accordion(ui.accordion_panel(
        "Inference options",
        ui.input_select("regime", "Recordings (--regime)", ["clean"]),
        ui.input_select("estimator_kind", "Estimator (--estimator-kind)",
                        {"dic": "DIC pipeline", "npe": "NPE baseline"}),
        ui.input_select("dics", "DICs of the cells (--dics)", list(DICS)),
        ui.input_select("spread", "Free conductances drawn from (--spread)",
                        {"seed": "the seed's boxes (published)",
                         "ranges": "the plausible ranges (wider; use with Verify)"}),
        ui.input_checkbox("verify", "Verify: simulate, keep cells that reproduce (--verify)"),
        ui.input_checkbox("proposal", "Verify starts half its cells from NPE draws "
                          "(--proposal npe: more diverse)"),
        _num("max_cells", "Cells simulated per recording (empty: 10 N)", None, min=1),
        _num("verify_duration", "Verify duration (ms, empty: model's)", None, min=0),
        _num("verify_transient", "Verify transient (ms, empty: model's)", None, min=0),
    ), open=False, id="infer_panel")  # fmt: skip


def _model_files(model_dir: str | None):
    """Model files of the launch's ``--model-dir`` (never an upload: model files are code)."""
    from shiny import ui

    if model_dir is None:
        return ui.tags.small("Your own model: start the app with --model-dir DIR to choose "
                             "model files from that folder.", class_="text-muted")  # fmt: skip
    return ui.div(
        ui.input_select(
            "model_file", f"Own model from {model_dir}", {f: f for f in model_files(model_dir)}
        ),  # fmt: skip
        ui.input_action_button("add_model", "Add this model", class_="btn-sm"),
        ui.tags.small(
            "Model files are code: only files in the folder named at launch "
            "(--model-dir) are offered; a file is never uploaded.",
            class_="text-muted d-block",
        ),  # fmt: skip
    )


def page(upload_limit_mb: float, model_dir: str | None = None):
    """The Shiny UI."""
    from shiny import ui

    model_choices = list(models())
    sidebar = ui.sidebar(
        ui.h5("1. Recordings"),
        ui.input_file(
            "upload",
            f"Upload spike times or traces (CSV, netCDF, NWB, ABF and "
            f"other Neo files, npz/npy, text; up to {upload_limit_mb:g} MB)",
            accept=UPLOAD_SUFFIXES,
            multiple=False,
        ),  # fmt: skip
        _read_options(),
        ui.input_select("example", "or an example", list(example_names())),
        ui.input_action_button("load_example", "Load example", class_="btn-sm"),
        ui.input_text_area(
            "paste",
            "or paste spike times (ms), one recording per line",
            rows=3,
            placeholder="cellA: 10, 110, 210, 310",
        ),  # fmt: skip
        ui.input_action_button("load_paste", "Load pasted", class_="btn-sm"),
        ui.h5("2. Inference"),
        ui.input_select(
            "model", "Model", model_choices, selected="stg" if "stg" in model_choices else None
        ),  # fmt: skip
        _model_files(model_dir),
        _num("n", "Cells per recording", 100, min=1),
        _num("seed", "Seed", 0, min=0),
        _infer_options(),
        ui.input_action_button("run", "Run inference", class_="btn-primary"),
        ui.input_action_button("cancel", "Cancel", class_="btn-outline-danger btn-sm"),
        ui.output_ui("run_job"),
        width=330,
    )
    main = ui.div(
        ui.output_ui("load_status"),
        ui.output_ui("preview"),
        ui.output_ui("job_status"),
        ui.card(
            ui.card_header("Report: one row per recording"),
            ui.output_ui("command"),
            ui.output_ui("suggestion"),
            ui.output_table("report"),
            ui.output_ui("verify_header"),
            ui.output_table("verify_report"),
            ui.layout_columns(
                ui.download_button("dl_pop_nc", "Populations (netCDF)"),
                ui.download_button("dl_pop_csv", "Populations (CSV)"),
                ui.download_button("dl_report", "Report (CSV)"),
            ),
        ),
        ui.card(
            ui.card_header("Recording"),
            ui.input_select("recording", "Recording", []),
            ui.output_text("recording_summary"),
            ui.layout_columns(
                ui.output_plot("posterior_plot", height="380px"),
                ui.output_plot("raster_plot", height="160px"),
                col_widths=(6, 6),
            ),  # fmt: skip
        ),
        ui.card(
            ui.card_header("Population"),
            ui.output_plot("distributions_plot", height="360px"),
            ui.input_selectize("pair", "Pair plot of", [], multiple=True),
            ui.output_plot("pair_plot", height="480px"),
            ui.output_table("cells"),
        ),
        ui.card(
            ui.card_header("Simulate cells"),
            ui.layout_columns(
                ui.input_selectize("sim_recordings", "Recordings", [], multiple=True),
                ui.input_text("sim_cells", "Cells", "0-2"),
                _num("duration", "Duration (ms)", 4000, min=0),
                _num("transient", "Transient (ms)", 2000, min=0),
                _num("dt", "dt (ms, empty: model's)", None, min=0),
                _num("noise", "Noise σ (µA/cm², empty: none)", None, min=0),
                _num("sim_seed", "Noise seed", 0, min=0),
                col_widths=(3, 2, 2, 2, 3, 3, 2),
            ),
            ui.layout_columns(
                ui.input_action_button("simulate", "Simulate", class_="btn-primary"),
                ui.input_action_button(
                    "sim_cancel", "Cancel", class_="btn-outline-danger"
                ),  # fmt: skip
                # progress in the buttons' row: in view whenever the button clicked is
                ui.output_ui("sim_job"),
                col_widths=(2, 2, 8),
            ),
            ui.output_ui("sim_status"),
            ui.output_table("fidelity"),
            ui.input_select("sim_view", "Compare with recording", []),
            ui.output_plot("comparison_plot", height="720px"),
            ui.layout_columns(
                ui.download_button("dl_sim_csv", "Simulated trains (CSV)"),
                ui.download_button("dl_sim_nc", "Simulated trains (netCDF)"),
            ),
        ),
        ui.card(
            ui.card_header("Figures"),
            ui.input_select(
                "figure", "Figure", {k: v for k, v in FIGURES.items()}, selected="comparison"
            ),  # fmt: skip
            ui.layout_columns(
                ui.download_button("dl_fig_png", "Figure (PNG)"),
                ui.download_button("dl_fig_svg", "Figure (SVG)"),
            ),  # fmt: skip
        ),
    )
    return ui.page_navbar(
        ui.nav_panel("App", ui.layout_sidebar(sidebar, main)),
        ui.nav_panel("Help", ui.markdown(HELP)),
        title="sbidic",
        id="tabs",
    )
