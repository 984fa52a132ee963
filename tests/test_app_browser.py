"""The web app driven as a person would, in Debian's Chromium (Playwright).

Run alone with ``pytest -m browser``. Needs ``pip install sbidic[app]`` and Chromium at
/usr/bin/chromium (``apt-get install -y chromium``; CI's ``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests.app_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    app_in_thread,
    app_server,
    write_nerve_abf,
)

pytestmark = pytest.mark.browser
pytest.importorskip("shiny", reason="the app's extra is not installed: pip install 'sbidic[app]'")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: pip install 'sbidic[app]'"
)
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing in CI: .ci/run installs it")
    pytest.skip(f"no Chromium at {CHROMIUM}: install it with 'apt-get install -y chromium'",
                allow_module_level=True)  # fmt: skip

CSV = ROOT / "sbidic" / "examples" / "stg_recordings.csv"
N = 10
sync_api.expect.set_options(timeout=120_000)  # inference and simulation on loaded machines
SCREENSHOTS = os.environ.get("SBIDIC_APP_SCREENSHOTS")  # folder: `make app-screenshots`


@pytest.fixture(scope="module")
def url():
    with app_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory):
    """What ``sbidic infer stg_recordings.csv --model stg -n N --seed 0`` writes."""
    from sbidic.cli import main

    out = tmp_path_factory.mktemp("cli")
    for name in ("cli.nc", "cli.csv"):
        assert main(["infer", str(CSV), "--model", "stg", "-n", str(N), "--seed", "0",
                     "--quiet", "-o", str(out / name)]) == 0  # fmt: skip
    return out


@pytest.fixture(scope="module")
def page(browser, url):
    """One page after uploading the example CSV and running the inference."""
    pg = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg.set_default_timeout(120_000)
    pg.goto(url)
    pg.set_input_files("#upload", str(CSV))
    sync_api.expect(pg.locator("#loaded")).to_contain_text(
        "6 recording(s) loaded from stg_recordings.csv"
    )
    pg.fill("#n", str(N))
    pg.fill("#seed", "0")
    pg.click("#run")
    sync_api.expect(pg.locator("#job_status_text")).to_have_attribute("data-status", "done")
    pg.wait_for_selector("#report table")
    yield pg
    pg.close()


def new_page(browser, url):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.set_default_timeout(120_000)
    pg.goto(url)
    return pg


def table(pg, selector: str) -> pd.DataFrame:
    rows = pg.locator(f"{selector} table").evaluate(
        "t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )  # fmt: skip
    return pd.DataFrame(rows[1:], columns=rows[0])


def shot(pg, name: str) -> None:
    if SCREENSHOTS:
        pg.screenshot(path=str(Path(SCREENSHOTS) / f"app-{name}.png"), full_page=False)


def test_report_equals_cli(page, cli_outputs):
    shown = table(page, "#report")
    cli = pd.read_csv(cli_outputs / "cli_report.csv", keep_default_na=False)
    assert shown["recording"].tolist() == cli.obs_id.astype(str).tolist()
    assert shown["spikes"].astype(int).tolist() == cli.n_spikes.tolist()
    assert shown["label"].tolist() == cli.label.tolist()
    assert shown["status"].tolist() == cli.status.tolist()
    assert shown["cells"].astype(int).tolist() == cli.n_cells.tolist()
    for dic in ("g_s", "g_u"):
        for col, stat in ((f"{dic} mean", "mean"), (f"{dic} sd", "sd")):
            expected = ["" if v == "" else f"{float(v):.3f}" for v in cli[f"{dic}_{stat}"]]
            assert shown[col].tolist() == expected
        expected = [
            "" if lo == "" else f"[{float(lo):.3f}, {float(hi):.3f}]"
            for lo, hi in zip(cli[f"{dic}_q05"], cli[f"{dic}_q95"], strict=True)
        ]
        assert shown[f"{dic} 90% interval"].tolist() == expected


def test_silent_recording_shows_its_status(page):
    shown = table(page, "#report").set_index("recording")
    assert shown.loc["cell_silent", "status"] == "silent: fewer than 3 spikes"
    assert shown.loc["cell_silent", "cells"] == "0"
    shot(page, "report")


def test_downloaded_populations_equal_cli(page, cli_outputs, tmp_path):
    import xarray as xr

    with page.expect_download() as info:
        page.click("#dl_pop_nc")
    path = tmp_path / "app.nc"
    info.value.save_as(path)
    with page.expect_download() as info:
        page.click("#dl_pop_csv")
    info.value.save_as(tmp_path / "app.csv")
    assert (tmp_path / "app.csv").read_bytes() == (cli_outputs / "cli.csv").read_bytes()
    app, cli = xr.open_datatree(path), xr.open_datatree(cli_outputs / "cli.nc")
    # netCDF bytes differ between two CLI runs too: ArviZ stamps `created_at`
    for node in cli.subtree:
        a, c = app[node.path].to_dataset(), node.to_dataset()
        a.attrs.pop("created_at", None), c.attrs.pop("created_at", None)
        xr.testing.assert_identical(a, c)


def test_population_views(page):
    page.select_option("#recording", "cell3")
    sync_api.expect(page.locator("#recording_summary")).to_have_text(
        "cell3: 80 spikes, bursting, ok"
    )
    page.wait_for_function("() => !document.querySelector('.recalculating')")
    for plot in ("#posterior_plot img", "#raster_plot img", "#distributions_plot img",
                 "#pair_plot img"):  # fmt: skip
        sync_api.expect(page.locator(plot)).to_be_visible()
    cells = table(page, "#cells")
    assert len(cells) == N and "g_Na" in cells.columns[1]
    page.locator("#recording").scroll_into_view_if_needed()
    shot(page, "recording")
    page.locator("#distributions_plot").scroll_into_view_if_needed()
    shot(page, "population")


def test_simulate_one_cell(page, tmp_path):
    page.locator("#sim_cells").fill("0")
    page.fill("#duration", "2500")
    page.fill("#transient", "1000")
    page.click("#simulate")
    done = page.locator("#sim_done")
    sync_api.expect(done).to_contain_text("1 cell(s) simulated")
    # green only when the cell reproduces its recording, red when it does not
    passed = done.get_attribute("data-passed")
    assert passed in ("0", "1")
    sync_api.expect(done).to_contain_text(f"{passed} of 1 reproduce their recording")
    sync_api.expect(done).to_have_class(
        re.compile(r"\balert-" + ("success" if passed == "1" else "danger") + r"\b")
    )
    fidelity = table(page, "#fidelity")
    assert fidelity["cell"].tolist() == ["cell1:0"]
    sync_api.expect(page.locator("#comparison_plot img")).to_be_visible()
    page.locator("#comparison_plot").scroll_into_view_if_needed()
    shot(page, "simulation")
    with page.expect_download() as info:
        page.click("#dl_fig_png")
    assert info.value.suggested_filename == "comparison.png"
    info.value.save_as(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as info:
        page.click("#dl_sim_csv")
    info.value.save_as(tmp_path / "sim.csv")
    head = (tmp_path / "sim.csv").read_text().splitlines()[0]
    assert "population_ID" in head and "cell_ID" in head


def test_cancel_a_simulation(page):
    """Progress (time elapsed and left) and Cancel in the Simulate card, in view while
    the card is (before: only at the top of the page, out of view)."""
    page.locator("#sim_cells").fill("0-2")
    page.fill("#duration", "8000")
    # the button at the bottom edge of the window, as after scrolling down to it
    page.locator("#simulate").evaluate("e => e.scrollIntoView({block: 'end'})")
    page.click("#simulate")
    status = page.locator("#sim_job_text")
    sync_api.expect(status).to_have_attribute("data-status", "running")
    sync_api.expect(status.locator("progress")).to_be_visible()
    sync_api.expect(status).to_contain_text("elapsed")
    sync_api.expect(status).to_be_in_viewport()
    sync_api.expect(page.locator("#sim_cancel")).to_be_in_viewport()
    page.click("#sim_cancel")
    sync_api.expect(status).to_have_attribute("data-status", "cancelled")
    sync_api.expect(status).to_have_text("simulation cancelled.")


def test_malformed_csv_shows_its_error(browser, url, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('ID,spiking_times\na,"[1.0, 2.0, x]"\n')
    pg = browser.new_page()
    pg.goto(url)
    pg.set_input_files("#upload", str(bad))
    error = pg.locator("#load_error")
    sync_api.expect(error).to_contain_text("bad.csv, line 2")
    sync_api.expect(error).to_contain_text("is not a number")
    assert "Traceback" not in pg.content()
    shot(pg, "error")
    pg.close()


def test_failed_upload_unloads_the_previous_file(browser, url, tmp_path):
    """A valid file, then an invalid one: Run asks for recordings (before: it ran on
    the valid file, which the page no longer named)."""
    bad = tmp_path / "bad.csv"
    bad.write_text('ID,spiking_times\na,"[1.0, 2.0, x]"\n')
    pg = new_page(browser, url)
    pg.set_input_files("#upload", str(CSV))
    sync_api.expect(pg.locator("#loaded")).to_contain_text("6 recording(s) loaded")
    pg.set_input_files("#upload", str(bad))
    sync_api.expect(pg.locator("#load_error")).to_contain_text("bad.csv, line 2")
    pg.fill("#n", "2")
    pg.click("#run")
    sync_api.expect(pg.locator("#load_error")).to_have_text(
        "load recordings first: upload a file, paste times or load an example",
        timeout=30_000)  # fmt: skip
    sync_api.expect(pg.locator("#job_status_text")).to_have_count(0)
    sync_api.expect(pg.locator("#report table")).to_have_count(0)
    pg.close()


def test_simulation_inputs_follow_the_model(browser, url):
    """The Simulate card starts at the model's published protocol (duration, transient):
    DA 12000/3000 ms, STG 6000/3000 ms (before: 4000/2000 ms for every model)."""
    pg = new_page(browser, url)
    for example, model, duration in (("da_recordings.csv", "da", "12000"),
                                     ("stg_recordings.csv", "stg", "6000")):  # fmt: skip
        pg.select_option("#example", example)
        pg.click("#load_example")
        sync_api.expect(pg.locator("#loaded")).to_contain_text(f"from example {example}")
        pg.select_option("#model", model)
        pg.fill("#n", "2")
        pg.click("#run")
        sync_api.expect(pg.locator("#duration")).to_have_value(duration)
        sync_api.expect(pg.locator("#transient")).to_have_value("3000")
        sync_api.expect(pg.locator("#job_status_text")).to_have_attribute("data-status", "done")
    pg.close()


def test_whole_numbers_and_one_spike(browser, url):
    """n = 2.5 is refused, naming the value (before: run with n = 2); a recording of
    one spike reads "1 spike" (before: "1 spikes")."""
    pg = new_page(browser, url)
    pg.fill("#paste", "one: 100\nfast: 10, 110, 210, 310, 410, 510, 610")
    pg.click("#load_paste")
    sync_api.expect(pg.locator("#loaded")).to_contain_text("2 recording(s) loaded")
    pg.fill("#n", "2.5")
    pg.click("#run")
    sync_api.expect(pg.locator("#load_error")).to_contain_text(
        "cells per recording must be a whole number >= 1 (got 2.5)", timeout=30_000
    )
    sync_api.expect(pg.locator("#job_status_text")).to_have_count(0)
    pg.fill("#n", "2")
    pg.click("#run")
    sync_api.expect(pg.locator("#job_status_text")).to_have_attribute("data-status", "done")
    sync_api.expect(pg.locator("#load_error")).to_have_count(0)
    pg.select_option("#recording", "one")
    sync_api.expect(pg.locator("#recording_summary")).to_have_text(
        "one: 1 spike, silent, silent: fewer than 3 spikes"
    )
    pg.close()


def test_closing_the_page_cancels_its_job(browser, monkeypatch, tmp_path):
    """A page closed while its inference runs: the job is cancelled and its thread stops
    at its next progress report (before: it computed until done, holding a place of
    --max-jobs). The server runs in this process, with an inference that reports
    progress until cancelled."""
    from shiny import App

    from sbidic.app import state
    from sbidic.app.server import make_server
    from sbidic.app.views import page as app_page

    cancelled = threading.Event()

    def endless(loaded, model, n, seed, progress=None, options=None):
        try:
            for k in range(1200):  # 60 s at most, cancelled or not
                progress(k / 1200)
                time.sleep(0.05)
        except state.Cancelled:
            cancelled.set()
            raise
        raise ValueError("not cancelled")

    monkeypatch.setattr(state, "run_inference", endless)
    jobs = state.JobLimit(2)
    app = App(app_page(50), make_server(50, workdir=tmp_path, jobs=jobs))
    with app_in_thread(app) as port:
        pg = new_page(browser, f"http://127.0.0.1:{port}/")
        pg.select_option("#example", "stg_recordings.csv")
        pg.click("#load_example")
        sync_api.expect(pg.locator("#loaded")).to_contain_text("6 recording(s) loaded")
        pg.click("#run")
        sync_api.expect(pg.locator("#job_status_text")).to_have_attribute("data-status", "running")
        assert jobs.running == 1
        pg.close()
        assert cancelled.wait(10), "the job still runs 10 s after its page closed"
        end = time.monotonic() + 10
        while jobs.running and time.monotonic() < end:
            time.sleep(0.05)
        assert jobs.running == 0


def test_help_page(browser, url):
    pg = browser.new_page()
    pg.goto(url)
    sync_api.expect(pg.get_by_text("start the app with --model-dir DIR")).to_be_visible()
    pg.get_by_role("tab", name="Help").click()
    sync_api.expect(pg.get_by_text("What DICs are")).to_be_visible()
    sync_api.expect(pg.get_by_text("arXiv:2509.12783")).to_be_visible()
    pg.close()


def test_pasted_times(browser, url):
    pg = browser.new_page()
    pg.goto(url)
    pg.fill("#paste", "fast: 10, 110, 210, 310\nslow: 5, 900, y")
    pg.click("#load_paste")
    sync_api.expect(pg.locator("#load_error")).to_have_text(
        "pasted text, line 2: spike 3, 'y', is not a number"
    )
    pg.fill("#paste", "fast: 10, 110, 210, 310\nslow: 5, 900, 1800")
    pg.click("#load_paste")
    sync_api.expect(pg.locator("#loaded")).to_have_text("2 recording(s) loaded from pasted text.")
    pg.close()


HOSTILE = """<!doctype html><title>another site</title><script>
window.result = {opened: false, messages: []};
const ws = new WebSocket("ws://127.0.0.1:PORT/websocket/");
ws.onopen = () => {
  window.result.opened = true;
  const file = {name: "p.csv", size: 1, type: "text/csv", datapath: "/etc/passwd"};
  ws.send(JSON.stringify({method: "init", data: {}}));
  ws.send(JSON.stringify({method: "update", data: {upload: [file]}}));
};
ws.onmessage = (e) => window.result.messages.push(e.data);
ws.onclose = (e) => { window.result.closed = e.code; };
</script>"""


def test_another_page_cannot_drive_the_app(browser, url):
    """A page of another origin (another port of this machine) opens a WebSocket to the
    app and sets the upload input to /etc/passwd: the app refuses the connection."""
    page_html = HOSTILE.replace("PORT", str(urlsplit(url).port)).encode()

    class Hostile(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pg = browser.new_page()
    try:
        pg.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        done = "() => window.result.closed !== undefined || window.result.messages.length"
        pg.wait_for_function(done, timeout=30_000)
        result = pg.evaluate("window.result")
        assert not result["opened"] and result["messages"] == []
    finally:
        pg.close()
        server.shutdown()


# ------------------------------------------------- issue 27, items 9-10: the pipeline
SLOW = "slow: " + ", ".join(f"{1000.0 * k:g}, {1000.0 * k + 20:g}" for k in range(30))
FAST = "fast: " + ", ".join(f"{100.0 * k:g}" for k in range(30))


def paste_and_run(pg, text: str, n: int = 2) -> None:
    pg.fill("#paste", text)
    pg.click("#load_paste")
    sync_api.expect(pg.locator("#loaded")).to_contain_text("loaded from pasted text")
    pg.fill("#n", str(n))
    pg.click("#run")


def test_verify_shows_acceptance_and_model_adequacy(browser, url):
    pg = new_page(browser, url)
    pg.locator("#infer_panel .accordion-button").click()
    pg.check("#verify")
    pg.fill("#max_cells", "2")
    pg.fill("#verify_duration", "1500")
    pg.fill("#verify_transient", "500")
    paste_and_run(pg, FAST)
    sync_api.expect(pg.locator("#run_job_text")).to_have_attribute("data-status", "done")
    verified = pg.locator("#verify_report table")
    sync_api.expect(verified).to_be_visible()
    shown = table(pg, "#verify_report")
    assert shown["recording"].tolist() == ["fast"]
    assert shown["acceptance"].iloc[0].endswith("%") and shown["model adequacy"].iloc[0]
    sync_api.expect(pg.locator("#command")).to_contain_text(
        "--verify --max-cells 2 --duration 1500 --transient 500"
    )
    pg.close()


def test_report_warning_offers_the_suggested_model(browser, url):
    """A pattern outside the STG atlas: the report's warning names stg-liu, and one
    click switches the model and runs again."""
    pg = new_page(browser, url)
    paste_and_run(pg, SLOW)
    suggestion = pg.locator("#suggestion_text")
    sync_api.expect(suggestion).to_have_attribute("data-model", "stg-liu")
    sync_api.expect(pg.locator("#report")).to_contain_text("try --model stg-liu")
    pg.click("#switch_model")
    sync_api.expect(pg.locator("#model")).to_have_value("stg-liu")
    sync_api.expect(pg.locator("#command")).to_contain_text("--model stg-liu")
    pg.close()


def test_abf_with_channel_threshold_and_preview(browser, url, tmp_path, abf_writer):
    pytest.importorskip("neo")
    times = write_nerve_abf(tmp_path / "nerve.abf", abf_writer)
    pg = new_page(browser, url)
    assert ".abf" in pg.locator("#upload").get_attribute("accept")
    assert ".nwb" in pg.locator("#upload").get_attribute("accept")
    pg.locator("#read_panel .accordion-button").click()
    pg.select_option("#read_mode", "extracellular")
    pg.fill("#read_channel", "0")
    pg.fill("#read_threshold", "6")
    pg.wait_for_timeout(600)  # numeric inputs reach the server after a 250 ms debounce
    pg.set_input_files("#upload", str(tmp_path / "nerve.abf"))
    sync_api.expect(pg.locator("#loaded")).to_contain_text("1 recording(s) loaded from nerve.abf")
    sync_api.expect(pg.locator("#preview_plot img")).to_be_visible()
    pg.fill("#n", "2")
    pg.click("#run")
    sync_api.expect(pg.locator("#job_status_text")).to_have_attribute("data-status", "done")
    sync_api.expect(pg.locator("#command")).to_contain_text(
        "sbidic infer nerve.abf --read-option mode=extracellular --read-option channel=0 "
        "--read-option threshold=6.0"
    )
    assert table(pg, "#report")["spikes"].astype(int).tolist() == [times.size]
    pg.close()


def test_model_file_from_the_launch_folder(browser):
    """--model-dir offers its model files; the default server names the flag and never
    takes a model file from the page."""
    folder = ROOT / "examples" / "models"
    with app_server("--model-dir", str(folder)) as own:
        pg = new_page(browser, own)
        sync_api.expect(pg.locator("#model_file")).to_have_value("pospischil.py:Pospischil")
        sync_api.expect(pg.get_by_text("Model files are code")).to_be_visible()
        pg.click("#add_model")
        sync_api.expect(pg.locator("#model")).to_have_value("pospischil", timeout=120_000)
        pg.close()
