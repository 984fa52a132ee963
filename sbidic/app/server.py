"""The Shiny server: wires the page's inputs to :mod:`~sbidic.app.state` and its
outputs to :mod:`~sbidic.app.figures` and :mod:`~sbidic.app.downloads`."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np

from sbidic.app import downloads, figures, state
from sbidic.app.tables import cells_table, fidelity_table, report_table, verify_table

__all__ = ["job_widget", "make_server", "optional_number", "simulation_outcome", "whole_number"]


def upload_dir(session) -> str | None:
    """The folder where Shiny stores this session's uploads (its upload manager's own
    temporary directory); None where this Shiny version keeps it elsewhere, and every
    upload is then refused."""
    manager = getattr(session, "_file_upload_manager", None)
    folder = getattr(manager, "_basedir", None)
    return folder if isinstance(folder, str) else None


def uploaded(value) -> tuple[str, str]:
    """``(datapath, name)`` of the one file in an upload input's value.

    Raises
    ------
    ValueError
        ``"upload rejected: ..."`` where the value is not the list of one file
        description Shiny's upload mechanism sets (it can be sent by any client).
    """
    if (not isinstance(value, list | tuple) or len(value) != 1 or not isinstance(value[0], dict)
            or not isinstance(value[0].get("datapath"), str)
            or not isinstance(value[0].get("name"), str)):  # fmt: skip
        raise ValueError("upload rejected: not a file from the upload button")
    return value[0]["datapath"], value[0]["name"]


def whole_number(value, least: int) -> int | None:
    """A numeric input's ``value`` as an int if it is a whole number >= ``least``, else
    None (empty, 2.5, negative, infinite, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value != int(value) or value < least:
        return None
    return int(value)


def optional_number(value, least: float = 0.0) -> float | None:
    """A numeric input's ``value`` as a float (None when empty).

    Raises
    ------
    ValueError
        Not a finite number >= ``least``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a number: {value!r}")
    if value < least:
        raise ValueError(f"{value:g} is below {least:g}")
    return float(value)


def job_widget(current: state.Job, element_id: str):
    """A job's line (progress, time elapsed and left, or how it ended) with a progress
    bar while it runs; ``data-status`` holds its status."""
    from shiny import ui

    kind = {"running": "info", "done": "success", "cancelled": "warning",
            "error": "danger"}[current.status]  # fmt: skip
    bar = ui.tags.progress(value=f"{current.fraction:.3f}", max="1", class_="w-100")
    return ui.div(current.describe(), bar if current.status == "running" else None,
                  id=element_id, class_=f"alert alert-{kind}",
                  data_status=current.status)  # fmt: skip


def simulation_outcome(passed: int, n: int) -> str:
    """The alert kind of a simulation's summary: ``"success"`` when all ``n`` cells
    reproduce their recording, ``"warning"`` when some do, ``"danger"`` when none."""
    return "success" if passed == n else "warning" if passed else "danger"


def _after_first_page(fn) -> None:
    """Run ``fn`` in the main thread a second after this session started (at once where
    no event loop runs)."""
    try:
        asyncio.get_running_loop().call_later(1.0, fn)
    except RuntimeError:
        fn()


def given(input, name: str, default):
    """The value of input ``name``, or ``default`` where the client sent none (a page
    of an older version, a script driving the WebSocket)."""
    from shiny.types import SilentException

    try:
        value = getattr(input, name)()
    except SilentException:
        return default
    return default if value is None else value


def read_options(input) -> state.ReadOptions:
    """The page's reading options.

    Raises
    ------
    ValueError
        The threshold is not a number > 0.
    """
    try:
        threshold = optional_number(given(input, "read_threshold", None), 0.0)
    except ValueError as err:
        raise ValueError(f"threshold: {err}") from None
    if threshold == 0.0:
        raise ValueError("threshold: must be > 0 noise SDs")
    return state.ReadOptions(bool(given(input, "repair", False)),
                             given(input, "read_mode", "") or "intracellular",
                             given(input, "read_channel", ""), threshold)  # fmt: skip


def infer_options(input) -> state.InferOptions:
    """The page's inference options.

    Raises
    ------
    ValueError
        A verify budget or protocol value that is not a valid number.
    """
    max_cells = given(input, "max_cells", None)
    cells = None if max_cells in (None, "") else whole_number(max_cells, 1)
    if max_cells not in (None, "") and cells is None:
        raise ValueError(f"cells simulated per recording must be a whole number >= 1 (got "
                         f"{max_cells})")  # fmt: skip
    try:
        duration = optional_number(given(input, "verify_duration", None))
        transient = optional_number(given(input, "verify_transient", None))
    except ValueError as err:
        raise ValueError(f"verify protocol: {err}") from None
    return state.InferOptions(bool(given(input, "verify", False)),
                              given(input, "regime", "") or "clean",
                              given(input, "estimator_kind", "") or "dic",
                              given(input, "dics", "") or "auto", cells, duration,
                              transient, given(input, "spread", "") or "seed",
                              bool(given(input, "proposal", False)))  # fmt: skip


def make_server(upload_limit_mb: float, max_jobs: int = 2, *, workdir: str | Path,
                jobs: state.JobLimit | None = None,
                model_dir: str | Path | None = None):  # fmt: skip
    """The server function of the Shiny app.

    Parameters
    ----------
    upload_limit_mb : float
        Largest accepted upload, MB (checked on the file received).
    max_jobs : int
        Inference and simulation jobs computing at once, across all pages.
    workdir : str or Path
        An existing folder for the temporary copies of uploads (each removed after
        reading); :func:`sbidic.app.create_app` removes it when the server shuts down.
    jobs : JobLimit, optional
        The server-wide job cap to use instead of a new ``JobLimit(max_jobs)`` (its
        owner can read how many jobs compute).
    model_dir : str or Path, optional
        The launch's ``--model-dir``: model files of this folder may be added from the
        page (nothing else: model files are code).

    Brian2 is imported (in the main thread, :func:`state.prepare`) after the first page
    is served, or when a job starts, whichever comes first: the page appears without
    waiting for it.
    """
    import matplotlib

    matplotlib.use("Agg")
    from shiny import reactive, render, ui

    workdir = Path(workdir)
    limit = state.JobLimit(max_jobs) if jobs is None else jobs

    def server(input, output, session):  # noqa: C901 (one place wires the page)
        # Brian2's import and compiler check run in the main thread once the page is up
        _after_first_page(state.prepare)
        loaded = reactive.value(None)
        last_upload = reactive.value(None)
        load_error = reactive.value("")
        inference = reactive.value(None)
        sim = reactive.value(None)
        job = reactive.value(None)
        tick = reactive.value(0)
        switching = reactive.value(None)

        def cancel_on_close() -> None:
            """A closed (or reloaded) page cancels its job: its thread stops at its next
            progress report instead of computing for nobody."""
            with reactive.isolate():
                current = job.get()
            if current is not None and current.running:
                current.cancel()

        session.on_ended(cancel_on_close)

        def show_loaded(value: state.Loaded) -> None:
            load_error.set("")
            loaded.set(value)
            inference.set(None)
            sim.set(None)

        def load_failed(message: str) -> None:
            """A failed load unloads the previous recordings: a run never uses a file
            other than the one the page last named."""
            load_error.set(message)
            loaded.set(None)
            inference.set(None)
            sim.set(None)

        def set_loaded(load, *args):
            try:
                value = load(*args)
            except (ValueError, OSError) as err:
                load_failed(str(err))
                return
            show_loaded(value)

        @reactive.extended_task
        async def parse_upload(datapath: str, name: str, folder: str, options):
            """Read an upload in a worker thread: the server keeps serving meanwhile."""
            try:
                return await asyncio.to_thread(state.load_upload, datapath, name,
                                               upload_limit_mb, workdir, folder,
                                               options)  # fmt: skip
            except (ValueError, OSError) as err:
                return str(err)

        @reactive.effect
        @reactive.event(input.upload)
        def _upload():
            try:
                datapath, name = uploaded(input.upload())
                folder = upload_dir(session)
                if folder is None:
                    raise ValueError("upload rejected: Shiny's upload folder is unknown")
                state.upload_file(datapath, folder)  # refused at once, before any reading
            except ValueError as err:
                last_upload.set(None)
                load_failed(str(err))
                return
            last_upload.set((datapath, name, folder))
            read_upload()

        def read_upload() -> None:
            try:
                options = read_options(input)
            except ValueError as err:
                load_failed(str(err))
                return
            load_failed("")  # the previous recordings are unloaded while this one is read
            parse_upload.invoke(*last_upload.get(), options)

        @reactive.effect
        @reactive.event(input.reread)
        def _reread():
            if last_upload.get() is None:
                load_failed("upload a file first: its reading options apply to it")
                return
            read_upload()

        @reactive.effect
        def _upload_read():
            if parse_upload.status() != "success":
                return
            got = parse_upload.value.get()
            if isinstance(got, str):
                load_failed(got)
            else:
                show_loaded(got)

        @reactive.effect
        @reactive.event(input.load_example)
        def _example():
            parse_upload.cancel()
            set_loaded(state.load_example, input.example())

        @reactive.effect
        @reactive.event(input.load_paste)
        def _paste():
            parse_upload.cancel()
            try:
                options = read_options(input)
            except ValueError as err:
                load_failed(str(err))
                return
            set_loaded(state.load_pasted, input.paste() or "", options)

        def start(kind: str, fn):
            current = job.get()
            if current is not None and current.running:
                ui.notification_show("wait for the running job, or cancel it", type="warning")
                return
            state.prepare()  # Brian2 in the main thread, if the page has not done it yet
            try:
                job.set(limit.start(kind, fn))
            except state.ServerBusy as err:
                ui.notification_show(str(err), type="error", duration=10)

        @reactive.effect
        @reactive.event(input.run)
        def _run():
            _run_now()

        def _run_now():
            data = loaded.get()
            if data is None:
                if parse_upload.status() == "running":
                    ui.notification_show("wait until the uploaded file is read",
                                         type="warning")  # fmt: skip
                    return
                load_error.set("load recordings first: upload a file, paste times or "
                               "load an example")  # fmt: skip
                return
            model, given_n, given_seed = input.model(), input.n(), input.seed()
            n, seed = whole_number(given_n, 1), whole_number(given_seed, 0)
            if n is None or seed is None:
                load_error.set(f"cells per recording must be a whole number >= 1 (got "
                               f"{given_n}) and the seed a whole number >= 0 (got "
                               f"{given_seed})")  # fmt: skip
                return
            try:
                options = infer_options(input)
            except ValueError as err:
                load_error.set(str(err))
                return
            load_error.set("")
            sim.set(None)
            start(
                "inference",
                lambda progress: state.run_inference(data, model, n, seed, progress, options),
            )

        @reactive.effect
        @reactive.event(input.switch_model)
        def _switch_model():
            inf = inference.get()
            suggested = list(dict.fromkeys((inf.suggestions if inf else {}).values()))
            if not suggested:
                return
            ui.update_select("model", selected=suggested[0])
            # the run reads the new model once the page has sent it back
            switching.set(suggested[0])

        @reactive.effect
        def _run_switched():
            wanted = switching.get()
            if wanted is None or input.model() != wanted:
                return
            switching.set(None)
            with reactive.isolate():
                _run_now()

        @reactive.effect
        @reactive.event(input.model)
        def _model_options():
            model = input.model()
            ui.update_select("regime", choices=list(state.regimes(model)))
            ui.update_select(
                "estimator_kind",
                choices={
                    k: {"dic": "DIC pipeline", "npe": "NPE baseline"}[k]
                    for k in state.estimator_kinds(model)
                },
            )

        @reactive.effect
        @reactive.event(input.add_model)
        def _add_model():
            if model_dir is None:
                return
            try:
                name = state.add_model_file(model_dir, input.model_file())
            except (ValueError, OSError) as err:
                ui.notification_show(str(err), type="error", duration=10)
                return
            ui.update_select("model", choices=list(state.models()), selected=name)
            ui.notification_show(f"model {name} added", type="message")

        @reactive.effect
        @reactive.event(input.simulate)
        def _simulate():
            inf = inference.get()
            if inf is None or inf.result.population is None:
                ui.notification_show("run the inference first (on a non-silent recording)",
                                     type="warning")  # fmt: skip
                return
            try:
                cells = state.parse_cells(input.sim_cells(), inf.result.population.n_cells)
            except ValueError as err:
                ui.notification_show(str(err), type="error")
                return
            chosen = list(input.sim_recordings())
            sim_seed = whole_number(input.sim_seed() or 0, 0)
            if sim_seed is None:
                ui.notification_show("the noise seed must be a whole number >= 0 (got "
                                     f"{input.sim_seed()})", type="error")  # fmt: skip
                return
            kwargs = {"duration_ms": input.duration(), "transient_ms": input.transient(),
                      "dt_ms": input.dt() or None, "noise_sigma": input.noise() or None,
                      "seed": sim_seed}  # fmt: skip
            start(
                "simulation",
                lambda progress: state.run_simulation(
                    inf, chosen, cells, progress=progress, **kwargs
                ),
            )

        @reactive.effect
        @reactive.event(input.cancel, input.sim_cancel)
        def _cancel():
            current = job.get()
            if current is not None and current.running:
                current.cancel()
                tick.set(tick.get() + 1)

        @reactive.effect
        def _poll():
            current = job.get()
            if current is None:
                return
            if current.status == "running":
                reactive.invalidate_later(0.3)
                with reactive.isolate():
                    tick.set(tick.get() + 1)
                return
            if current.status == "done" and not current.handled:
                current.handled = True
                (inference if current.label == "inference" else sim).set(current.result)
            with reactive.isolate():
                tick.set(tick.get() + 1)

        @reactive.effect
        def _choices():
            inf = inference.get()
            ids = [] if inf is None else [str(x) for x in inf.result.report.obs_id]
            ui.update_select("recording", choices=ids)
            pop = None if inf is None else inf.result.population
            active = [] if pop is None else [str(x) for x in pop.obs_id]
            ui.update_selectize("sim_recordings", choices=active, selected=active[:1])
            labels = [] if pop is None else list(pop.labels)
            ui.update_selectize("pair", choices=labels, selected=labels[:3])
            # the Simulate card starts at the model's published protocol (a model added
            # with --model may declare none: the inputs are then left as they are)
            from sbidic.simulate import PROTOCOLS

            protocol = None if pop is None else PROTOCOLS.get(str(pop.model))
            if protocol is not None:
                duration, transient = protocol
                ui.update_numeric("duration", value=duration)
                ui.update_numeric("transient", value=transient)

        @reactive.effect
        def _sim_choices():
            s = sim.get()
            ids = [] if s is None else list(dict.fromkeys(s.population_id))
            ui.update_select("sim_view", choices=ids)

        @render.ui
        def load_status():
            if parse_upload.status() == "running":
                return ui.div("Reading the uploaded file...", id="reading",
                              class_="alert alert-info")  # fmt: skip
            if load_error.get():
                return ui.div(load_error.get(), id="load_error", class_="alert alert-danger")
            data = loaded.get()
            if data is None:
                return ui.div("Load recordings to begin (upload, example or paste).",
                              class_="alert alert-secondary")  # fmt: skip
            notes = [ui.div(n, class_="small") for n in data.notes]
            return ui.div(f"{data.trains.n_trains} recording(s) loaded from {data.source}.",
                          *notes, id="loaded", class_="alert alert-success")  # fmt: skip

        @render.ui
        def job_status():
            tick.get()
            current = job.get()
            return None if current is None else job_widget(current, "job_status_text")

        @render.ui
        def run_job():
            """The inference's progress beside Run and Cancel."""
            tick.get()
            current = job.get()
            if current is None or current.label != "inference":
                return None
            return job_widget(current, "run_job_text")

        @render.ui
        def sim_job():
            """The simulation's progress in the Simulate card, beside its Cancel."""
            tick.get()
            current = job.get()
            if current is None or current.label != "simulation":
                return None
            return job_widget(current, "sim_job_text")

        @render.ui
        def preview():
            data = loaded.get()
            if data is None or data.preview is None:
                return None
            return ui.card(ui.card_header("Trace and detected spikes"),
                           ui.output_plot("preview_plot", height="260px"))  # fmt: skip

        @render.plot(alt="the first seconds of the trace with the detected spikes")
        def preview_plot():
            data = loaded.get()
            return None if data is None or data.preview is None else figures.trace(data.preview)

        @render.ui
        def suggestion():
            inf = inference.get()
            found = {} if inf is None else inf.suggestions
            if not found:
                return None
            model = list(dict.fromkeys(found.values()))[0]
            which = ", ".join(r for r, m in found.items() if m == model)
            return ui.div(
                f"The report suggests the {model} model for {which}. ",
                ui.input_action_button("switch_model", f"Switch to {model} and run again",
                                       class_="btn-sm btn-warning"),
                id="suggestion_text", class_="alert alert-warning", data_model=model,
            )  # fmt: skip

        @render.ui
        def verify_header():
            inf = inference.get()
            if inf is None or verify_table(inf) is None:
                return None
            return ui.h6("Verification (--verify): acceptance and model adequacy")

        @render.table(index=False)
        def verify_report():
            inf = inference.get()
            return None if inf is None else verify_table(inf)

        @render.ui
        def command():
            inf = inference.get()
            if inf is None:
                return None
            notes = [ui.div(w, class_="text-warning") for w in inf.warnings]
            return ui.div(ui.tags.small("same files from the command line: ",
                                        ui.tags.code(inf.command)), *notes)  # fmt: skip

        @render.table(index=False)
        def report():
            inf = inference.get()
            return None if inf is None else report_table(inf)

        def current_recording():
            inf = inference.get()
            rec = input.recording()
            if inf is None or not rec:
                return None, None
            return inf, rec

        def population_of_recording():
            inf, rec = current_recording()
            if inf is None or inf.result.population is None:
                return None, None
            pop = inf.result.population
            if rec not in [str(x) for x in pop.obs_id]:
                rec = str(pop.obs_id[0])
            return pop, rec

        def make_figure(key: str):
            inf, rec = current_recording()
            if key == "comparison":
                s, view = sim.get(), input.sim_view()
                if s is None or inf is None or not view:
                    return None
                return figures.comparison(s, inf.loaded.trains, view)
            if inf is None:
                return None
            if key == "posterior":
                return figures.posterior(inf, rec)
            if key == "raster":
                return figures.raster(inf.loaded.trains, rec)
            pop, prec = population_of_recording()
            if pop is None:
                return None
            if key == "distributions":
                return figures.distributions(pop, prec)
            return figures.pairplot(pop, prec, list(input.pair()))

        @render.text
        def recording_summary():
            inf, rec = current_recording()
            if inf is None:
                return ""
            rep = inf.result.report
            row = rep[rep.obs_id.astype(str) == rec].iloc[0]
            spikes = "1 spike" if row.n_spikes == 1 else f"{row.n_spikes} spikes"
            return f"{rec}: {spikes}, {row.label}, {row.status}"

        @render.plot(alt="posterior over (g_s, g_u) with the population's DICs")
        def posterior_plot():
            return make_figure("posterior")

        @render.plot(alt="raster of the recording")
        def raster_plot():
            return make_figure("raster")

        @render.plot(alt="conductance distributions")
        def distributions_plot():
            return make_figure("distributions")

        @render.plot(alt="pair plot of conductances")
        def pair_plot():
            return make_figure("pairplot")

        @render.table(index=False)
        def cells():
            pop, rec = population_of_recording()
            return None if pop is None else cells_table(pop, rec)

        @render.ui
        def sim_status():
            s = sim.get()
            if s is None:
                return None
            n = len(s.cell_id)
            passed = int(np.sum(s.scores.passed))
            kind = simulation_outcome(passed, n)
            return ui.div(f"{n} cell(s) simulated in {s.result.wall_time_s:.1f} s; "
                          f"{passed} of {n} reproduce their recording.", id="sim_done",
                          class_=f"alert alert-{kind}", data_passed=str(passed))  # fmt: skip

        @render.table(index=False)
        def fidelity():
            s = sim.get()
            return None if s is None else fidelity_table(s)

        @render.plot(alt="recording and simulated cells")
        def comparison_plot():
            return make_figure("comparison")

        def need(value, what: str):
            if value is None:
                ui.notification_show(f"nothing to download yet: {what}", type="warning")
                raise ValueError(what)  # Shiny then sends no file
            return value

        @render.download(filename="populations.nc")
        def dl_pop_nc():
            yield downloads.population_bytes(need(inference.get(), "run the inference"), "nc")

        @render.download(filename="populations.csv")
        def dl_pop_csv():
            yield downloads.population_bytes(need(inference.get(), "run the inference"), "csv")

        @render.download(filename="populations_report.csv")
        def dl_report():
            yield downloads.report_bytes(need(inference.get(), "run the inference"))

        @render.download(filename="simulated.csv")
        def dl_sim_csv():
            yield downloads.simulated_bytes(need(sim.get(), "simulate cells"), "csv")

        @render.download(filename="simulated.nc")
        def dl_sim_nc():
            yield downloads.simulated_bytes(need(sim.get(), "simulate cells"), "nc")

        def figure_download(fmt: str):
            key = input.figure()
            fig = need(make_figure(key), f"the {figures.FIGURES[key]} figure")
            yield downloads.figure_bytes(fig, fmt)

        @render.download(filename=lambda: f"{input.figure()}.png")
        def dl_fig_png():
            yield from figure_download("png")

        @render.download(filename=lambda: f"{input.figure()}.svg")
        def dl_fig_svg():
            yield from figure_download("svg")

    return server
