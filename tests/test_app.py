"""The web app's server code without a browser: loading, jobs, tables, figures,
downloads (byte-identical to the CLI's files) and the served page."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("shiny", reason="the app's extra is not installed: pip install 'sbidic[app]'")

from sbidic.app import downloads, figures, state  # noqa: E402
from sbidic.app.tables import cells_table, fidelity_table, report_table, verify_table  # noqa: E402
from sbidic.cli import main  # noqa: E402
from sbidic.spikes import read_spikes  # noqa: E402

CSV = Path(state.EXAMPLES) / "stg_recordings.csv"
N = 5


# ----------------------------------------------------------------------------- loading
def test_load_pasted_names_and_times():
    got = state.load_pasted("a: 10, 110 210\n\n[5.0; 50.0, 500.0]\n")
    assert got.trains.ids.tolist() == ["a", "line3"]
    np.testing.assert_array_equal(got.trains[1], [5.0, 50.0, 500.0])


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1, 2\nb: 1, x", "pasted text, line 2: spike 2, 'x', is not a number"),
    ("a: 1\na: 2", "recording names repeat"),
    ("  \n", "no spike times"),
    ("a: 5, 3", "a"),  # unsorted times: the library's own message names the recording
])  # fmt: skip
def test_load_pasted_errors(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        state.load_pasted(text)


def uploaded(tmp_path, data: bytes, name: str = "0.csv") -> Path:
    """A file as Shiny's upload mechanism stores it: in its upload folder."""
    path = tmp_path / "fileupload-test" / "job" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_load_upload_reads_under_its_own_name(tmp_path):
    upload = uploaded(tmp_path, CSV.read_bytes())
    got = state.load_upload(upload, "recordings.csv", 50, tmp_path, upload.parent.parent)
    assert got.source == "recordings.csv" and got.path.name == "recordings.csv"
    assert got.trains.equals(read_spikes(CSV))


def test_load_upload_netcdf(tmp_path):
    from sbidic.spikes import write_spikes

    write_spikes(read_spikes(CSV), tmp_path / "trains.nc")
    nc = uploaded(tmp_path, (tmp_path / "trains.nc").read_bytes(), "upload.bin")
    (tmp_path / "trains.nc").unlink()
    got = state.load_upload(nc, "trains.nc", 50, tmp_path, nc.parent.parent)
    assert got.trains.equals(read_spikes(CSV))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fileupload-test"]  # nothing left


def test_load_upload_error_names_the_file_not_the_temporary_folder(tmp_path):
    bad = uploaded(tmp_path, b'ID,spiking_times\nok,"[1.0, 2.0]"\nb,"[1.0, oops]"\n', "x")
    with pytest.raises(ValueError) as err:
        state.load_upload(bad, "../my data.csv", 50, tmp_path, bad.parent.parent)
    assert str(err.value).startswith("my data.csv, line 3: ")
    assert str(tmp_path) not in str(err.value)


def test_load_upload_limit(tmp_path):
    """The limit is checked on the file's real size (4,737 bytes here)."""
    upload = uploaded(tmp_path, CSV.read_bytes())
    with pytest.raises(ValueError, match=r"big.csv is 0.00474 MB, over the upload limit of 0.004"):
        state.load_upload(upload, "big.csv", 0.004, tmp_path, upload.parent.parent)
    assert state.load_upload(upload, "ok.csv", 0.005, tmp_path, upload.parent.parent)


def test_examples_load():
    assert "stg_recordings.csv" in state.example_names()
    assert state.load_example("stg_recordings.csv").trains.n_trains == 6
    with pytest.raises(ValueError, match="no example named"):
        state.load_example("../../README.md")


def test_parse_cells():
    np.testing.assert_array_equal(state.parse_cells("3, 0-1, 1", 5), [0, 1, 3])
    for bad, msg in (("", "at least one"), ("7", "outside 0-4"), ("a-b", "not a number")):
        with pytest.raises(ValueError, match=msg):
            state.parse_cells(bad, 5)


# --------------------------------------------------------------------------------- jobs
def test_job_done_error_and_cancel():
    done = state.Job("x", lambda progress: (progress(0.5), 42)[1])
    done.wait(5)
    assert (done.status, done.result, done.fraction) == ("done", 42, 1.0)

    failed = state.Job("x", lambda progress: state.load_pasted("a: q"))
    failed.wait(5)
    assert failed.status == "error" and "is not a number" in failed.error

    started = threading.Event()

    def forever(progress):
        while True:
            started.set()
            progress(0.1)
            time.sleep(0.01)

    job = state.Job("x", forever)
    started.wait(5)
    job.cancel()
    job.wait(5)
    assert job.status == "cancelled" and not job.running and job.result is None


# ------------------------------------------------------- inference: same as the CLI's
@pytest.fixture(scope="module")
def inference():
    return state.run_inference(state.load_example("stg_recordings.csv"), "stg", N, 0)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    assert main(["infer", str(CSV), "--model", "stg", "-n", str(N), "--seed", "0", "--quiet",
                 "-o", str(out / "cli.csv")]) == 0  # fmt: skip
    return out


def test_population_and_report_downloads_equal_cli_files(inference, cli):
    assert downloads.population_bytes(inference, "csv") == (cli / "cli.csv").read_bytes()
    assert downloads.report_bytes(inference) == (cli / "cli_report.csv").read_bytes()
    nc = downloads.population_bytes(inference, "nc")
    assert nc[:4] == b"\x89HDF"
    with pytest.raises(ValueError, match="nc or csv"):
        downloads.population_bytes(inference, "xlsx")


def test_command_and_report_table(inference):
    assert inference.command == ("sbidic infer stg_recordings.csv --model stg -n 5 --seed 0 "
                                 "-o populations.nc")  # fmt: skip
    shown = report_table(inference)
    rep = inference.result.report
    assert shown["g_s mean"].tolist() == [
        "" if np.isnan(v) else f"{v:.3f}" for v in rep.g_s_mean
    ]  # fmt: skip
    silent = shown.set_index("recording").loc["cell_silent"]
    assert silent["status"] == "silent: fewer than 3 spikes" and silent["g_u mean"] == ""


def test_cells_table_and_figures(inference):
    pop = inference.result.population
    cells = cells_table(pop, "cell3")
    assert len(cells) == N and list(cells.columns[1:9]) == list(pop.labels)
    trains = inference.loaded.trains
    for fig in (figures.posterior(inference, "cell3"), figures.raster(trains, "cell3"),
                figures.distributions(pop, "cell3"), figures.pairplot(pop, "cell3", ["g_Na"]),
                figures.posterior(inference, "cell_silent")):  # fmt: skip
        assert fig.axes
        assert downloads.figure_bytes(fig, "png")[:4] == b"\x89PNG"
        assert downloads.figure_bytes(fig, "svg").lstrip().startswith(b"<?xml")
    with pytest.raises(ValueError, match="no recording"):
        figures.raster(trains, "nope")


def test_simulated_trains_equal_cli_simulate(inference, tmp_path):
    """Cells 0-1 of cell1 simulated in the app and by ``sbidic simulate`` on a CSV of
    the same conductances: the same spike-train file."""
    state.prepare()
    sim = state.run_simulation(inference, ["cell1"], np.array([0, 1]), duration_ms=1300,
                               transient_ms=1000, seed=0)  # fmt: skip
    assert sim.cell_id.tolist() == ["cell1:0", "cell1:1"]
    assert sim.scores.passed.shape == (2,)
    pop = inference.result.population
    csv = tmp_path / "cells.csv"
    header = "ID," + ",".join(pop.labels)
    rows = [f"cell1,{','.join(repr(float(x)) for x in g)}" for g in pop.conductances[0, :2]]
    csv.write_text("\n".join([header, *rows]) + "\n")
    assert (
        main(
            [
                "simulate",
                str(csv),
                "--model",
                "stg",
                "--duration",
                "1300",
                "--transient",
                "1000",
                "--seed",
                "0",
                "--quiet",
                "-o",
                str(tmp_path / "cli.csv"),
            ]
        )
        == 0
    )
    assert downloads.simulated_bytes(sim, "csv") == (tmp_path / "cli.csv").read_bytes()
    assert downloads.simulated_bytes(sim, "nc")[:4] == b"\x89HDF"
    table = fidelity_table(sim)
    assert table["cell"].tolist() == ["cell1:0", "cell1:1"]
    fig = figures.comparison(sim, inference.loaded.trains, "cell1")
    assert fig.axes[0].get_title() == "recorded spike train"


def test_the_page_simulates_on_the_vector_kernel_as_the_cli(inference):
    """The Simulate card runs on ``device="auto"`` like ``sbidic simulate``: the vector
    kernel once built (not Brian2's runtime, 3-10 times slower)."""
    from sbidic.simulate import simulate

    pop = inference.result.population
    simulate("stg", pop.conductances[0, :1], duration_ms=200.0, transient_ms=100.0,
             device="vector")  # builds the kernel of these settings  # fmt: skip
    sim = state.run_simulation(inference, ["cell1"], np.array([0, 1]), duration_ms=1300,
                               transient_ms=1000, seed=0)  # fmt: skip
    assert sim.result.settings["device"] == "vector"


def test_simulation_errors(inference):
    with pytest.raises(ValueError, match="no population"):
        state.run_simulation(inference, ["cell_silent"], np.array([0]))
    with pytest.raises(ValueError, match="at least one recording"):
        state.run_simulation(inference, [], np.array([0]))


# ------------------------------------------------------------------------- the server
def test_page_is_served():
    import uvicorn

    from sbidic.app import create_app
    from tests.app_helpers import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(7), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            html = r.read().decode()
        for element in ('id="upload"', 'id="run"', 'id="cancel"', 'id="dl_pop_nc"',
                        "up to 7 MB", "What DICs are"):  # fmt: skip
            assert element in html
    finally:
        server.should_exit = True
        thread.join(10)


def test_workdir_is_removed_when_the_server_stops(tmp_path, monkeypatch):
    """The app's temporary folder for uploads goes with the server (ASGI lifespan;
    before: one sbidic-app-* folder left in /tmp per run)."""
    import tempfile

    from sbidic.app import create_app
    from tests.app_helpers import app_in_thread

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    app = create_app(7)
    [workdir] = tmp_path.glob("sbidic-app-*")
    with app_in_thread(app) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200
        assert workdir.is_dir()
    assert not workdir.exists()


def test_whole_number_and_simulation_outcome():
    from sbidic.app.server import simulation_outcome, whole_number

    assert [whole_number(v, 1) for v in (1, 2.0, 100)] == [1, 2, 100]
    for bad in (2.5, 0, -1, None, "3", True, float("nan"), float("inf")):
        assert whole_number(bad, 1) is None
    assert whole_number(0, 0) == 0
    assert [simulation_outcome(p, 3) for p in (3, 1, 0)] == ["success", "warning", "danger"]


def test_cli_app_warns_off_localhost(monkeypatch, capsys):
    import sbidic.app

    calls = []
    monkeypatch.setattr(sbidic.app, "serve", lambda *a, **k: calls.append((a, k)))
    assert main(["app", "--host", "0.0.0.0", "--port", "9", "--no-browser",
                 "--max-upload-mb", "3"]) == 0  # fmt: skip
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err
    assert calls == [(("0.0.0.0", 9), {"open_browser": False, "upload_limit_mb": 3.0,
                                       "allowed_hosts": (), "max_jobs": 2,
                                       "model_dir": None})]  # fmt: skip
    assert main(["app", "--no-browser"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert calls[-1][0] == ("127.0.0.1", 0)


def test_cli_app_without_its_extra(monkeypatch, capsys):
    import sbidic.app

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'shiny'")

    monkeypatch.setattr(sbidic.app, "serve", missing)
    assert main(["app", "--no-browser"]) == 2
    assert "pip install 'sbidic[app]'" in capsys.readouterr().err


# ------------------------------------------------- issue 27, items 9-10: the pipeline
def test_first_page_imports_no_heavy_module():
    """Building the app (page and server) imports neither torch nor Brian2 nor xarray:
    the first page is served in about 2 s instead of 14 s (before: the model list
    imported torch and the server imported Brian2 before serving)."""
    import subprocess
    import sys

    code = ("import sys; from sbidic.app import create_app; create_app(); "
            "heavy = ('torch', 'brian2', 'xarray', 'sbi'); "
            "print(sorted(m for m in heavy if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_job_reports_time_elapsed_and_left():
    release = threading.Event()

    def half(progress):
        progress(0.5)
        release.wait(10)

    job = state.Job("simulation", half)
    while job.fraction < 0.5:
        time.sleep(0.01)
    time.sleep(0.05)
    assert job.eta_s is not None and job.eta_s > 0
    assert job.describe().startswith("simulation running: 50%, ")
    assert "elapsed, about" in job.describe() and job.describe().endswith("left")
    release.set()
    job.wait(5)
    assert job.eta_s is None and job.describe().startswith("simulation done in ")


def test_verify_and_options_as_the_cli_flags():
    trains = state.load_pasted("fast: " + ", ".join(str(100.0 * k) for k in range(30)))
    options = state.InferOptions(verify=True, dics="mean", max_cells=2, duration_ms=1500.0,
                                 transient_ms=500.0)  # fmt: skip
    inf = state.run_inference(trains, "stg", 2, 0, None, options)
    verified = verify_table(inf)
    assert verified["recording"].tolist() == ["fast"]
    assert int(verified["simulated"].iloc[0]) >= 2
    assert verified["acceptance"].iloc[0].endswith("%") and verified["model adequacy"].iloc[0]
    report = inf.result.report.iloc[0]  # the population's diversity, as the CLI's report
    assert verified["diversity (CV of g)"].iloc[0] == f"{report.conductance_cv:.2f}"
    assert verified["ranges covered"].iloc[0] == f"{report.range_coverage:.0%}"
    assert inf.command == ("sbidic infer RECORDINGS.csv --model stg -n 2 --seed 0 --dics mean "
                           "--verify --max-cells 2 --duration 1500 --transient 500 "
                           "-o populations.nc")  # fmt: skip
    assert verify_table(state.run_inference(trains, "stg", 2, 0)) is None
    assert state.InferOptions(regime="noisy", estimator_kind="npe").flags() == (
        " --regime noisy --estimator-kind npe"
    )
    wide = state.InferOptions(verify=True, max_cells=3, duration_ms=1500.0, transient_ms=500.0,
                              spread="ranges", proposal=True)  # fmt: skip
    inf = state.run_inference(trains, "stg", 2, 0, None, wide)
    assert inf.command.endswith("--spread ranges --verify --proposal npe --max-cells 3 "
                                "--duration 1500 --transient 500 -o populations.nc")
    from sbidic.models import get_model

    ranges = get_model("stg").conductance_ranges
    low, high = np.array([ranges[c] for c in get_model("stg").conductances]).T
    g = inf.result.population.conductances
    assert ((g >= low) & (g <= high)).all()  # --spread ranges keeps every cell inside
    with pytest.raises(ValueError, match="the proposal also needs Verify"):
        state.run_inference(trains, "stg", 2, 0, None, state.InferOptions(proposal=True))
    assert state.regimes("stg") == ("clean", "noisy") and state.regimes("da") == ("clean",)
    assert state.estimator_kinds("stg") == ("dic", "npe")


def test_report_warning_suggests_a_model():
    slow = ", ".join(f"{1000.0 * k:g}, {1000.0 * k + 20:g}" for k in range(30))
    inf = state.run_inference(state.load_pasted(f"slow: {slow}"), "stg", 2, 0)
    shown = report_table(inf)
    assert shown["warning"].iloc[0].startswith("pattern outside the stg model's firing atlas")
    assert inf.suggestions == {"slow": "stg-liu"}
    assert state.suggested_model("x (try --model da)") == "da"
    assert state.suggested_model("") is None and state.suggested_model(float("nan")) is None


def test_repair_sorts_pasted_times():
    with pytest.raises(ValueError):
        state.load_pasted("a: 30, 10, 10, 20, 40")
    loaded = state.load_pasted("a: 30, 10, 10, 20, 40", state.ReadOptions(repair=True))
    assert loaded.trains[0].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert loaded.notes and loaded.notes[0].startswith("repaired: ")


def test_abf_extracellular_options_and_preview(tmp_path, abf_writer):
    pytest.importorskip("neo")
    from tests.app_helpers import write_nerve_abf

    times = write_nerve_abf(tmp_path / "nerve.abf", abf_writer)
    options = state.ReadOptions(mode="extracellular", channel="0", threshold=6.0)
    loaded = state.read_file(tmp_path / "nerve.abf", options)
    assert loaded.trains.ids.tolist() == ["Signals/ch0"]
    np.testing.assert_allclose(loaded.trains[0], times, atol=0.5)
    assert loaded.fmt == "neo" and loaded.preview is not None
    assert loaded.preview.spikes_ms.size == times.size and loaded.preview.unit == "mV"
    assert options.flags("neo") == (" --read-option mode=extracellular --read-option "
                                    "channel=0 --read-option threshold=6.0")  # fmt: skip
    assert options.flags("csv") == ""
    assert figures.trace(loaded.preview).axes


def test_nwb_upload_is_read(tmp_path):
    pytest.importorskip("pynwb")
    from sbidic.spikes import SpikeTrains, write_spikes

    write_spikes(SpikeTrains.from_list([[10.0, 20.0, 35.0]], ids=["u"]), tmp_path / "s.nwb")
    loaded = state.read_file(tmp_path / "s.nwb", state.ReadOptions())
    assert loaded.fmt == "nwb" and loaded.trains.ids.tolist() == ["u"]


def test_model_files_come_only_from_the_launch_folder(tmp_path):
    models = Path(state.EXAMPLES).parent.parent / "examples" / "models"
    assert state.model_files(models) == ("pospischil.py:Pospischil",)
    (tmp_path / "evil.py").write_text("class Evil(object):\n    pass\n")  # no estimator
    assert state.model_files(tmp_path) == ()
    for choice in ("evil.py:Evil", "../evil.py:Evil", "/etc/passwd", str(models / "x.py:Y"),
                   None, ["pospischil.py:Pospischil"]):  # fmt: skip
        with pytest.raises(ValueError, match="not a model file of"):
            state.add_model_file(tmp_path, choice)
