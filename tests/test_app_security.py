"""Security of the web app, over plain HTTP and WebSocket (no browser): Host and Origin
checks, uploads only from the upload mechanism's own files, the upload limit on the
bytes received, parsing off the event loop, and the server-wide job cap."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("shiny", reason="the app's extra is not installed: pip install 'sbidic[app]'")
ws_client = pytest.importorskip("websockets.sync.client", reason="websockets is not installed")

from websockets.exceptions import InvalidStatus  # noqa: E402

from sbidic.app import create_app, state  # noqa: E402
from sbidic.app.guard import Guard, normalize_host, split_host  # noqa: E402
from sbidic.cli import main  # noqa: E402
from tests.app_helpers import app_in_thread, free_port  # noqa: E402

CSV = Path(state.EXAMPLES) / "stg_recordings.csv"  # 4,737 bytes
ALLOWED = "sbidic.test"  # served on purpose: --allow-host sbidic.test
LIMIT_MB = 0.05  # 50,000 bytes


@pytest.fixture(scope="module")
def app():
    """The guarded app: --max-upload-mb 0.05 --allow-host sbidic.test --max-jobs 1."""
    return create_app(LIMIT_MB, allowed_hosts=[ALLOWED], max_jobs=1)


@pytest.fixture(scope="module")
def port(app):
    with app_in_thread(app) as p:
        yield p


def request(port, method="GET", path="/", *, host=None, headers=None, body=None,
            chunked=False) -> tuple[int, str]:  # fmt: skip
    """One HTTP request with a chosen Host header; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, encode_chunked=chunked,
                     headers={"Host": f"127.0.0.1:{port}" if host is None else host,
                              **(headers or {})})  # fmt: skip
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


class Shiny:
    """A WebSocket client speaking Shiny's protocol, as the page's JavaScript does."""

    def __init__(self, port: int, origin: str | None = "same", outputs=("load_status",),
                 host: str | None = None):  # fmt: skip
        self.port = port
        host = host or "127.0.0.1"
        origin = f"http://{host}:{port}" if origin == "same" else origin
        self.ws = ws_client.connect(f"ws://{host}:{port}/websocket/", origin=origin,
                                    open_timeout=30)  # fmt: skip
        self.seen: list[dict] = []
        self.tag = 0
        self.send({"method": "init", "data": {f".clientdata_output_{o}_hidden": False
                                              for o in outputs}})  # fmt: skip
        self.session_id = self.until(lambda m: "config" in m)["config"]["sessionId"]

    def send(self, message: dict) -> None:
        self.ws.send(json.dumps(message))

    def update(self, **inputs) -> None:
        self.send({"method": "update", "data": inputs})

    def until(self, found, timeout: float = 60.0) -> dict:
        """The first message (from now) for which ``found(message)`` is true."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                message = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            except TimeoutError:
                break
            self.seen.append(message)
            if found(message):
                return message
        raise AssertionError(f"not received in {timeout} s; last messages: {self.seen[-5:]}")

    def output(self, name: str, containing: str, timeout: float = 60.0) -> str:
        """The HTML of output ``name`` once it contains ``containing``."""

        def found(m):
            return containing in str(m.get("values", {}).get(name, {}).get("html", ""))

        return self.until(found, timeout)["values"][name]["html"]

    def call(self, method: str, *args) -> object:
        self.tag += 1
        tag = self.tag
        self.send({"method": method, "args": list(args), "tag": tag})
        return self.until(lambda m: m.get("response", {}).get("tag") == tag)["response"]

    def upload(self, data: bytes, name: str, *, declared: int | None = None,
               chunked: bool = False, end: bool = True) -> int:  # fmt: skip
        """The page's upload: uploadInit, the POST of the bytes, uploadEnd; the POST's
        status."""
        size = len(data) if declared is None else declared
        value = self.call("uploadInit", [{"name": name, "size": size, "type": "text/csv"}])
        url = "/" + value["value"]["uploadUrl"]
        body = (data[i : i + 16384] for i in range(0, len(data), 16384)) if chunked else data
        status, _ = request(self.port, "POST", url, body=body, chunked=chunked,
                            headers={"Origin": f"http://127.0.0.1:{self.port}",
                                     "Content-Type": "application/octet-stream"})  # fmt: skip
        if end and status == 200:
            self.call("uploadEnd", value["value"]["jobId"], "upload")
        return status

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def shiny(port):
    client = Shiny(port)
    yield client
    client.close()


# ------------------------------------------------------------------------ Host header
FOREIGN_HOSTS = ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example",
                 "localhost.evil.example:{port}", "sbidic.test.evil.example", "127.0.0.2:{port}",
                 "[::2]:{port}", "localhost:x", ""]  # fmt: skip


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_foreign_host_is_refused(port, host):
    status, body = request(port, host=host.format(port=port))
    assert status == 403
    assert "not served" in body and 'id="upload"' not in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost",
                                  "[::1]:{port}", "sbidic.test:8443", "sbidic.test"])  # fmt: skip
def test_loopback_and_allowed_hosts_are_served(port, host):
    status, body = request(port, host=host.format(port=port))
    assert status == 200 and 'id="upload"' in body


# ---------------------------------------------------------------- Origin: WebSocket, POST
FOREIGN_ORIGINS = ["http://evil.example", "http://127.0.0.1:{other}", "null", "file://",
                   "http://evil.example:{port}", "ws://127.0.0.1:{port}",
                   "http://127.0.0.1:{port}/x"]  # fmt: skip


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_websocket_from_a_foreign_origin_is_refused(port, origin):
    with pytest.raises(InvalidStatus) as err:
        Shiny(port, origin=origin.format(port=port, other=port + 1))
    assert err.value.response.status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", None])
def test_websocket_from_the_page_or_a_non_browser_is_accepted(port, host):
    """A browser sends the page's origin, here the app's own; other clients none."""
    client = Shiny(port, origin=None if host is None else f"http://{host}:{port}", host=host)
    assert len(client.session_id) > 20
    client.output("load_status", "Load recordings to begin")
    client.close()


def test_cross_origin_post_is_refused(port, shiny):
    value = shiny.call("uploadInit", [{"name": "a.csv", "size": 5, "type": "text/csv"}])
    url = "/" + value["value"]["uploadUrl"]
    status, body = request(port, "POST", url, body=b"ID,x\n",
                           headers={"Origin": "http://evil.example"})  # fmt: skip
    assert status == 403 and "cross-origin" in body
    status, body = request(port, "POST", url, body=b"ID,x\n", host=f"localhost:{port}",
                           headers={"Origin": f"http://127.0.0.1:{port}"})  # fmt: skip
    assert status == 403 and "cross-origin" in body  # same-origin: host and port
    status, _ = request(port, "POST", url, body=b"ID,x\n", host=f"localhost:{port}",
                        headers={"Origin": f"http://localhost:{port}"})  # fmt: skip
    assert status == 200


# ------------------------------------------------------ uploads: only the upload's files
@pytest.mark.parametrize("datapath", ["/etc/passwd", str(CSV), "../../../../etc/passwd",
                                      "/proc/self/environ", "", 7])  # fmt: skip
def test_forged_datapath_is_rejected(shiny, datapath):
    """A client sets the upload input to a server path of its choice: refused, nothing
    read (before: /etc/passwd's first line in the error, the CSV loaded)."""
    shiny.update(upload=[{"name": "x.csv", "size": 10, "type": "text/csv", "datapath": datapath}])
    html = shiny.output("load_status", "upload rejected")
    assert "root:" not in html and "recording(s) loaded" not in html


MALFORMED = ["/etc/passwd", [], {"datapath": "/etc/passwd"}, [{"name": "x.csv"}],
             [{"datapath": "/etc/passwd"}]]  # fmt: skip


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_upload_value_is_rejected(shiny, value):
    shiny.update(upload=value)
    html = shiny.output("load_status", "upload rejected: not a file from the upload button")
    assert "root:" not in html


def test_real_upload_loads(shiny):
    assert shiny.upload(CSV.read_bytes(), "stg_recordings.csv") == 200
    shiny.output("load_status", "6 recording(s) loaded from stg_recordings.csv.")


def test_datapath_of_another_session_is_rejected(app, port, shiny):
    """A file another page uploaded is not this page's."""
    other = Shiny(port)
    try:
        assert other.upload(CSV.read_bytes(), "a.csv") == 200
        other.output("load_status", "6 recording(s) loaded")
        from shiny import reactive

        session = app.app._sessions[other.session_id]  # Shiny's App behind the guard
        with reactive.isolate():
            path = session.input.upload()[0]["datapath"]
        assert Path(path).is_file()
        shiny.update(upload=[{"name": "a.csv", "size": 1, "type": "text/csv", "datapath": path}])
        shiny.output("load_status", "upload rejected")
    finally:
        other.close()


# ------------------------------------------------------------ the limit on bytes received
@pytest.mark.parametrize("chunked", [False, True])
def test_upload_limit_counts_the_bytes_received(shiny, chunked):
    """55 kB declared as 4,737 bytes: refused with 413, whether the length is declared
    in Content-Length or the body is chunked (before: accepted, and loaded)."""
    data = CSV.read_bytes() + b"#" * 55_000
    assert shiny.upload(data, "big.csv", declared=4737, chunked=chunked) == 413
    assert shiny.upload(CSV.read_bytes(), "ok.csv") == 200  # the page keeps working
    shiny.output("load_status", "6 recording(s) loaded from ok.csv.")


def test_parsing_does_not_block_the_server(port, shiny, monkeypatch):
    """While one page's upload is read, the server answers other requests and pages
    (before: the read ran on the event loop and every page waited)."""
    release, reading = threading.Event(), threading.Event()
    read = state.load_upload

    def slow(*args, **kwargs):
        reading.set()
        release.wait(60)
        return read(*args, **kwargs)

    monkeypatch.setattr(state, "load_upload", slow)
    try:
        assert shiny.upload(CSV.read_bytes(), "slow.csv") == 200
        assert reading.wait(30)
        start = time.monotonic()
        assert request(port)[0] == 200
        other = Shiny(port)
        other.update(paste="a: 10, 110, 210", load_paste=1)
        other.output("load_status", "1 recording(s) loaded from pasted text.", timeout=20)
        other.close()
        assert time.monotonic() - start < 20
    finally:
        release.set()
    shiny.output("load_status", "6 recording(s) loaded from slow.csv.")


# --------------------------------------------------------------------------- job cap
def test_jobs_are_capped_across_pages(port, monkeypatch):
    """max_jobs=1: a second page's inference is refused while the first one runs."""
    release = threading.Event()

    def blocked(loaded, model, n, seed, progress=None, options=None):
        release.wait(60)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(state, "run_inference", blocked)
    pages = [Shiny(port, outputs=("load_status", "job_status")) for _ in range(2)]
    try:
        for page in pages:
            page.update(example="stg_recordings.csv", load_example=1)
            page.output("load_status", "6 recording(s) loaded")
        pages[0].update(model="stg", n=5, seed=0, run=1)
        pages[0].output("job_status", "inference running")
        pages[1].update(model="stg", n=5, seed=0, run=1)
        pages[1].until(lambda m: "the server is busy" in json.dumps(m))
    finally:
        release.set()
        for page in pages:
            page.close()


def test_job_limit():
    release = threading.Event()
    limit = state.JobLimit(2)
    jobs = [limit.start("x", lambda progress: release.wait(30)) for _ in range(2)]
    with pytest.raises(state.ServerBusy, match="2 job.s. running, its limit"):
        limit.start("x", lambda progress: None)
    jobs[0].cancel()  # counted until its thread stops
    with pytest.raises(state.ServerBusy):
        limit.start("x", lambda progress: None)
    release.set()
    for job in jobs:
        job.wait(10)
    assert limit.running == 0
    limit.start("x", lambda progress: 1).wait(10)
    with pytest.raises(ValueError, match=">= 1"):
        state.JobLimit(0)


# --------------------------------------------------- load_upload: the state-level check
@pytest.fixture
def uploads(tmp_path):
    """A stand-in for Shiny's upload folder with one uploaded file, and a secret
    outside it."""
    folder = tmp_path / "fileupload-x"
    (folder / "job").mkdir(parents=True)
    (folder / "job" / "0.csv").write_bytes(CSV.read_bytes())
    secret = tmp_path / "secret.csv"
    secret.write_bytes(CSV.read_bytes())
    return folder, secret


def test_load_upload_reads_files_of_the_upload_folder(uploads, tmp_path):
    folder, _ = uploads
    got = state.load_upload(folder / "job" / "0.csv", "rec.csv", 1, tmp_path, folder)
    assert got.trains.n_trains == 6 and got.source == "rec.csv"


def test_load_upload_refuses_paths_outside_the_upload_folder(uploads, tmp_path):
    folder, secret = uploads
    (folder / "job" / "link.csv").symlink_to(secret)
    (folder / "job" / "inner.csv").symlink_to(folder / "job" / "0.csv")
    (folder / "dirlink").symlink_to(tmp_path)
    for path in (secret, "/etc/passwd", folder / ".." / "secret.csv", folder / "job" / "link.csv",
                 folder / "dirlink" / "secret.csv", folder, folder / "job",
                 folder / "job" / "inner.csv", Path("secret.csv"), "", None, 3):  # fmt: skip
        with pytest.raises(ValueError, match="^upload rejected: "):
            state.load_upload(path, "rec.csv", 1, tmp_path, folder)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:  # a relative path is resolved: outside as well
        with pytest.raises(ValueError, match="^upload rejected: "):
            state.load_upload("secret.csv", "rec.csv", 1, tmp_path, folder)
    finally:
        os.chdir(cwd)


def test_load_upload_limit_is_on_the_real_size(uploads, tmp_path):
    folder, _ = uploads
    big = folder / "job" / "1.csv"
    big.write_bytes(CSV.read_bytes() + b"#" * 60_000)
    with pytest.raises(ValueError, match=r"big.csv is 0.0647 MB, over the upload limit of 0.05"):
        state.load_upload(big, "big.csv", 0.05, tmp_path, folder)


# ----------------------------------------------------------------- the guard, directly
def test_split_and_normalize_host():
    assert split_host("LocalHost.:8000") == ("localhost", 8000)
    assert split_host("[::1]") == ("[::1]", None)
    assert split_host("[::1]:80") == ("[::1]", 80)
    for bad in ("", "a b", "[::1", "[::1]x", "h:99999999", "user@h", "a/b", "h:"):
        assert split_host(bad) is None, bad
    assert normalize_host("::1") == "[::1]"
    with pytest.raises(ValueError, match="not a host name"):
        normalize_host("evil.example/x")


def run_guard(scope, chunks=()):
    """What ``guard`` sends for ``scope`` given request body ``chunks``; and whether the
    app behind it was called."""
    sent, called = [], []
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        called.append(scope["type"])
        if scope["type"] == "http":
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"OK"})

    asyncio.run(Guard(app, upload_limit_bytes=100)(scope, receive, send))
    return sent, called


def scope(kind="http", method="GET", path="/", **headers):
    return {"type": kind, "method": method, "path": path,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}  # fmt: skip


def test_guard_closes_foreign_websockets_before_accepting():
    sent, called = run_guard(scope("websocket", host="evil.example"))
    assert sent == [{"type": "websocket.close", "code": 1008}] and not called
    sent, called = run_guard(scope("websocket", host="localhost:1", origin="http://a.b"))
    assert sent == [{"type": "websocket.close", "code": 1008}] and not called
    sent, called = run_guard(scope("http", host="evil.example"))
    assert sent[0]["status"] == 403 and not called
    sent, called = run_guard(scope("http", "POST", host="localhost:1",
                                         origin="http://localhost:2"))  # fmt: skip
    assert sent[0]["status"] == 403 and not called
    sent, called = run_guard({"type": "lifespan"})
    assert called == ["lifespan"]


def test_guard_counts_upload_bytes():
    upload = scope("http", "POST", "/session/abc/upload/def", host="127.0.0.1:1")
    sent, called = run_guard(upload, [b"x" * 60, b"x" * 40])
    assert sent[0]["status"] == 200  # 100 bytes: at the limit
    sent, called = run_guard(upload, [b"x" * 60, b"x" * 41])
    assert [m.get("status") for m in sent][0] == 413 and called == ["http"]
    assert b"upload limit is 100 bytes" in sent[1]["body"]
    declared = scope("http", "POST", "/session/abc/upload/def", host="127.0.0.1:1",
                     **{"content-length": "101"})  # fmt: skip
    sent, called = run_guard(declared)
    assert sent[0]["status"] == 413 and not called
    other = scope("http", "POST", "/elsewhere", host="127.0.0.1:1")
    assert run_guard(other, [b"x" * 500])[0][0]["status"] == 200  # not an upload


# ----------------------------------------------------------------------------- the CLI
def test_cli_app_allow_host_and_max_jobs(monkeypatch, capsys):
    import sbidic.app

    calls = []
    monkeypatch.setattr(sbidic.app, "serve", lambda *a, **k: calls.append((a, k)))
    assert main(["app", "--no-browser", "--allow-host", "lab.example", "--allow-host",
                 "10.0.0.5", "--max-jobs", "3"]) == 0  # fmt: skip
    assert calls[-1][1]["allowed_hosts"] == ("lab.example", "10.0.0.5")
    assert calls[-1][1]["max_jobs"] == 3
    assert main(["app", "--no-browser", "--allow-host", "evil.example/x"]) == 2
    assert "not a host name" in capsys.readouterr().err
    assert main(["app", "--no-browser", "--max-jobs", "0"]) == 2
    assert "--max-jobs must be >= 1" in capsys.readouterr().err


def test_serve_accepts_its_own_bind_address(monkeypatch):
    import uvicorn

    from sbidic.app import serve

    got = {}

    def run(server, sockets):  # instead of serving: what it would serve, and where
        got.update(app=server.config.app, host=sockets[0].getsockname()[0])

    monkeypatch.setattr(uvicorn.Server, "run", run)
    serve("127.0.0.2", free_port(), open_browser=False, allowed_hosts=["lab.example"],
          max_jobs=1)  # fmt: skip
    assert isinstance(got["app"], Guard) and got["host"] == "127.0.0.2"
    assert got["app"].allowed_hosts == {"lab.example", "127.0.0.2", "127.0.0.1", "localhost",
                                        "[::1]"}  # fmt: skip
